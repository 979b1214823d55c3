"""cim_emu.nn's forward without autograd held to the float-rows forward, bit for bit.

Without autograd a convolution quantizes its input once per value and unfolds the integers
(:meth:`CrossbarConv2d._quantized_forward`); with autograd (or when the gradient is needed)
it unfolds the floats and quantizes the rows. Both must give the same bits, and raise the same
errors, for any geometry: strides that skip inputs, dilation, padding, signed inputs, fixed
and dynamic scales, noisy devices.
"""

import numpy
import pytest

torch = pytest.importorskip("torch")


from cim_emu.nn import CrossbarConv2d, CrossbarLinear  # noqa: E402
from cim_emu.reram import AdcConfig, DeviceModel, ReramConfig  # noqa: E402
from cim_emu.reram.config import CrossbarGeometry, InputEncoding  # noqa: E402

GEOMETRIES = {  # kernel, stride, padding, dilation[, other nn.Conv2d options]
    "3x3": (3, 1, 1, 1),
    "3x3-stride2": (3, 2, 1, 1),
    "1x1-stride2 (skips inputs)": (1, 2, 0, 1),
    "2x3-stride3-no-padding (skips inputs)": ((2, 3), 3, 0, 1),
    "2x2-stride3 (skips inputs)": (2, 3, 0, 1),
    "3x3-dilation2-padding2": (3, 1, 2, 2),
    "5x5-stride(1,2)-padding(2,0)": (5, (1, 2), (2, 0), 1),
    "2x2-same-reflect": (2, 1, "same", 1, {"padding_mode": "reflect"}),
    "3x3-stride2-circular-groups3": (3, 2, 1, 1, {"padding_mode": "circular", "groups": 3}),
    "3x2-replicate-depthwise (skips inputs)": ((3, 2), 3, 1, 1, {"padding_mode": "replicate", "groups": 3}),
}
CONFIGS = {
    "adc6": ReramConfig(adc=AdcConfig(bits=6)),
    "signed-inputs": ReramConfig(crossbar=CrossbarGeometry(rows=16), inputs=InputEncoding(signed=True),
                                 adc=AdcConfig(bits=5)),
    "read-noise": ReramConfig(crossbar=CrossbarGeometry(rows=32), adc=AdcConfig(bits=7),
                              devices=DeviceModel.generic_reram()),
}


def conv_for(config, geometry, seed=0, **options):
    kernel, stride, padding, dilation, *other = GEOMETRIES[geometry]
    torch.manual_seed(seed)
    return CrossbarConv2d(3, 6, kernel, stride, padding, dilation, config=config, seed=seed,
                          **(other[0] if other else {}), **options).eval()


def first_read(conv):
    """Count the crossbars' reads from 0 again: the next read draws read 0's noise."""
    for analog in conv.analog_layers():
        analog.crossbars.reads = 0


def float_rows_forward(conv, x):
    """The forward through the float rows (what runs with autograd), as read 0."""
    first_read(conv)
    padded = conv._padded(x)
    y = conv._product(conv._rows(padded), x.shape[0])
    out_h, out_w = conv.output_size(x.shape[2], x.shape[3])
    return y.reshape(x.shape[0], out_h * out_w, conv.out_channels).transpose(1, 2).reshape(
        x.shape[0], conv.out_channels, out_h, out_w)


def uncovered_inputs(conv, height, width):
    """``(H, W)`` mask of the input values no output reads (``None``: it reads them all)."""
    top, bottom = conv._reversed_padding_repeated_twice[2:]
    left, right = conv._reversed_padding_repeated_twice[:2]
    covered = conv._covered(height + top + bottom, width + left + right, torch.device("cpu"))
    return None if covered is None else ~covered[top:top + height, left:left + width]


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
@pytest.mark.parametrize("input_scale", [None, "per_batch", 0.01])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_quantized_forward_equals_the_float_rows(config, geometry, input_scale, dtype):
    dynamic = "per_batch" if input_scale == "per_batch" else "per_sample"
    conv = conv_for(CONFIGS[config], geometry, dynamic_scale=dynamic)
    conv.input_scale = None if isinstance(input_scale, str) else input_scale
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 11, 10, generator=generator, dtype=dtype)
    x[1] *= 3  # samples of different ranges: per-sample scales differ from the batch's
    if CONFIGS[config].inputs.signed:
        x = 2 * x - 1
    uncovered = uncovered_inputs(conv, 11, 10)
    if uncovered is not None:  # values the kernel never sees: the largest, so a wrong scale shows
        x = x.masked_fill(uncovered, 50.0)
    first_read(conv)
    with torch.no_grad():
        fast = conv(x)
    expected = float_rows_forward(conv, x)
    assert fast.dtype == expected.dtype == dtype
    torch.testing.assert_close(fast, expected, rtol=0, atol=0)
    first_read(conv)
    with torch.enable_grad():  # the autograd path itself
        torch.testing.assert_close(conv(x.requires_grad_()), expected, rtol=0, atol=0)


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("geometry", ["3x3-stride2", "3x3-stride2-circular-groups3", "2x2-stride3 (skips inputs)"])
@pytest.mark.parametrize("input_scale", [None, "per_batch", 0.01])
def test_unfolding_block_by_block_is_one_read_of_all_the_rows(monkeypatch, config, geometry, input_scale):
    """Unfolded a sample at a time (the smallest block), the forward is still one read: the
    bits of the float rows' single read, and one read more on the crossbars' count."""
    import cim_emu.nn.conv as conv_module

    monkeypatch.setattr(conv_module, "UNFOLD_BLOCK_BYTES", 1)
    dynamic = "per_batch" if input_scale == "per_batch" else "per_sample"
    conv = conv_for(CONFIGS[config], geometry, dynamic_scale=dynamic)
    conv.input_scale = None if isinstance(input_scale, str) else input_scale
    ranges = torch.arange(1, 6)[:, None, None, None]  # samples of different ranges: per-sample scales differ
    x = torch.rand(5, 3, 11, 10, generator=torch.Generator().manual_seed(2)) * ranges
    if CONFIGS[config].inputs.signed:
        x = 2 * x - 1
    first_read(conv)
    with torch.no_grad():
        fast = conv(x)
    assert [analog.crossbars.reads for analog in conv.analog_layers()] == [1] * conv.groups
    torch.testing.assert_close(fast, float_rows_forward(conv, x), rtol=0, atol=0)


def test_uncovered_values_are_ignored_as_the_rows_ignore_them():
    conv = conv_for(CONFIGS["adc6"], "1x1-stride2 (skips inputs)")
    x = torch.rand(1, 3, 6, 6)
    x[..., 1, :] = float("nan")  # odd rows: no output reads them
    x[..., 3, 1] = -5.0
    with torch.no_grad():
        fast = conv(x)
    torch.testing.assert_close(fast, float_rows_forward(conv, x), rtol=0, atol=0)
    x[..., 2, 2] = float("nan")
    with torch.no_grad(), pytest.raises(ValueError, match="finite"):
        conv(x)
    x[..., 2, 2] = -1.0
    with torch.no_grad(), pytest.raises(ValueError, match="negative"):
        conv(x)


def test_the_covered_mask():
    conv = conv_for(CONFIGS["adc6"], "2x3-stride3-no-padding (skips inputs)")  # padded = unpadded
    covered = conv._covered(8, 10, torch.device("cpu"))
    rows = numpy.array([0, 1, 3, 4, 6, 7])  # windows at 0, 3 and 6, two rows each
    columns = numpy.arange(9)  # windows at 0, 3 and 6, three columns each; column 9 left over
    expected = numpy.zeros((8, 10), dtype=bool)
    expected[numpy.ix_(rows, columns)] = True
    numpy.testing.assert_array_equal(covered.numpy(), expected)
    assert conv_for(CONFIGS["adc6"], "3x3")._covered(8, 10, torch.device("cpu")) is None


def test_linear_without_autograd_skips_the_surrogate_weights(monkeypatch):
    from cim_emu.nn import functions

    layer = CrossbarLinear(7, 4, config=CONFIGS["adc6"]).eval()
    x = torch.rand(5, 7)
    expected = layer(x)  # parameters require grad: the autograd function
    calls = []
    monkeypatch.setattr(functions, "dequantized", lambda *a: calls.append(a))
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)
    assert not calls
