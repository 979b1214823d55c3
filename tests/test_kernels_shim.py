"""The CUDA kernels of kernels/, run on the CPU through the shim, against the numpy backend, bit for bit.

Every kernel is compiled by the host C++ compiler from the very source NVRTC compiles
(:mod:`cim_emu.gpu.cpu_shim`) and launched through the same wrappers the CuPy backend uses
(:mod:`cim_emu.rng.gpu`, :mod:`cim_emu.ambit.gpu`, :mod:`cim_emu.reram.gpu`), on small random
cases and with small, varied grids so that the grid-stride loops go round several times. The last
tests compile every source with nvcc for sm_80 and sm_90 and check the resource report (no
spills, no stack).
"""

import dataclasses
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cim_emu import rng
from cim_emu.ambit import OPERATIONS, TraFaultModel, program_for
from cim_emu.ambit import gpu as ambit_gpu
from cim_emu.ambit.compiler import compile_program
from cim_emu.ambit.fast import evaluate
from cim_emu.ambit.program_encoding import encode_program, fits_shared_memory, run_program_kernel
from cim_emu.backend import Backend
from cim_emu.bits import random_row
from cim_emu.gpu import KERNELS, cpu_shim
from cim_emu.gpu.sources import inline_includes
from cim_emu.reram import gpu as reram_gpu
from cim_emu.reram.adc import Adc
from cim_emu.reram.config import InputEncoding, ReramConfig
from cim_emu.rng import gpu as rng_gpu

from kernel_cases import (
    COMMANDS,
    DATA_ROWS,
    FAULTS,
    POISON,
    RERAM_CONFIGS,
    LaunchRecorder,
    assert_same_state,
    crossbar_for,
    epilogue_against_numpy,
    kernel_runs_like_fast_executor,
    pipeline_against_numpy,
    program_launches,
    program_of,
    random_subarray,
    recording_launches,
    tile_codes_against_numpy,
)

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(cpu_shim.skip_reason() is not None, reason=str(cpu_shim.skip_reason()))


@pytest.fixture(scope="module")
def kernels():
    return cpu_shim.CpuKernels(multiprocessors=1)


@pytest.fixture(scope="module")
def shim(kernels):
    """numpy arrays with the CPU shim's kernels: the GPU dispatch of every engine, on the host."""
    return Backend("numpy", numpy, kernels)


def test_each_source_registers_exactly_the_kernels_the_loader_names(kernels):
    for filename, names in KERNELS.items():
        assert sorted(kernels.kernel_names(filename)) == sorted(names)


def test_arguments_are_checked_against_the_kernel_signature(kernels):
    with pytest.raises(TypeError, match="numpy.uint64"):  # a Python int would reach CUDA as int64
        kernels.function("philox_draws.cu", "philox_range<cim::UniformDraw>")(
            (1,), (32,), (1, numpy.uint64(0), numpy.uint64(0), numpy.uint64(1), numpy.uint64(0), None,
                          numpy.empty(1, numpy.uint32)))
    with pytest.raises(TypeError, match="dtype int32"):  # an int32 output where the kernel writes uint32
        kernels.function("philox_draws.cu", "philox_range<cim::UniformDraw>")(
            (1,), (32,), (*(numpy.uint64(0),) * 5, None, numpy.empty(1, numpy.int32)))
    with pytest.raises(KeyError):
        kernels.function("philox_draws.cu", "philox_range<cim::Missing>")


# -- the counter-based generator ------------------------------------------------------------

SEEDS = st.integers(0, 2**64 - 1)
DRAWS = st.sampled_from(["uniform", "bernoulli", "normal"])
PROBABILITIES = st.sampled_from([0.0, 2**-40, 0.01, 0.5, 0.999, 1.0])


def numpy_draws(kind, seed, stream, start, count, p):
    if kind == "uniform":
        return rng.uniform_uint32(seed, stream, start, count)
    if kind == "bernoulli":
        return rng.bernoulli(seed, stream, start, count, p)
    return rng.normal(seed, stream, start, count)


@given(kind=DRAWS, seed=SEEDS, stream=SEEDS, start=st.one_of(st.integers(0, 40), st.integers(0, 2**64 - 1)),
       count=st.integers(0, 300), p=PROBABILITIES, grid=st.integers(1, 3))
def test_draw_range_equals_rng(kernels, kind, seed, stream, start, count, p, grid):
    count = min(count, 2**64 - start)
    got = rng_gpu.draw_range(kind, seed, stream, start, count, threshold=rng.bernoulli_threshold(p),
                                    kernels=kernels, grid=grid)
    expected = numpy_draws(kind, seed, stream, start, count, p)
    assert got.dtype == expected.dtype
    numpy.testing.assert_array_equal(got, expected)


@given(kind=DRAWS, seed=SEEDS, stream=SEEDS, index=st.lists(st.integers(0, 2**64 - 1), max_size=40),
       p=PROBABILITIES)
def test_draw_at_equals_rng(kernels, kind, seed, stream, index, p):
    index = numpy.array(index, dtype=numpy.uint64)
    got = rng_gpu.draw_at(kind, seed, stream, index, threshold=rng.bernoulli_threshold(p), kernels=kernels,
                                 grid=1)
    at = {"uniform": lambda: rng.random_uint32(seed, stream, index),
          "bernoulli": lambda: rng.bernoulli_at(seed, stream, index, p),
          "normal": lambda: rng.normal_at(seed, stream, index)}
    numpy.testing.assert_array_equal(got, at[kind]())


@pytest.mark.parametrize("start", [0, 1, 2, 3, 4, 2**64 - 13])
@pytest.mark.parametrize("count", [0, 1, 3, 4, 5, 12, 13])
def test_draws_write_only_their_range(kernels, start, count):
    """Each element once, and nothing outside ``out[:count]`` (a guard band stays poisoned)."""
    out = numpy.full(count + 8, 0xA5A5A5A5, dtype=numpy.uint32)
    kernels.function("philox_draws.cu", "philox_range<cim::UniformDraw>")(
        (1,), (32,), (numpy.uint64(5), numpy.uint64(6), numpy.uint64(start), numpy.uint64(count), numpy.uint64(0),
                      None, out))
    numpy.testing.assert_array_equal(out[:count], rng.uniform_uint32(5, 6, start, count))
    assert (out[count:] == 0xA5A5A5A5).all()


def test_draws_cover_the_normal_tails_and_whole_quads(kernels):
    """A long aligned range (vector stores) whose normal draws reach both tails of the table."""
    got = rng_gpu.draw_range("normal", 3, 1, 0, 4 * 2**16, kernels=kernels)
    expected = rng.normal(3, 1, 0, 4 * 2**16)
    numpy.testing.assert_array_equal(got, expected)
    assert got.min() < -3.8 and got.max() > 3.8


# -- Ambit: the fused program kernel --------------------------------------------------------

@pytest.mark.parametrize("op", sorted(OPERATIONS))
@pytest.mark.parametrize("faults", [None, FAULTS, TraFaultModel.ambit_spice(25, seed=4)],
                         ids=["ideal", "faults", "spice"])
def test_library_programs_equal_the_fast_executor(kernels, op, faults):
    program = program_for(op, [f"D{i}" for i in range(OPERATIONS[op][0])], "D3")
    for n_bits, scratch, lanes, grid in ((1, "keep", None, None), (63, "drop", 1, 1), (64, "keep", 2, 2),
                                         (65, "drop", None, 1), (1000, "keep", 1, 3), (4097, "drop", 2, 1)):
        assert kernel_runs_like_fast_executor(random_subarray(n_bits, n_bits, faults), program, scratch, kernels,
                                              lanes=lanes, grid=grid)


@given(commands=st.lists(COMMANDS, min_size=1, max_size=16), n_bits=st.sampled_from([1, 64, 65, 200, 1000]),
       seed=SEEDS, faulty=st.booleans(), disagree=st.booleans(), p=st.sampled_from([0.05, 0.5, 1.0]),
       scratch=st.sampled_from(["keep", "drop"]), lanes=st.sampled_from([None, 1, 2]),
       block=st.sampled_from([None, 32, 64]), grid=st.integers(1, 3), tra_base=st.integers(0, 2**40))
def test_random_programs_equal_the_fast_executor(kernels, commands, n_bits, seed, faulty, disagree, p, scratch,
                                                 lanes, block, grid, tra_base):
    faults = TraFaultModel(flip_probability=p, only_when_inputs_disagree=disagree, weak_column_fraction=0.2,
                           seed=seed) if faulty else None
    subarray = random_subarray(n_bits, seed, faults)
    subarray._interpreter.tra_count = tra_base  # as if earlier programs had run
    assume(kernel_runs_like_fast_executor(subarray, program_of(commands), scratch, kernels, lanes=lanes, block=block,
                                          grid=grid))


def test_an_output_row_may_be_an_input_row(kernels):
    """In place: every thread loads its words of all inputs before it stores any."""
    n_bits = 64 * 9 + 5
    subarray = random_subarray(n_bits, 1)
    compiled = compile_program(program_for("xor", ["D0", "D1"], "D2").instructions, DATA_ROWS, False)
    root = compiled.outputs["D2"]
    a, b = subarray.read_words("D0"), subarray.read_words("D1")
    expected = a ^ b
    run_program_kernel(compiled, {root}, {"D0": a, "D1": b}, {root: a}, n_bits, faults=TraFaultModel(), tra_base=0,
                       kernels=kernels, grid=1)
    numpy.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("lanes", [None, 1])
def test_the_kernel_on_slices_gives_the_bits_of_whole_rows(kernels, np_rng, lanes):
    """Words word_offset .. of every row (one pass of work larger than a GPU's memory) draw
    their faults and clear their padding at the global word index."""
    n_bits, words = 64 * 45 - 7, 45
    compiled = compile_program(program_for("maj", ["D0", "D1", "D2"], "D3").instructions, 4, True)
    root = compiled.outputs["D3"]
    seed = int(np_rng.integers(2**63))
    rows = {f"D{i}": random_row(seed, i, n_bits) for i in range(3)}
    whole = numpy.empty(words, numpy.uint64)
    run_program_kernel(compiled, {root}, rows, {root: whole}, n_bits, faults=FAULTS, tra_base=7, kernels=kernels,
                       lanes=lanes)
    expected = evaluate(compiled, {root}, rows, n_bits, backend=Backend("numpy", numpy), faults=FAULTS,
                        tra_base=7)[root]
    numpy.testing.assert_array_equal(whole, expected)
    for w0, w1 in ((0, 10), (10, 11), (11, 44), (44, 45), (3, 45)):
        part = numpy.full(w1 - w0, POISON)
        slices = {row: numpy.ascontiguousarray(value[w0:w1]) for row, value in rows.items()}
        run_program_kernel(compiled, {root}, slices, {root: part}, n_bits, faults=FAULTS, tra_base=7, word_offset=w0,
                           kernels=kernels, lanes=lanes)
        numpy.testing.assert_array_equal(part, whole[w0:w1], err_msg=f"words {w0}..{w1}")
    with pytest.raises(ValueError, match="word_offset"):
        run_program_kernel(compiled, {root}, rows, {root: whole}, n_bits, faults=FAULTS, tra_base=7, word_offset=45,
                           kernels=kernels)
    with pytest.raises(ValueError, match="rows must hold"):
        run_program_kernel(compiled, {root}, rows, {root: whole}, n_bits, faults=FAULTS, tra_base=7, word_offset=1,
                           kernels=kernels)


def test_encoding_is_made_once_per_program_and_roots():
    compiled = compile_program(program_for("xor", ["D0", "D1"], "D2").instructions, 3, False)
    roots = {compiled.outputs["D2"]}
    assert encode_program(compiled, roots) is encode_program(compiled, set(roots))


def test_encoding_reads_live_rows_once_and_reuses_scratch_slots():
    compiled = compile_program(program_for("xor", ["D0", "D1"], "D2").instructions, DATA_ROWS, True)
    roots = {compiled.outputs["D2"]}
    encoded = encode_program(compiled, roots)
    assert encoded.input_rows == ("D0", "D1")
    assert encoded.output_nodes == tuple(roots)
    columns = dict(zip(("op", "a", "b", "c", "out", "store", "tra"), encoded.instructions.T))
    is_maj = columns["op"] == 4  # with faults every TRA stays a MAJ keyed by its ordinal
    assert sorted(columns["tra"][is_maj]) == list(range(compiled.tra_count)) and (columns["tra"][~is_maj] == -1).all()
    assert encoded.n_slots < 2 + 2 + 1 + len(encoded.instructions)  # scratch slots are recycled
    assert (columns["out"] >= 2 + len(encoded.input_rows)).all()  # constants and inputs are never written
    with pytest.raises(ValueError, match="computed nodes"):
        row_node = next(i for i, n in enumerate(compiled.nodes) if n.op == "row")
        encode_program(compiled, {compiled.outputs["T0"]} | {row_node})


def test_launch_shape_follows_alignment_and_live_values(kernels):
    rows = [numpy.zeros(9, numpy.uint64) for _ in range(3)]
    assert ambit_gpu.ambit_program_launch(5, rows, kernels)[:2] == (2, 256)
    assert ambit_gpu.ambit_program_launch(5, rows + [rows[0][1:]], kernels)[0] == 1  # an 8-byte offset
    lanes, block, shared = ambit_gpu.ambit_program_launch(100, rows, kernels)
    assert (lanes, block) == (2, 32) and shared == 100 * 16 * 32
    with pytest.raises(ValueError, match="live"):
        ambit_gpu.ambit_program_launch(10_000, rows, kernels)
    limit = kernels.shared_bytes_limit  # two words a thread do not fit, one does: one lane
    n_slots = limit // (8 * 32)
    assert ambit_gpu.ambit_program_launch(n_slots, rows, kernels) == (1, 32, 8 * 32 * n_slots)
    assert ambit_gpu.ambit_program_fits(n_slots, kernels) and not ambit_gpu.ambit_program_fits(n_slots + 1, kernels)


@pytest.mark.parametrize("op", ["xor", "maj"])
def test_programs_past_the_shared_memory_run_on_the_array_path(kernels, op):
    """Whether a program fits the kernel's shared memory is decided before launching: on a
    provider with one byte too few for its live values it is evaluated with array operations on
    that backend (no kernel launch), with the bits of the reference executor; with enough, the
    kernel runs it."""
    arity = OPERATIONS[op][0]
    program = program_for(op, [f"D{i}" for i in range(arity)], "D3")
    compiled = compile_program(program.instructions, DATA_ROWS, FAULTS.enabled)
    encoded = encode_program(compiled, {node for node in compiled.outputs.values()
                                        if compiled.nodes[node].op not in ("row", "const")})
    needed = ambit_gpu.ambit_program_launch(encoded.n_slots, [], kernels, lanes=1)[2]
    assert fits_shared_memory(encoded, LaunchRecorder(kernels, needed))
    assert not fits_shared_memory(encoded, LaunchRecorder(kernels, needed - 1))
    reference = random_subarray(64 * 70 + 9, 3, FAULTS)
    reference.run(program, executor="reference")
    for limit, launches in ((needed - 1, 0), (needed, 1)):
        shim = recording_launches(Backend("numpy", numpy, kernels), shared_bytes_limit=limit)
        subarray = random_subarray(64 * 70 + 9, 3, FAULTS, backend=shim)
        subarray.run(program, chunk_words=16, threads=2)
        assert program_launches(subarray.backend) == launches
        assert_same_state(subarray.state(), reference.state())
        assert subarray.tra_count == reference.tra_count


# -- ReRAM: the ADC and shift-and-add epilogue ------------------------------------------------

def test_reram_cases_cover_every_path_of_the_epilogue(np_rng):
    pipelines = [crossbar_for(config, np_rng).pipeline for config in RERAM_CONFIGS.values()]
    assert any(p.packing.factor > 1 for p in pipelines)
    assert any(p.prescaled and p.sum_dtype == numpy.float32 for p in pipelines)
    assert any(p.prescaled and p.sum_dtype == numpy.float64 for p in pipelines)
    assert any(p.config.signed_adc and p.sigma_squared is not None for p in pipelines)
    assert any(not p.config.signed_adc and p.sigma_squared is not None for p in pipelines)
    assert any(p.config.mapping.uses_reference_columns for p in pipelines)
    assert any(p.saturates and p.config.devices.ideal for p in pipelines)
    assert any(p.sum_dtype == numpy.float32 and p.adc.dtype == numpy.float64 for p in pipelines)


@pytest.mark.parametrize("name", sorted(RERAM_CONFIGS))
@pytest.mark.parametrize("grid", [None, (1, 2)], ids=["default-grid", "tiny-grid"])
def test_epilogue_equals_the_numpy_pipeline(kernels, np_rng, name, grid):
    got, expected, untouched = epilogue_against_numpy(RERAM_CONFIGS[name], np_rng, kernels, grid=grid)
    numpy.testing.assert_array_equal(got, expected)
    assert untouched


#: (levels Q, full scale FS, fraction bits F). With these divisors floor(u * (1 / divisor))
#: misses the exact floor by one in both directions - (7, 14, 0) below exact negative multiples,
#: (255, 27383, 0) at u = 13636733 = 249 * 54766 - 1 - which the kernel's correction step fixes.
ADC_CASES = [(1, 1, 0), (7, 14, 0), (15, 48, 0), (31, 20, 0), (255, 384, 0), (63, 1000, 5), (127, 12345, 0),
             (255, 3 * 2**10, 16), (2**20 - 1, 3, 0), (255, 27383, 0), (2**20 - 1, 2**31, 0)]


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("mode", ["unsigned", "unsaturated", "prescaled", "signed"])
def test_adc_transfer_equals_numpy_on_every_partial_sum(kernels, np_rng, dtype, mode):
    """The epilogue reduced to one conversion per accumulator (one tile, chunk, slice, polarity),
    across each ADC's range and past it on both sides (clipping, or none), at every multiple of
    the divisor and its neighbours (the exact floor), in float32 and float64."""
    exact_below = 2**24 if dtype == numpy.float32 else 2**53
    saturates = mode != "unsaturated"
    for levels, full_scale, fraction_bits in ADC_CASES:
        adc = Adc.build(levels, full_scale, fraction_bits, mode == "signed", dtype)
        span = min(int(1.25 * full_scale * 2**fraction_bits) + 2, (exact_below - 1 - adc.bias) // adc.scale)
        if span < full_scale * 2**fraction_bits:
            continue  # this ADC is not exact in this float type over its range
        multiples = numpy.arange(-span * adc.scale // adc.divisor - 1, (span * adc.scale + adc.bias) // adc.divisor + 2)
        if multiples.size > 3000:
            multiples = np_rng.choice(multiples, 3000, replace=False)
        near_steps = ((multiples * adc.divisor - adc.bias) // adc.scale)[:, None] + numpy.arange(-1, 2)
        everywhere = numpy.arange(-span, span + 1) if span < 5000 else np_rng.integers(-span, span + 1, 5000)
        p = numpy.unique(numpy.concatenate([everywhere, near_steps.reshape(-1)]))
        p = p[numpy.abs(p) <= span].astype(dtype)
        sums = p * adc.scale + adc.bias if mode == "prescaled" else p
        entries = numpy.stack([sums, numpy.zeros_like(sums)], axis=-1) if mode == "signed" else sums[:, None]
        acc = numpy.empty((p.size, 1), numpy.int64)
        reram_gpu.reram_adc_shift_add(
            numpy.ascontiguousarray(entries.reshape(1, p.size, -1)), acc, adc, tiles=1, chunks=1,
            width=entries.shape[1], pack=1, pack_bits=1, polarities=2 if mode == "signed" else 1, slices=1,
            bits_per_cell=1, dac_bits=1, prescaled=mode == "prescaled", saturates=saturates, kernels=kernels)
        expected = adc.convert(sums.copy(), numpy, prescaled=mode == "prescaled", saturates=saturates)
        numpy.testing.assert_array_equal(acc[:, 0], expected.astype(numpy.int64), err_msg=str(adc))


# -- ReRAM: int8 tensor cores with the ADC fused in ---------------------------------------------

@pytest.mark.parametrize("tiles, rows, columns, depth, first_column, grid", [
    (1, 16, 8, 64, 0, None),  # one mma tile's worth
    (3, 70, 130, 128, 9, None),  # partial blocks in both directions, a column window
    (2, 129, 65, 192, 3, (1, 1)),  # one block striding over the whole grid
    (1, 1, 1, 64, 63, None),
], ids=["one-tile", "partial-blocks", "grid-stride", "single"])
def test_tensor_core_kernel_sums_equal_integer_matmul(kernels, np_rng, tiles, rows, columns, depth, first_column,
                                                      grid):
    """Full-range int8 operands: every element of the mma fragments (the ISA's layout, emulated
    in cuda_shim.h) lands where the kernel's indexing says, across blocks and tiles."""
    got, expected = tile_codes_against_numpy(kernels, np_rng, tiles=tiles, rows=rows, columns=columns, depth=depth,
                                             first_column=first_column, extra_columns=5, grid=grid)
    numpy.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("adc", [Adc.build(15, 48, 0, False, numpy.float32), Adc.build(7, 100, 0, True, numpy.float64),
                                 Adc.build(255, 2000, 0, False, numpy.float64)], ids=["lossy", "signed", "clipping"])
def test_tensor_core_kernel_converts_each_tile_with_the_adc(kernels, np_rng, adc):
    got, expected = tile_codes_against_numpy(kernels, np_rng, tiles=3, rows=40, columns=24, depth=128, adc=adc)
    numpy.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("adc", [None, Adc.build(15, 48, 0, False, numpy.float32),
                                 Adc.build(7, 100, 0, True, numpy.float64)], ids=["raw", "float", "double"])
@pytest.mark.parametrize("tiles, rows, columns, depth, grid", [
    (1, 130, 70, 192, (1, 1)),  # 3 stages an output tile (odd), 6 output tiles for the one block
    (5, 65, 129, 64, (2, 1)),  # 5 crossbar tiles of one stage each, 3 output tiles for 2 blocks
], ids=["odd-stages", "many-tiles"])
def test_tensor_core_kernel_stages_overlap_across_tiles_and_blocks(kernels, np_rng, tiles, rows, columns, depth,
                                                                    grid, adc):
    """The staging pipeline of each instance: two buffers, the next stage's cp.async copies in
    flight while the warps compute on the current one (the shim poisons a copy's destination
    until the wait that completes it), across crossbar tiles and across the output tiles a block
    strides over, with an odd count of stages an output tile (its last stage and the next one's
    first would share a buffer if the kernel restarted the alternation); rows and columns not
    multiples of 64."""
    got, expected = tile_codes_against_numpy(kernels, np_rng, tiles=tiles, rows=rows, columns=columns, depth=depth,
                                             first_column=2, extra_columns=3, adc=adc, grid=grid)
    numpy.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", sorted(RERAM_CONFIGS))
def test_pipeline_through_the_kernels_equals_numpy(shim, np_rng, name):
    """The whole GPU dispatch of CrossbarArray (tensor cores where the crossbar qualifies, else
    float products and the epilogue kernel), run on the CPU shim, against the numpy pipeline."""
    got, expected, tensor_cores = pipeline_against_numpy(RERAM_CONFIGS[name], np_rng, shim)
    numpy.testing.assert_array_equal(got, expected)
    assert tensor_cores == RERAM_CONFIGS[name].ideal_cells


@pytest.mark.parametrize("bits, signed, tensor_cores", [(8, True, True), (8, False, True), (9, True, False)])
def test_exact_product_through_the_kernels_equals_integer_matmul(kernels, shim, np_rng, bits, signed, tensor_cores):
    """The lossless noiseless crossbar's single product: one int8 tensor-core product for 8-bit
    inputs (unsigned ones shifted by 128 and corrected), float products otherwise; all equal x @ W."""
    config = ReramConfig(inputs=InputEncoding(bits, 1, signed=signed))
    assert config.exact
    got, expected, _ = pipeline_against_numpy(config, np_rng, shim, batch=9, K=200, N=70, method="auto")
    numpy.testing.assert_array_equal(got, expected)
    recorder = LaunchRecorder(kernels)
    pipeline_against_numpy(config, np_rng, Backend("numpy", numpy, recorder), batch=2, K=70, N=5, method="auto")
    assert recorder.launched.count("reram_tile_codes<float, false>") == (1 if tensor_cores else 0)


@pytest.mark.parametrize("polarities, code_bound", [(2, 255), (1, 2**23 - 1), (2, 2**26)],
                         ids=["float", "float-limit", "double"])
def test_shift_and_add_of_codes_equals_its_formula(kernels, np_rng, polarities, code_bound):
    chunks, slices, batch, columns, bpc, dac = 3, 2, 5, 7, 2, 1
    codes = np_rng.integers(-code_bound, code_bound + 1, (chunks * batch, columns * polarities * slices),
                            dtype=numpy.int32)
    acc = numpy.full((batch, columns + 3), -1, numpy.int64)
    reram_gpu.reram_shift_add_codes(codes, acc[:, 1:1 + columns], chunks=chunks, polarities=polarities,
                                         slices=slices, bits_per_cell=bpc, dac_bits=dac, code_bound=code_bound,
                                         kernels=kernels)
    cell_weights = numpy.array([sign * 2 ** (s * bpc) for sign in [1, -1][:polarities] for s in range(slices)])
    expected = numpy.einsum("cbnj,j,c->bn", codes.reshape(chunks, batch, columns, -1).astype(numpy.int64),
                            cell_weights, 2 ** (numpy.arange(chunks) * dac))
    numpy.testing.assert_array_equal(acc[:, 1:1 + columns], expected)
    assert (acc[:, 0] == -1).all() and (acc[:, 1 + columns:] == -1).all()


def test_tensor_core_kernel_rejects_operands_it_cannot_read(kernels):
    inputs, cells = numpy.zeros((1, 4, 64), numpy.int8), numpy.zeros((1, 6, 64), numpy.int8)
    codes = numpy.zeros((4, 6), numpy.int32)
    with pytest.raises(ValueError, match="inputs must be"):
        reram_gpu.reram_tile_codes(inputs.astype(numpy.int16), cells, codes, None, kernels=kernels)
    with pytest.raises(ValueError, match="multiple of 64"):
        reram_gpu.reram_tile_codes(inputs[..., :48].copy(), cells[..., :48].copy(), codes, None, kernels=kernels)
    with pytest.raises(ValueError, match="first_column"):
        reram_gpu.reram_tile_codes(inputs, cells, codes, None, first_column=1, kernels=kernels)


def read_noise_reference(seed, stream, first, stride, length, runs, roots, per_element, inner, outer_step,
                         inner_step, post, size):
    """``kernels/reram_read_noise.cu`` as its header states it, one draw at each element's index."""
    out = numpy.full(size, numpy.nan)
    for r in range(runs):
        offset = (r // inner) * outer_step + (r % inner) * inner_step
        z = rng.normal_at(seed, stream, numpy.arange(length, dtype=numpy.uint64) + numpy.uint64(first + r * stride))
        root = roots[offset:offset + length] if per_element else roots[r]
        out[offset:offset + length] = numpy.rint(root * z) * post
    return out


@given(seed=SEEDS, stream=SEEDS, first=st.one_of(st.integers(0, 40), st.integers(2**63, 2**63 + 40)),
       length=st.integers(1, 150), gap=st.integers(0, 9), inner=st.integers(1, 5), outer=st.integers(1, 4),
       per_element=st.booleans(), post=st.sampled_from([1.0, 3.0, 0.5]),
       launch=st.sampled_from([(1, 1), (2, 32), (None, 256)]))
def test_read_noise_kernel_draws_scales_and_places_like_its_definition(
        kernels, seed, stream, first, length, gap, inner, outer, per_element, post, launch):
    """Any grid (one host thread walks the runs in lanes of counter blocks), both root layouts,
    runs written in another order than drawn - as Pipeline.read_noise lays them out."""
    runs, stride = inner * outer, length + gap
    size = runs * length
    local = numpy.random.default_rng(seed % 2**32)
    roots = local.uniform(0, 300, size if per_element else runs)
    out = numpy.empty(size)
    grid, block = launch
    noise_runs = reram_gpu.NoiseRuns(seed, stream, first, stride, length, runs, roots, per_element, inner, length,
                                     outer * length, post)
    reram_gpu.reram_read_noise(noise_runs, out, kernels=kernels, grid=grid, block=block)
    expected = read_noise_reference(seed, stream, first, stride, length, runs, roots, per_element, inner, length,
                                    outer * length, post, size)
    numpy.testing.assert_array_equal(out, expected)


def test_read_noise_kernel_rejects_operands_it_cannot_read(kernels):
    roots, out = numpy.ones(6), numpy.empty(24)
    runs = reram_gpu.NoiseRuns(1, 2, 0, 9, 4, 6, roots, False, 2, 4, 12, 1.0)  # reaches 2 * 4 + 12 + 4 = 24: fits
    reram_gpu.reram_read_noise(runs, out, kernels=kernels)
    with pytest.raises(ValueError, match="out must be a C-contiguous float64"):
        reram_gpu.reram_read_noise(runs, out.astype(numpy.float32), kernels=kernels)
    with pytest.raises(ValueError, match="must hold 25 values"):
        reram_gpu.reram_read_noise(dataclasses.replace(runs, length=5), out, kernels=kernels)
    with pytest.raises(ValueError, match="roots: one per run, 7"):
        reram_gpu.reram_read_noise(dataclasses.replace(runs, length=1, runs=7), out, kernels=kernels)
    with pytest.raises(ValueError, match="inner must be at least 1"):
        reram_gpu.reram_read_noise(dataclasses.replace(runs, inner=0), out, kernels=kernels)


# -- the shim itself ------------------------------------------------------------------------


def test_threaded_mode_runs_barriers_shared_memory_and_warp_intrinsics(np_rng):
    source = inline_includes((ROOT / "tests" / "cuda" / "shim_selftest.cu").read_text())
    kernel = cpu_shim.ShimKernel(cpu_shim.build(source, "shim-selftest"), "shim_selftest<64>")
    blocks, threads, n = 3, 64, 150
    values = np_rng.integers(-2**40, 2**40, n)
    padded = numpy.zeros(blocks * threads, numpy.int64)
    padded[:n] = values
    block_sums, reversed_ = numpy.zeros(blocks, numpy.int64), numpy.zeros(blocks * threads, numpy.int64)
    warps = blocks * threads // 32
    warp_sums, ballots = numpy.zeros(warps, numpy.int64), numpy.zeros(warps, numpy.uint32)
    agreement = numpy.zeros(warps, numpy.int32)
    kernel((blocks,), (threads,), (values, numpy.int64(n), block_sums, reversed_, warp_sums, ballots, agreement),
           shared_mem=8 * threads)
    numpy.testing.assert_array_equal(block_sums, padded.reshape(blocks, threads).sum(axis=1))
    numpy.testing.assert_array_equal(reversed_, padded.reshape(blocks, threads)[:, ::-1].reshape(-1))
    numpy.testing.assert_array_equal(warp_sums, padded.reshape(warps, 32).sum(axis=1))
    odd = (padded.reshape(warps, 32) & 1).astype(numpy.uint64)
    numpy.testing.assert_array_equal(ballots, (odd << numpy.arange(32, dtype=numpy.uint64)).sum(axis=1))
    assert agreement.all()


CP_ASYNC_PROBE = r"""
#include "cuda_shim.h"
#include "mma_s8.cuh"

// Thread 0 copies source[offset, offset + source_bytes) and source[16 + offset, 32 + offset)
// into 32 bytes of shared memory as two groups and snapshots them: issued, after wait<1>, after
// wait<0> (kWait) or never waiting; then every thread meets at a barrier.
template <bool kWait>
__global__ void cp_async_probe(const signed char* source, signed char* snapshots, int offset, int source_bytes) {
  __shared__ __align__(16) signed char staged[32];
  if (threadIdx.x == 0) {
    for (int i = 0; i < 32; ++i) staged[i] = 7;
    cim::cp_async_16(staged, source + offset, source_bytes);
    cim::cp_async_commit();
    cim::cp_async_16(staged + 16, source + 16 + offset, 16);
    cim::cp_async_commit();
    for (int i = 0; i < 32; ++i) snapshots[i] = staged[i];
    cim::cp_async_wait<1>();
    for (int i = 0; i < 32; ++i) snapshots[32 + i] = staged[i];
    if (kWait) cim::cp_async_wait<0>();
    for (int i = 0; i < 32; ++i) snapshots[64 + i] = staged[i];
  }
  __syncthreads();
}

CIM_KERNEL_INSTANCE(threaded, cp_async_probe<true>);
CIM_KERNEL_INSTANCE(threaded, cp_async_probe<false>);
"""


@pytest.mark.parametrize("source_bytes", [16, 0])
def test_shim_lands_async_copies_at_the_wait_that_completes_them(np_rng, source_bytes):
    """cp.async as the shim emulates it (kernels/cuda_shim.h): the destination is poison (0xA5)
    from the issue until the wait_group that completes the copy; wait_group 1 completes all but
    the most recent group; src-size 0 reads nothing and fills zeros; misaligned addresses and
    copies never waited for are errors, and a thread's error ends the launch instead of leaving
    the block's other threads waiting at a barrier."""
    library = cpu_shim.build(inline_includes(CP_ASYNC_PROBE), "cp-async-probe")
    backing = np_rng.integers(-128, 128, 80, dtype=numpy.int8)
    source = backing[(-backing.ctypes.data) % 16:][:48]
    snapshots = numpy.zeros(96, numpy.int8)
    probe = cpu_shim.ShimKernel(library, "cp_async_probe<true>")
    probe((1,), (64,), (source, snapshots, numpy.int32(0), numpy.int32(source_bytes)))
    poison, first = numpy.full(16, 0xA5, numpy.uint8).view(numpy.int8), source[:16] * (source_bytes == 16)
    numpy.testing.assert_array_equal(snapshots[:32], numpy.concatenate([poison, poison]))
    numpy.testing.assert_array_equal(snapshots[32:64], numpy.concatenate([first, poison]))
    numpy.testing.assert_array_equal(snapshots[64:], numpy.concatenate([first, source[16:32]]))
    with pytest.raises(RuntimeError, match="never waited for"):
        cpu_shim.ShimKernel(library, "cp_async_probe<false>")((1,), (64,), (source, snapshots, numpy.int32(0),
                                                                              numpy.int32(source_bytes)))
    with pytest.raises(RuntimeError, match="aligned to the copy's 16 bytes"):
        probe((1,), (64,), (source, snapshots, numpy.int32(8), numpy.int32(source_bytes)))


# -- nvcc: every source compiles for sm_80 and sm_90, without spills --------------------------

CUDA_SOURCES = (sorted(str(p.relative_to(ROOT)) for p in (ROOT / "kernels").glob("*.cu"))
                + ["tests/cuda/shim_selftest.cu"])


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_every_kernel_compiles_with_nvcc_without_spills():
    def compile_one(job):
        source, arch = job
        command = ["nvcc", "-std=c++17", f"-arch={arch}", "-Ikernels", "-cubin", "-Xptxas", "-v", "-o", "/dev/null",
                   source]
        return job, subprocess.run(command, cwd=ROOT, capture_output=True, text=True)

    jobs = [(source, arch) for source in CUDA_SOURCES for arch in ("sm_80", "sm_90")]
    with ThreadPoolExecutor(4) as pool:
        for (source, arch), result in pool.map(compile_one, jobs):
            assert result.returncode == 0, f"{source} {arch}:\n{result.stderr}"
            report = result.stdout + result.stderr
            assert "warning" not in report.lower(), f"{source} {arch}:\n{report}"
            frames = re.findall(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", report)
            assert frames and all(f == ("0", "0", "0") for f in frames), f"{source} {arch}:\n{report}"
