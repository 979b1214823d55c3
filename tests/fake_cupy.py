"""A stand-in for CuPy on the CPU, to run the GPU-only Python of cim-emu in CI.

What it proves: the code that only runs on a device backend - the dispatch to the kernels, the
tensor-core and epilogue paths of the crossbars, the streaming of host data larger than the GPU's
memory, the kinds of the arrays that come back - computes the numpy backend's bits, with numpy
standing in for CuPy's array API and the CPU shim (:mod:`cim_emu.gpu.cpu_shim`) for its kernels.
What it does not: CuPy's own semantics, NVRTC and the GPU itself (tests/test_kernels_gpu.py, on
a GPU machine).

:func:`stand_in_backend` is a :class:`cim_emu.backend.Backend` like CuPy's: tests pass it as
``backend=`` (or make it the default with :func:`cim_emu.backend.default_backend`); nothing of
cim-emu is patched. "Device" arrays are :class:`DeviceArray`, a numpy subclass with CuPy's
``get()`` and ``data.ptr``, so the backend tells them from host arrays. ``free_bytes`` sets the
device memory the stand-in reports, to make host data pass through it in slices.
"""

import functools
import types
import weakref

import numpy

from cim_emu.backend import Backend
from cim_emu.gpu.cpu_shim import CpuKernels, ShimKernel, load


class DeviceMemory:
    """The bytes the stand-in's device arrays hold: ``live`` now, ``peak`` since :meth:`reset`
    (every array that owns its memory counts until it is freed)."""

    live = 0
    peak = 0

    @classmethod
    def reset(cls):
        cls.peak = cls.live

    @classmethod
    def track(cls, owner):
        """Count ``owner``'s buffer (an array that owns it) until it is freed."""
        cls.live += owner.nbytes
        cls.peak = max(cls.peak, cls.live)
        weakref.finalize(owner, cls._release, owner.nbytes)

    @classmethod
    def _release(cls, nbytes):
        cls.live -= nbytes


class DeviceArray(numpy.ndarray):
    """A "device" array: numpy memory, CuPy's ``get()`` and ``data.ptr``; the memory of every
    one that owns it is counted by :class:`DeviceMemory`."""

    def __array_finalize__(self, obj):
        if self.flags.owndata:  # a new buffer (an operation's result), not a view
            DeviceMemory.track(self)

    def get(self):
        return numpy.array(self.view(numpy.ndarray))

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.__array_interface__["data"][0])


def _on_device(value):
    if isinstance(value, numpy.ndarray) and not isinstance(value, DeviceArray):
        if value.flags.owndata:  # numpy's fresh result, viewed as a device array
            DeviceMemory.track(value)
        return value.view(DeviceArray)
    if isinstance(value, tuple):
        return tuple(_on_device(v) for v in value)
    return value


class FakeCupy(types.ModuleType):
    """numpy's functions, returning :class:`DeviceArray`."""

    ndarray = DeviceArray
    __version__ = "fake"

    def __init__(self):
        super().__init__("cupy")
        self.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))

    def __getattr__(self, name):
        target = getattr(numpy, name)
        if callable(target) and not isinstance(target, type):
            return functools.wraps(target)(lambda *args, **kwargs: _on_device(target(*args, **kwargs)))
        return target

    @staticmethod
    def asarray(array, dtype=None):
        if isinstance(array, DeviceArray) and (dtype is None or array.dtype == dtype):
            return array
        return _on_device(numpy.array(numpy.asarray(array), dtype=dtype))

    @staticmethod
    def ascontiguousarray(array, dtype=None):
        if isinstance(array, DeviceArray) and array.flags.c_contiguous and (dtype is None or array.dtype == dtype):
            return array
        return _on_device(numpy.array(numpy.asarray(array), dtype=dtype, order="C"))


class StandInKernels(CpuKernels):
    """The CPU shim as the kernel provider of the stand-in device: launches take its device
    arrays, and it reports ``free_bytes`` of free memory."""

    name = "stand-in"

    def __init__(self, xp, free_bytes=2**40, compute_capability=None):
        super().__init__()
        self.xp = xp
        self._free_bytes = free_bytes
        self.compute_capability = compute_capability

    @staticmethod
    def function(filename, name):
        kernel = ShimKernel(load(filename), name)

        def launch(grid, block, args, shared_mem=0):
            kernel(grid, block, [a.view(numpy.ndarray) if isinstance(a, DeviceArray) else a for a in args],
                   shared_mem=shared_mem)
        return launch

    def free_bytes(self):
        return self._free_bytes


def stand_in_backend(free_bytes=2**40, compute_capability=None):
    """A device backend of the stand-in CuPy and the CPU shim, with ``free_bytes`` free, reporting
    ``compute_capability`` (``10 * major + minor``; ``None``: runs every kernel)."""
    fake = FakeCupy()
    return Backend("cupy", fake, StandInKernels(fake, free_bytes, compute_capability))


def with_free_bytes(backend, free_bytes):
    """``backend`` whose device reports ``free_bytes`` free (a stand-in's, or a real GPU's
    provider wrapped), so that host data passes through it in slices."""
    return Backend(backend.name, backend.xp, _FreeBytes(backend.kernels, free_bytes))


class _FreeBytes:
    """A kernel provider that reports ``free_bytes`` free and delegates everything else."""

    def __init__(self, kernels, free_bytes):
        self._kernels, self._free_bytes = kernels, free_bytes

    def __getattr__(self, name):
        return getattr(self._kernels, name)

    def free_bytes(self):
        return self._free_bytes
