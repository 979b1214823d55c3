"""Tests of cim_emu.rng: Philox4x32-10, the (seed, stream, index) mapping and derived draws.

Every test runs twice, once on each generator of the numpy backend: numpy's array Philox
(``CIM_EMU_NATIVE=0``) and the native draws (the CUDA twin compiled for the host; skipped where
no C++ compiler is found).
"""

import math
import statistics
from fractions import Fraction

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cim_emu import rng
from cim_emu.gpu import cpu_shim

U64 = 2**64
MASK32 = 0xFFFFFFFF

# Known answers of Philox4x32-10: the three "philox4x32 10" lines of Random123's
# examples/kat_vectors (D. E. Shaw Research), as cut and pasted into
# DEShawResearch/Random123-Boost, libs/random/test/test_philox.cpp (test_kat_philox4x32,
# commit 916db91ae4c6fd8324ef054a518851321ab41f91). Columns: counter (4 words), key (2 words),
# expected output (4 words).
PHILOX4X32_10_KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.fixture(scope="module", autouse=True, params=["numpy", "native"])
def draws(request):
    """The numpy backend's generator of this round of the module: ``"numpy"`` or ``"native"``."""
    if request.param == "native" and cpu_shim.skip_reason() is not None:
        pytest.skip(cpu_shim.skip_reason())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CIM_EMU_NATIVE", "0" if request.param == "numpy" else "1")
        yield request.param


def reference_philox(counter, key):
    """Philox4x32-10 on Python ints, written independently in Random123's order (bump the key
    before rounds 2..10)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & MASK32, (k1 + 0xBB67AE85) & MASK32
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32
    return c0, c1, c2, c3


def reference_uint32(seed, stream, i):
    """The documented mapping (module docstring), on Python ints."""
    b = i // 4
    counter = (b & MASK32, b >> 32, stream & MASK32, stream >> 32)
    return reference_philox(counter, (seed & MASK32, seed >> 32))[i % 4]


def reference_normal(u):
    """The documented table lookup, on a Python int u."""
    table = rng.normal_table()
    body, tail = table[:65536], table[65536:]
    high, low = u >> 16, u & 0xFFFF
    if high == 0:
        return float(tail[low])
    if high == 65535:
        return -float(tail[65535 - low])
    return float(body[high])


def u64_range(start, count):
    return numpy.uint64(start) + numpy.arange(count, dtype=numpy.uint64)


# --------------------------------------------------------------------------- Philox


@pytest.mark.parametrize("counter, key, expected", PHILOX4X32_10_KAT)
def test_philox_known_answers(counter, key, expected):
    out = rng.philox4x32(counter, key)
    assert all(word.dtype == numpy.uint32 for word in out)
    assert tuple(int(word) for word in out) == expected
    assert reference_philox(counter, key) == expected  # the test's own reference, too


def test_philox_arrays_broadcast_and_match_reference():
    gen = numpy.random.default_rng(1)
    counter = tuple(gen.integers(0, 2**32, size=(3, 5), dtype=numpy.uint32) for _ in range(3))
    counter += (numpy.uint32(7),)  # a scalar word broadcasts
    key = tuple(gen.integers(0, 2**32, size=(1, 5), dtype=numpy.uint32) for _ in range(2))
    out = rng.philox4x32(counter, key)
    assert all(word.shape == (3, 5) and word.dtype == numpy.uint32 for word in out)
    for i in range(3):
        for j in range(5):
            words = (int(counter[0][i, j]), int(counter[1][i, j]), int(counter[2][i, j]), 7)
            expected = reference_philox(words, (int(key[0][0, j]), int(key[1][0, j])))
            assert tuple(int(w[i, j]) for w in out) == expected


# --------------------------------------------------------------------------- mapping


def test_first_four_elements_are_the_zero_known_answer():
    # seed 0, stream 0, block 0 is counter 0 under key 0.
    assert rng.uniform_uint32(0, 0, 0, 4).tolist() == list(PHILOX4X32_10_KAT[0][2])


@pytest.mark.parametrize("seed, stream, index", [
    (0, 0, 5),
    (123, 456, 2**40 + 3),  # block 2**38: the counter's high block word is used
    (2**64 - 1, 2**64 - 1, 2**64 - 1),
    (0x0123456789ABCDEF, 0xFEDCBA9876543210, 0x1122334455667788),
    (2**32, 2**32 + 1, 2**32 + 2),
])
def test_random_uint32_follows_documented_mapping(seed, stream, index):
    expected = reference_uint32(seed, stream, index)
    assert int(rng.random_uint32(seed, stream, numpy.uint64(index))) == expected
    assert int(rng.uniform_uint32(seed, stream, index, 1)[0]) == expected


def test_index_2_40_plus_3_uses_high_block_word():
    i = 2**40 + 3
    u = rng.random_uint32(9, 4, i)
    assert u.shape == () and u.dtype == numpy.uint32
    block = rng.philox4x32((0, 2**38 >> 32, 4, 0), (9, 0))  # block 2**38: words (0, 64)
    assert int(u) == int(block[3])
    assert int(u) != int(rng.philox4x32((0, 0, 4, 0), (9, 0))[3])  # high word matters


def test_index_shape_and_dtypes():
    index = numpy.arange(24, dtype=numpy.int64).reshape(2, 3, 4)
    u = rng.random_uint32(5, 6, index)
    assert u.shape == (2, 3, 4) and u.dtype == numpy.uint32
    assert numpy.array_equal(u.ravel(), rng.uniform_uint32(5, 6, 0, 24))
    assert numpy.array_equal(rng.random_uint32(5, 6, index.astype(numpy.uint32)), u)
    assert rng.bernoulli_at(5, 6, index, 0.5).shape == (2, 3, 4)
    assert rng.normal_at(5, 6, index).dtype == numpy.float64


def test_empty_and_last_ranges():
    assert rng.uniform_uint32(1, 2, 7, 0).shape == (0,)
    assert rng.uniform_uint32(1, 2, 7, 0).dtype == numpy.uint32
    assert rng.normal(1, 2, 0, 0).dtype == numpy.float64
    assert rng.bernoulli(1, 2, 0, 0, 0.5).dtype == numpy.bool_
    tail = rng.uniform_uint32(1, 2, U64 - 6, 6)
    assert tail.tolist() == [reference_uint32(1, 2, i) for i in range(U64 - 6, U64)]


@pytest.mark.parametrize("start, count, blocks", [(0, 4, [0]), (3, 6, [0, 1, 2]),
                                                  (8, 1, [2]), (U64 - 1, 1, [2**62 - 1])])
def test_range_evaluates_each_needed_block_once(monkeypatch, draws, start, count, blocks):
    from cim_emu.rng import philox as philox_module

    if draws == "native":
        pytest.skip("counts the array Philox's evaluations")
    seen = []
    philox = philox_module._philox

    def counting_philox(c0, c1, *args):
        seen.extend((int(lo) + (int(hi) << 32) for lo, hi in numpy.broadcast(c0, c1)))
        return philox(c0, c1, *args)

    monkeypatch.setattr(philox_module, "_philox", counting_philox)
    rng.uniform_uint32(1, 2, start, count)
    assert seen == blocks


# --------------------------------------------------------------------------- chunking


@st.composite
def chunked_ranges(draw):
    start = draw(st.one_of(st.integers(0, 64), st.integers(0, U64 - 1)))
    count = draw(st.integers(0, min(200, U64 - start)))
    cuts = sorted(draw(st.lists(st.integers(0, count), max_size=5)))
    return start, count, [0] + cuts + [count]


DRAWS = {
    "uniform": (rng.uniform_uint32, rng.random_uint32, ()),
    "bernoulli": (rng.bernoulli, rng.bernoulli_at, (0.3,)),
    "normal": (rng.normal, rng.normal_at, ()),
}


@pytest.mark.parametrize("kind", list(DRAWS))
@settings(max_examples=40, deadline=None)
@given(case=chunked_ranges(), seed=st.integers(0, U64 - 1), stream=st.integers(0, U64 - 1))
def test_chunks_equal_whole_range_and_indexed_draws(kind, case, seed, stream):
    by_range, by_index, extra = DRAWS[kind]
    start, count, bounds = case
    whole = by_range(seed, stream, start, count, *extra)
    assert whole.shape == (count,)
    parts = [by_range(seed, stream, start + a, b - a, *extra) for a, b in zip(bounds, bounds[1:])]
    assert numpy.array_equal(numpy.concatenate(parts), whole)
    assert numpy.array_equal(by_index(seed, stream, u64_range(start, count), *extra), whole)


# --------------------------------------------------------------------------- distinctness


def test_seeds_and_streams_give_different_sequences():
    # The high words (2**32) of seed and stream must matter as much as the low ones.
    keys = [(0, 0), (1, 0), (2**32, 0), (0, 1), (0, 2**32), (2**64 - 1, 2**64 - 1)]
    draws = [rng.uniform_uint32(seed, stream, 0, 4096) for seed, stream in keys]
    for i in range(len(draws)):
        for j in range(i):
            assert numpy.mean(draws[i] == draws[j]) < 0.01, (keys[i], keys[j])


# --------------------------------------------------------------------------- uniformity


@pytest.mark.parametrize("shift", [28, 0])
def test_uniform_4bit_chi_square(shift):
    # 2**16 draws into 16 bins of the top (or bottom) 4 bits: chi-square with 15 degrees of
    # freedom has mean 15 and sd 5.5; 60 is beyond the 1e-6 quantile (the seed is fixed).
    u = rng.uniform_uint32(2024, 7, 0, 2**16)
    counts = numpy.bincount((u >> numpy.uint32(shift)) & numpy.uint32(15), minlength=16)
    expected = 2**16 / 16
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 60.0, counts


@pytest.mark.parametrize("p", [0.001, 0.1, 0.5, 0.9])
def test_bernoulli_frequency(p):
    n = 2**18
    exact = rng.bernoulli_threshold(p) / 2**32
    hits = int(rng.bernoulli(11, 3, 0, n, p).sum())
    sigma = math.sqrt(n * exact * (1 - exact))
    assert abs(hits - n * exact) < 5 * sigma


@pytest.mark.parametrize("p, always", [(0, False), (0.0, False), (1, True), (1.0, True),
                                       (numpy.float64(1.0), True), (Fraction(0), False)])
def test_bernoulli_boundaries(p, always):
    draws = rng.bernoulli(3, 5, 0, 2**16, p)
    assert draws.dtype == numpy.bool_
    assert bool(draws.all()) if always else not bool(draws.any())
    assert bool(rng.bernoulli_at(3, 5, numpy.arange(100), p).all()) == always


@pytest.mark.parametrize("p, t", [
    (0.5, 2**31), (1.0, 2**32), (0.0, 0), (2.0**-32, 1),
    (2.0**-33, 0),        # 0.5 rounds to even: 0
    (3 * 2.0**-33, 2),    # 1.5 rounds to even: 2
    (Fraction(1, 3), round(Fraction(2**32, 3))),
    (numpy.float32(0.25), 2**30),
    (0.1, 429496730),     # 0.1 * 2**32 = 429496729.6000000015...
])
def test_bernoulli_threshold_is_exact(p, t):
    assert rng.bernoulli_threshold(p) == t


def test_bernoulli_is_threshold_compare():
    p = 0.37
    t = rng.bernoulli_threshold(p)
    u = rng.uniform_uint32(8, 9, 100, 1000)
    expected = [int(x) < t for x in u]
    assert rng.bernoulli(8, 9, 100, 1000, p).tolist() == expected
    assert rng.bernoulli_at(8, 9, numpy.arange(100, 1100), p).tolist() == expected


def test_bernoulli_threshold_is_strict():
    # With p = u / 2**32 exactly, t = u and the draw u < t is False; one step more is True.
    u = int(rng.random_uint32(8, 9, 12345))
    assert not bool(rng.bernoulli_at(8, 9, 12345, Fraction(u, 2**32)))
    assert bool(rng.bernoulli_at(8, 9, 12345, Fraction(u + 1, 2**32)))
    assert not bool(rng.bernoulli(8, 9, 12345, 1, u / 2**32)[0])  # a float p, exact too


# --------------------------------------------------------------------------- normal


def test_normal_table_properties():
    table = rng.normal_table()
    assert table is rng.normal_table()  # cached
    assert table.shape == (2**17,) and table.dtype == numpy.float64
    with pytest.raises(ValueError):
        table[0] = 0.0  # read-only
    body, tail = table[:65536], table[65536:]
    assert numpy.all(numpy.diff(body) > 0)
    assert numpy.all(numpy.diff(tail) > 0)
    assert tail[-1] < body[1] and tail[0] < 0
    assert numpy.array_equal(body, -body[::-1])  # exact antisymmetry
    assert body[32767] < 0 < body[32768]
    assert -6.34 < tail[0] < -6.33  # Phi^-1(2**-33)
    inv_cdf = statistics.NormalDist().inv_cdf
    for h in (0, 1, 1000, 32768, 65534):
        assert body[h] == inv_cdf((h + 0.5) / 2**16)
    for low in (0, 1, 4321, 65535):
        assert tail[low] == inv_cdf((low + 0.5) / 2**32)


def test_normal_table_exact_moments():
    # The discretised distribution: body levels h = 1..65534 with probability 2**-16 each,
    # tail levels l (and their mirror images) with probability 2**-32 each.
    table = rng.normal_table()
    body, tail = table[1:65535].tolist(), table[65536:].tolist()
    tail_both = tail + [-z for z in tail]
    mean = math.fsum([z / 2**16 for z in body] + [z / 2**32 for z in tail_both])
    assert mean == 0.0
    variance = math.fsum([z * z / 2**16 for z in body] + [z * z / 2**32 for z in tail_both])
    assert abs(variance - 1.0) < 1e-4
    total = Fraction(len(body), 2**16) + Fraction(len(tail_both), 2**32)
    assert total == 1


def test_normal_lookup_rule_on_both_tails_and_body():
    seed, stream, n = 77, 5, 2**20
    u = rng.uniform_uint32(seed, stream, 0, n)
    high = u >> numpy.uint32(16)
    lower = numpy.flatnonzero(high == 0)
    upper = numpy.flatnonzero(high == 65535)
    body = numpy.arange(0, n, 4099)
    assert lower.size > 0 and upper.size > 0  # about 16 of each in 2**20 draws
    index = numpy.concatenate([lower, upper, body])
    z = rng.normal_at(seed, stream, index)
    assert z.tolist() == [reference_normal(int(u[i])) for i in index]
    assert numpy.all(z[:lower.size] < -3.8)
    assert numpy.all(z[lower.size:lower.size + upper.size] > 3.8)
    assert numpy.array_equal(rng.normal(seed, stream, 0, n)[index], z)


def test_normal_sample_moments():
    n = 10**6
    z = rng.normal(31, 4, 0, n)
    table = rng.normal_table()
    assert z.dtype == numpy.float64
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2 / n)
    assert numpy.abs(z).max() <= -table[65536]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("call, error, match", [
    (lambda: rng.uniform_uint32(-1, 0, 0, 1), ValueError,
     r"seed must be an integer in \[0, 2\*\*64\), got -1"),
    (lambda: rng.uniform_uint32(U64, 0, 0, 1), ValueError, "seed"),
    (lambda: rng.uniform_uint32(1.5, 0, 0, 1), TypeError, "seed"),
    (lambda: rng.uniform_uint32(True, 0, 0, 1), TypeError, "seed"),
    (lambda: rng.random_uint32(0, -1, [0]), ValueError, "stream"),
    (lambda: rng.normal(0, U64, 0, 1), ValueError, "stream"),
    (lambda: rng.uniform_uint32(0, 0, -1, 1), ValueError, "start"),
    (lambda: rng.uniform_uint32(0, 0, U64 + 1, 0), ValueError, "start"),
    (lambda: rng.uniform_uint32(0, 0, 0, -1), ValueError, "count"),
    (lambda: rng.uniform_uint32(0, 0, U64 - 2, 3), ValueError, "count"),
    (lambda: rng.uniform_uint32(0, 0, 0, 2.0), TypeError, "count"),
    (lambda: rng.random_uint32(0, 0, numpy.array([1, -2])), ValueError, "index"),
    (lambda: rng.random_uint32(0, 0, numpy.array([1.0])), TypeError, "index"),
    (lambda: rng.normal_at(0, 0, numpy.array([True])), TypeError, "index"),
    (lambda: rng.bernoulli(0, 0, 0, 1, -0.1), ValueError, r"p must be a real number in \[0, 1\]"),
    (lambda: rng.bernoulli(0, 0, 0, 1, 1.0000001), ValueError, "p must"),
    (lambda: rng.bernoulli_at(0, 0, [0], float("nan")), ValueError, "p must"),
    (lambda: rng.bernoulli_threshold("0.5"), TypeError, "p must"),
    (lambda: rng.philox4x32((0, 0, 0, 2**32), (0, 0)), ValueError, r"counter\[3\]"),
    (lambda: rng.philox4x32((0, 0, 0), (0, 0)), TypeError, "counter"),
    (lambda: rng.philox4x32((0, 0, 0, 0), (numpy.array([1], dtype=numpy.int64), 0)), TypeError,
     r"key\[0\]"),
])
def test_validation_errors_name_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------------------- CuPy


@pytest.mark.gpu
def test_cupy_matches_numpy_bit_for_bit():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception as exc:  # a CuPy without a working CUDA runtime
        pytest.skip(f"no CUDA device: {exc}")
    start, count = 2**40 - 5, 100_003
    index = numpy.array([0, 3, 2**40 + 3, 2**64 - 1], dtype=numpy.uint64)
    for by_range, by_index, extra in DRAWS.values():
        assert numpy.array_equal(by_range(1, 2, start, count, *extra, backend="cupy").get(),
                                 by_range(1, 2, start, count, *extra))
        assert numpy.array_equal(by_index(1, 2, cupy.asarray(index), *extra, backend="cupy").get(),
                                 by_index(1, 2, index, *extra))
    for counter, key, expected in PHILOX4X32_10_KAT:
        words = tuple(cupy.asarray(numpy.uint32(c)) for c in counter)
        assert tuple(int(w) for w in rng.philox4x32(words, key, xp=cupy)) == expected
