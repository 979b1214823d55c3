"""The GPU-only Python of cim-emu on the CPU: CuPy replaced by tests/fake_cupy.py (numpy arrays
of a device subclass) and CuPy's kernels by the CPU shim. Same cases as tests/test_kernels_gpu.py
at small sizes; each against the numpy backend, bit for bit, with the array kinds checked."""

import numpy
import pytest

from cim_emu.ambit import TraFaultModel, bulk_op
from cim_emu.backend import default_backend
from cim_emu.gpu import cpu_shim
from cim_emu.reram import CrossbarArray
from cim_emu.reram.config import InputEncoding, ReramConfig
from cim_emu.simdram import simdram_op

import fake_cupy
from kernel_cases import (
    FAULTS,
    RERAM_CONFIGS,
    bulk_host_operands_stream,
    crossbar_host_inputs_stream,
    pipeline_against_numpy,
    program_launches,
    recording_launches,
    simdram_host_operands_stream,
)

pytestmark = pytest.mark.skipif(cpu_shim.skip_reason() is not None, reason=str(cpu_shim.skip_reason()))


@pytest.fixture
def gpu():
    """The stand-in device backend (tests/fake_cupy.py)."""
    return fake_cupy.stand_in_backend()


@pytest.mark.parametrize("name", sorted(RERAM_CONFIGS))
def test_crossbars_on_the_gpu_backend_equal_numpy(gpu, np_rng, name):
    got, expected, tensor_cores = pipeline_against_numpy(RERAM_CONFIGS[name], np_rng, gpu, batch=9, method="auto")
    numpy.testing.assert_array_equal(got, expected)
    assert tensor_cores == RERAM_CONFIGS[name].ideal_cells


def test_device_inputs_give_device_outputs(gpu, np_rng):
    crossbars = CrossbarArray(np_rng.integers(-127, 128, (40, 20)), backend=gpu)
    y = crossbars.matmul(gpu.xp.asarray(np_rng.integers(0, 256, (3, 40))))
    assert gpu.owns(y)


@pytest.mark.parametrize("bits, signed", [(8, True), (8, False), (9, True)])
def test_exact_products_on_the_gpu_backend_equal_integer_matmul(gpu, np_rng, bits, signed):
    config = ReramConfig(inputs=InputEncoding(bits, 1, signed=signed))
    got, expected, _ = pipeline_against_numpy(config, np_rng, gpu, batch=5, K=200, N=70, method="auto")
    numpy.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ["lossy-packed", "read-noise"])
def test_host_inputs_past_the_memory_budget_stream(gpu, np_rng, name):
    got, expected = crossbar_host_inputs_stream(RERAM_CONFIGS[name], np_rng, gpu, batch=60)
    numpy.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("packed", [True, False])
def test_bulk_host_operands_past_the_memory_budget_pass_in_slices(gpu, packed):
    got, expected = bulk_host_operands_stream(packed, gpu, n_bits=64 * 300 - 3, pass_words=41)
    numpy.testing.assert_array_equal(got, expected)


def test_simdram_host_operands_past_the_memory_budget_pass_in_slices(gpu, np_rng):
    got, expected = simdram_host_operands_stream(np_rng, gpu, count=10_003)
    numpy.testing.assert_array_equal(got, expected)


def test_device_operands_run_on_the_device(gpu, np_rng):
    a, b = (np_rng.integers(0, 256, 1000) for _ in range(2))
    faults = TraFaultModel(flip_probability=0.01, seed=2)
    rows = [np_rng.integers(0, 2**63, 50, dtype=numpy.uint64) for _ in range(3)]
    with default_backend(gpu):  # the device arrays are followed, as CuPy arrays with "auto"
        got_sum = simdram_op("add", gpu.xp.asarray(a), gpu.xp.asarray(b), bits=8, faults=faults).value
        got_maj = bulk_op("maj", *(gpu.xp.asarray(r) for r in rows), faults=FAULTS).value
    assert gpu.owns(got_sum) and gpu.owns(got_maj)
    numpy.testing.assert_array_equal(got_sum.get(), simdram_op("add", a, b, bits=8, faults=faults,
                                                               backend="numpy").value)
    numpy.testing.assert_array_equal(got_maj.get(), bulk_op("maj", *rows, faults=FAULTS, backend="numpy").value)


@pytest.mark.parametrize("host", [True, False], ids=["host-operands", "device-operands"])
def test_programs_past_the_shared_memory_run_on_the_device_arrays(gpu, np_rng, host):
    """On a device whose blocks hold too few live values for the fused kernel, Ambit and SIMDRAM
    programs are evaluated with the device's arrays instead (host operands passing through it,
    in slices past its memory share; device operands in place): no kernel launch, the numpy
    backend's bits, results of the operands' kind."""
    a, b = (np_rng.integers(0, 256, 3000) for _ in range(2))
    rows = [np_rng.integers(0, 2**63, 70, dtype=numpy.uint64) for _ in range(3)]
    faults = TraFaultModel(flip_probability=0.01, seed=5)
    expected_sum = simdram_op("add", a, b, bits=8, faults=faults, backend="numpy").value
    expected_maj = bulk_op("maj", *rows, faults=FAULTS, backend="numpy").value
    for free_bytes in (2**40, 4000):  # everything in one pass; passes of a few words
        device = recording_launches(fake_cupy.stand_in_backend(free_bytes), shared_bytes_limit=8)
        kind = numpy.asarray if host else device.xp.asarray
        got_sum = simdram_op("add", kind(a), kind(b), bits=8, faults=faults, backend=device).value
        got_maj = bulk_op("maj", *(kind(r) for r in rows), faults=FAULTS, backend=device).value
        assert program_launches(device) == 0
        assert all(device.owns(x) != host for x in (got_sum, got_maj))
        numpy.testing.assert_array_equal(device.to_host(got_sum), expected_sum)
        numpy.testing.assert_array_equal(device.to_host(got_maj), expected_maj)


@pytest.mark.parametrize("capability, tensor_cores", [(75, False), (80, True), (90, True)])
def test_tensor_cores_only_on_devices_that_have_them(np_rng, capability, tensor_cores):
    """A device below compute capability 8.0 (a T4: 7.5) takes the float path for ideal
    crossbars and exact products, never launching the sm_80 tensor-core kernel; same bits."""
    device = recording_launches(fake_cupy.stand_in_backend(compute_capability=capability))
    for name in ("lossy-packed", "signed-adc", "clipped"):
        got, expected, _ = pipeline_against_numpy(RERAM_CONFIGS[name], np_rng, device, batch=6, method="auto")
        numpy.testing.assert_array_equal(got, expected)
    got, expected, _ = pipeline_against_numpy(ReramConfig(), np_rng, device, batch=4, K=60, N=9, method="auto")
    numpy.testing.assert_array_equal(got, expected)
    launched = any(name.startswith("reram_tile_codes<") for name in device.kernels.launched)
    assert launched == tensor_cores


def test_a_kernel_on_a_too_old_gpu_is_a_clear_error(monkeypatch):
    from cim_emu.gpu import cupy_kernels

    monkeypatch.setattr(cupy_kernels, "_device_properties", lambda device: {"major": 7, "minor": 5})
    monkeypatch.setattr(cupy_kernels.CupyKernels, "_device", lambda self: 0)
    with pytest.raises(RuntimeError, match="reram_tile_codes.cu needs a GPU of compute capability 8.0 or newer; "
                                           "device 0 has 7.5"):
        cupy_kernels.CupyKernels().function("reram_tile_codes.cu", "reram_tile_codes<float, true>")
