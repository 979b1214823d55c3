"""Shared fixtures: the array backends to test on, the command line, and hypothesis profiles."""

import os
import sys

import numpy
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from cim_emu import backend as backend_module
from cim_emu.backend import cupy_available
from cim_emu.cli import cli

if os.environ.get("CIM_EMU_CUPY_NO_POOL") and cupy_available():  # scripts/gpu_check.sh, under compute-sanitizer
    import cupy

    cupy.cuda.set_allocator(None)  # every array its own cudaMalloc: memcheck sees its bounds

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(
    params=[
        pytest.param("numpy", id="numpy"),
        pytest.param("cupy", id="cupy", marks=pytest.mark.gpu),
    ]
)
def backend(request):
    """Backend name; the CuPy variant is skipped cleanly where no GPU answers."""
    if request.param == "cupy" and not cupy_available():
        pytest.skip("CuPy backend needs CuPy and a CUDA device")
    return request.param


@pytest.fixture
def xp(backend):
    """The array namespace of ``backend``."""
    if backend == "numpy":
        return numpy
    import cupy

    return cupy


@pytest.fixture
def np_rng(request):
    """A numpy Generator for test data, seeded freshly per run; the seed is printed on failure."""
    seed = numpy.random.SeedSequence().entropy % 2**32
    print(f"test data seed: {seed}")
    return numpy.random.default_rng(seed)


@pytest.fixture
def runner():
    try:  # click < 8.2 mixes stderr into stdout unless told not to; 8.2 keeps them apart
        return CliRunner(mix_stderr=False)
    except TypeError:
        return CliRunner()


@pytest.fixture
def invoke(runner):
    """Run ``cim-emu ARGS`` in-process; returns the click Result."""

    def run(*args):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture
def no_gpu(monkeypatch):
    """Make this process look like a machine without CuPy or a CUDA device."""
    monkeypatch.setattr(backend_module, "cupy_available", lambda: False)
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
