"""Crossbar products against a float32 ``numpy.matmul`` of the same shape, in one run.

Configuration (the issue's): 8-bit unsigned inputs and signed weights, 2-bit cells, 1-bit DACs,
128-row crossbars, differential mapping digitised per polarity, batch 256, K = N = 1024.

* lossy (6-bit ADC): the work is inherently ``C x S x 2`` = 8 x 4 x 2 = 64 binary matrix
  products of the full shape (input chunks x weight slices x polarities) plus the ADC and
  shift-and-add; ``ratio_to_inherent`` = time / (64 x matmul time), target <= 1.5;
* lossless (9-bit ADC, ideal devices): one exact integer product; target <= 2 x matmul time.
"""

import numpy
import pytest

from cim_emu.reram import AdcConfig, CrossbarArray, ReramConfig, ReramCostModel

TARGETS = {"lossy": 1.5, "lossless": 2.0}



@pytest.mark.parametrize("path", ["lossy", "lossless"])
def test_crossbar_product_against_float_matmul(benchmark, best_time, quick, path):
    batch, K, N = (16, 256, 256) if quick else (256, 1024, 1024)
    config = ReramConfig(adc=AdcConfig(bits=6)) if path == "lossy" else ReramConfig()
    rng = numpy.random.default_rng(0)
    weights = rng.integers(-127, 128, (K, N))
    x = rng.integers(0, 256, (batch, K))
    crossbars = CrossbarArray(weights, config, backend="numpy")
    x_float, w_float = x.astype(numpy.float32), weights.astype(numpy.float32)

    benchmark.group = f"reram-{path}-{batch}x{K}x{N}"
    y = benchmark.pedantic(crossbars.matmul, args=(x,), rounds=3 if path == "lossy" else 7, warmup_rounds=1)
    emulator = benchmark.stats.stats.min
    matmul = best_time(lambda: x_float @ w_float, 20)

    inherent = config.inputs.chunks * config.mapping.slices * config.mapping.polarities if path == "lossy" else 1
    ratio = emulator / matmul
    exact = x @ weights
    if path == "lossless":
        correct = bool(numpy.array_equal(y, exact))
    else:  # lossy: within the ADC's error bound
        correct = bool(numpy.abs(y - exact).max() <= crossbars.adc_error_bound())
    cost = ReramCostModel().product_cost(crossbars, batch)
    benchmark.extra_info.update(
        correct=correct,
        shape=[batch, K, N],
        adc_bits=config.adc_bits,
        matmul_float32_s=matmul,
        ratio_to_matmul=ratio,
        inherent_products=inherent,
        ratio_to_inherent=ratio / inherent,
        target_ratio_to_inherent=TARGETS[path],
        modelled_latency_s=cost.latency_ns * 1e-9,
        modelled_energy_uj=cost.total_energy_pj * 1e-6,
        modelled_macs_per_s=cost.macs_per_s,
    )
    assert correct
    if not quick:
        assert ratio / inherent <= TARGETS[path], f"{path}: {ratio / inherent:.2f}x, target {TARGETS[path]}x"
