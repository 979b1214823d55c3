"""SciPy's LAPACK and BLAS, called without the GIL: the dense kernels of the IR-drop solve.

SciPy's Python wrappers (``scipy.linalg.lapack``, ``scipy.linalg.blas``) hold the GIL while the
routine runs, so threads solving tiles side by side take turns instead of sharing the cores.
The very same routines are exported to Cython (``scipy.linalg.cython_lapack`` and
``cython_blas``, ``__pyx_capi__``) as C function pointers; called through :mod:`ctypes`, which
releases the GIL for a foreign call, they run in parallel. Every argument is a pointer (Fortran's
convention), passed as a bare address: the scalars live in :class:`Arguments`, built once per
matrix, so that a call costs about a microsecond of Python (building ``ctypes`` objects per call
cost more than the small routines themselves).

Only what :mod:`cim_emu.reram.ir_drop` needs: the inverse of a symmetric positive definite
matrix (:class:`SpdInverse`, upper triangle), the product of a symmetric matrix with a general
one (``dsymm``), and ``dgemm``, ``dger`` and ``dlascl``. Arrays are float64 and
Fortran-contiguous.

**The inverse.** ``dpotrf`` then ``dpotri`` spend most of their time, at ``n = 128``, in small
triangular kernels (``dtrtri`` runs at a few GFLOP/s there). :class:`SpdInverse` instead splits
``A = [[A11, A12], [A12', A22]]`` (``h = n // 2`` leading rows) and forms, through the Schur
complement ``S = A22 - A12' A11^-1 A12``::

    B11 = A11^-1                   (recursively)
    T   = B11 A12                  (dsymm)
    S   = A22 - A12' T             (dgemm)
    S^-1                           (recursively)
    W12 = -T S^-1                  (dsymm, from the right)
    W11 = B11 - W12 T'             (dgemm)

so that ``A^-1 = [[W11, W12], [W12', S^-1]]``, down to blocks of at most :data:`LEAF` rows
(``dpotrf`` and ``dpotri``); most of the work is in ``dgemm`` and ``dsymm`` at their full speed.
``S`` is positive definite when ``A`` is, and a leaf that is not stops the inverse with
``ValueError``. The rounding differs from ``dpotri``'s (about ``1e-15`` relative, well conditioned).
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any, NamedTuple

import numpy

from .._optional import require

__all__ = ["Arguments", "LEAF", "Routines", "SpdInverse", "addresses", "load", "spd_inverse", "symmetric_product"]

#: The largest block :class:`SpdInverse` inverts with ``dpotrf`` and ``dpotri`` (larger ones are
#: split): 32 was the fastest of 16 to 64 at ``n = 64`` and ``128`` (2-core AMD EPYC, OpenBLAS
#: 0.3.30's SkylakeX kernels; its ``dpotrf`` slows sharply past 32).
LEAF = 32

_DOUBLE = 8  # bytes


class Routines(NamedTuple):
    """SciPy's routines as ctypes functions (every argument an address)."""

    potrf: Any  # uplo, n, a, lda, info
    potri: Any  # uplo, n, a, lda, info
    symm: Any   # side, uplo, m, n, alpha, a, lda, b, ldb, beta, c, ldc
    gemm: Any   # transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
    ger: Any    # m, n, alpha, x, incx, y, incy, a, lda
    lascl: Any  # type, kl, ku, cfrom, cto, m, n, a, lda, info


def _address(module: Any, name: str) -> int:
    """The address of the routine ``name`` of a SciPy Cython module."""
    capsule = module.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return int(get_pointer(capsule, get_name(capsule)))


#: Each routine: its SciPy module (``cython_lapack`` or ``cython_blas``), name and argument count.
_ROUTINES = {"potrf": ("lapack", "dpotrf", 5), "potri": ("lapack", "dpotri", 5), "symm": ("blas", "dsymm", 12),
             "gemm": ("blas", "dgemm", 13), "ger": ("blas", "dger", 9), "lascl": ("lapack", "dlascl", 10)}


@functools.lru_cache(maxsize=None)
def addresses() -> tuple[int, ...]:
    """The addresses of SciPy's routines, in the order of :class:`Routines` (loaded once; SciPy
    and its BLAS imported): what a native caller (``kernels/ir_drop_sweep.cpp``) calls."""
    require("scipy.linalg", context="IR drop (cim_emu.reram.ir_drop) needs")
    from scipy.linalg import cython_blas, cython_lapack  # noqa: PLC0415 - SciPy is optional

    modules = {"lapack": cython_lapack, "blas": cython_blas}
    return tuple(_address(modules[_ROUTINES[field][0]], _ROUTINES[field][1]) for field in Routines._fields)


@functools.lru_cache(maxsize=None)
def load() -> Routines:
    """SciPy's routines as ctypes functions of addresses, the GIL released (loaded once)."""
    return Routines(*(ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * _ROUTINES[field][2])(address)
                      for field, address in zip(Routines._fields, addresses())))


class Arguments:
    """Scalar arguments at fixed addresses, alive as long as this object: ``integer(5)`` is the
    address of a C ``int`` 5, ``char(b"U")`` of the character ``U``, ``double(x)`` of a C ``double``."""

    def __init__(self) -> None:
        self._kept: list = []
        self.info = ctypes.c_int(0)
        """LAPACK's ``info``, read after the calls that set it (at :meth:`info_address`)."""

    def _keep(self, value: Any) -> int:
        self._kept.append(value)
        return ctypes.addressof(value)

    def integer(self, value: int) -> int:
        return self._keep(ctypes.c_int(value))

    def double(self, value: float) -> int:
        return self._keep(ctypes.c_double(value))

    def char(self, value: bytes) -> int:
        return self._keep(ctypes.create_string_buffer(value, 2))

    def mutable_int(self, value: int) -> tuple[ctypes.c_int, int]:
        """A C ``int`` to change between calls (``.value``), and its address."""
        number = ctypes.c_int(value)
        return number, self._keep(number)

    def info_address(self) -> int:
        return ctypes.addressof(self.info)


def address(array: numpy.ndarray) -> int:
    """The address of a float64 Fortran-contiguous array's first element."""
    if array.dtype != numpy.float64 or not array.flags.f_contiguous:
        raise ValueError("LAPACK arrays must be float64 and Fortran-contiguous")
    return int(array.ctypes.data)


class SpdInverse:
    """The inverse of the symmetric positive definite ``A`` ``(n, n)`` (float64, Fortran-ordered),
    in place, from and into its upper triangle (module docstring): the calls are prepared once
    and each call of the object runs them on ``A``'s current contents. ``A``'s lower triangle is
    scratch (overwritten with finite values when it was finite; read the result with
    :func:`symmetric_product` or BLAS's upper-triangle routines). Raises ``ValueError`` when ``A``
    is not positive definite."""

    def __init__(self, A: numpy.ndarray) -> None:
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"the matrix to invert must be square; got shape {A.shape}")
        self.matrix, n = A, A.shape[0]
        address(A)
        self._routines = load()
        self._work = numpy.empty((n, max(1, (n + 1) // 2)), order="F")
        self._arguments = arguments = Arguments()
        self._calls: list[tuple[Any, tuple, bool]] = []
        self._chars = {c: arguments.char(c) for c in (b"U", b"L", b"R", b"N", b"T")}
        self._one, self._minus_one, self._zero = arguments.double(1.0), arguments.double(-1.0), arguments.double(0.0)
        self._plan(n, address(A), address(self._work), arguments.integer(n))

    def _plan(self, n: int, a: int, work: int, ld: int) -> None:
        """The calls inverting the ``n x n`` block at address ``a`` (leading dimension at ``ld``),
        ``T`` blocks going to ``work`` (``n`` rows below it free, same leading dimension)."""
        r, c, info = self._routines, self._chars, self._arguments.info_address()
        if n <= LEAF:
            size = self._arguments.integer(n)
            self._calls += [(routine, (c[b"U"], size, a, ld, info), True) for routine in (r.potrf, r.potri)]
            return
        h, k = n // 2, n - n // 2
        rows = self.matrix.shape[0]
        a12, a22 = a + _DOUBLE * rows * h, a + _DOUBLE * (rows * h + h)
        H, K = self._arguments.integer(h), self._arguments.integer(k)
        one, minus_one, zero = self._one, self._minus_one, self._zero
        self._plan(h, a, work, ld)  # B11
        self._calls += [(r.symm, (c[b"L"], c[b"U"], H, K, one, a, ld, a12, ld, zero, work, ld), False),  # T
                        (r.gemm, (c[b"T"], c[b"N"], K, K, H, minus_one, a12, ld, work, ld, one, a22, ld), False)]  # S
        self._plan(k, a22, work + _DOUBLE * h, ld)  # S^-1 (T stays in work's first h rows)
        self._calls += [(r.symm, (c[b"R"], c[b"U"], H, K, minus_one, a22, ld, work, ld, zero, a12, ld), False),  # W12
                        (r.gemm, (c[b"N"], c[b"T"], H, H, K, minus_one, a12, ld, work, ld, one, a, ld), False)]  # W11

    def __call__(self) -> numpy.ndarray:
        info = self._arguments.info
        for function, arguments, checked in self._calls:
            function(*arguments)
            if checked and info.value != 0:
                raise ValueError(f"the crossbar's nodal matrix is not positive definite (LAPACK info {info.value})")
        return self.matrix


def spd_inverse(A: numpy.ndarray) -> numpy.ndarray:
    """The inverse of the symmetric positive definite ``A`` ``(n, n)`` in its upper triangle, in
    place, from ``A``'s upper triangle (:class:`SpdInverse`; its lower triangle is scratch: read
    the result with :func:`symmetric_product`). Raises ``ValueError`` when ``A`` is not positive
    definite."""
    return SpdInverse(A)()


def symmetric_product(alpha: float, A: numpy.ndarray, B: numpy.ndarray, out: numpy.ndarray) -> numpy.ndarray:
    """``out = alpha * A @ B`` for ``A`` ``(m, m)`` symmetric, read from its upper triangle, and
    ``B``, ``out`` ``(m, n)`` (``out`` must not overlap ``B``)."""
    arguments = Arguments()
    m, n = arguments.integer(B.shape[0]), arguments.integer(B.shape[1])
    load().symm(arguments.char(b"L"), arguments.char(b"U"), m, n, arguments.double(alpha), address(A), m,
                address(B), m, arguments.double(0.0), address(out), m)
    return out
