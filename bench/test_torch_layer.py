"""A converted ``CrossbarLinear``'s forward against the plain ``nn.Linear`` it came from, in one run.

Float32 inputs in [0, 1) (batch 256, K = N = 1024; quick: 16 x 256 x 256), weights per output
channel, ISAAC-like crossbars (8-bit inputs and weights, 2-bit cells, 1-bit DACs, 128 rows):

* lossy (6-bit ADC): the full pipeline, whose inherent work is 8 x 4 x 2 = 64 binary products;
* lossless (9-bit ADC, ideal devices): one exact integer product.

The layer is programmed before timing (as after ``convert``); each forward quantizes its
inputs, crosses to numpy by DLPack, runs the crossbars and comes back as a tensor.
``ratio_to_linear`` = layer time / ``nn.Linear`` time (medians of interleaved rounds, threads
pinned: :func:`cim_emu.studies.timing.interleaved`; floor: the crossbars' own, as in
``test_reram_throughput.py``, counting torch's product no faster per MAC than numpy's);
``correct``: the output equals :class:`~cim_emu.reram.quantize.AnalogLayer`'s bit for bit (with the
layer's default dynamic input scale, one per sample: here one per row).
"""

import pytest

torch = pytest.importorskip("torch")

from cim_emu.backend import get_backend  # noqa: E402
from cim_emu.nn import CrossbarLinear  # noqa: E402
from cim_emu.reram import AdcConfig, ReramConfig  # noqa: E402
from cim_emu.reram.quantize import AnalogLayer, input_levels, quantize_inputs  # noqa: E402
from cim_emu.studies.benchmarks import reram_floor  # noqa: E402
from cim_emu.studies.timing import interleaved  # noqa: E402


@pytest.mark.parametrize("path", ["lossy", "lossless"])
def test_crossbar_linear_against_torch_linear(benchmark, driver, rounds, threads, record_timings, quick, path):
    batch, K, N = (16, 256, 256) if quick else (256, 1024, 1024)
    config = ReramConfig(adc=AdcConfig(bits=6)) if path == "lossy" else ReramConfig()
    torch.manual_seed(0)
    linear = torch.nn.Linear(K, N).eval()
    layer = CrossbarLinear.from_float(linear, config).eval()
    x = torch.rand((batch, K))
    crossbars = layer.analog_layer().crossbars  # programmed once, outside the timing

    benchmark.group = f"torch-{path}-{batch}x{K}x{N}"
    with torch.no_grad():
        timings = interleaved({"baseline": lambda: linear(x), "emulator": lambda: layer(x)}, rounds, driver=driver)
        y = layer(x)
    shared = record_timings(timings, *reram_floor(crossbars, get_backend("numpy"), batch * K * N))
    reference = AnalogLayer(linear.weight.detach().numpy().T, config, bias=linear.bias.detach().numpy())
    rows = x.numpy().astype("float64")
    scales = rows.max(axis=1, keepdims=True) / input_levels(config)  # inputs in [0, 1): no zero rows
    expected = reference.quantized_product(*quantize_inputs(rows, config, scales))
    correct = bool(torch.equal(y, torch.from_numpy(expected).to(torch.float32)))
    benchmark.extra_info.update(
        correct=correct,
        shape=[batch, K, N],
        adc_bits=config.adc_bits,
        torch_linear_s=shared["baseline_s"],
        ratio_to_linear=shared["ratio_to_baseline"],
        torch_threads=torch.get_num_threads(),
    )
    assert correct
