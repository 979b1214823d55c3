"""SciPy's LAPACK and BLAS, called without the GIL: the dense kernels of the IR-drop solve.

SciPy's Python wrappers (``scipy.linalg.lapack``, ``scipy.linalg.blas``) hold the GIL while the
routine runs, so threads solving tiles side by side take turns instead of sharing the cores.
The very same routines are exported to Cython (``scipy.linalg.cython_lapack`` and
``cython_blas``, ``__pyx_capi__``) as C function pointers; called through :mod:`ctypes`, which
releases the GIL for a foreign call, they run in parallel. Same library, same routine, same
arguments: the same bits as the Python wrappers.

Only what :mod:`cim_emu.reram.ir_drop` needs: the inverse of a symmetric positive definite
matrix (Cholesky ``dpotrf`` then ``dpotri``, upper triangle) and the product of a symmetric
matrix with a general one (``dsymm``). Arrays are float64 and Fortran-contiguous.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import numpy

from .._optional import require

__all__ = ["load", "spd_inverse", "symmetric_product"]

_INT = ctypes.POINTER(ctypes.c_int)
_DOUBLE = ctypes.POINTER(ctypes.c_double)


def _function(module: Any, name: str, *argtypes: Any) -> Any:
    """The routine ``name`` of a SciPy Cython module, as a ctypes function (the GIL released)."""
    capsule = module.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return ctypes.CFUNCTYPE(None, *argtypes)(get_pointer(capsule, get_name(capsule)))


@functools.lru_cache(maxsize=None)
def load() -> tuple:
    """SciPy's ``dpotrf``, ``dpotri`` and ``dsymm`` (loaded once; SciPy and its BLAS imported)."""
    require("scipy.linalg", context="IR drop (cim_emu.reram.ir_drop) needs")
    from scipy.linalg import cython_blas, cython_lapack  # noqa: PLC0415 - SciPy is optional

    char = ctypes.c_char_p
    factor = (char, _INT, _DOUBLE, _INT, _INT)  # uplo, n, a, lda, info
    potrf = _function(cython_lapack, "dpotrf", *factor)
    potri = _function(cython_lapack, "dpotri", *factor)
    # side, uplo, m, n, alpha, a, lda, b, ldb, beta, c, ldc
    symm = _function(cython_blas, "dsymm", char, char, _INT, _INT, _DOUBLE, _DOUBLE, _INT, _DOUBLE, _INT,
                     _DOUBLE, _DOUBLE, _INT)
    return potrf, potri, symm


def _pointer(array: numpy.ndarray) -> Any:
    if array.dtype != numpy.float64 or not array.flags.f_contiguous:
        raise ValueError("LAPACK arrays must be float64 and Fortran-contiguous")
    return array.ctypes.data_as(_DOUBLE)


def spd_inverse(A: numpy.ndarray) -> numpy.ndarray:
    """The inverse of the symmetric positive definite ``A`` ``(n, n)`` in its upper triangle, in
    place, from ``A``'s upper triangle (its lower one is left as it was: read the result with
    :func:`symmetric_product`). Raises ``ValueError`` when ``A`` is not positive definite."""
    potrf, potri, _ = load()
    n, info = ctypes.c_int(A.shape[0]), ctypes.c_int(0)
    pointer = _pointer(A)
    potrf(b"U", ctypes.byref(n), pointer, ctypes.byref(n), ctypes.byref(info))
    if info.value == 0:
        potri(b"U", ctypes.byref(n), pointer, ctypes.byref(n), ctypes.byref(info))
    if info.value != 0:
        raise ValueError(f"the crossbar's nodal matrix is not positive definite (LAPACK info {info.value})")
    return A


def symmetric_product(alpha: float, A: numpy.ndarray, B: numpy.ndarray, out: numpy.ndarray) -> numpy.ndarray:
    """``out = alpha * A @ B`` for ``A`` ``(m, m)`` symmetric, read from its upper triangle, and
    ``B``, ``out`` ``(m, n)`` (``out`` must not overlap ``B``)."""
    _, _, symm = load()
    m, n = ctypes.c_int(B.shape[0]), ctypes.c_int(B.shape[1])
    scale, zero = ctypes.c_double(alpha), ctypes.c_double(0.0)
    symm(b"L", b"U", ctypes.byref(m), ctypes.byref(n), ctypes.byref(scale), _pointer(A), ctypes.byref(m),
         _pointer(B), ctypes.byref(m), ctypes.byref(zero), _pointer(out), ctypes.byref(m))
    return out
