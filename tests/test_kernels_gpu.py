"""The CUDA kernels on a GPU (NVRTC through CuPy) against the numpy backend, bit for bit.

The same cases as tests/test_kernels_shim.py at GPU sizes, launched through the same wrappers;
skipped cleanly where CuPy or a CUDA device is missing (run them with scripts/gpu_check.sh).
"""

import numpy
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.gpu
cupy = pytest.importorskip("cupy")

from cim_emu import rng  # noqa: E402
from cim_emu.ambit import OPERATIONS, TraFaultModel, program_for  # noqa: E402
from cim_emu.ambit.compiler import compile_program  # noqa: E402
from cim_emu.ambit.program_encoding import run_program_kernel  # noqa: E402
from cim_emu.backend import cupy_available, get_backend  # noqa: E402
from cim_emu.rng import gpu as rng_gpu  # noqa: E402

from kernel_cases import (  # noqa: E402
    COMMANDS,
    FAULTS,
    RERAM_CONFIGS,
    bulk_host_operands_stream,
    crossbar_host_inputs_stream,
    epilogue_against_numpy,
    kernel_runs_like_fast_executor,
    pipeline_against_numpy,
    program_of,
    random_subarray,
    simdram_host_operands_stream,
    tile_codes_against_numpy,
)

if not cupy_available():
    pytest.skip("no CUDA device answers", allow_module_level=True)


@pytest.fixture(scope="module")
def device():
    """The CuPy backend."""
    return get_backend("cupy")


@pytest.fixture(scope="module")
def kernels(device):
    """CuPy's kernel provider."""
    return device.kernels


@pytest.mark.parametrize("kind", ["uniform", "bernoulli", "normal"])
@pytest.mark.parametrize("start", [0, 3, 2**40 + 1, 2**64 - 3_000_001])
def test_draw_range_equals_rng(kernels, kind, start):
    count = 3_000_001
    p = 0.3
    got = rng_gpu.draw_range(kind, 7, 2**63 + 5, start, count, threshold=rng.bernoulli_threshold(p),
                                    kernels=kernels)
    assert isinstance(got, cupy.ndarray)
    expected = {"uniform": lambda: rng.uniform_uint32(7, 2**63 + 5, start, count),
                "bernoulli": lambda: rng.bernoulli(7, 2**63 + 5, start, count, p),
                "normal": lambda: rng.normal(7, 2**63 + 5, start, count)}[kind]()
    numpy.testing.assert_array_equal(got.get(), expected)


@pytest.mark.parametrize("kind", ["uniform", "bernoulli", "normal"])
@pytest.mark.parametrize(("first", "stride", "length", "runs"), [(2**40 + 3, 8195, 1001, 3001), (0, 8192, 512, 4096),
                                                                 (2**64 - 2**20, 7, 5, 100)])
def test_draw_runs_equals_rng(kernels, kind, first, stride, length, runs):
    got = rng_gpu.draw_runs(kind, 7, 2**63 + 5, first, stride, length, runs, threshold=rng.bernoulli_threshold(0.3),
                            kernels=kernels)
    index = (numpy.uint64(first) + numpy.arange(runs, dtype=numpy.uint64)[:, None] * numpy.uint64(stride)
             + numpy.arange(length, dtype=numpy.uint64))
    expected = {"uniform": lambda: rng.random_uint32(7, 2**63 + 5, index),
                "bernoulli": lambda: rng.bernoulli_at(7, 2**63 + 5, index, 0.3),
                "normal": lambda: rng.normal_at(7, 2**63 + 5, index)}[kind]()
    numpy.testing.assert_array_equal(got.get(), expected)


@pytest.mark.parametrize("kind", ["uniform", "bernoulli", "normal"])
def test_draw_at_equals_rng(kernels, kind, np_rng):
    index = np_rng.integers(0, 2**64, 1_000_003, dtype=numpy.uint64)
    got = rng_gpu.draw_at(kind, 11, 12, cupy.asarray(index), threshold=rng.bernoulli_threshold(0.7),
                                 kernels=kernels)
    expected = {"uniform": lambda: rng.random_uint32(11, 12, index),
                "bernoulli": lambda: rng.bernoulli_at(11, 12, index, 0.7),
                "normal": lambda: rng.normal_at(11, 12, index)}[kind]()
    numpy.testing.assert_array_equal(got.get(), expected)


@pytest.mark.parametrize("op", sorted(OPERATIONS))
@pytest.mark.parametrize("faults", [None, FAULTS, TraFaultModel.ambit_spice(20, seed=5)],
                         ids=["ideal", "faults", "spice"])
@pytest.mark.parametrize("scratch", ["keep", "drop"])
def test_library_programs_equal_the_fast_executor(kernels, op, faults, scratch):
    program = program_for(op, [f"D{i}" for i in range(OPERATIONS[op][0])], "D3")
    for n_bits, lanes in ((64 * 20_011 - 17, None), (64 * 20_011, 1), (129, None)):
        assert kernel_runs_like_fast_executor(random_subarray(n_bits, n_bits, faults), program, scratch, kernels,
                                              lanes=lanes)


@settings(max_examples=40, deadline=None)
@given(commands=st.lists(COMMANDS, min_size=1, max_size=24), n_bits=st.integers(1, 300_000),
       seed=st.integers(0, 2**64 - 1), faulty=st.booleans(), disagree=st.booleans(),
       scratch=st.sampled_from(["keep", "drop"]), block=st.sampled_from([None, 32, 128]))
def test_random_programs_equal_the_fast_executor(kernels, commands, n_bits, seed, faulty, disagree, scratch, block):
    faults = TraFaultModel(flip_probability=0.1, only_when_inputs_disagree=disagree, weak_column_fraction=0.05,
                           seed=seed) if faulty else None
    subarray = random_subarray(n_bits, seed, faults)
    assume(kernel_runs_like_fast_executor(subarray, program_of(commands), scratch, kernels, block=block))


def test_rows_past_2_to_the_32_bits_draw_their_faults_at_64_bit_indices(kernels):
    """A MAJ with faults on rows of 2**33 + 77 bits: the last words (bit indices above 2**33)
    against the fault model evaluated by numpy on those words alone."""
    row_bits = 2**33 + 77
    words = -(-row_bits // 64)
    faults = TraFaultModel(flip_probability=0.25, weak_column_fraction=0.5, seed=3)
    compiled = compile_program(program_for("maj", ["D0", "D1", "D2"], "D3").instructions, 4, True)
    root = compiled.outputs["D3"]
    counter = cupy.arange(words, dtype=numpy.uint64)
    rows = {f"D{i}": (counter + numpy.uint64(i)) * numpy.uint64(0x9E3779B97F4A7C15) for i in range(3)}
    for row in rows.values():
        row ^= row >> numpy.uint64(29)
        row[-1] &= numpy.uint64((1 << (row_bits % 64)) - 1)
    out = cupy.empty(words, dtype=numpy.uint64)
    tra_base = 2**40
    run_program_kernel(compiled, {root}, rows, {root: out}, row_bits, faults=faults, tra_base=tra_base, kernels=kernels)
    tail = slice(words - 4099, words)
    a, b, c = (rows[f"D{i}"][tail].get() for i in range(3))
    expected = (a & b) | (b & c) | (a & c)
    expected ^= faults.flip_words(tra_base + compiled.nodes[root].param, a, b, c, words - 4099, row_bits)
    numpy.testing.assert_array_equal(out[tail].get(), expected)


@pytest.mark.parametrize("name", sorted(RERAM_CONFIGS))
def test_epilogue_equals_the_numpy_pipeline(kernels, np_rng, name):
    got, expected, untouched = epilogue_against_numpy(RERAM_CONFIGS[name], np_rng, kernels, batch=300, N=700)
    numpy.testing.assert_array_equal(got, expected)
    assert untouched


def test_epilogue_at_the_benchmark_configuration(kernels, np_rng):
    """8-bit inputs and weights, 2-bit cells, 1-bit DAC, 8-bit ADC, 128-row tiles (issue 5's
    benchmark configuration), on a block of 256 batch rows and 1024 weight columns."""
    from cim_emu.reram.config import AdcConfig, ReramConfig

    config = ReramConfig(adc=AdcConfig(bits=8))
    got, expected, untouched = epilogue_against_numpy(config, np_rng, kernels, batch=256, K=1024, N=1024, n0=0)
    numpy.testing.assert_array_equal(got, expected)
    assert untouched


@pytest.mark.parametrize("tiles, rows, columns, depth, first_column", [
    (1, 16, 8, 64, 0), (3, 1000, 777, 128, 9), (8, 4100, 300, 128, 64), (1, 5, 3, 4096, 1)])
def test_tensor_core_kernel_sums_equal_integer_matmul(kernels, np_rng, tiles, rows, columns, depth, first_column):
    got, expected = tile_codes_against_numpy(kernels, np_rng, tiles=tiles, rows=rows, columns=columns, depth=depth,
                                             first_column=first_column, extra_columns=3)
    numpy.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", sorted(RERAM_CONFIGS))
def test_pipeline_on_the_gpu_equals_numpy(device, np_rng, name):
    """CrossbarArray on CuPy (tensor cores where it qualifies, else cuBLAS and the epilogue)."""
    got, expected, tensor_cores = pipeline_against_numpy(RERAM_CONFIGS[name], np_rng, device, batch=300, N=700)
    numpy.testing.assert_array_equal(got, expected)
    assert tensor_cores == RERAM_CONFIGS[name].ideal_cells


@pytest.mark.parametrize("bits, signed", [(8, True), (8, False), (9, True)])
def test_exact_product_on_the_gpu_equals_integer_matmul(device, np_rng, bits, signed):
    from cim_emu.reram.config import InputEncoding, ReramConfig

    config = ReramConfig(inputs=InputEncoding(bits, 1, signed=signed))
    got, expected, _ = pipeline_against_numpy(config, np_rng, device, batch=513, K=3000, N=1000, method="auto")
    numpy.testing.assert_array_equal(got, expected)


def test_pipeline_at_the_benchmark_configuration(device, np_rng):
    """Issue 5's benchmark configuration (8-bit ADC) at batch 256, K = N = 1024, through tensor cores."""
    from cim_emu.reram.config import AdcConfig, ReramConfig

    got, expected, tensor_cores = pipeline_against_numpy(ReramConfig(adc=AdcConfig(bits=8)), np_rng, device,
                                                         batch=256, K=1024, N=1024)
    numpy.testing.assert_array_equal(got, expected)
    assert tensor_cores


@pytest.mark.parametrize("name", ["lossy-packed", "read-noise"])
def test_host_inputs_past_the_memory_budget_stream_through_the_gpu(device, np_rng, name):
    """Host inputs that do not fit the (here shrunk) memory budget pass in blocks of rows, with
    the bits of one pass; the result comes back to the host."""
    got, expected = crossbar_host_inputs_stream(RERAM_CONFIGS[name], np_rng, device)
    numpy.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("packed", [True, False])
def test_host_operands_past_the_memory_budget_pass_through_the_gpu_in_slices(device, packed):
    """bulk_op on the CuPy backend with host operands that do not fit the (here shrunk) budget:
    slices of 999 words, the bits of one run, faults included; the result comes back to the host."""
    got, expected = bulk_host_operands_stream(packed, device)
    numpy.testing.assert_array_equal(got, expected)


def test_simdram_host_operands_past_the_memory_budget_pass_through_the_gpu(device, np_rng):
    got, expected = simdram_host_operands_stream(np_rng, device)
    numpy.testing.assert_array_equal(got, expected)
