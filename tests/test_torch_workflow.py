"""cim_emu.nn in a research workflow: every layer type converted (with a report), errors that
name the layer, save and load bit for bit, outputs independent of the batch, half precision."""

import copy
import io
import sys
import types

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from cim_emu.nn import (  # noqa: E402
    CrossbarConv1d,
    CrossbarConv2d,
    CrossbarLinear,
    CrossbarMultiheadAttention,
    calibrate,
    convert,
    crossbar_layers,
)
from cim_emu.reram import AdcConfig, DeviceModel, ReramConfig  # noqa: E402
from cim_emu.reram.config import CrossbarGeometry, InputEncoding  # noqa: E402

SIGNED = ReramConfig(inputs=InputEncoding(signed=True))
NOISY = ReramConfig(crossbar=CrossbarGeometry(rows=32), inputs=InputEncoding(signed=True), adc=AdcConfig(bits=6),
                    devices=DeviceModel.reram_wan2022())


class _Scaled(nn.Linear):
    """A user's nn.Linear subclass."""


def _cnn():
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding="same", padding_mode="reflect"), nn.ReLU(),
                         nn.Conv2d(6, 6, 3, padding=1, groups=3), nn.ReLU(),
                         nn.Conv2d(6, 6, 3, padding=1, groups=6, padding_mode="circular"), nn.ReLU(),
                         nn.Flatten(), _Scaled(6 * 5 * 5, 4))


def _transformer():
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)


# --------------------------------------------------------------------------- conversion and its report


def test_every_supported_layer_is_converted_and_reported():
    model = nn.ModuleDict({"cnn": _cnn(), "block": _transformer(), "seq": nn.Conv1d(4, 4, 3, groups=2),
                           "up": nn.ConvTranspose2d(2, 2, 2), "norm": nn.LayerNorm(4)})
    converted = convert(model, SIGNED)
    kinds = {name: type(layer).__name__ for name, layer in converted.named_modules()}
    assert kinds["cnn.0"] == kinds["cnn.2"] == kinds["cnn.4"] == "CrossbarConv2d"
    assert kinds["cnn.7"] == "CrossbarLinear" and kinds["seq"] == "CrossbarConv1d"
    assert kinds["block.self_attn"] == "CrossbarMultiheadAttention"
    assert kinds["up"] == "ConvTranspose2d"
    report = converted.conversion_report
    decisions = {d.name: d for d in report.layers}
    assert decisions["up"].reason.startswith("selected, but cim-emu has no crossbar ConvTranspose2d")
    assert "norm" not in decisions  # no weights to put on crossbars: not a candidate
    assert "block.self_attn.out_proj" not in decisions  # converted with its attention
    assert [d.name for d in report.converted] == ["cnn.0", "cnn.2", "cnn.4", "cnn.7", "block.self_attn",
                                                  "block.linear1", "block.linear2", "seq"]
    assert "ConvTranspose2d" in str(report)
    # seeds: crossbar layer i takes seed + i, an attention's four projections four of them
    assert [layer.seed for _, layer in crossbar_layers(converted)] == list(range(11))


def test_a_bare_layer_converts_to_its_crossbar_layer():
    for layer, kind in [(nn.Linear(4, 3), CrossbarLinear), (nn.Conv1d(2, 3, 3), CrossbarConv1d),
                        (nn.Conv2d(2, 3, 3), CrossbarConv2d),
                        (nn.MultiheadAttention(8, 2), CrossbarMultiheadAttention)]:
        converted = convert(layer)
        assert type(converted) is kind
        assert converted.conversion_report.converted[0].name == ""
    x = torch.rand(2, 4)
    linear = convert(nn.Linear(4, 3)).eval()
    assert linear(x).shape == (2, 3) and linear.analog_layer().crossbars.reads == 1  # the crossbars ran


def test_strict_refuses_what_would_silently_stay_float():
    model = nn.Sequential(nn.Linear(4, 4), nn.ConvTranspose1d(4, 4, 2))
    with pytest.warns(UserWarning, match="'nothing\\*', 'typo' matched no layer"):
        converted = convert(model, include=["0", "nothing*"], configs={"typo": ReramConfig()})  # not strict
    assert converted.conversion_report.unmatched_patterns == ("nothing*", "typo")
    with pytest.raises(ValueError, match="pattern 'nothing\\*' matched no layer"):
        convert(model, include=["0", "nothing*"], strict=True)
    with pytest.raises(ValueError, match="1 \\(ConvTranspose1d\\) left float"):
        convert(model, strict=True)
    convert(model, exclude=["1"], strict=True)  # excluded on purpose: fine
    attention = nn.Sequential(nn.MultiheadAttention(8, 2))
    with pytest.raises(ValueError, match="which converts only as a whole"):
        convert(attention, include=["0.out_proj"], strict=True)
    assert not convert(attention, exclude=["0"]).conversion_report.converted


# --------------------------------------------------------------------------- what the layers compute


def _dequantized_float(layer, x, scale):
    """The layer's op in float64 on the dequantized operands (x_q * s_x, W_q * s_w)."""
    x_deq = torch.round(x.double() / scale) * scale
    weight = layer.dequantized_weight().double().reshape(layer.weight.shape)
    bias = None if layer.bias is None else layer.bias.double()
    return layer._conv_forward(x_deq, weight, bias)


@pytest.mark.parametrize("options", [
    {"padding": "same", "padding_mode": "reflect"}, {"padding": 1, "groups": 3, "padding_mode": "circular"},
    {"padding": 2, "groups": 6, "stride": 2, "padding_mode": "replicate"}, {"padding": "valid", "dilation": 2},
    {"padding": 1, "groups": 2, "padding_mode": "zeros"}], ids=str)
@pytest.mark.parametrize("dims", [1, 2])
def test_exact_convolutions_equal_the_float_op_on_the_quantized_operands(dims, options):
    """Lossless ADC, ideal devices: the crossbar convolution is the float convolution of the
    quantized input and weights (any padding mode, groups, stride, dilation), up to float64 rounding."""
    generator = torch.Generator().manual_seed(dims)
    kind = CrossbarConv1d if dims == 1 else CrossbarConv2d
    layer = kind(6, 6, 3, config=SIGNED, input_scale=0.01, dtype=torch.float64, **options).eval()
    x = torch.rand((2, 6) + (9,) * dims, generator=generator, dtype=torch.float64) * 2 - 1
    expected = _dequantized_float(layer, x, 0.01)
    y = layer(x)
    assert y.shape == expected.shape
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)


def test_attention_is_nn_multihead_attention_with_crossbar_projections(monkeypatch):
    """With the projections computed in float, the attention equals nn.MultiheadAttention under
    every option; with crossbars, each projection reads its crossbars once per forward."""
    torch.manual_seed(3)
    cases = [({}, {}), ({"batch_first": True}, {"need_weights": False}),
             ({"add_bias_kv": True, "add_zero_attn": True}, {"average_attn_weights": False}),
             ({"kdim": 6, "vdim": 5}, {"mask": True}), ({}, {"is_causal": True, "mask": True})]
    for options, call in cases:
        reference = nn.MultiheadAttention(16, 4, **options).eval()
        with torch.no_grad():
            for parameter in (reference.bias_k, reference.bias_v, reference.in_proj_bias):
                if parameter is not None:
                    parameter.normal_()
        attention = convert(reference, SIGNED)
        first = (3, 5) if options.get("batch_first") else (5, 3)
        key_first = (3, 7) if options.get("batch_first") else (7, 3)
        q = torch.randn(first + (16,))
        k, v = torch.randn(key_first + (options.get("kdim", 16),)), torch.randn(key_first + (options.get("vdim", 16),))
        arguments = {key: value for key, value in call.items() if key != "mask"}
        if call.get("mask"):
            arguments["key_padding_mask"] = torch.rand(3, 7) < 0.3
            arguments["attn_mask"] = torch.rand(5, 7) < 0.3
            arguments["key_padding_mask"][:, 0] = arguments["attn_mask"][:, 0] = False
        with torch.no_grad():
            expected = reference(q, k, v, **arguments)
            with monkeypatch.context() as patch:
                patch.setattr(CrossbarLinear, "forward", nn.Linear.forward)
                floated = attention(q, k, v, **arguments)
            emulated = attention(q, k, v, **arguments)
        for got, want in zip(floated, expected):
            assert (got is None) == (want is None)
            if want is not None:
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        assert emulated[0].shape == expected[0].shape
        assert [layer.analog_layer().crossbars.reads for _, layer in crossbar_layers(attention)] == [1, 1, 1, 1]


def test_a_transformer_layer_runs_its_crossbar_attention():
    block = _transformer().eval()
    converted = convert(block, SIGNED).eval()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        y = converted(x)
    assert (y - block(x)).abs().max() < 0.05  # 8-bit inputs and weights, lossless ADC
    assert all(layer.analog_layer().crossbars.reads == 1 for _, layer in crossbar_layers(converted))


# --------------------------------------------------------------------------- errors name the layer


def test_errors_inside_a_converted_model_name_the_layer():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)))
    with torch.no_grad():
        model[0].weight.copy_(-torch.eye(4))  # the first layer's outputs are negative
        model[0].bias.zero_()
    model = convert(model)
    with pytest.raises(ValueError, match=r"^layer '1\.0': x has negative values"):
        model(torch.rand(1, 4))
    with pytest.raises(TypeError, match=r"^layer '0': CrossbarLinear takes float16"):
        model(torch.ones(1, 4, dtype=torch.int32))
    attention = convert(nn.Sequential(nn.MultiheadAttention(8, 2)))
    with pytest.raises(ValueError, match=r"^layer '0\.q_proj': x has negative values"):
        attention[0](-torch.ones(3, 1, 8), torch.ones(3, 1, 8), torch.ones(3, 1, 8))


# --------------------------------------------------------------------------- state


def _roundtrips(model):
    """The model through deepcopy, torch.save/load of the module, and state_dict into a fresh conversion."""
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = convert(_cnn(), ReramConfig(), seed=1234, input_scale=7.0)  # other seed, scale and config
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    return [copy.deepcopy(model), loaded, fresh.eval()]


@pytest.mark.parametrize("after_forward", [False, True], ids=["before-forward", "after-forward"])
def test_saved_and_copied_models_reproduce_the_outputs_bit_for_bit(after_forward):
    torch.manual_seed(5)
    x = torch.rand(3, 3, 5, 5)
    model = convert(_cnn(), dataclass_replace(NOISY, inputs=InputEncoding()), seed=9)
    calibrate(model, x, adc="percentile", adc_percentile=99.0)
    model.eval()
    if after_forward:
        with torch.no_grad():
            model(x)  # read 0: the copies continue from read 1
    copies = _roundtrips(model)
    with torch.no_grad():
        expected = model(x)
        for other in copies:
            assert torch.equal(other(x), expected)
    state = model.state_dict()["0._extra_state"]
    assert state["input_scale"] == model[0].input_scale and state["config"]["adc"]["full_scale"] is not None
    assert state["reads"] == [2 if after_forward else 1]


def dataclass_replace(config, **changes):
    import dataclasses

    return dataclasses.replace(config, **changes)


# --------------------------------------------------------------------------- batch independence, dtypes


@pytest.mark.parametrize("model_kind", ["cnn", "transformer"])
def test_eval_outputs_do_not_depend_on_the_rest_of_the_batch(model_kind):
    torch.manual_seed(6)
    config = ReramConfig(adc=AdcConfig(bits=6), inputs=InputEncoding(signed=True))
    model = _cnn() if model_kind == "cnn" else _transformer()
    shape = (4, 3, 5, 5) if model_kind == "cnn" else (4, 5, 16)
    x = torch.rand(shape)
    other = torch.cat([x[:1], 10 * torch.rand(shape)[1:]])  # sample 0 with louder neighbours
    outputs = {}
    for dynamic in ["per_sample", "per_batch"]:
        with torch.no_grad():
            first, second = (convert(model, config, dynamic_scale=dynamic).eval() for _ in range(2))
            outputs[dynamic] = (first(x)[0], second(other)[0])
    assert torch.equal(*outputs["per_sample"])
    assert not torch.equal(*outputs["per_batch"])


def test_per_token_scales_make_every_token_independent():
    torch.manual_seed(7)
    layer = CrossbarLinear(8, 3, config=ReramConfig(adc=AdcConfig(bits=5)), dynamic_scale="per_token").eval()
    x = torch.rand(2, 6, 8)
    louder = x.clone()
    louder[:, 1:] *= 10
    with torch.no_grad():
        assert torch.equal(layer(x)[:, 0], layer(louder)[:, 0])
        assert torch.equal(layer(x)[1, 3], layer(x[1:2, 3:4])[0, 0])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32_and_returned_in_its_dtype(dtype):
    torch.manual_seed(8)
    model = convert(_cnn(), ReramConfig(adc=AdcConfig(bits=7))).eval()
    x = torch.rand(2, 3, 5, 5).to(dtype)
    # each layer: its float32 result, rounded once to the dtype
    for layer, inputs in ((model[0], x), (model[2], torch.rand(2, 6, 5, 5).to(dtype))):
        with torch.no_grad():
            expected = copy.deepcopy(layer)(inputs.float()).to(dtype)
            y = layer(inputs)
        assert y.dtype == dtype and torch.equal(y, expected)
    half = copy.deepcopy(model).to(dtype)  # half weights too: quantized from their float32 values
    with torch.no_grad():
        assert half(x).dtype == dtype
    x.requires_grad_(True)
    model.train()(x).sum().backward()
    assert x.grad is not None and x.grad.dtype == dtype and bool(torch.isfinite(x.grad.float()).all())


def test_grouped_gradients_flow_to_every_group():
    layer = CrossbarConv2d(4, 4, 3, padding=1, groups=2, config=ReramConfig(adc=AdcConfig(bits=6)))
    x = torch.rand(2, 4, 5, 5, requires_grad=True)
    layer(x).sum().backward()  # straight-through: the float convolution's gradient, quantized weights
    weight = layer.dequantized_weight().reshape(layer.weight.shape).detach().requires_grad_(True)
    bias = layer.bias.detach().clone().requires_grad_(True)
    x_float = x.detach().clone().requires_grad_(True)
    F.conv2d(x_float, weight, bias, padding=1, groups=2).sum().backward()
    for got, want in [(x.grad, x_float.grad), (layer.weight.grad, weight.grad), (layer.bias.grad, bias.grad)]:
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert bool((layer.weight.grad.abs().sum(dim=(1, 2, 3)) > 0).all())


# --------------------------------------------------------------------------- inference over time


@pytest.mark.parametrize("compensation", [False, True])
@pytest.mark.parametrize("t", [3600.0, 31557600.0], ids=["1h", "1y"])
def test_a_model_read_later_is_its_crossbars_read_later(t, compensation):
    """set_read_time reads every layer as CrossbarArray.at_time reads the same crossbars (any t
    for every preset with a time model), and the time travels with the state."""
    from cim_emu.nn import set_read_time
    from cim_emu.reram.quantize import AnalogLayer

    torch.manual_seed(9)
    config = ReramConfig(adc=AdcConfig(bits=7), devices=DeviceModel.reram_wan2022())
    model = convert(nn.Sequential(nn.Linear(20, 6), nn.ReLU(), nn.Linear(6, 3)), config, input_scale=0.01,
                    seed=4).eval()
    set_read_time(model, t, drift_compensation=compensation)
    assert all(layer.read_time == t and layer.drift_compensation == compensation
               for _, layer in crossbar_layers(model))
    x = torch.rand(5, 20)
    reference = AnalogLayer(model[0].weight.detach().numpy().T, config, bias=model[0].bias.detach().numpy(),
                            input_scale=0.01, seed=4)
    reference.crossbars = reference.crossbars.at_time(t, drift_compensation=compensation)
    with torch.no_grad():
        assert torch.equal(model[0](x), torch.from_numpy(reference(x.numpy())).to(torch.float32))
        expected = model(x)
    restored = convert(nn.Sequential(nn.Linear(20, 6), nn.ReLU(), nn.Linear(6, 3)), config)
    restored.load_state_dict(model.state_dict())
    restored.eval()
    for _, layer in crossbar_layers(restored):
        layer.analog_layer().crossbars.reads = 0  # read 0 again, as the model's own first read
    for _, layer in crossbar_layers(model):
        layer.analog_layer().crossbars.reads = 0
    with torch.no_grad():
        assert torch.equal(restored(x), model(x))
    set_read_time(model, None)
    with torch.no_grad():
        assert not torch.equal(model(x), expected)  # right after programming: other conductances


def test_cuda_tensors_run_on_their_own_cupy_device(monkeypatch):
    """The engine runs under CuPy's device of the tensors' CUDA device (cuda:1 -> GPU 1, whatever
    CuPy's current device) and on torch's current stream there; CPU tensors need no device (CuPy
    is not imported)."""
    from cim_emu.nn import functions

    entered = []

    class Device:
        def __init__(self, index):
            self.index = index

        def __enter__(self):
            entered.append(self.index)

        def __exit__(self, *error):
            entered.append("exit")
            return False

    class Stream(Device):
        def __init__(self, pointer, index):
            self.index = ("stream", pointer, index)

    cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(Device=Device, ExternalStream=Stream))
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda index: types.SimpleNamespace(cuda_stream=1000 + index))
    with functions.engine_device(torch.device("cuda:1")):
        entered.append("inside")
    with functions.engine_device(torch.device("cpu")):
        pass
    assert entered == [1, ("stream", 1001, 1), "inside", "exit", "exit"]  # torch's stream on the tensor's GPU
    monkeypatch.setitem(sys.modules, "cupy", None)  # the CPU path never asks for CuPy
    layer = CrossbarLinear(3, 2).eval()
    with torch.no_grad():
        assert layer(torch.rand(2, 3)).shape == (2, 2)


@pytest.mark.parametrize("training", [False, True])
def test_an_empty_batch_gives_an_empty_output(training):
    model = convert(_cnn(), NOISY).train(training)
    x = torch.zeros(0, 3, 5, 5, requires_grad=training)
    with torch.set_grad_enabled(training):
        y = model(x)
    assert y.shape == (0, 4)
    with pytest.raises(ValueError, match="at least one value to calibrate"):
        calibrate(model, torch.zeros(0, 3, 5, 5))
