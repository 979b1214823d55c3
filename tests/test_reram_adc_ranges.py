"""ADC ranges: an ADC saturates at its full scale, also when the full scale is at or below its
top code (issue 17; ``docs/spec/reram.md``, *The ADC*)."""

from __future__ import annotations

import numpy
import pytest

from cim_emu.reram import AdcConfig, CrossbarArray, CrossbarGeometry, DeviceModel, ReramConfig, WeightMapping
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
