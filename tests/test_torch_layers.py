"""cim_emu.nn: crossbar layers inside torch models, held to the ReRAM engine's float API."""

import subprocess
import sys

import numpy
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from cim_emu.nn import CrossbarConv2d, CrossbarLinear, calibrate, calibrate_adc, convert, crossbar_layers  # noqa: E402
from cim_emu.reram import AdcConfig, DeviceModel, ReramConfig  # noqa: E402
from cim_emu.reram.config import CrossbarGeometry, InputEncoding  # noqa: E402
from cim_emu.reram.quantize import AnalogLayer, input_levels, quantize_inputs, quantize_weights  # noqa: E402

CONFIGS = {
    "lossless": ReramConfig(),
    "adc6": ReramConfig(adc=AdcConfig(bits=6)),
    "adc6-wan2022": ReramConfig(adc=AdcConfig(bits=6), devices=DeviceModel.reram_wan2022()),
    "signed-small-crossbar": ReramConfig(crossbar=CrossbarGeometry(rows=16), inputs=InputEncoding(signed=True),
                                         adc=AdcConfig(bits=5)),
}


def _signed(config):
    return config.inputs.signed


def _inputs(generator, shape, config, dtype=torch.float32):
    x = torch.rand(shape, generator=generator, dtype=dtype) * 3
    return x - 1.5 if _signed(config) else x


def _numpy(tensor):
    return tensor.detach().numpy()


def im2col_reference(x, kernel, stride, padding, dilation):
    """Rows ``(B * H' * W', C * kh * kw)`` of every receptive field, by explicit loops (numpy)."""
    batch, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    padded = numpy.zeros((batch, channels, height + 2 * ph, width + 2 * pw), dtype=x.dtype)
    padded[:, :, ph:ph + height, pw:pw + width] = x
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    rows = []
    for b in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                rows.append([padded[b, c, i * sh + u * dh, j * sw + v * dw]
                             for c in range(channels) for u in range(kh) for v in range(kw)])
    return numpy.array(rows, dtype=x.dtype), (out_h, out_w)


def per_row_reference(reference, x, config, rows_per_sample=1):
    """The reference layer on rows ``x`` with one dynamic scale per sample of ``rows_per_sample``
    rows, ``max|sample| / levels`` (numpy)."""
    maximum = numpy.abs(x.astype(numpy.float64)).reshape(-1, rows_per_sample * x.shape[1]).max(axis=1)
    scales = numpy.repeat(numpy.where(maximum > 0, maximum / input_levels(config), 1.0), rows_per_sample)[:, None]
    x_q, s = quantize_inputs(x, config, scales)
    return reference.quantized_product(x_q, s)


@pytest.mark.parametrize("dynamic_scale", ["per_sample", "per_token", "per_batch"])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_converted_linear_equals_analog_layer_bit_for_bit(name, per_channel, dynamic_scale):
    config = CONFIGS[name]
    generator = torch.Generator().manual_seed(1)
    model = nn.Sequential(nn.Linear(40, 9))
    converted = convert(model, config, per_channel=per_channel, seed=5, dynamic_scale=dynamic_scale).eval()
    x = _inputs(generator, (13, 40), config)
    reference = AnalogLayer(_numpy(model[0].weight).T, config, bias=_numpy(model[0].bias), per_channel=per_channel,
                            seed=5)
    for scale in (None, 0.021):  # dynamic, then fixed (the second call is the crossbars' second read)
        converted[0].input_scale = reference.input_scale = scale
        y = converted(x)
        assert y.dtype == torch.float32
        # rows of a 2-D input are its samples and its tokens: one scale per row unless per batch
        per_row = scale is None and dynamic_scale != "per_batch"
        expected = per_row_reference(reference, _numpy(x), config) if per_row else reference(_numpy(x))
        assert torch.equal(y, torch.from_numpy(expected).to(torch.float32))


@pytest.mark.parametrize("method", ["max", "percentile"])
def test_calibrated_scales_equal_analog_layer_calibration(method):
    config = ReramConfig(adc=AdcConfig(bits=7))
    generator = torch.Generator().manual_seed(2)
    model = nn.Sequential(nn.Linear(30, 12), nn.ReLU(), nn.Linear(12, 4))
    converted = convert(model, config)
    x = torch.rand((50, 30), generator=generator)
    scales = calibrate(converted, [x[:20], (x[20:], None)], method=method, percentile=99.0)
    first = AnalogLayer(_numpy(model[0].weight).T, config, bias=_numpy(model[0].bias), seed=0)
    second = AnalogLayer(_numpy(model[2].weight).T, config, bias=_numpy(model[2].bias), seed=1)
    assert scales["0"] == first.calibrate(_numpy(x).astype(numpy.float64), method, 99.0)
    assert scales["2"] == second.calibrate(_numpy(model[:2](x)).astype(numpy.float64), method, 99.0)
    hidden = numpy.maximum(first(_numpy(x)).astype(numpy.float32), 0)  # the emulated first layer, as float32
    assert torch.equal(converted.eval()(x), torch.from_numpy(second(hidden)).to(torch.float32))


CONV_CASES = [  # (batch, in, out, size, kernel, stride, padding, dilation)
    (2, 3, 5, (9, 9), (3, 3), (1, 1), (0, 0), (1, 1)),
    (1, 2, 4, (8, 11), (3, 2), (2, 1), (1, 2), (1, 1)),
    (3, 4, 3, (10, 7), (2, 3), (1, 3), (2, 0), (2, 1)),
    (2, 1, 6, (12, 12), (5, 5), (3, 2), (2, 2), (2, 2)),
]


@pytest.mark.parametrize("dynamic_scale", ["per_sample", "per_batch"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda case: "x".join(map(str, case[4] + case[5] + case[6] + case[7])))
@pytest.mark.parametrize("name", ["lossless", "adc6-wan2022", "signed-small-crossbar"])
def test_conv_equals_explicit_im2col_reference(name, case, dynamic_scale):
    config = CONFIGS[name]
    batch, channels, out_channels, size, kernel, stride, padding, dilation = case
    generator = torch.Generator().manual_seed(sum(size) + out_channels)
    conv = nn.Conv2d(channels, out_channels, kernel, stride, padding, dilation)
    layer = CrossbarConv2d.from_float(conv, config, seed=3, dynamic_scale=dynamic_scale).eval()
    x = _inputs(generator, (batch, channels) + size, config)
    rows, (out_h, out_w) = im2col_reference(_numpy(x), kernel, stride, padding, dilation)
    weights = _numpy(conv.weight).reshape(out_channels, -1).T
    reference = AnalogLayer(weights, config, bias=_numpy(conv.bias), seed=3)
    expected = (reference(rows) if dynamic_scale == "per_batch" else
                per_row_reference(reference, rows, config, rows_per_sample=out_h * out_w))
    expected = expected.reshape(batch, out_h, out_w, out_channels).transpose(0, 3, 1, 2)
    y = layer(x)
    assert y.shape == conv(x).shape
    assert torch.equal(y, torch.from_numpy(numpy.ascontiguousarray(expected)).to(torch.float32))


def _quantized_float_model(rows, weights, bias, config, per_channel=True):
    """``(x_q @ W_q) * (s_x * s_w) + bias`` in float64: the quantized model without crossbars."""
    x_q, s_x = quantize_inputs(rows, config)
    w_q, s_w = quantize_weights(weights, config, per_channel=per_channel)
    return (x_q @ w_q).astype(numpy.float64) * (s_x * s_w) + bias


@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_lossless_noiseless_layers_equal_the_quantized_float_model(per_channel):
    config = ReramConfig(crossbar=CrossbarGeometry(rows=32))
    generator = torch.Generator().manual_seed(4)
    linear = nn.Linear(70, 6, dtype=torch.float64)
    x = torch.rand((11, 70), generator=generator, dtype=torch.float64)
    y = CrossbarLinear.from_float(linear, config, per_channel=per_channel, dynamic_scale="per_batch")(x)
    assert y.dtype == torch.float64
    expected = _quantized_float_model(_numpy(x), _numpy(linear.weight).T, _numpy(linear.bias), config, per_channel)
    assert numpy.array_equal(_numpy(y), expected)

    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, dilation=2, dtype=torch.float64)
    images = torch.rand((2, 3, 9, 9), generator=generator, dtype=torch.float64)
    y = CrossbarConv2d.from_float(conv, config, per_channel=per_channel, dynamic_scale="per_batch")(images)
    rows, (out_h, out_w) = im2col_reference(_numpy(images), (3, 3), (2, 2), (1, 1), (2, 2))
    expected = _quantized_float_model(rows, _numpy(conv.weight).reshape(5, -1).T, _numpy(conv.bias), config,
                                      per_channel)
    assert numpy.array_equal(_numpy(y), expected.reshape(2, out_h, out_w, 5).transpose(0, 3, 1, 2))


def _gradients(module, x):
    x = x.clone().requires_grad_(True)
    (module(x) * torch.linspace(-1, 1, module(x).numel()).reshape(module(x).shape)).sum().backward()
    return x.grad, module.weight.grad, module.bias.grad


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_gradients_equal_the_float_ops_with_quantized_weights(kind):
    config = ReramConfig(adc=AdcConfig(bits=6))
    generator = torch.Generator().manual_seed(6)
    if kind == "linear":
        float_layer, x = nn.Linear(24, 8), torch.rand((7, 24), generator=generator)
        layer = CrossbarLinear.from_float(float_layer, config)
    else:
        float_layer, x = nn.Conv2d(2, 4, 3, stride=2, padding=1), torch.rand((3, 2, 7, 7), generator=generator)
        layer = CrossbarConv2d.from_float(float_layer, config)
    with torch.no_grad():  # the float op with the crossbars' (dequantized) weights
        float_layer.weight.copy_(layer.dequantized_weight().reshape(float_layer.weight.shape))
    for got, expected in zip(_gradients(layer, x), _gradients(float_layer, x)):
        assert got is not None
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def _digits_tensors():
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    return x[order[450:]], y[order[450:]], x[order[:450]], y[order[:450]]


#: Largest test-accuracy loss of the converted digits MLP at an 8-bit ADC (ideal devices) against float.
ADC8_ACCURACY_DROP = 0.05


def test_convert_keeps_accuracy_at_8_bit_adc():
    torch.manual_seed(0)
    x_train, y_train, x_test, y_test = _digits_tensors()
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        optimizer.zero_grad()
        F.cross_entropy(model(x_train), y_train).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        float_accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
        converted = convert(model, ReramConfig(adc=AdcConfig(bits=8)))
        calibrate(converted, x_train)
        accuracy = (converted(x_test).argmax(1) == y_test).float().mean().item()
    assert float_accuracy > 0.93
    assert float_accuracy - accuracy <= ADC8_ACCURACY_DROP
    assert [name for name, _ in crossbar_layers(converted)] == ["0", "2"]
    assert isinstance(model[0], nn.Linear) and not isinstance(model[0], CrossbarLinear)  # the original is kept


def test_convert_include_exclude_and_weights_kept():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(18, 4), nn.Linear(4, 3))
    assert [n for n, _ in crossbar_layers(convert(model, exclude=["4"]))] == ["0", "3"]
    assert [n for n, _ in crossbar_layers(convert(model, include=["[34]"]))] == ["3", "4"]
    converted = convert(model, configs={"0": CONFIGS["adc6"]})
    assert converted[0].config == CONFIGS["adc6"] and converted[3].config == ReramConfig()
    assert torch.equal(converted[3].weight, model[3].weight) and torch.equal(converted[0].bias, model[0].bias)
    assert converted[3].seed == 1 and converted[4].seed == 2
    assert convert(model, inplace=True) is model and isinstance(model[0], CrossbarConv2d)


def test_training_noise_is_seeded_and_fresh_per_step():
    config = ReramConfig(adc=AdcConfig(bits=6), devices=DeviceModel.reram_wan2022())
    linear = nn.Linear(16, 4)
    x = torch.rand((5, 16), generator=torch.Generator().manual_seed(7))

    def three_steps():
        layer = CrossbarLinear.from_float(linear, config, weight_noise=0.05, seed=9, dynamic_scale="per_batch").train()
        return [layer(x) for _ in range(3)], layer.eval()(x)

    first, second = three_steps(), three_steps()
    assert all(torch.equal(a, b) for a, b in zip(first[0], second[0]))  # seeded
    assert not torch.equal(first[0][0], first[0][1])  # a fresh draw per training step
    expected = AnalogLayer(_numpy(linear.weight).T, config, bias=_numpy(linear.bias), seed=9)(_numpy(x))
    assert torch.equal(first[1], torch.from_numpy(expected).to(torch.float32))  # eval: programmed once, no weight noise


def test_free_memory_is_handed_back_after_an_eval_forward_not_in_a_training_step(monkeypatch):
    from cim_emu.nn import layer as layer_module
    trims = []
    monkeypatch.setattr(layer_module, "release_free_memory", lambda: trims.append(1) or True)
    layer = CrossbarLinear(16, 4, config=ReramConfig(devices=DeviceModel.reram_wan2022()), dynamic_scale="per_batch")
    x = torch.rand((3, 16), generator=torch.Generator().manual_seed(1))
    layer.train()(x)
    assert trims == [] and layer.training_steps == 1  # the step's next layers reuse the pages at once
    with torch.no_grad():
        layer.train()(x)  # no autograd: not a training step
    layer.eval()(x)
    assert len(trims) >= 2


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="per_token"):
        CrossbarConv2d(1, 1, 3, dynamic_scale="per_token")
    with pytest.raises(ValueError, match="dynamic_scale must be one of"):
        CrossbarLinear(2, 2, dynamic_scale="per_row")
    layer, conv = CrossbarLinear(8, 3), CrossbarConv2d(2, 3, 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        layer(torch.ones((2, 8), dtype=torch.int64))
    with pytest.raises(TypeError, match="float32 or float64"):
        conv(torch.ones((1, 2, 5, 5), dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"\(\.\.\., 8\)"):
        layer(torch.ones((2, 7)))
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        conv(torch.ones((2, 5, 5)))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv(torch.ones((1, 2, 2, 2)))
    with pytest.raises(ValueError, match="input on meta but weights on cpu"):
        layer(torch.ones((2, 8), device="meta"))
    with pytest.raises(ValueError, match="inputs are unsigned"):
        layer(-torch.ones((2, 8)))
    with pytest.raises(ValueError, match="input_scale"):
        CrossbarLinear(8, 3, input_scale=-1.0)
    with pytest.raises(TypeError, match="ReramConfig"):
        CrossbarLinear(8, 3, config="isaac")


def test_import_without_torch_names_the_extra_and_the_package_never_imports_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import cim_emu, cim_emu.reram, cim_emu.cli\n"
            "try:\n    import cim_emu.nn\nexcept ImportError as e:\n    print(e)\n")
    message = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'cim-emu[torch]'" in message
    code = "import sys, cim_emu, cim_emu.reram, cim_emu.cli; print('torch' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "False"


# -- ADC full scale calibrated from data ------------------------------------------------------


@pytest.mark.parametrize("config", [
    ReramConfig(crossbar=CrossbarGeometry(rows=8)),
    ReramConfig(crossbar=CrossbarGeometry(rows=8), inputs=InputEncoding(8, 2, signed=True)),
])
def test_largest_partial_sum_equals_brute_force(config):
    from cim_emu.reram.crossbar import CrossbarArray

    rng = numpy.random.default_rng(0)
    inputs, K = config.inputs, 19
    weights = rng.integers(-config.mapping.max_weight, config.mapping.max_weight + 1, (K, 5))
    x = rng.integers(inputs.min_input, inputs.max_input + 1, (7, K))
    crossbars = CrossbarArray(weights, config)
    levels, rows = crossbars.levels.astype(numpy.int64), config.crossbar.rows
    sums = []
    for t in range(crossbars.n_row_tiles):
        for c in range(inputs.chunks):
            chunk = ((x[:, t * rows:(t + 1) * rows] + inputs.input_offset) >> (c * inputs.dac_bits)) & inputs.max_chunk
            sums.append(numpy.einsum("bk,pskn->bpsn", chunk, levels[:, :, t * rows:(t + 1) * rows]).ravel())
    sums = numpy.sort(numpy.concatenate(sums))
    assert crossbars.largest_partial_sum(x) == sums[-1]
    assert crossbars.largest_partial_sum(x, percentile=90) == sums[int(numpy.ceil(0.9 * len(sums))) - 1]


def test_calibrate_adc_sets_the_layers_full_scale():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3))
    converted = convert(model, ReramConfig(adc=AdcConfig(bits=6)))
    x = torch.rand(40, 12)
    calibrate(converted, x, adc="max")
    for _, layer in crossbar_layers(converted):
        analog = layer.analog_layer()
        assert analog.config.adc.full_scale == layer.config.adc.full_scale
    first = crossbar_layers(converted)[0][1]
    x_q, _ = quantize_inputs(x.double().numpy(), first.config, first.input_scale)
    assert first.config.adc.full_scale == first.analog_layer().crossbars.largest_partial_sum(x_q)
    assert first.config.adc.full_scale < ReramConfig().max_partial_sum
    assert first.config.adc.bits == 6 and first.seed == 0


def test_calibrated_adc_beats_the_default_full_scale_on_digits():
    pytest.importorskip("sklearn")
    from cim_emu.studies import digits_cnn

    torch.manual_seed(0)
    x_train, y_train, x_test, y_test = digits_cnn.load_digits_tensors(0)
    model = digits_cnn.train(digits_cnn.small_cnn(), x_train, y_train, 3, 0.01, 0)
    default = digits_cnn.accuracy(digits_cnn.emulated(model, x_train, 6, "ideal", 0), x_test, y_test)
    tuned = digits_cnn.accuracy(digits_cnn.emulated(model, x_train, 6, "ideal", 0, adc="max"), x_test, y_test)
    assert tuned >= default + 0.1  # measured 0.650 -> 0.962


def test_calibrate_adc_per_slice_and_chunk_sets_a_full_scale_grid():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3))
    converted = convert(model, ReramConfig(adc=AdcConfig(bits=6)))
    x = torch.rand(40, 12)
    calibrate(converted, x)
    grids = calibrate_adc(converted, x, per_slice_and_chunk=True)
    first_name, first = crossbar_layers(converted)[0]
    x_q, _ = quantize_inputs(x.double().numpy(), first.config, first.input_scale)
    grid = first.analog_layer().crossbars.largest_partial_sums(x_q)
    assert grids[first_name] == grid == first.config.adc.full_scales and first.config.adc.full_scale is None
    assert len(grid) == first.config.mapping.slices and len(grid[0]) == first.config.inputs.chunks
    assert max(map(max, grid)) == first.analog_layer().crossbars.largest_partial_sum(x_q)
    assert converted(x).shape == (40, 3)  # reads with the grid
    calibrate_adc(converted, x)  # back to one full scale per layer
    assert first.config.adc.full_scales is None and first.config.adc.full_scale == max(map(max, grid))
