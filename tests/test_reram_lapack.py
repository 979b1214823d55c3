"""SciPy's LAPACK and BLAS without the GIL (cim_emu.reram.lapack): the same bits as SciPy's own
wrappers for a single block, the Schur-complement inverse of larger matrices against numpy, and
clear errors."""

import threading

import numpy
import pytest

pytest.importorskip("scipy")
from scipy.linalg import blas, lapack  # noqa: E402

from cim_emu.reram.lapack import LEAF, SpdInverse, spd_inverse, symmetric_product  # noqa: E402


def _spd(rng, n):
    X = rng.normal(size=(n, n))
    return numpy.asfortranarray(X @ X.T + n * numpy.eye(n))


@pytest.mark.parametrize("n", [1, 7, LEAF])
def test_inverse_and_product_equal_scipys_wrappers_bit_for_bit(n):
    """Up to LEAF rows the inverse is dpotrf then dpotri, as SciPy's wrappers call them."""
    rng = numpy.random.default_rng()
    A = _spd(rng, n)
    factor, info = lapack.dpotrf(A.copy(order="F"), lower=0, clean=0)
    expected, info = lapack.dpotri(factor, lower=0)
    ours = spd_inverse(A.copy(order="F"))
    upper = numpy.triu_indices(n)
    assert info == 0 and numpy.array_equal(ours[upper], expected[upper])
    assert numpy.allclose(numpy.triu(ours) + numpy.triu(ours, 1).T, numpy.linalg.inv(A))
    B = numpy.asfortranarray(rng.normal(size=(n, 5)))
    out = numpy.empty_like(B, order="F")
    assert symmetric_product(0.5, ours, B, out) is out
    assert numpy.array_equal(out, blas.dsymm(0.5, ours, B))


def _symmetric(upper):
    return numpy.triu(upper) + numpy.triu(upper, 1).T


@pytest.mark.parametrize("n", [LEAF + 1, 2 * LEAF, 100, 128, 129, 257])
def test_block_inverse_matches_numpy(n):
    """Past LEAF rows the inverse goes through Schur complements (dsymm, dgemm): the upper
    triangle is numpy's inverse to rounding, the lower one stays finite, and the product is
    SciPy's dsymm of that upper triangle, bit for bit."""
    rng = numpy.random.default_rng()
    A = _spd(rng, n)
    A[numpy.tril_indices(n, -1)] = rng.normal(size=n * (n - 1) // 2) * 1e200  # the lower triangle is never read
    ours = spd_inverse(A.copy(order="F"))
    expected = numpy.linalg.inv(_symmetric(A))
    assert numpy.isfinite(ours).all()
    assert numpy.abs(_symmetric(ours) - expected).max() <= 1e-13 * numpy.abs(expected).max()
    B = numpy.asfortranarray(rng.normal(size=(n, 3)))
    assert numpy.array_equal(symmetric_product(-2.0, ours, B, numpy.empty_like(B, order="F")),
                             blas.dsymm(-2.0, ours, B))


def test_a_prepared_inverse_reruns_on_new_contents():
    rng = numpy.random.default_rng()
    A = numpy.empty((70, 70), order="F")
    inverse = SpdInverse(A)
    for _ in range(3):
        M = _spd(rng, 70)
        A[...] = M
        assert inverse() is A
        assert numpy.allclose(_symmetric(A), numpy.linalg.inv(M), rtol=0, atol=1e-13 * numpy.abs(A).max())
        assert numpy.array_equal(A, spd_inverse(M.copy(order="F")))


@pytest.mark.parametrize("n", [3, 100])
def test_an_indefinite_matrix_is_refused_wherever_it_shows(n):
    """The failure may show in the first leaf or only in a Schur complement."""
    rng = numpy.random.default_rng()
    for where in (0, n - 1):
        A = _spd(rng, n)
        A[where, where] = -1e3 * n  # no longer positive definite
        with pytest.raises(ValueError, match="not positive definite"):
            spd_inverse(A)


def test_threads_give_the_same_bits_as_one():
    rng = numpy.random.default_rng()
    matrices = [_spd(rng, n) for n in (16, 64, 128, 129) for _ in range(2)]
    alone = [spd_inverse(A.copy(order="F")) for A in matrices]
    together = [None] * len(matrices)

    def solve(i):
        together[i] = spd_inverse(matrices[i].copy(order="F"))

    threads = [threading.Thread(target=solve, args=(i,)) for i in range(len(matrices))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(numpy.array_equal(a, b) for a, b in zip(alone, together))


def test_bad_arrays_are_refused():
    with pytest.raises(ValueError, match="not positive definite"):
        spd_inverse(numpy.asfortranarray(-numpy.eye(3)))
    with pytest.raises(ValueError, match="Fortran-contiguous"):
        spd_inverse(numpy.ascontiguousarray(numpy.eye(3) + numpy.triu(numpy.ones((3, 3)), 1)))
    with pytest.raises(ValueError, match="float64"):
        spd_inverse(numpy.asfortranarray(numpy.eye(3, dtype=numpy.float32)))
    with pytest.raises(ValueError, match="square"):
        spd_inverse(numpy.ones((3, 2), order="F"))
