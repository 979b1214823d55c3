"""The benchmarks keep working: run them on small rows and check their JSON (the model
benchmark, marked slow, has its own quick test: tests/test_model_benchmarks.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmarks_run_and_report_ratios(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ, CIM_EMU_BENCH_QUICK="1")
    subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "-q", "-p", "no:cacheprovider", "-m", "not slow",
         f"--benchmark-json={out}"],
        cwd=ROOT, env=env, check=True,
    )
    results = json.loads(out.read_text())["benchmarks"]
    groups = {result["group"].split("-")[0] for result in results}
    assert {"ambit", "reram"} <= groups
    for result in results:
        info = result["extra_info"]
        assert info["correct"] is True and info["rounds"] == 2 and info["threads"] >= 1
        assert {"floor_ratio", "floor_basis", "plausible", "implausible_reason"} <= set(info)
        assert all(value > 0 for key, value in info.items() if key.startswith("ratio"))
