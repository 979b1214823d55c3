"""Benchmark set-up: row size from the environment, and the machine in the JSON."""

import os
import platform

import numpy
import pytest

import cim_emu
from cim_emu.benchmarks import best_time as best_time_of


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record what the figures were measured on (CPU, numpy, GPU if any)."""
    machine_info["cim_emu_version"] = cim_emu.__version__
    machine_info["numpy_version"] = numpy.__version__
    machine_info["cpu_count"] = os.cpu_count()
    machine_info["processor"] = platform.processor() or platform.machine()
    from cim_emu.backend import cupy_available

    if cupy_available():
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        machine_info["gpu"] = props["name"].decode()
    else:
        machine_info["gpu"] = None


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
    """Time a baseline in the same run as the benchmark it is compared with (warm-up, best of N)."""
    return best_time_of
