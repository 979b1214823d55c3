"""Input tiles as bits and their native product (``kernels/binary_product.cpp`` through
cim_emu.reram.bit_tiles): the same tiles as the float ones, the very bits of BLAS's product on
fresh random operands at every edge of the kernel's blocks, and the same reads through the whole
pipeline (noisy or not, drawn in place or by numpy) with bit tiles and with float tiles."""

from __future__ import annotations

import numpy
import pytest

from cim_emu.backend import NUMPY_BACKEND
from cim_emu.gpu import cpu_shim
from cim_emu.gpu.host_native import chosen
from cim_emu.reram import AdcConfig, CrossbarArray, CrossbarGeometry, DeviceModel, InputEncoding, ReramConfig, bit_tiles
from cim_emu.reram.bit_tiles import BitTiles
from cim_emu.reram.config import WeightMapping
from cim_emu.reram.layout import TileLayout
from cim_emu.rng import native

NO_COMPILER = cpu_shim.skip_reason()
pytestmark = pytest.mark.skipif(NO_COMPILER is not None, reason=str(NO_COMPILER))


def random_bits(np_rng, C, b, K, density=None):
    """Input chunks ``(C, b, K)`` of 0 and 1, a random share of them 1."""
    return (np_rng.random((C, b, K)) < (np_rng.uniform(0.05, 0.95) if density is None else density)).astype(numpy.int64)


@pytest.mark.parametrize("rows, K, bias", [(128, 300, True), (100, 250, False), (20, 20, True), (7, 30, False),
                                           (8, 1, True)])
def test_bit_tiles_hold_the_float_tiles(np_rng, rows, K, bias):
    layout = TileLayout.over(rows, K)
    chunks = random_bits(np_rng, 3, 5, K)
    tiles = BitTiles.of_chunks(chunks, layout, bias=bias, functions=bit_tiles.library())
    floats = layout.input_tiles(chunks, numpy, depth=rows + bias, dtype=numpy.float32, bias=bias)
    assert tiles.shape == floats.shape and len(tiles) == layout.tiles
    numpy.testing.assert_array_equal(tiles.as_floats(numpy.float32), floats)


def integer_operand(np_rng, shape, dtype, signed):
    """Integers whose every subset sum down axis -2 is exact in ``dtype`` (at most ``2**24 - 1`` or
    ``2**53 - 1`` in magnitude): the pipeline's invariant."""
    bound = 2**24 if dtype == numpy.float32 else 2**53
    top = (bound - 1) // shape[-2]
    return np_rng.integers(-top if signed else 0, top + 1, shape).astype(dtype)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("columns", [1, 3, 4, 8, 9, 16, 31, 32, 33, 70])
@pytest.mark.parametrize("bias", [False, True])
def test_the_native_product_gives_blas_bits(np_rng, dtype, columns, bias):
    """Every block edge of the kernel: one vector of columns or four, their tails; rows a multiple
    of the rows taken at a time or not; word lines not a multiple of four or eight; operands at the
    edge of exactness, signed or not; the last tile's word lines only; a column slice of the
    operand (its rows strided)."""
    for rows, K, b in [(128, 256, 41), (13, 30, 3), (4, 4, 1), (128, 200, 8)]:
        layout = TileLayout.over(rows, K)
        tiles = BitTiles.of_chunks(random_bits(np_rng, 2, b, K), layout, bias=bias, functions=bit_tiles.library())
        floats = tiles.as_floats(dtype)
        wide = integer_operand(np_rng, (layout.tiles, rows + bias, columns + 5), dtype, signed=bool(np_rng.integers(2)))
        right = wide[:, :, 2:2 + columns]  # rows strided
        numpy.testing.assert_array_equal(tiles.matmul(right), numpy.matmul(floats, right))
        last = K - (layout.tiles - 1) * rows  # the last tile's word lines that hold inputs
        out = numpy.full((tiles.shape[1], columns), numpy.nan, dtype=dtype)
        tiles.product(layout.tiles - 1, right[-1], out, rows=last)
        numpy.testing.assert_array_equal(out, floats[-1] @ right[-1])


def test_the_product_refuses_what_it_cannot_multiply(np_rng):
    layout = TileLayout.over(16, 40)
    tiles = BitTiles.of_chunks(random_bits(np_rng, 1, 4, 40), layout, bias=False, functions=bit_tiles.library())
    right = numpy.zeros((16, 5), numpy.float32)
    with pytest.raises(ValueError, match="cannot multiply"):
        tiles.product(0, numpy.zeros((17, 5), numpy.float32), numpy.empty((4, 5), numpy.float32))
    with pytest.raises(ValueError, match="cannot multiply"):
        tiles.product(0, right, numpy.empty((5, 5), numpy.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        tiles.product(0, right, numpy.empty((4, 5), numpy.float64))
    with pytest.raises(TypeError, match="float32 or float64"):
        tiles.product(0, right.astype(numpy.int32), numpy.empty((4, 5), numpy.int32))
    with pytest.raises(ValueError, match=r"rows must be in \[0, 16\]"):
        tiles.product(0, right, numpy.empty((4, 5), numpy.float32), rows=17)
    with pytest.raises(ValueError, match="contiguous columns"):
        tiles.product(0, right, numpy.empty((4, 10), numpy.float32)[:, ::2])


#: 1-bit DACs on every readout the host path has: packed ideal sums, signed parts, prescaled noisy
#: sums drawn in place (one root a run, or one a conversion), both polarities' noise, signed inputs,
#: word lines not a multiple of eight, a last tile partly padded.
SUBTRACT = WeightMapping(differential_readout="subtract")
WAN2022 = DeviceModel.reram_wan2022()
CONFIGS = {
    "ideal-packed": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=6)),
    "subtract-packed-signed-inputs": ReramConfig(CrossbarGeometry(32, 16), SUBTRACT, InputEncoding(6, 1, signed=True),
                                                 AdcConfig(bits=5, full_scale=30)),
    "wan2022-prescaled": ReramConfig(CrossbarGeometry(64, 32), adc=AdcConfig(bits=8), devices=WAN2022),
    "wan2022-20-rows": ReramConfig(CrossbarGeometry(20, 16), adc=AdcConfig(bits=6), devices=WAN2022),
    "state-dependent-noise": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=7),
                                         devices=DeviceModel.generic_reram(read_noise_proportional=0.03)),
    "subtract-read-noise": ReramConfig(CrossbarGeometry(32, 16), SUBTRACT,
                                       adc=AdcConfig(bits=7), devices=DeviceModel.generic_reram(read_noise=0.05)),
}


def read_both_ways(crossbars, x, monkeypatch):
    """``crossbars``' read of ``x`` with bit tiles, then with float tiles."""
    with_bits = crossbars.matmul(x, read_index=3, row_offset=2, method="pipeline")
    with monkeypatch.context() as patch:
        patch.setattr(bit_tiles, "library", lambda: None)
        with_floats = crossbars.matmul(x, read_index=3, row_offset=2, method="pipeline")
    return with_bits, with_floats


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("drawn_in_place", [True, False])
def test_a_read_with_bit_tiles_gives_the_bits_of_float_tiles(np_rng, monkeypatch, name, drawn_in_place):
    config = CONFIGS[name]
    mapping = config.mapping
    K = 2 * config.crossbar.rows + int(np_rng.integers(1, config.crossbar.rows))
    weights = np_rng.integers(-mapping.max_weight, mapping.max_weight + 1, (K, 19))
    crossbars = CrossbarArray(weights, config, seed=int(np_rng.integers(2**32)))
    assert crossbars.pipeline.bit_products(NUMPY_BACKEND) is not None
    if not drawn_in_place:  # numpy draws the noise from the chunks as floats
        monkeypatch.setattr(native, "kernels_for", lambda backend: None)
    x = np_rng.integers(config.inputs.min_input, config.inputs.max_input + 1, (11, K))
    x[0] = config.inputs.max_input
    with_bits, with_floats = read_both_ways(crossbars, x, monkeypatch)
    numpy.testing.assert_array_equal(with_bits, with_floats)


def test_the_configurations_reach_both_kinds_of_noise(np_rng):
    pipelines = [CrossbarArray(np_rng.integers(-127, 128, (40, 3)), config).pipeline for config in CONFIGS.values()]
    assert any(p.row_squares is not None for p in pipelines)
    assert any(p.sigma_squared is not None and p.row_squares is None for p in pipelines)
    assert any(p.prescaled for p in pipelines) and any(p.packing.factor > 1 for p in pipelines)


def test_only_one_bit_dacs_on_the_host_readout_keep_bits():
    one_bit = CrossbarArray(numpy.ones((40, 3), dtype=numpy.int64), CONFIGS["ideal-packed"]).pipeline
    two_bits = CrossbarArray(numpy.ones((40, 3), dtype=numpy.int64),
                             ReramConfig(CrossbarGeometry(32, 16), inputs=InputEncoding(8, 2))).pipeline
    assert one_bit.bit_products(NUMPY_BACKEND) is not None
    assert two_bits.bit_products(NUMPY_BACKEND) is None
    with chosen("0"):
        assert one_bit.bit_products(NUMPY_BACKEND) is None
    assert bit_tiles.status().startswith("native")


def test_info_says_which_product(invoke, monkeypatch):
    monkeypatch.setenv(bit_tiles.NATIVE_ENV, "0")
    assert "bit product      BLAS (CIM_EMU_NATIVE=0)" in invoke("info").stdout
    monkeypatch.setenv(bit_tiles.NATIVE_ENV, "auto")
    assert invoke("info").stdout.split("bit product")[1].split()[0] == "native"


def test_a_benchmark_floor_counts_a_bit_product_as_a_quarter_of_a_matmul():
    """The plausibility floor of a lossy read (cim_emu.studies.benchmarks): its products, each a
    matmul of the shape when float tiles go through BLAS, a quarter of one when bits are looked up."""
    from cim_emu.studies.benchmarks import FLOOR_MIN_MACS, reram_floor

    crossbars = CrossbarArray(numpy.ones((40, 3), dtype=numpy.int64), ReramConfig(adc=AdcConfig(bits=6)))
    products = crossbars.config.inputs.chunks * crossbars.pipeline.width
    assert reram_floor(crossbars, NUMPY_BACKEND, FLOOR_MIN_MACS)[0] == products / 4
    with chosen("0"):
        assert reram_floor(crossbars, NUMPY_BACKEND, FLOOR_MIN_MACS)[0] == products
