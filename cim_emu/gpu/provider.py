"""The kernel provider protocol, and the launch-shape helpers every engine's wrappers share.

A *kernel provider* runs the CUDA kernels of ``kernels/`` on arrays of its own kind, with the
call convention of :class:`cupy.RawKernel` (``function(grid, block, args, shared_mem=...)``).
Three implement :class:`KernelProvider`:

* :class:`cim_emu.gpu.cupy_kernels.CupyKernels` - NVRTC through CuPy, on the current device;
* :class:`cim_emu.gpu.cpu_shim.CpuKernels` - the same sources compiled for the host through
  ``kernels/cuda_shim.h``, on numpy arrays (CI runs every kernel this way);
* the test stand-in of ``tests/fake_cupy.py`` - the CPU shim behind a stand-in CuPy, so the
  Python that only runs on a GPU runs in CI.

Each engine keeps its launch wrappers beside it (:mod:`cim_emu.rng.gpu`, :mod:`cim_emu.ambit.gpu`,
:mod:`cim_emu.reram.gpu`); they take a provider and choose the launch shape with the helpers
below, passing numpy scalars of the exact C parameter types (the CPU shim checks them against
the kernel's signature, so a wrong type fails in CI instead of running silently on a GPU).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, Optional, Protocol, runtime_checkable

import numpy

from .sources import minimum_compute_capability

__all__ = ["KernelProvider", "BLOCK_THREADS", "BLOCKS_PER_MULTIPROCESSOR", "DEFAULT_SHARED_BYTES",
           "grid_blocks", "contiguous"]

#: Threads per block (at most: an Ambit program with many live values takes fewer); the bound
#: the kernels declare in ``__launch_bounds__``.
BLOCK_THREADS = 256

#: Blocks per multiprocessor of a full-size grid: enough to fill every SM with 256-thread blocks
#: (2048 resident threads); the kernels' grid-stride loops cover any size with it.
BLOCKS_PER_MULTIPROCESSOR = 8

#: Dynamic shared memory a block may use without opting in (CUDA's default limit).
DEFAULT_SHARED_BYTES = 48 * 1024


@runtime_checkable
class KernelProvider(Protocol):
    """What the launch wrappers ask of a provider of cim-emu's kernels."""

    name: str
    """``"cupy"``, ``"cpu-shim"`` or a test stand-in's name."""

    @property
    def xp(self) -> ModuleType:
        """The array namespace of the arrays the kernels take and return."""

    @property
    def multiprocessors(self) -> int:
        """Multiprocessors of the device (sizes default grids)."""

    @property
    def shared_bytes_limit(self) -> int:
        """Dynamic shared memory one block may have once opted in."""

    @property
    def compute_capability(self) -> Optional[int]:
        """The device's ``10 * major + minor``; ``None`` for the host (the shim runs every kernel)."""

    def function(self, filename: str, name: str) -> Callable[..., None]:
        """The kernel ``name`` (a name expression of :data:`~cim_emu.gpu.sources.KERNELS`)."""

    def address(self, array: Any) -> int:
        """The address of an array's first element."""

    def allow_shared_bytes(self, function: Any, nbytes: int) -> None:
        """Opt ``function`` in to ``nbytes`` of dynamic shared memory."""

    def resident(self, make: Callable[[], numpy.ndarray]) -> Any:
        """A device copy of the constant host array ``make()``, made once per device."""

    def constant(self, array: numpy.ndarray) -> Any:
        """A device copy of a small host array, kept for later launches with the same contents."""

    def free_bytes(self) -> Optional[int]:
        """Memory a computation on the device can still take; ``None`` for host memory (no
        limit that work must be passed through in slices for)."""


def grid_blocks(kernels: KernelProvider, work_items: int, grid: Optional[int] = None) -> int:
    """Blocks of a grid-stride launch over ``work_items`` (``grid`` overrides): a full device's
    worth at most."""
    if grid is not None:
        return grid
    full = kernels.multiprocessors * BLOCKS_PER_MULTIPROCESSOR
    return max(1, min(full, -(-work_items // BLOCK_THREADS)))


def contiguous(kernels: KernelProvider, array: Any, dtype: Any) -> Any:
    """``array`` as a C-contiguous array of ``dtype`` of the provider's kind (no copy when it is one)."""
    return kernels.xp.ascontiguousarray(kernels.xp.asarray(array, dtype=dtype))


def supports(kernels: Optional[KernelProvider], filename: str) -> bool:
    """Whether ``kernels`` can run the kernels of ``kernels/<filename>`` (the device is at least
    the source's :func:`~cim_emu.gpu.sources.minimum_compute_capability`)."""
    if kernels is None:
        return False
    capability = kernels.compute_capability
    return capability is None or capability >= minimum_compute_capability(filename)
