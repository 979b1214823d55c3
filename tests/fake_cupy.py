"""A stand-in for CuPy on the CPU, to run the GPU-only Python of cim-emu in CI.

What it proves: the code that only runs on the CuPy backend - the dispatch to the kernels, the
tensor-core and epilogue paths of the crossbars, the streaming of host data larger than the GPU's
memory, the kinds of the arrays that come back - computes the numpy backend's bits, with numpy
standing in for CuPy's array API and the CPU shim (:mod:`cim_emu.cpu_shim`) for its kernels.
What it does not: CuPy's own semantics, NVRTC and the GPU itself (tests/test_kernels_gpu.py, on
a GPU machine).

:func:`install` puts the stand-in in ``sys.modules["cupy"]`` and the shim in place of
:class:`cim_emu.kernels_loader.CupyKernels`, through pytest's ``monkeypatch`` (undone after the
test). "Device" arrays are :class:`DeviceArray`, a numpy subclass with CuPy's ``get()`` and
``data.ptr``, so that ``cim_emu.backend.is_cupy_array`` tells them from host arrays.
"""

import functools
import types

import numpy

from cim_emu import backend as backends
from cim_emu import cpu_shim, kernels_loader


class DeviceArray(numpy.ndarray):
    """A "device" array: numpy memory, CuPy's ``get()`` and ``data.ptr``."""

    def get(self):
        return numpy.array(self.view(numpy.ndarray))

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.__array_interface__["data"][0])


def _on_device(value):
    if isinstance(value, numpy.ndarray) and not isinstance(value, DeviceArray):
        return value.view(DeviceArray)
    if isinstance(value, tuple):
        return tuple(_on_device(v) for v in value)
    return value


class FakeCupy(types.ModuleType):
    """numpy's functions, returning :class:`DeviceArray`; a device with ``free_bytes`` free."""

    ndarray = DeviceArray
    __version__ = "fake"

    def __init__(self, free_bytes=2**40):
        super().__init__("cupy")
        self.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
            memGetInfo=lambda: (free_bytes, 2 * free_bytes), getDeviceCount=lambda: 1))

    def __getattr__(self, name):
        target = getattr(numpy, name)
        if callable(target) and not isinstance(target, type):
            return functools.wraps(target)(lambda *args, **kwargs: _on_device(target(*args, **kwargs)))
        return target

    @staticmethod
    def asarray(array, dtype=None):
        if isinstance(array, DeviceArray) and (dtype is None or array.dtype == dtype):
            return array
        return numpy.array(numpy.asarray(array), dtype=dtype).view(DeviceArray)

    @staticmethod
    def ascontiguousarray(array, dtype=None):
        return numpy.ascontiguousarray(array, dtype=dtype).view(DeviceArray)

    @staticmethod
    def get_default_memory_pool():
        return types.SimpleNamespace(free_bytes=lambda: 0)


class ShimKernels(cpu_shim.CpuKernels):
    """The CPU shim as the provider of :class:`cim_emu.kernels_loader.CupyKernels`' place."""

    xp = None  # set by install()

    @staticmethod
    def function(filename, name):
        kernel = cpu_shim.ShimKernel(cpu_shim.load(filename), name)

        def launch(grid, block, args, shared_mem=0):
            kernel(grid, block, [a.view(numpy.ndarray) if isinstance(a, DeviceArray) else a for a in args],
                   shared_mem=shared_mem)
        return launch


def install(monkeypatch):
    """Make ``cupy`` the stand-in and the shim CuPy's kernels for one test; returns the provider."""
    fake = FakeCupy()
    monkeypatch.setitem(__import__("sys").modules, "cupy", fake)
    monkeypatch.setattr(ShimKernels, "xp", fake)
    monkeypatch.setattr(kernels_loader, "CupyKernels", ShimKernels)
    backends.cupy_available.cache_clear()
    monkeypatch.setattr(backends, "cupy_available", lambda: True)
    return ShimKernels()
