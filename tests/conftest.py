"""Shared fixtures: the array backends to test on, and hypothesis profiles."""

import os

import numpy
import pytest
from hypothesis import HealthCheck, settings

from cim_emu.backend import cupy_available

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
