"""CUDA C++ sources of cim-emu's GPU kernels, installed as ``cim_emu.kernels``.

The sources are read with :mod:`importlib.resources` by the kernel loader; this package has
no Python code of its own.
"""
