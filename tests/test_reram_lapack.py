"""SciPy's LAPACK and BLAS without the GIL (cim_emu.reram.lapack): the same bits as SciPy's own
wrappers, and clear errors."""

import threading

import numpy
import pytest

pytest.importorskip("scipy")
from scipy.linalg import blas, lapack  # noqa: E402

from cim_emu.reram.lapack import spd_inverse, symmetric_product  # noqa: E402


def _spd(rng, n):
    X = rng.normal(size=(n, n))
    return numpy.asfortranarray(X @ X.T + n * numpy.eye(n))


@pytest.mark.parametrize("n", [1, 7, 128])
def test_inverse_and_product_equal_scipys_wrappers_bit_for_bit(n):
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


def test_threads_give_the_same_bits_as_one():
    rng = numpy.random.default_rng()
    matrices = [_spd(rng, 64) for _ in range(8)]
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
