"""Whole models on emulated crossbars against the same float model, in one run (slow).

:func:`cim_emu.studies.model_benchmarks.model_benchmark` (also ``cim-emu bench --engine models``):
a CIFAR-style ResNet-18 (eval at batch 32, ideal and ``reram_wan2022`` devices; one training step
with ``reram_wan2022`` at ``CIM_EMU_BENCH_TRAIN_BATCH``, default 32) and a transformer block
(batch 8 x 128 x 256, 4 heads, FFN 1024, every projection on crossbars; ideal and
``reram_wan2022``), converted with ISAAC-like defaults (8-bit ADC, 2-bit cells, 1-bit DAC,
128-row tiles), input scales and ADC full scales calibrated (``adc="max"``). The float model and
the emulated one run interleaved round by round (pytest-benchmark times the emulator), medians
of 7 rounds (however long a run takes: ``rounds_rule``), threads pinned; beside
the times: CPU time, peak resident memory of each side in a fresh process, and the relative
output error against float. Everything lands in ``extra_info`` (the record of ``cim-emu bench
--engine models``; targets are not asserted: the issue's are ratios to reach, see README).

Run (minutes to hours, on a quiet machine)::

    pytest bench/test_models.py --benchmark-json bench/results/<machine>-models.json

``CIM_EMU_BENCH_QUICK=1``: batch 2, 2 rounds (a check that it runs). ``CIM_EMU_BENCH_DEVICE=cuda``
runs the models on the GPU (the crossbars on CuPy; ``scripts/gpu_check.sh`` does this).
"""

import math
import os

import pytest

torch = pytest.importorskip("torch")

from cim_emu.studies.model_benchmarks import TRAIN_BATCH, default_cases, model_benchmark  # noqa: E402

pytestmark = pytest.mark.slow

DEVICE = os.environ.get("CIM_EMU_BENCH_DEVICE", "cpu")
TRAIN = int(os.environ.get("CIM_EMU_BENCH_TRAIN_BATCH", str(TRAIN_BATCH)))


@pytest.fixture(scope="module")
def cases(quick):
    return {case.name: case for case in default_cases(quick, TRAIN)}


@pytest.mark.parametrize("name", [case.name for case in default_cases()])
def test_model_against_float(benchmark, driver, rounds, threads, quick, cases, name):
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("CIM_EMU_BENCH_DEVICE=cuda but torch sees no CUDA device")
    case = cases[name]
    benchmark.group = f"model-{name}-batch{case.batch}"
    record = model_benchmark(case, rounds=rounds, threads=threads, device=DEVICE, driver=driver)
    benchmark.extra_info.update(record)
    assert math.isfinite(record["relative_error"])
    if case.devices == "ideal":  # 8-bit weights and inputs, calibrated 8-bit ADC: a few per cent
        assert record["relative_error"] < 0.5, record["relative_error"]
    if not quick:
        assert record["plausible"], record["implausible_reason"]
