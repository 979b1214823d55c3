"""Benchmark set-up: row size from the environment, the machine in the JSON, and the timers.

The Ambit and ReRAM measurements live in :mod:`cim_emu.studies.benchmarks` (also behind
``cim-emu bench``): the benchmarks here call them with :func:`emulator_timer`, so that
pytest-benchmark times the emulator and the baselines are timed by the same code as there.
The other benchmarks time the emulator with :func:`timed` and their baselines with
:func:`best_time`. Both work with ``--benchmark-disable`` (then :func:`best_time` times).
"""

import os

import pytest

import cim_emu
from cim_emu.backend import cupy_available
from cim_emu.studies import benchmarks


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record what the figures were measured on (CPU, numpy, GPU if any)."""
    measured_on = benchmarks.machine_info("cupy" if cupy_available() else "numpy")
    machine_info["cim_emu_version"] = cim_emu.__version__
    machine_info["numpy_version"] = measured_on["numpy"]
    machine_info["cpu_count"] = measured_on["cpu_count"]
    machine_info["processor"] = measured_on["processor"]
    machine_info["gpu"] = measured_on["device"]


@pytest.fixture(scope="session")
def quick():
    """``CIM_EMU_BENCH_QUICK=1``: small sizes, to check that the benchmarks run (no targets)."""
    return os.environ.get("CIM_EMU_BENCH_QUICK", "") not in ("", "0")


@pytest.fixture(scope="session")
def row_mib(quick):
    """Ambit row size in MiB: ``CIM_EMU_BENCH_MIB``, else 64 (1 when quick)."""
    return int(os.environ.get("CIM_EMU_BENCH_MIB", "1" if quick else "64"))


@pytest.fixture(scope="session")
def best_time():
    """Time a baseline in the same run as the benchmark it is compared with (warm-up, best of N):
    :func:`cim_emu.studies.benchmarks.best_time`."""
    return benchmarks.best_time


@pytest.fixture
def timed(benchmark):
    """``timed(run, rounds)``: ``(run()'s result, seconds)``, pytest-benchmark timing ``rounds``
    rounds after one warm-up round (its figures go to the JSON; the shortest round counts). With
    ``--benchmark-disable`` pytest-benchmark runs it once untimed, and :func:`best_time` takes
    the same ``rounds`` after a warm-up."""
    def measure(run, rounds):
        result = benchmark.pedantic(run, rounds=rounds, warmup_rounds=1)
        if benchmark.stats is None:  # --benchmark-disable
            return result, benchmarks.best_time(run, rounds)
        return result, benchmark.stats.stats.min
    return measure


@pytest.fixture
def emulator_timer(timed):
    """``emulator_timer(rounds)``: a ``timer=`` for :mod:`cim_emu.studies.benchmarks`: the
    emulator's seconds by :func:`timed`."""
    return lambda rounds: lambda run: timed(run, rounds)[1]
