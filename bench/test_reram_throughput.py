"""Crossbar products against a float32 ``numpy.matmul`` of the same shape, in one run.

Configuration (the issue's): 8-bit unsigned inputs and signed weights, 2-bit cells, 1-bit DACs,
128-row crossbars, differential mapping digitised per polarity, batch 256, K = N = 1024.

* lossy (6-bit ADC): the work is inherently ``C x S x 2`` = 8 x 4 x 2 = 64 binary matrix
  products of the full shape (input chunks x weight slices x polarities) plus the ADC and
  shift-and-add; ``ratio_to_inherent`` = time / (64 x matmul time), target <= 1.5;
* lossless (9-bit ADC, ideal devices): one exact integer product; target <= 2 x matmul time;
* signed (the lossy case read by one signed ADC per slice, ``differential_readout="subtract"``):
  one ``W+ - W-`` operand per slice, 32 products, timed beside the per-polarity read in the same
  rounds; target: ``ratio_to_per_polarity`` <= 1.0 (it converts half as often).

``CIM_EMU_BENCH_THREADS=1`` pins both sides to one thread (the issue's one-layer figure).

The measurement is :func:`cim_emu.studies.benchmarks.reram_throughput` (``cim-emu bench``'s:
interleaved rounds, medians, threads pinned, ``plausible`` against the floor: the read's packed
products, 8 x 4 = 32 matmuls, when lossy; one when lossless), with pytest-benchmark driving the
rounds and timing the emulator.
"""

import pytest

from cim_emu.studies.benchmarks import reram_throughput

TARGETS = {"lossy": 1.5, "lossless": 2.0, "signed": 1.5}
#: The signed readout against the per-polarity one, timed in the same rounds.
SIGNED_TARGET = 1.0


@pytest.mark.parametrize("path", ["lossy", "lossless", "signed"])
def test_crossbar_product_against_float_matmul(benchmark, driver, rounds, threads, quick, path):
    batch, K, N = (16, 256, 256) if quick else (256, 1024, 1024)
    benchmark.group = f"reram-{path}-{batch}x{K}x{N}"
    result = reram_throughput(path, batch, K, N, seed=0, backend="numpy", rounds=rounds, threads=threads,
                              driver=driver)

    ratio_to_inherent = result.details["ratio_to_inherent"]
    benchmark.extra_info.update(
        correct=result.correct,
        shape=[batch, K, N],
        adc_bits=result.details["adc_bits"],
        matmul_float32_s=result.baseline_s,
        ratio_to_matmul=result.ratio_to_baseline,
        inherent_products=result.details["inherent_products"],
        ratio_to_inherent=ratio_to_inherent,
        target_ratio_to_inherent=TARGETS[path],
        modelled_latency_s=result.modelled_latency_ns * 1e-9,
        modelled_energy_uj=result.modelled_energy_nj * 1e-3,
        modelled_macs_per_s=result.modelled_per_s,
        **{key: result.details[key] for key in ("per_polarity_s", "ratio_to_per_polarity") if key in result.details},
        **result.method,
    )
    assert result.correct
    if not quick:
        assert result.plausible, result.method["implausible_reason"]
        assert ratio_to_inherent <= TARGETS[path], f"{path}: {ratio_to_inherent:.2f}x, target {TARGETS[path]}x"
        if path == "signed":
            signed = result.details["ratio_to_per_polarity"]
            assert signed <= SIGNED_TARGET, f"signed readout {signed:.2f}x per-polarity, target {SIGNED_TARGET}x"
