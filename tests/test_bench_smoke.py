"""The benchmarks keep working: run them on small rows and check their JSON."""

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
    env = dict(os.environ, CIM_EMU_BENCH_MIB="1")
    subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "-q", "-p", "no:cacheprovider", f"--benchmark-json={out}"],
        cwd=ROOT, env=env, check=True,
    )
    results = json.loads(out.read_text())["benchmarks"]
    assert len(results) == 4
    for result in results:
        info = result["extra_info"]
        assert info["correct"] and info["ratio_to_numpy"] > 0 and info["ratio_to_numpy_in_place"] > 0
