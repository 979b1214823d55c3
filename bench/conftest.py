"""Benchmark set-up: sizes and threads from the environment, the machine in the JSON, the driver.

Every benchmark times its baselines and the emulator by :mod:`cim_emu.studies.timing` (the
method of ``cim-emu bench``): interleaved round by round after a warm-up round, medians, threads
pinned and stated, each ratio held against its floor (``plausible`` in ``extra_info``). The
Ambit, ReRAM and model measurements live in :mod:`cim_emu.studies` and the benchmarks here call
them with :func:`driver`, so that pytest-benchmark's figures are the emulator's rounds of the
same measurement. Everything works with ``--benchmark-disable`` (the rounds are then run by
the timing module alone).

Environment: ``CIM_EMU_BENCH_QUICK=1`` small sizes without targets; ``CIM_EMU_BENCH_MIB`` the
Ambit row size; ``CIM_EMU_BENCH_THREADS`` the threads of both sides (default: every usable
core); ``CIM_EMU_BENCH_ROUNDS`` the rounds (default 7).
"""

import os

import pytest

import cim_emu
from cim_emu.backend import cupy_available
from cim_emu.studies import benchmarks, timing


def bench_threads():
    """``CIM_EMU_BENCH_THREADS``, else every usable core."""
    return int(os.environ.get("CIM_EMU_BENCH_THREADS", "0")) or timing.usable_cores()


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record what the figures were measured on (CPU, numpy, GPU if any, threads of both sides)."""
    measured_on = benchmarks.machine_info("cupy" if cupy_available() else "numpy")
    machine_info["cim_emu_version"] = cim_emu.__version__
    machine_info["numpy_version"] = measured_on["numpy"]
    machine_info["cpu_count"] = measured_on["cpu_count"]
    machine_info["processor"] = measured_on["processor"]
    machine_info["gpu"] = measured_on["device"]
    machine_info["threads"] = bench_threads()


@pytest.fixture(scope="session")
def quick():
    """``CIM_EMU_BENCH_QUICK=1``: small sizes, to check that the benchmarks run (no targets)."""
    return os.environ.get("CIM_EMU_BENCH_QUICK", "") not in ("", "0")


@pytest.fixture(scope="session")
def row_mib(quick):
    """Ambit row size in MiB: ``CIM_EMU_BENCH_MIB``, else 64 (1 when quick)."""
    return int(os.environ.get("CIM_EMU_BENCH_MIB", "1" if quick else "64"))


@pytest.fixture(scope="session")
def rounds(quick):
    """Rounds per measurement: ``CIM_EMU_BENCH_ROUNDS``, else 7 (2 when quick)."""
    return int(os.environ.get("CIM_EMU_BENCH_ROUNDS", "2" if quick else str(timing.ROUNDS)))


@pytest.fixture
def threads(benchmark):
    """The pinned thread count of both sides (recorded in ``extra_info``), pinned for the test."""
    with timing.pinned_threads(bench_threads()) as pinned:
        benchmark.extra_info["threads"] = pinned["threads"]
        yield pinned["threads"]


@pytest.fixture
def driver(benchmark):
    """A ``driver=`` for :mod:`cim_emu.studies.timing`: pytest-benchmark runs the rounds (the
    baselines in its untimed ``setup``, the emulator timed), its statistics the emulator's."""
    def run_rounds(run, before, rounds):
        benchmark.pedantic(run, setup=before, rounds=rounds, warmup_rounds=0)
    return run_rounds


@pytest.fixture
def record_timings(benchmark):
    """``record_timings(timings, floor, basis, side=..., baseline=...)``: store a measurement's
    shared keys (:meth:`Timings.record`) in ``extra_info`` with its plausibility against
    ``floor`` (a ratio to the baseline, or ``None``); returns them."""
    def store(timings, floor, basis, **names):
        shared = timings.record(**names)
        shared.update(timing.plausibility(shared["ratio_to_baseline"], floor, basis))
        benchmark.extra_info.update(shared)
        return shared
    return store
