"""The GPU layer of cim-emu: loading the CUDA kernels of ``kernels/`` and running them.

* :mod:`~cim_emu.gpu.sources` - the sources as the compilers see them (headers inlined) and the
  kernel instances of each;
* :mod:`~cim_emu.gpu.provider` - the :class:`KernelProvider` protocol and shared launch-shape
  helpers;
* :mod:`~cim_emu.gpu.cupy_kernels` - the provider of a CUDA device (NVRTC through CuPy);
* :mod:`~cim_emu.gpu.cpu_shim` - the provider of the host: the same sources compiled with
  ``kernels/cuda_shim.h``, so every kernel runs in CI, where there is no GPU;
* :mod:`~cim_emu.gpu.memory` - how much host data passes through a GPU at once;
* :mod:`~cim_emu.gpu.host_native` - host code built with the shim's compiler (the native draws,
  the IR-drop sweep) and ``CIM_EMU_NATIVE``, which chooses it.

The launch wrappers of each engine live beside the engine (:mod:`cim_emu.rng.gpu`,
:mod:`cim_emu.ambit.gpu`, :mod:`cim_emu.reram.gpu`); this package knows no engine. Importing it
never imports CuPy.
"""

from .cpu_shim import CpuKernels, ShimUnavailableError
from .cupy_kernels import CupyKernels
from .memory import DEVICE_MEMORY_SHARE, units_per_pass
from .provider import KernelProvider
from .sources import KERNELS, kernel_source

__all__ = ["KernelProvider", "CupyKernels", "CpuKernels", "ShimUnavailableError", "KERNELS", "kernel_source",
           "DEVICE_MEMORY_SHARE", "units_per_pass"]
