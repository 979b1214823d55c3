"""The IR-drop sweep of one tile in one native call: ``kernels/ir_drop_sweep.cpp``.

:func:`cim_emu.reram.ir_drop.transfer_matrix` sweeps a tile's columns with about 25 BLAS and
LAPACK calls a column (``C`` dense inverses and their products, :mod:`cim_emu.reram.lapack`).
Made from Python, each call releases the GIL and takes it back, so two host threads solving
tiles side by side hand the GIL to each other some 3,000 times a tile and wait on each other
more than they compute: measured on the 2-core benchmark machine, 27.5 ms a 128 x 128 tile alone,
48 ms each with two threads (1.1x). The same sweep written in C++ (the very same routines,
SciPy's, called in the same order with the same arguments) is one ctypes call a tile, during
which the thread holds no Python lock: the threads then scale as two processes do.

**Same bits.** The two sweeps give identical ``M_eff`` (``tests/test_reram_ir_drop_native.py``
holds them to each other on random tiles of every branch), so the choice between them never
changes a result. Which one runs is chosen like the host's native draws, by ``CIM_EMU_NATIVE``
(:mod:`cim_emu.gpu.host_native`): ``auto`` (or unset) is the native sweep when a C++ compiler is found
and the Python sweep otherwise (silently; a compiler that fails warns once), ``0`` always the
Python sweep, ``1`` the native one or :class:`~cim_emu.gpu.ShimUnavailableError`. The library is
built by :func:`cim_emu.gpu.cpu_shim.host_library` (cached on disk).
"""

from __future__ import annotations

import ctypes
from typing import Any, Optional

import numpy

from ..gpu import cpu_shim
from ..gpu.host_native import NATIVE_ENV, NativeBuild
from ..gpu.sources import kernel_source
from .lapack import LEAF, addresses

__all__ = ["NATIVE_ENV", "SOURCE", "BUILD", "library", "status", "sweep"]

SOURCE = "ir_drop_sweep.cpp"
"""The native sweep's source, in ``kernels/``."""


def _build() -> Any:
    function = cpu_shim.host_library(kernel_source(SOURCE), "ir_drop_sweep").cim_ir_drop_sweep
    function.restype = ctypes.c_int
    function.argtypes = ([ctypes.c_void_p] + [ctypes.c_int] * 4 + [ctypes.c_void_p] * 4 + [ctypes.c_double] * 3
                         + [ctypes.c_void_p] * 7)
    return function


BUILD: NativeBuild[Any] = NativeBuild(_build, "the native IR-drop sweep", "Python", "sweeping in Python")
"""The native sweep (a ctypes function), built once per process (:class:`~cim_emu.gpu.host_native.NativeBuild`)."""


def library() -> Optional[Any]:
    """The native sweep, or ``None`` when the Python sweep is to run (module docstring); raises
    :class:`~cim_emu.gpu.ShimUnavailableError` when ``CIM_EMU_NATIVE=1`` and it cannot be built."""
    return BUILD.chosen()


def status() -> str:
    """Which sweep solves IR drop, and why: for ``cim-emu info``."""
    return BUILD.status(f"native (kernels/{SOURCE})")


def _pointer(array: Optional[numpy.ndarray]) -> Optional[int]:
    return None if array is None else int(array.ctypes.data)


def sweep(function: Any, rank_one: bool, x: numpy.ndarray, y: Optional[numpy.ndarray], shift: numpy.ndarray,
          swept: numpy.ndarray, Z: numpy.ndarray, g_r: float, g_d: float, cancellation_limit: float) -> numpy.ndarray:
    """``M_eff`` ``(R, C)`` (Fortran-ordered) of one tile by the native ``function``: the arguments
    are those :func:`cim_emu.reram.ir_drop._sweep` prepares (``x``, ``y`` the rank-one columns'
    ``b`` and ``a`` ``(C, R)``, or ``x`` the columns' ``K`` ``(C, R, R)`` and ``y`` ``None``;
    ``shift``, ``swept`` ``(C, R)``; ``Z`` the columns' ``h`` as ``(R, C)`` Fortran-ordered).
    ``ValueError`` when a nodal matrix is not positive definite, as the Python sweep."""
    R, C = Z.shape
    arrays = [numpy.ascontiguousarray(v, dtype=numpy.float64) for v in (x, shift, swept)]
    y = None if y is None else numpy.ascontiguousarray(y, dtype=numpy.float64)
    routines = numpy.array(addresses(), dtype=numpy.uint64)
    A = numpy.zeros((R, R), order="F")
    product, Y = numpy.empty((R, R), order="F"), numpy.empty((R, R), order="F")
    work = numpy.empty((R, max(1, (R + 1) // 2)), order="F")
    Z, Z_next = numpy.array(Z, order="F"), numpy.array(Z, order="F")
    out = numpy.empty((R, C), order="F")
    info = function(_pointer(routines), R, C, LEAF, int(rank_one), _pointer(arrays[0]), _pointer(y),
                    _pointer(arrays[1]), _pointer(arrays[2]), g_r, g_d, cancellation_limit, _pointer(A),
                    _pointer(product), _pointer(Y), _pointer(work), _pointer(Z), _pointer(Z_next), _pointer(out))
    if info != 0:
        raise ValueError(f"the crossbar's nodal matrix is not positive definite (LAPACK info {info})")
    return out
