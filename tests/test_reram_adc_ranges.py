"""ADC ranges: an ADC saturates at its full scale, also when the full scale is at or below its
top code (issue 17; ``docs/spec/reram.md``, *The ADC*)."""

from __future__ import annotations

import dataclasses

import numpy
import pytest
from reram_reference import RecordingPipeline, finish, partial_sums

from cim_emu.reram import (
    AdcConfig,
    CrossbarArray,
    CrossbarGeometry,
    DeviceModel,
    InputEncoding,
    ReramConfig,
    WeightMapping,
)
from cim_emu.reram import crossbar as crossbar_module
from cim_emu.reram.adc import Adc


def test_the_specification_example_clips_at_the_full_scale():
    W = numpy.full((128, 5), 127)
    x = numpy.full((2, 128), 255)
    config = ReramConfig(adc=AdcConfig(full_scale=100))
    assert config.adc_levels == 127 and not config.adc_lossless and not config.exact
    numpy.testing.assert_array_equal(CrossbarArray(W, config).matmul(x), 2167500)
    lossless = ReramConfig(adc=AdcConfig(bits=9, full_scale=100))
    assert not lossless.exact
    numpy.testing.assert_array_equal(CrossbarArray(W, lossless).matmul(x), 2167500)
    assert ReramConfig(adc=AdcConfig(bits=9, full_scale=384)).exact


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("fraction_bits", [0, 8])
def test_unit_step_codes_saturate_at_the_full_scale(signed, fraction_bits):
    rng = numpy.random.default_rng()
    levels = int(rng.integers(8, 600))
    full_scale = int(rng.integers(1, levels + 1))
    adc = Adc.build(levels, full_scale, fraction_bits, signed, numpy.float64)
    assert adc.levels == full_scale
    one = 2**fraction_bits
    p = rng.integers(-3 * levels * one if signed else -one, 3 * levels * one, 5000)
    codes = adc.convert(p.astype(numpy.float64), numpy)
    expected = [adc.reference(int(v)) for v in p]
    numpy.testing.assert_array_equal(codes, expected)
    magnitude = numpy.floor((numpy.abs(p) if signed else p) / one + 0.5)
    top = numpy.minimum(numpy.maximum(magnitude, 0), full_scale)
    numpy.testing.assert_array_equal(numpy.abs(codes), top)
    assert numpy.abs(codes).max() == full_scale  # reached, never passed


@pytest.mark.parametrize("config", [
    ReramConfig(crossbar=CrossbarGeometry(64, 8), adc=AdcConfig(bits=8, full_scale=20)),
    ReramConfig(crossbar=CrossbarGeometry(64, 8), mapping=WeightMapping(differential_readout="subtract"),
                adc=AdcConfig(bits=8, full_scale=20)),
    ReramConfig(crossbar=CrossbarGeometry(64, 8), adc=AdcConfig(bits=8, full_scale=20),
                devices=DeviceModel.generic_reram()),
], ids=["unsigned", "signed", "read-noise"])
def test_pipeline_products_equal_the_conversions_clipped_at_the_full_scale(config):
    """The whole read against a direct evaluation: ideal partial sums, each clamped to FS, shift-added."""
    rng = numpy.random.default_rng()
    W = rng.integers(-127, 128, (130, 6))
    x = rng.integers(0, 256, (4, 130))
    crossbars = CrossbarArray(W, config)
    y = crossbars.matmul(x)
    if not config.devices.ideal:  # noise: only the saturation itself is checked
        assert numpy.abs(y).max() <= numpy.abs(x @ W).max()
        return
    levels = crossbars.levels.astype(numpy.int64)  # (P, S, K, N)
    bits = (x[:, None, :] >> numpy.arange(8)[None, :, None]) & 1  # (B, C, K)
    expected = numpy.zeros((4, 6), dtype=numpy.int64)
    for t0 in range(0, 130, 64):
        sums = numpy.einsum("bck,pskn->bcpsn", bits[..., t0:t0 + 64], levels[..., t0:t0 + 64, :])
        if config.signed_adc:
            d = sums[:, :, 0] - sums[:, :, 1]
            codes = (numpy.sign(d) * numpy.minimum(numpy.abs(d), 20))[:, :, None]
        else:
            codes = numpy.minimum(sums, 20) * numpy.array([1, -1])[None, None, :, None, None]
        weights = (2 ** numpy.arange(8))[None, :, None, None, None] * (4 ** numpy.arange(4))[None, None, None, :, None]
        expected += (codes * weights).sum(axis=(1, 2, 3))
    numpy.testing.assert_array_equal(y, expected)
    assert not numpy.array_equal(y, x @ W)  # the full scale clips these sums


# -- full scales per slice and chunk, per-ADC offset and gain errors ------------------------------

RANGED = {
    "grid-unit-steps": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(
        bits=8, full_scales=tuple(tuple(17 + 9 * s + 2 * c for c in range(8)) for s in range(4)))),
    "grid-mixed-steps": ReramConfig(CrossbarGeometry(32, 16), WeightMapping(8, 4), InputEncoding(8, 2), AdcConfig(
        bits=5, full_scales=((300, 40, 31, 100), (95, 200, 20, 64)))),
    "grid-signed-read-noise": ReramConfig(
        CrossbarGeometry(32, 16), WeightMapping(differential_readout="subtract"), InputEncoding(6, 2, signed=True),
        AdcConfig(bits=6, full_scales=((30, 50, 70), (90, 25, 40), (60, 60, 15), (8, 31, 80))),
        devices=DeviceModel.generic_reram(read_noise=0.05)),
    "errors-unsigned-noise": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(
        bits=6, offset_error_lsb=0.8, gain_error_lsb=2.0), devices=DeviceModel.generic_reram()),
    "errors-signed": ReramConfig(CrossbarGeometry(32, 16), WeightMapping(differential_readout="subtract"),
                                 adc=AdcConfig(bits=7, full_scale=50, offset_error_lsb=1.5, gain_error_lsb=4.0)),
    "errors-grid-reference-columns": ReramConfig(
        CrossbarGeometry(32, 8), WeightMapping(8, 2, "offset", offset_correction="reference_column"),
        adc=AdcConfig(bits=6, full_scales=tuple(tuple(60 + 5 * s - 3 * c for c in range(8)) for s in range(4)),
                      offset_error_lsb=0.5, gain_error_lsb=1.0)),
}


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setattr(crossbar_module, "Pipeline", RecordingPipeline)


def ranged_reference(crossbars, x, read_index, row_offset):
    """``y`` of one read with ranged ADCs, from the specification (docs/spec/reram.md, *ADC ranges
    and errors*), in int64: the errors drawn at their documented indices, exact integer floors."""
    from cim_emu import rng
    from cim_emu.reram.adc_ranges import ERROR_FRACTION_BITS

    config, dac = crossbars.config, crossbars.pipeline.dac
    mapping, Q = config.mapping, config.adc_levels
    sums = partial_sums(crossbars, x, read_index, row_offset)  # (T, C, B, N', P, S)
    T, C, N, S = sums.shape[0], sums.shape[1], sums.shape[3], sums.shape[5]
    if config.signed_adc:
        sums = sums[..., :1, :] - sums[..., 1:, :]
    polarities = sums.shape[4]
    one = 1
    gain = numpy.ones((polarities, S, T, N), numpy.int64)
    offset = numpy.zeros_like(gain)
    if config.adc.has_errors:
        one = 2**ERROR_FRACTION_BITS
        z = rng.normal(crossbars.seed, rng.Stream.ADC_ERROR, 0, 2 * gain.size).reshape(gain.shape + (2,))
        gain = numpy.maximum(0, numpy.rint((1 + config.adc.gain_error_lsb * z[..., 1] / Q) * one)).astype(numpy.int64)
        offset = numpy.rint(config.adc.offset_error_lsb * z[..., 0] * one).astype(numpy.int64)
    m = gain.transpose(2, 3, 0, 1)[:, None, None]  # (T, 1, 1, N, P', S)
    q = offset.transpose(2, 3, 0, 1)[:, None, None]
    codes = numpy.zeros_like(sums)
    steps = numpy.zeros((C, S))
    for c in range(C):
        for s in range(S):
            adc = Adc.build(Q, config.full_scales[s][c], crossbars.fraction_bits, config.signed_adc, numpy.float64)
            p = sums[:, c, ..., s]
            top, divisor = adc.levels, adc.divisor * one
            if config.signed_adc:
                V = adc.scale * p * m[:, 0, ..., s] + q[:, 0, ..., s] * adc.divisor
                codes[:, c, ..., s] = numpy.sign(V) * numpy.minimum((numpy.abs(V) + adc.bias * one) // divisor, top)
            else:
                u = adc.scale * p * m[:, 0, ..., s] + adc.bias * one + q[:, 0, ..., s] * adc.divisor
                codes[:, c, ..., s] = numpy.clip(u // divisor, 0, top)
            steps[c, s] = 1.0 if config.full_scales[s][c] <= Q else config.full_scales[s][c] / Q
    signs = numpy.array([1, -1][:polarities])[:, None]
    # in units of the common step g / Q: exact integers
    D = numpy.rint(steps * Q).astype(numpy.int64)
    g = numpy.gcd.reduce(D.ravel())
    weights = (D // g) * (2 ** (numpy.arange(C) * dac.bits))[:, None] * (2 ** (numpy.arange(S) * mapping.bits_per_cell))
    acc = numpy.einsum("tcbnps,ps,cs->bn", codes, numpy.broadcast_to(signs, (polarities, S)), weights)
    return finish(crossbars, acc, x, 1.0 if g == Q else float(g) / Q)


@pytest.mark.parametrize("name", sorted(RANGED))
def test_ranged_adcs_equal_the_reference(recording, name):
    """Full scales per slice and chunk, offset and gain errors: the read equals the specification
    evaluated in int64, on numpy, in small jobs over two threads, and through the stand-in CuPy."""
    from cim_emu.reram import pipeline as pipeline_module

    from fake_cupy import stand_in_backend

    config = RANGED[name]
    rng = numpy.random.default_rng()
    W = rng.integers(-config.mapping.max_weight, config.mapping.max_weight + 1, (3 * config.crossbar.rows + 5, 21))
    x = rng.integers(config.inputs.min_input, config.inputs.max_input + 1, (9, W.shape[0]))
    x[0] = config.inputs.max_input
    seed = int(rng.integers(2**32))
    crossbars = CrossbarArray(W, config, seed=seed)
    assert crossbars.pipeline.ranged is not None and not config.exact
    expected = ranged_reference(crossbars, x, 4, 2)
    numpy.testing.assert_array_equal(crossbars.matmul(x, read_index=4, row_offset=2), expected)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline_module, "TILE_BYTES", 64)
        patch.setenv("CIM_EMU_THREADS", "2")
        numpy.testing.assert_array_equal(crossbars.matmul(x, read_index=4, row_offset=2, batch_block=4), expected)
    device = CrossbarArray(W, config, seed=seed, backend=stand_in_backend())
    assert device.pipeline.tensor_cores is None
    got = device.matmul(device.backend.xp.asarray(x), read_index=4, row_offset=2)
    numpy.testing.assert_array_equal(numpy.asarray(got), expected)


@pytest.mark.parametrize("name", ["clipping", "signed-noise", "reference-columns", "lossy-float32"])
def test_one_full_scale_in_every_entry_gives_the_bits_of_the_layer_full_scale(name):
    """The ranged readout (unpacked, per-entry steps) against the packed, prescaled fast paths."""
    config = {
        "clipping": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=5, full_scale=40)),
        "signed-noise": ReramConfig(CrossbarGeometry(32, 16), WeightMapping(differential_readout="subtract"),
                                    InputEncoding(6, 2, signed=True), AdcConfig(bits=5, full_scale=30),
                                    devices=DeviceModel.generic_reram(read_noise=0.05)),
        "reference-columns": ReramConfig(CrossbarGeometry(32, 8), WeightMapping(8, 2, "offset",
                                                                                offset_correction="reference_column"),
                                         adc=AdcConfig(bits=6)),
        "lossy-float32": ReramConfig(CrossbarGeometry(64, 16), adc=AdcConfig(bits=6),
                                     devices=DeviceModel.generic_reram()),
    }[name]
    grid = tuple((config.full_scale,) * config.inputs.chunks for _ in range(config.mapping.slices))
    ranged = dataclasses.replace(config, adc=dataclasses.replace(config.adc, full_scale=None, full_scales=grid,
                                                                 bits=config.adc_bits))
    rng = numpy.random.default_rng()
    W = rng.integers(-127, 128, (150, 19))
    x = rng.integers(config.inputs.min_input, config.inputs.max_input + 1, (7, 150))
    seed = int(rng.integers(2**32))
    plain, with_grid = CrossbarArray(W, config, seed=seed), CrossbarArray(W, ranged, seed=seed)
    assert plain.pipeline.ranged is None and with_grid.pipeline.ranged is not None
    a, b = plain.matmul(x, method="pipeline"), with_grid.matmul(x, method="pipeline")
    assert a.dtype == b.dtype
    numpy.testing.assert_array_equal(a, b)


def test_full_scales_calibrated_per_slice_and_chunk_make_the_calibration_data_exact():
    """Each (slice, chunk) full scale is the largest partial sum of its conversions; with a
    unit step wide enough (FS <= Q) nothing clips, so the data read exactly - while the
    pooled full scale is the largest entry, and smaller entries give finer steps."""
    rng = numpy.random.default_rng()
    config = ReramConfig(CrossbarGeometry(64, 16), WeightMapping(8, 2), InputEncoding(8, 2), AdcConfig(bits=10))
    W = rng.integers(-127, 128, (100, 12))
    x = rng.integers(0, 256, (20, 100)) // rng.integers(1, 20, (20, 1))  # uneven chunks
    crossbars = CrossbarArray(W, config)
    grid = crossbars.largest_partial_sums(x)
    assert len(grid) == 4 and all(len(row) == 4 for row in grid)
    assert max(map(max, grid)) == crossbars.largest_partial_sum(x)
    assert min(map(min, grid)) < max(map(max, grid))
    calibrated = CrossbarArray(W, dataclasses.replace(config, adc=AdcConfig(bits=10, full_scales=grid)))
    assert not calibrated.config.exact  # not lossless for every input, ...
    numpy.testing.assert_array_equal(calibrated.matmul(x), x @ W)  # ... but for these
    smaller = tuple(tuple(max(1, v - 1) for v in row) for row in grid)
    clipped = CrossbarArray(W, dataclasses.replace(config, adc=AdcConfig(bits=10, full_scales=smaller)))
    assert not numpy.array_equal(clipped.matmul(x), x @ W)


def test_full_scale_percentiles_per_slice_and_chunk_count_their_own_conversions():
    rng = numpy.random.default_rng()
    config = ReramConfig(CrossbarGeometry(16, 8), WeightMapping(6, 3), InputEncoding(4, 2))
    W = rng.integers(-31, 32, (40, 5))
    x = rng.integers(0, 16, (30, 40))
    crossbars = CrossbarArray(W, config)
    levels = crossbars.levels.astype(numpy.int64)  # (P, S, K, N)
    chunks = crossbars.pipeline.dac.convert(x, numpy).astype(numpy.int64)  # (C, B, K)
    sums = numpy.stack([numpy.einsum("cbk,pskn->scbnp", chunks[:, :, t:t + 16], levels[:, :, t:t + 16])
                        for t in range(0, 40, 16)])  # (T, S, C, B, N, P)
    for percentile in (50, 90, 100):
        grid = crossbars.largest_partial_sums(x, percentile=percentile)
        for s in range(2):
            for c in range(2):
                values = numpy.sort(sums[:, s, c].ravel())
                expected = values[int(numpy.ceil(percentile / 100 * len(values))) - 1]
                assert grid[s][c] == max(1, expected), (percentile, s, c)


def test_adc_errors_are_drawn_once_per_adc_with_the_configured_spread():
    config = ReramConfig(CrossbarGeometry(64, 64), adc=AdcConfig(bits=6, offset_error_lsb=0.7, gain_error_lsb=3.0))
    W = numpy.random.default_rng().integers(-127, 128, (256, 64))
    crossbars = CrossbarArray(W, config, seed=11)
    ranged = crossbars.pipeline.ranged
    one = 2.0**16
    assert ranged.offset.shape == (2, 4, 4, 64)
    offsets, gains = ranged.offset / one, (ranged.gain / one - 1) * config.adc_levels
    assert abs(offsets.std() - 0.7) < 0.05 and abs(offsets.mean()) < 0.05
    assert abs(gains.std() - 3.0) < 0.2 and abs(gains.mean()) < 0.2
    again = CrossbarArray(W, config, seed=11).pipeline.ranged
    numpy.testing.assert_array_equal(again.offset, ranged.offset)
    numpy.testing.assert_array_equal(crossbars.at_time(100.0).pipeline.ranged.gain, ranged.gain)
    assert not numpy.array_equal(CrossbarArray(W, config, seed=12).pipeline.ranged.offset, ranged.offset)
    assert crossbars.adc_error_bound() == float("inf")


def test_vanishing_adc_errors_give_the_ideal_codes():
    rng = numpy.random.default_rng()
    W = rng.integers(-127, 128, (100, 9))
    x = rng.integers(0, 256, (5, 100))
    ideal = ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=6))
    tiny = dataclasses.replace(ideal, adc=AdcConfig(bits=6, offset_error_lsb=1e-9, gain_error_lsb=1e-9))
    numpy.testing.assert_array_equal(CrossbarArray(W, tiny).matmul(x), CrossbarArray(W, ideal).matmul(x))
    noisy = dataclasses.replace(ideal, adc=AdcConfig(bits=6, offset_error_lsb=1.0))
    assert not numpy.array_equal(CrossbarArray(W, noisy).matmul(x), CrossbarArray(W, ideal).matmul(x))


def test_the_error_bound_holds_with_full_scales_per_slice_and_chunk():
    rng = numpy.random.default_rng()
    config = ReramConfig(CrossbarGeometry(32, 16), WeightMapping(8, 2), InputEncoding(8, 2), AdcConfig(bits=4))
    W = rng.integers(-127, 128, (70, 10))
    x = rng.integers(0, 256, (16, 70))
    grid = CrossbarArray(W, config).largest_partial_sums(x)
    crossbars = CrossbarArray(W, dataclasses.replace(config, adc=AdcConfig(bits=4, full_scales=grid)))
    error = numpy.abs(crossbars.matmul(x) - x @ W).max()
    assert 0 < error <= crossbars.adc_error_bound()
    pooled = CrossbarArray(W, dataclasses.replace(config, adc=AdcConfig(bits=4, full_scale=max(map(max, grid)))))
    assert crossbars.adc_error_bound() < pooled.adc_error_bound()


@pytest.mark.parametrize("adc, message", [
    (dict(full_scale=10, full_scales=((1,),)), "not both"),
    (dict(full_scales=()), "full_scales must be a non-empty list"),
    (dict(full_scales=((1, 2), (3,))), r"full_scales\[1\] must be a list of 2"),
    (dict(full_scales=((1, 0),)), r"full_scales\[0\]\[1\]"),
    (dict(full_scales="12"), "full_scales must be"),
    (dict(full_scales=[5, 6]), r"full_scales\[0\] must be a list of 1"),
    (dict(full_scales=[[]]), r"full_scales\[0\] must be a list"),
    (dict(offset_error_lsb=-1), "offset_error_lsb"),
    (dict(gain_error_lsb=float("nan")), "gain_error_lsb"),
])
def test_bad_adc_ranges_are_errors_naming_the_field(adc, message):
    with pytest.raises(ValueError, match=message):
        AdcConfig(**adc)


def test_a_full_scale_grid_must_match_the_slices_and_chunks():
    with pytest.raises(ValueError, match=r"one row per weight slice \(4\) of one full scale per input chunk \(8\)"):
        ReramConfig(adc=AdcConfig(full_scales=((5,) * 8,) * 3))
    config = ReramConfig(mapping=WeightMapping(8, 4), inputs=InputEncoding(8, 4),
                         adc=AdcConfig(bits=7, full_scales=((5, 6), (7, 8)), offset_error_lsb=0.25))
    assert ReramConfig.from_json(config.to_json()) == config
    assert ReramConfig.from_dict({"adc": {"full_scales": [[5, 6], [7, 8]]}, "mapping": {"bits_per_cell": 4},
                                  "inputs": {"dac_bits": 4}}).adc.full_scales == ((5, 6), (7, 8))
