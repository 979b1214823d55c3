"""Vertical layout: bit planes hold the right bits, and the transposition round-trips."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cim_emu.bits import unpack_bits
from cim_emu.simdram.layout import check_bits, from_vertical, result_dtype, to_vertical, value_range

WIDTHS = [1, 2, 7, 8, 9, 16, 17, 31, 32, 33, 63, 64]


def values_of(bits, signed, count, rng):
    low, high = value_range(bits, signed)
    dtype = numpy.int64 if signed or bits < 64 else numpy.uint64
    edges = numpy.array([low, high, 0, min(1, high)], dtype=dtype)
    body = rng.integers(low, high, count, endpoint=True, dtype=dtype)
    return numpy.concatenate([edges, body])


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("count", [0, 59, 60, 61, 1000])
def test_plane_i_holds_bit_i_of_every_element(np_rng, bits, signed, count):
    values = values_of(bits, signed, count, np_rng)
    planes = to_vertical(values, bits, signed)
    assert planes.shape == (bits, -(-values.size // 64)) and planes.dtype == numpy.uint64
    pattern = values.astype(numpy.int64).view(numpy.uint64) if signed else values.astype(numpy.uint64)
    for bit in range(bits):
        expected = (pattern >> numpy.uint64(bit)) & numpy.uint64(1)
        numpy.testing.assert_array_equal(unpack_bits(planes[bit], values.size), expected.astype(bool))


@given(st.sampled_from(WIDTHS), st.booleans(), st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_round_trip_restores_values_and_dtype(bits, signed, count, seed):
    values = values_of(bits, signed, count, numpy.random.default_rng(seed))
    back = from_vertical(to_vertical(values, bits, signed), values.size, signed)
    assert back.dtype == result_dtype(bits, signed)
    assert back.tolist() == values.tolist()


def test_padding_columns_stay_zero():
    planes = to_vertical(numpy.full(3, -1), 8, signed=True)
    assert planes.tolist() == [[0b111]] * 8


@pytest.mark.parametrize("bits", [0, 65, -1, 2.0, True])
def test_width_out_of_range_names_the_parameter(bits):
    with pytest.raises(ValueError, match=r"bits must be an integer in 1\.\.64"):
        check_bits(bits)


@pytest.mark.parametrize("values, bits, signed", [([256], 8, False), ([-1], 8, False), ([128], 8, True),
                                                  ([-129], 8, True), ([2], 1, False), ([1], 1, True)])
def test_values_outside_the_width_are_refused(values, bits, signed):
    with pytest.raises(ValueError, match="must fit in"):
        to_vertical(numpy.array(values), bits, signed)


def test_bad_arrays_are_refused():
    with pytest.raises(ValueError, match="1-D"):
        to_vertical(numpy.zeros((2, 2), int), 8)
    with pytest.raises(TypeError, match="integer or bool"):
        to_vertical(numpy.zeros(2), 8)
    with pytest.raises(ValueError, match="count must be in"):
        from_vertical(numpy.zeros((8, 1), numpy.uint64), 65)
