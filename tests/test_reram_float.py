"""The float API: quantization, dequantization and the layer-like object."""

import numpy
import pytest

from cim_emu.reram import (
    AdcConfig,
    AnalogLayer,
    CrossbarArray,
    DeviceModel,
    InputEncoding,
    ReramConfig,
    WeightMapping,
    analog_matmul,
)
from cim_emu.reram.quantize import quantize_inputs, quantize_weights


def quantized_float_model(x, weights, config, per_channel):
    """The same quantization done by hand, then an exact float product."""
    w_scale = (numpy.abs(weights).max(axis=0) if per_channel else numpy.abs(weights).max()) / config.mapping.max_weight
    w_q = numpy.clip(numpy.rint(weights / w_scale), -config.mapping.max_weight, config.mapping.max_weight)
    levels = 2 ** (config.inputs.input_bits - 1) - 1 if config.inputs.signed else 2**config.inputs.input_bits - 1
    x_scale = numpy.abs(x).max() / levels
    x_q = numpy.clip(numpy.rint(x / x_scale), -levels if config.inputs.signed else 0, levels)
    return (x_q @ w_q) * (x_scale * w_scale)


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("signed", [True, False])
def test_lossless_noiseless_layer_equals_the_quantized_float_model(np_rng, per_channel, signed):
    config = ReramConfig(inputs=InputEncoding(8, 1, signed))
    weights = np_rng.standard_normal((300, 24)) * np_rng.uniform(0.1, 3, 24)
    x = np_rng.standard_normal((9, 300))
    x = x if signed else numpy.abs(x)
    y = AnalogLayer(weights, config, per_channel=per_channel)(x)
    expected = quantized_float_model(x, weights, config, per_channel)
    numpy.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert numpy.abs(y - x @ weights).max() < 0.05 * numpy.abs(x @ weights).max()


def test_per_channel_scales_beat_per_tensor_on_unequal_channels(np_rng):
    weights = np_rng.standard_normal((200, 16)) * numpy.geomspace(0.001, 10, 16)
    x = numpy.abs(np_rng.standard_normal((8, 200)))
    exact = x @ weights
    def relative_error(per_channel):
        y = analog_matmul(x, weights, per_channel=per_channel)
        return numpy.abs((y - exact)[:, 0]).max() / numpy.abs(exact[:, 0]).max()
    assert relative_error(True) < 0.05 < relative_error(False)


def test_bias_calibration_and_fixed_scale(np_rng):
    weights = np_rng.standard_normal((64, 10))
    bias = np_rng.standard_normal(10)
    x = numpy.abs(np_rng.standard_normal((5, 64)))
    layer = AnalogLayer(weights, bias=bias)
    scale = layer.calibrate(x)
    assert scale == pytest.approx(numpy.abs(x).max() / 255)
    numpy.testing.assert_allclose(layer(x), AnalogLayer(weights, bias=bias, input_scale=scale)(x))
    assert numpy.abs(layer(x) - (x @ weights + bias)).max() < 0.05 * numpy.abs(x @ weights).max()
    layer.calibrate(x, method="percentile", percentile=50)
    assert layer.input_scale == pytest.approx(numpy.percentile(numpy.abs(x), 50) / 255)
    with pytest.raises(ValueError, match="method"):
        layer.calibrate(x, method="mean")


def test_noisy_lossy_layer_is_seeded(np_rng):
    config = ReramConfig(adc=AdcConfig(bits=6), devices=DeviceModel.reram_wan2022())
    weights, x = np_rng.standard_normal((100, 8)), numpy.abs(np_rng.standard_normal((4, 100)))
    a = AnalogLayer(weights, config, seed=3)(x)
    numpy.testing.assert_array_equal(AnalogLayer(weights, config, seed=3)(x), a)
    assert not numpy.array_equal(AnalogLayer(weights, config, seed=4)(x), a)


def test_float_inputs_are_validated():
    layer = AnalogLayer(numpy.ones((4, 2)))
    with pytest.raises(ValueError, match="negative values but the configuration's inputs are unsigned"):
        layer(-numpy.ones(4))
    with pytest.raises(ValueError, match="finite"):
        layer(numpy.full(4, numpy.nan))
    with pytest.raises(ValueError, match="finite"):
        AnalogLayer(numpy.full((4, 2), numpy.inf))
    with pytest.raises(ValueError, match="bias must have shape"):
        AnalogLayer(numpy.ones((4, 2)), bias=numpy.ones(3))
    with pytest.raises(ValueError, match="input scale"):
        quantize_inputs(numpy.ones(3), ReramConfig(), scale=-1.0)
    q, scale = quantize_weights(numpy.zeros((3, 2)), ReramConfig())
    assert not q.any() and numpy.all(scale == 1.0)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64, numpy.float16, numpy.int32])
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("scale", [None, 0.013, 1])
def test_input_quantization_is_the_float64_definition(np_rng, dtype, signed, scale):
    """``x_q = clip(rint(float64(x) / s_x))`` with ``s_x = max|x| / levels`` (dynamic) or the given
    scale, whatever the input's dtype; ties of ``x / s_x`` round to even."""
    config = ReramConfig(inputs=InputEncoding(8, 1, signed))
    levels = 127 if signed else 255
    x = np_rng.standard_normal((40, 33)) * 3
    x = x if signed else numpy.abs(x)
    x[0, :4] = [0.5, 1.5, 2.5, -0.0]  # ties, and a negative zero (not negative)
    x = x.astype(dtype)
    x_q, s_x = quantize_inputs(x, config, scale)
    x64 = x.astype(numpy.float64)
    expected_scale = numpy.abs(x64).max() / levels if scale is None else scale
    assert float(s_x) == expected_scale
    expected = numpy.clip(numpy.rint(x64 / expected_scale), -levels if signed else 0, levels)
    assert x_q.dtype == numpy.int64
    numpy.testing.assert_array_equal(x_q, expected)


@pytest.mark.parametrize("shape", [(41, 33), (7, 6, 5), (301,)])
@pytest.mark.parametrize("scale", ["dynamic", "number", "per row"])
def test_input_quantization_in_blocks_of_rows_over_threads_is_the_definition(np_rng, monkeypatch, shape, scale):
    from cim_emu.reram import quantize as quantize_module
    monkeypatch.setattr(quantize_module, "QUANTIZE_BLOCK", 16)
    monkeypatch.setattr(quantize_module, "default_threads", lambda: 3)
    config = ReramConfig(inputs=InputEncoding(8, 1, True))
    x = (np_rng.standard_normal(shape) * 3).astype(numpy.float32)
    given = {"dynamic": None, "number": 0.021,
             "per row": np_rng.uniform(0.01, 0.05, (shape[0],) + (1,) * (len(shape) - 1))}[scale]
    x_q, s_x = quantize_inputs(x, config, given)
    expected_scale = numpy.abs(x.astype(numpy.float64)).max() / 127 if given is None else given
    expected = numpy.clip(numpy.rint(x.astype(numpy.float64) / expected_scale), -127, 127)
    numpy.testing.assert_array_equal(x_q, expected)
    assert x_q.dtype == numpy.int64 and x_q.shape == x.shape


def test_the_layer_holds_one_compact_read_only_copy_of_its_integer_weights(np_rng):
    weights = np_rng.normal(size=(40, 7))
    config = ReramConfig(adc=AdcConfig(bits=6))
    layer = AnalogLayer(weights, config, seed=int(np_rng.integers(2**32)))
    expected, _ = quantize_weights(weights, config)
    assert layer.quantized_weights.dtype == numpy.int64 and numpy.array_equal(layer.quantized_weights, expected)
    assert layer.crossbars._weights.dtype == numpy.int8  # 8-bit weights, one byte each  # noqa: SLF001
    with pytest.raises(ValueError, match="read-only"):
        layer.crossbars._weights[0, 0] = 1  # noqa: SLF001
    given = np_rng.integers(-127, 128, (9, 5))
    crossbars = CrossbarArray(given, ReramConfig())
    kept = given.copy()
    given[0, 0] = 1000  # the caller's array is not the crossbars'
    assert numpy.array_equal(crossbars.weights, kept)
    for narrow in (kept.astype(numpy.int8), kept.astype(numpy.int8)[:, 1:]):  # already compact: an array, a view
        narrow_kept = narrow.copy()
        crossbars = CrossbarArray(narrow, ReramConfig())
        narrow[0, 0] = 99  # still the caller's to change, and not the crossbars'
        assert numpy.array_equal(crossbars.weights, narrow_kept)
    wide = ReramConfig(mapping=WeightMapping(weight_bits=16))
    big = np_rng.integers(-wide.mapping.max_weight, wide.mapping.max_weight + 1, (6, 4))
    assert numpy.array_equal(CrossbarArray(big, wide).weights, big)


@pytest.mark.parametrize("per_channel", [True, False])
def test_dequantized_weights_are_the_integers_times_their_scales(np_rng, per_channel):
    from fake_cupy import stand_in_backend

    weights = np_rng.normal(size=(30, 6)) * np_rng.uniform(0.1, 10, 6)
    layer = AnalogLayer(weights, per_channel=per_channel)
    dequantized = layer.dequantized_weights()
    assert dequantized.dtype == numpy.float64
    assert numpy.array_equal(dequantized, layer.quantized_weights * layer.weight_scale)
    device = AnalogLayer(stand_in_backend().xp.asarray(weights), per_channel=per_channel, backend=stand_in_backend())
    assert numpy.array_equal(numpy.asarray(device.dequantized_weights()), dequantized)
