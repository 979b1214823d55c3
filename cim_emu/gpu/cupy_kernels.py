"""The kernel provider of a CUDA device: NVRTC through CuPy (imported on first use only)."""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, Callable, Optional

import numpy

from .provider import DEFAULT_SHARED_BYTES
from .sources import KERNELS, NVRTC_OPTIONS, kernel_source, minimum_compute_capability

__all__ = ["CupyKernels"]


def _cupy() -> ModuleType:
    import cupy  # noqa: PLC0415 - CuPy is optional ('cim-emu[gpu-cuda12]') and imported only when used

    return cupy


@functools.lru_cache(maxsize=None)
def _module(filename: str, device_id: int) -> Any:
    """The :class:`cupy.RawModule` of a source on one device, compiled on first use (CuPy also
    caches the binary on disk, keyed by the inlined source)."""
    cupy = _cupy()
    with cupy.cuda.Device(device_id):
        return cupy.RawModule(code=kernel_source(filename), options=NVRTC_OPTIONS,
                              name_expressions=KERNELS[filename])


@functools.lru_cache(maxsize=None)
def _function(filename: str, name: str, device_id: int) -> Any:
    """One :class:`cupy.RawKernel` per (source, name, device), fetched once."""
    return _module(filename, device_id).get_function(name)


@functools.lru_cache(maxsize=None)
def _device_properties(device_id: int) -> dict:
    return _cupy().cuda.runtime.getDeviceProperties(device_id)


@functools.lru_cache(maxsize=None)
def _resident(make: Callable[[], numpy.ndarray], device_id: int) -> Any:
    cupy = _cupy()
    with cupy.cuda.Device(device_id):
        return cupy.asarray(make())


@functools.lru_cache(maxsize=256)
def _constant(data: bytes, dtype: str, shape: tuple, device_id: int) -> Any:
    cupy = _cupy()
    with cupy.cuda.Device(device_id):
        return cupy.asarray(numpy.frombuffer(data, dtype=dtype).reshape(shape))


class CupyKernels:
    """The kernels on the current CUDA device, compiled by NVRTC.

    Modules, kernels, device properties and device copies of constants are cached per device
    id with :func:`functools.lru_cache` - what ``cupy.memoize(for_each_device=True)`` does,
    without importing CuPy at import time."""

    name = "cupy"

    @property
    def xp(self) -> ModuleType:
        return _cupy()

    def _device(self) -> int:
        return int(self.xp.cuda.Device().id)

    def function(self, filename: str, name: str) -> Any:
        """The :class:`cupy.RawKernel` of kernel ``name`` (a name expression of ``KERNELS``);
        a device older than the source's minimum compute capability is a clear error."""
        device = self._device()
        needed, capability = minimum_compute_capability(filename), self.compute_capability
        if capability < needed:
            raise RuntimeError(f"kernels/{filename} needs a GPU of compute capability {needed / 10:.1f} or newer; "
                               f"device {device} has {capability / 10:.1f}")
        return _function(filename, name, device)

    @property
    def compute_capability(self) -> int:
        properties = _device_properties(self._device())
        return 10 * int(properties["major"]) + int(properties["minor"])

    @staticmethod
    def address(array: Any) -> int:
        """The device address of a CuPy array's first element."""
        return int(array.data.ptr)

    @property
    def multiprocessors(self) -> int:
        return int(_device_properties(self._device())["multiProcessorCount"])

    @property
    def shared_bytes_limit(self) -> int:
        """Dynamic shared memory one block may have once opted in."""
        return int(_device_properties(self._device())["sharedMemPerBlockOptin"])

    @staticmethod
    def allow_shared_bytes(function: Any, nbytes: int) -> None:
        """Opt ``function`` in to ``nbytes`` of dynamic shared memory (above 48 KiB)."""
        if nbytes > DEFAULT_SHARED_BYTES and function.max_dynamic_shared_size_bytes < nbytes:
            function.max_dynamic_shared_size_bytes = nbytes

    def resident(self, make: Callable[[], numpy.ndarray]) -> Any:
        """A device copy of the constant host array ``make()``, made once per device."""
        return _resident(make, self._device())

    def constant(self, array: numpy.ndarray) -> Any:
        """A device copy of a small host array, kept for later launches with the same contents
        (an instruction array, a table of row addresses): no host-to-device copy per launch."""
        return _constant(array.tobytes(), array.dtype.str, array.shape, self._device())

    def free_bytes(self) -> Optional[int]:
        """The device's free bytes plus what CuPy's memory pool holds unused."""
        free, _ = self.xp.cuda.runtime.memGetInfo()
        return int(free) + int(self.xp.get_default_memory_pool().free_bytes())
