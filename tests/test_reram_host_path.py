"""The host pipeline's fast paths held to a reference that follows the specification literally.

The reference (:func:`reference_read`) computes every partial sum in int64 (``einsum`` over the
tile's rows), adds the read noise of :meth:`Pipeline.read_noise` (stage 3, unscaled), converts
with the ADC's integer definition (always clamped), shift-adds in int64, then subtracts
reference columns and applies the digital corrections. The pipeline under test packs columns
(signed parts for the ``subtract`` readout, whose operand holds ``W+ - W-``), converts with a
multiplier or without a division, skips clamps, reads one tile at a time in jobs of rows and
columns spread over threads: none of it may change a bit.
"""

import dataclasses

import numpy
import pytest
from reram_reference import RecordingPipeline, finish, partial_sums

from cim_emu.backend import NUMPY_BACKEND, Backend
from cim_emu.reram import AdcConfig, CrossbarArray, CrossbarGeometry, DeviceModel, InputEncoding, ReramConfig
from cim_emu.reram import crossbar as crossbar_module
from cim_emu.reram import pipeline as pipeline_module
from cim_emu.reram.adc import Adc
from cim_emu.reram.config import WeightMapping
from cim_emu.reram.layout import ColumnPacking


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setattr(crossbar_module, "Pipeline", RecordingPipeline)


def integer_codes(adc, p, clamp=True):
    """The ADC's definition on int64 partial sums (clamped unless ``clamp=False``)."""
    if adc.signed:
        magnitude = (adc.scale * numpy.abs(p) + adc.bias) // adc.divisor
        return numpy.sign(p) * (numpy.minimum(magnitude, adc.levels) if clamp else magnitude)
    codes = (adc.scale * p + adc.bias) // adc.divisor
    return numpy.clip(codes, 0, adc.levels) if clamp else codes


def reference_read(crossbars, x, read_index, row_offset):
    """``y`` of one read, from the specification (see the module docstring)."""
    config = crossbars.config
    mapping, dac = config.mapping, crossbars.pipeline.dac
    sums = partial_sums(crossbars, x, read_index, row_offset)  # (T, C, B, N', P, S)
    C, P, S = sums.shape[1], sums.shape[4], sums.shape[5]
    adc = Adc.from_config(config, crossbars.fraction_bits)
    if config.signed_adc:
        codes = integer_codes(adc, sums[..., 0, :] - sums[..., 1, :])[..., None, :]
        signs = numpy.ones(1, dtype=numpy.int64)
    else:
        codes = integer_codes(adc, sums)
        signs = numpy.array([1, -1][:P], dtype=numpy.int64)
    shifts = (2 ** (numpy.arange(C, dtype=numpy.int64) * dac.bits))[:, None, None, None, None]
    weights = signs[:, None] * 2 ** (numpy.arange(S, dtype=numpy.int64) * mapping.bits_per_cell)
    acc = (codes * weights * shifts).sum(axis=(0, 1, 4, 5))  # (B, N')
    return finish(crossbars, acc, x, config.adc_step)


CONFIGS = {
    "per-polarity-packed-adc6": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=6)),
    "per-polarity-packed-adc7": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=7)),
    "clipping": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=5, full_scale=40)),
    "pack-4": ReramConfig(CrossbarGeometry(16, 16), WeightMapping(8, 1), adc=AdcConfig(bits=3)),
    "subtract-packed": ReramConfig(CrossbarGeometry(32, 16), WeightMapping(differential_readout="subtract"),
                                   adc=AdcConfig(bits=6)),
    "subtract-pack-4-padded": ReramConfig(CrossbarGeometry(16, 16),
                                          WeightMapping(8, 1, differential_readout="subtract"), adc=AdcConfig(bits=4)),
    "subtract-clipping-signed-inputs": ReramConfig(
        CrossbarGeometry(32, 16), WeightMapping(differential_readout="subtract"), InputEncoding(6, 2, signed=True),
        AdcConfig(bits=5, full_scale=30)),
    "subtract-unpacked": ReramConfig(CrossbarGeometry(512, 64), WeightMapping(8, 4, differential_readout="subtract"),
                                     InputEncoding(8, 4), AdcConfig(bits=9)),
    "subtract-read-noise": ReramConfig(CrossbarGeometry(32, 16), WeightMapping(differential_readout="subtract"),
                                       adc=AdcConfig(bits=7), devices=DeviceModel.generic_reram(read_noise=0.05)),
    "read-noise-prescaled": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=6),
                                        devices=DeviceModel.generic_reram()),
    "programming-noise-only": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=6),
                                          devices=DeviceModel(programming_noise=0.02, on_off_ratio=20)),
    "offset-reference-columns": ReramConfig(CrossbarGeometry(32, 8),
                                            WeightMapping(8, 2, "offset", offset_correction="reference_column"),
                                            adc=AdcConfig(bits=6)),
    "offset-digital-dac2": ReramConfig(CrossbarGeometry(24, 16), WeightMapping(8, 3, "offset"), InputEncoding(8, 2),
                                       AdcConfig(bits=7)),
    "prime": ReramConfig.prime(crossbar=CrossbarGeometry(64, 64)),
    "float64-codes": ReramConfig(CrossbarGeometry(16, 16), WeightMapping(differential_readout="subtract"),
                                 adc=AdcConfig(bits=17)),
}


def test_the_configurations_cover_every_path(recording, np_rng):
    pipelines = {name: random_crossbars(config, np_rng, 40, 3).pipeline for name, config in CONFIGS.items()}
    paths = {
        "signed parts": any(p.packing.signed and p.packing.factor > 1 for p in pipelines.values()),
        "padded groups": any(p.cell_weights.size > p.config.mapping.slices * (1 if p.differences else 2)
                             for p in pipelines.values()),
        "checked multiplier": any(p.adc.multiplier is not None for p in pipelines.values()),
        "no multiplier": any(p.adc.multiplier is None and not p.prescaled for p in pipelines.values()),
        "prescaled": any(p.prescaled for p in pipelines.values()),
        "float64 codes of float32 sums": any(p.adc.dtype == numpy.float64 and p.sum_dtype == numpy.float32
                                             for p in pipelines.values()),
        "saturating": any(p.saturates and p.config.devices.ideal for p in pipelines.values()),
        "signed noise": any(p.differences and p.sigma_squared is not None for p in pipelines.values()),
    }
    assert all(paths.values()), paths


def random_crossbars(config, np_rng, K, N, backend=None):
    mapping = config.mapping
    weights = np_rng.integers(-mapping.max_weight, mapping.max_weight + 1, (K, N))
    weights[0, 0] = mapping.max_weight
    return CrossbarArray(weights, config, seed=int(np_rng.integers(2**32)), backend=backend)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_host_pipeline_equals_the_reference(recording, np_rng, monkeypatch, name):
    config = CONFIGS[name]
    crossbars = random_crossbars(config, np_rng, 3 * config.crossbar.rows + 5, 21)
    x = np_rng.integers(config.inputs.min_input, config.inputs.max_input + 1, (13, crossbars.shape[0]))
    x[0] = config.inputs.max_input  # the largest partial sums
    expected = reference_read(crossbars, x, 5, 3)
    numpy.testing.assert_array_equal(crossbars.matmul(x, read_index=5, row_offset=3, method="pipeline"), expected)
    # many small jobs (rows and columns), over two threads: the same bits
    monkeypatch.setattr(pipeline_module, "TILE_BYTES", 64)
    monkeypatch.setenv("CIM_EMU_THREADS", "2")
    numpy.testing.assert_array_equal(crossbars.matmul(x, read_index=5, row_offset=3, batch_block=4,
                                                      method="pipeline"), expected)


@pytest.mark.parametrize("name", ["subtract-packed", "subtract-read-noise", "per-polarity-packed-adc6"])
def test_an_operand_built_for_the_kernels_reads_the_same_on_the_host(recording, np_rng, name):
    """A signed ADC's operand for the epilogue kernel holds both polarities; read by the array
    code, it gives the bits of the ``W+ - W-`` operand."""
    config = CONFIGS[name]
    host = random_crossbars(config, np_rng, 70, 9)
    for_kernels = CrossbarArray(host.weights, config, seed=host.seed, backend=Backend("numpy", numpy, object()))
    assert for_kernels.pipeline.differences is False
    assert host.pipeline.differences is config.signed_adc
    x = np_rng.integers(0, config.inputs.max_input + 1, (6, 70))
    got = for_kernels.pipeline.read(x, 2, 0, None, NUMPY_BACKEND)
    numpy.testing.assert_array_equal(got, host.matmul(x, read_index=2, method="pipeline"))
    numpy.testing.assert_array_equal(got, reference_read(host, x, 2, 0))


def test_the_signed_readout_packs_half_the_columns_of_per_polarity():
    per_polarity = CrossbarArray(numpy.full((128, 4), 127), ReramConfig(adc=AdcConfig(bits=6))).pipeline
    subtract = CrossbarArray(numpy.full((128, 4), -127),
                             ReramConfig(mapping=WeightMapping(differential_readout="subtract"),
                                         adc=AdcConfig(bits=6))).pipeline
    assert per_polarity.packing == ColumnPacking(2, 9) and per_polarity.width == 4
    assert subtract.packing == ColumnPacking(2, 10, signed=True) and subtract.width == 2


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("factor, bits", [(2, 9), (2, 12), (3, 8), (4, 6), (12, 2)])
def test_unpacking_restores_every_part(np_rng, signed, factor, bits):
    packing = ColumnPacking(factor, bits, signed)
    top = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    parts = np_rng.integers(-top if signed else 0, top + 1, (factor, 5000))
    parts[:, 0], parts[:, 1] = top, -top if signed else 0
    packed = (parts * 2.0 ** (bits * numpy.arange(factor))[:, None]).sum(axis=0).astype(numpy.float32)
    assert numpy.abs(packed).max() < 2**24
    for integral_low in (True, False):
        out = numpy.empty((factor, 5000), numpy.float32)
        sums = packed.copy()
        packing.unpack(sums, out, numpy, integral_low=integral_low)
        out[0] = sums if integral_low or factor == 1 else sums * 2.0**bits
        numpy.testing.assert_array_equal(out, parts)
        out[0] = packed  # part 0 unpacked in place
        packing.unpack(out[0], out, numpy)
        numpy.testing.assert_array_equal(out, parts)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("levels, full_scale, fraction_bits", [
    (63, 384, 0), (31, 384, 0), (255, 384, 0), (127, 384, 0), (511, 384, 0), (7, 20, 0), (15, 100, 3), (63, 384, 8),
    (255, 27383, 0), (1, 1, 0)])
def test_every_conversion_rule_equals_the_integer_definition(dtype, signed, levels, full_scale, fraction_bits):
    """The division, the dyadic multiply-add, the copysign form and the checked multiplier, with
    and without the clamp, on every partial sum of the range and past it (without the clamp:
    where the definition's code is in range, all that ``saturates=False`` promises)."""
    adc = Adc.build(levels, full_scale, fraction_bits, signed, dtype)
    top = min(int(1.3 * full_scale * 2**fraction_bits) + 3, (2**22 - adc.bias) // adc.scale)
    for low in (-top, 0):
        p = numpy.arange(low, top + 1)
        unclamped = integer_codes(adc, p, clamp=False)
        in_range = (unclamped >= (-levels if signed else 0)) & (unclamped <= levels)
        for saturates in (True, False):
            for variant in (adc, adc.rounding_over(low, top, saturates=saturates)):
                got = variant.convert(p.astype(dtype), numpy, saturates=saturates)
                if saturates:
                    numpy.testing.assert_array_equal(got, integer_codes(adc, p), err_msg=str(variant))
                else:
                    numpy.testing.assert_array_equal(got[in_range], unclamped[in_range], err_msg=str(variant))
    assert adc.rounding_over(0, 2**23, saturates=True) == adc  # too wide a range to check: unchanged


def test_the_checked_multiplier_is_found_for_the_usual_adcs():
    for bits, signed in [(6, False), (8, False), (6, True), (7, False), (5, True)]:
        config = ReramConfig(mapping=WeightMapping(differential_readout="subtract" if signed else "per_polarity"),
                             adc=AdcConfig(bits=bits))
        pipeline = CrossbarArray(numpy.full((128, 3), 127), config).pipeline
        assert pipeline.adc.multiplier is not None, config
        assert dataclasses.replace(pipeline.adc, multiplier=None) == Adc.from_config(config, 0, pipeline.adc.dtype)


def test_a_multiplier_converts_sums_held_in_units():
    """Part 0 of packed sums is left as ``p_0 / 2**bits``: ``units`` scale the multiplier instead."""
    adc = Adc.build(63, 384, 0, False, numpy.float32).rounding_over(0, 384, saturates=False)
    p = numpy.arange(385, dtype=numpy.float32)
    expected = adc.convert(p.copy(), numpy, saturates=False)
    stacked = numpy.stack([p / 2**9, p])
    units = numpy.array([2.0**-9, 1.0], dtype=numpy.float32)[:, None]
    codes = adc.convert(stacked, numpy, saturates=False, units=units)
    numpy.testing.assert_array_equal(codes, numpy.stack([expected, expected]))
    with pytest.raises(ValueError, match="multiplier"):
        Adc.build(63, 384, 0, False, numpy.float32).convert(stacked, numpy, units=units)



@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("scale, bias_row", [(None, None), (510.0, None), (6.0, 1536), (None, 3), (0.75, None)])
@pytest.mark.parametrize("largest", [2**15, 2**10])
def test_a_compact_operand_reads_as_the_full_one(np_rng, dtype, scale, bias_row, largest):
    """Integer cells kept as int16 expand, tile by tile and column block by column block, to the
    very operand :meth:`TileLayout.cells` builds (scaled in the operand's own dtype where every
    product is an integer it holds, else in float64); cells beyond int16 stay a full operand."""
    from cim_emu.reram.layout import CompactOperand, TileLayout
    cells = np_rng.integers(-largest, largest, (2, 3, 45, 7)).astype(numpy.float64)
    cells[0, 0, 0, 0] = -largest  # the bound reached
    layout = TileLayout.over(16, 45)
    full = layout.cells(cells, dtype, bias_row=bias_row, scale=scale)
    compact = layout.operand(cells, dtype, bias_row=bias_row, scale=scale, compact=True)
    assert isinstance(compact, CompactOperand) and compact.cells.dtype == numpy.int16
    exact = scale is not None and scale.is_integer() and largest * scale < 2.0 ** (numpy.finfo(dtype).nmant + 1)
    assert compact.scaled_exactly == exact
    assert compact.shape == full.shape
    for t in range(layout.tiles):
        numpy.testing.assert_array_equal(compact[t], full[t])
        assert compact[t].dtype == full.dtype
        numpy.testing.assert_array_equal(compact[:, :, 5:17][t], full[:, :, 5:17][t])
    cells[1, 2, 44, 6] = 2**15
    assert isinstance(layout.operand(cells, dtype, compact=True), numpy.ndarray)
    with pytest.raises(TypeError, match="a compact operand takes"):
        compact[0, 1]


def test_the_host_readout_keeps_non_ideal_cells_compact(np_rng):
    from cim_emu.reram.layout import CompactOperand
    crossbars = random_crossbars(CONFIGS["read-noise-prescaled"], np_rng, 70, 5)
    assert isinstance(crossbars.pipeline.operand, CompactOperand)
    on_kernels = CrossbarArray(crossbars.weights, crossbars.config, seed=1, backend=Backend("numpy", numpy, object()))
    assert isinstance(on_kernels.pipeline.operand, numpy.ndarray)
    with pytest.raises(ValueError, match="built for a backend without kernels"):  # read by the epilogue kernel
        noiseless = random_crossbars(CONFIGS["programming-noise-only"], np_rng, 70, 5).pipeline
        assert isinstance(noiseless.operand, CompactOperand)
        noiseless.accumulate(noiseless.input_tiles(numpy.ones((2, 70)), numpy), 0, 5, 0, 0,
                             Backend("numpy", numpy, object()))
