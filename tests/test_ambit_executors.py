"""Both executors against numpy, against an independent model, and against each other."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cim_emu.ambit import (
    AAP,
    AP,
    OPERATIONS,
    AmbitCommandError,
    Program,
    Subarray,
    TraFaultModel,
    bulk_op,
    program_for,
)
from cim_emu.backend import NUMPY_BACKEND
from cim_emu.bits import constant_row, pack_bits, random_row, unpack_bits

from ambit_model import IllegalCommand, IntModel

AWKWARD_LENGTHS = [1, 5, 63, 64, 65, 127, 129, 1000, 4097, 70001]

NUMPY_OPS = {
    "copy": lambda a: a,
    "not": numpy.logical_not,
    "and": numpy.logical_and,
    "or": numpy.logical_or,
    "nand": lambda a, b: ~(a & b),
    "nor": lambda a, b: ~(a | b),
    "xor": numpy.logical_xor,
    "xnor": lambda a, b: ~(a ^ b),
    "maj": lambda a, b, c: (a & b) | (b & c) | (a & c),
}


def to_numpy(array):
    return array.get() if hasattr(array, "get") else numpy.asarray(array)


@pytest.mark.parametrize("executor", ["fast", "reference"])
@pytest.mark.parametrize("op", sorted(OPERATIONS))
@pytest.mark.parametrize("n_bits", AWKWARD_LENGTHS)
def test_library_op_equals_numpy(backend, xp, np_rng, op, n_bits, executor):
    operands = [xp.asarray(np_rng.random(n_bits) < 0.5) for _ in range(OPERATIONS[op][0])]
    result = bulk_op(op, *operands, executor=executor, backend=backend)
    expected = NUMPY_OPS[op](*(to_numpy(x) for x in operands))
    assert type(result.value) is type(operands[0])
    numpy.testing.assert_array_equal(to_numpy(result.value), expected)


@pytest.mark.parametrize("op", ["and", "xor", "nand", "xnor", "maj"])
def test_packed_words_match_bitwise_ops(np_rng, op):
    n_bits = 64 * 37 - 11
    rows = [np_rng.integers(0, 2**64, 37, dtype=numpy.uint64) for _ in range(OPERATIONS[op][0])]
    result = bulk_op(op, *rows, n_bits=n_bits)
    bits = [unpack_bits(r, n_bits) for r in rows]
    numpy.testing.assert_array_equal(result.value, pack_bits(NUMPY_OPS[op](*bits)))
    assert result.value.flags.writeable


# -- random programs: the two executors and the independent model ----------------------------

DATA_ROWS = 4
DATA = [f"D{i}" for i in range(DATA_ROWS)]
SENSEABLE = DATA + [f"B{i}" for i in (*range(8), 12, 13, 14, 15)] + ["C0", "C1"]  # one or three rows
WRITABLE = DATA + [f"B{i}" for i in range(16)]
ANY = DATA + [f"B{i}" for i in range(16)] + ["C0", "C1", f"D{DATA_ROWS}"]
# Mostly legal commands (an illegal one among 14 random commands would end most examples);
# only the DCC rule (both wordlines of one cell) can still be broken by these.
commands = st.one_of(
    st.tuples(st.sampled_from(SENSEABLE), st.sampled_from(WRITABLE)),
    st.tuples(st.sampled_from(SENSEABLE)),
)
any_commands = st.one_of(st.tuples(st.sampled_from(ANY), st.sampled_from(ANY)), st.tuples(st.sampled_from(ANY)))


def program_of(command_tuples):
    return Program.of(*(AAP(*c) if len(c) == 2 else AP(*c) for c in command_tuples))


def random_subarray(n_bits, seed, **kwargs):
    subarray = Subarray(n_bits, DATA_ROWS, **kwargs)
    for stream, row in enumerate(subarray.state()):
        subarray.write_words(row, random_row(seed, stream, n_bits))
    return subarray


def state_as_ints(subarray):
    return {row: int.from_bytes(words.tobytes(), "little") for row, words in subarray.state().items()}


@given(
    program=st.one_of(st.lists(commands, min_size=1, max_size=14), st.lists(any_commands, min_size=1, max_size=3)),
    n_bits=st.sampled_from([1, 64, 65, 200, 1000]),
    seed=st.integers(0, 2**64 - 1),
    chunk_words=st.integers(1, 4),
    threads=st.integers(1, 3),
)
def test_random_programs_same_state_on_both_executors_and_the_model(program, n_bits, seed, chunk_words, threads):
    fast = random_subarray(n_bits, seed)
    reference = random_subarray(n_bits, seed)
    model = IntModel(n_bits, state_as_ints(reference))
    before = state_as_ints(fast)
    try:
        model.run(program)
    except IllegalCommand:
        for subarray, executor in ((fast, "fast"), (reference, "reference")):
            with pytest.raises(AmbitCommandError):
                subarray.run(program_of(program), executor=executor)
            assert state_as_ints(subarray) == before  # a rejected program changes nothing
        return
    fast.run(program_of(program), executor="fast", chunk_words=chunk_words, threads=threads)
    reference.run(program_of(program), executor="reference")
    assert state_as_ints(fast) == state_as_ints(reference) == model.rows
    assert fast.tra_count == reference.tra_count


@given(program=st.lists(commands, min_size=1, max_size=12), seed=st.integers(0, 2**64 - 1),
       chunk_words=st.integers(1, 3), p=st.sampled_from([0.05, 0.5, 1.0]), disagree=st.booleans())
def test_random_programs_with_faults_same_state_on_both_executors(program, seed, chunk_words, p, disagree):
    faults = TraFaultModel(flip_probability=p, only_when_inputs_disagree=disagree,
                           weak_column_fraction=0.2, seed=seed)
    fast = random_subarray(300, seed, faults=faults)
    reference = random_subarray(300, seed, faults=faults)
    try:
        reference.run(program_of(program), executor="reference")
    except AmbitCommandError:
        return
    fast.run(program_of(program), executor="fast", chunk_words=chunk_words, threads=2)
    assert state_as_ints(fast) == state_as_ints(reference)


def test_programs_compose_across_runs(np_rng):
    """Two runs equal one run of the concatenated program (state and fault keys carry over)."""
    faults = TraFaultModel(flip_probability=0.1, seed=7)
    first, second = program_for("xor", ["D0", "D1"], "D2"), program_for("maj", ["D2", "D0", "D1"], "D3")
    split, joined = random_subarray(500, 3, faults=faults), random_subarray(500, 3, faults=faults)
    split.run(first)
    split.run(second)
    joined.run(first + second, executor="reference")
    assert state_as_ints(split) == state_as_ints(joined)


# -- scratch handling ---------------------------------------------------------------------

@pytest.mark.parametrize("executor", ["fast", "reference"])
def test_scratch_drop_keeps_data_rows_and_forgets_designated_rows(executor):
    kept, dropped = random_subarray(130, 1), random_subarray(130, 1)
    program = program_for("xor", ["D0", "D1"], "D2")
    kept.run(program, executor=executor)
    dropped.run(program, executor=executor, scratch="drop")
    for row in ("D0", "D1", "D2", "D3"):
        numpy.testing.assert_array_equal(kept.read_words(row), dropped.read_words(row))
    for row in ("T0", "T1", "T2", "T3", "DCC0", "DCC1"):
        with pytest.raises(AmbitCommandError, match=f"{row} holds no value"):
            dropped.read_words(row)
    with pytest.raises(AmbitCommandError, match="holds no value"):
        dropped.run(Program.of(AAP("B4", "D3")), executor=executor)
    dropped.run(program_for("and", ["D0", "D1"], "D3"), executor=executor)  # rewrites T0..T2 first
    numpy.testing.assert_array_equal(
        dropped.read_bits("D3"), kept.read_bits("D0") & kept.read_bits("D1"))


def test_repeated_runs_reuse_buffers_without_changing_results():
    subarray = random_subarray(64 * 50, 5)
    program = program_for("xor", ["D0", "D1"], "D2")
    snapshot = subarray.read_words("D2")
    for _ in range(3):
        subarray.run(program)
        words = subarray.read_words("D2")
        numpy.testing.assert_array_equal(words, subarray.read_words("D0") ^ subarray.read_words("D1"))
    assert not numpy.array_equal(snapshot, words)  # earlier copies are untouched by later runs
    subarray.run(Program.of(AAP("D2", "D0")))
    numpy.testing.assert_array_equal(subarray.read_words("D0"), words)


@pytest.mark.parametrize("op", sorted(OPERATIONS))
@pytest.mark.parametrize("pass_words", [1, 3, 40])
def test_passes_over_slices_give_the_bits_of_one_run(np_rng, op, pass_words):
    """The streamed executor (how host rows larger than a GPU's memory go through it) runs a
    slice of words at a time with the slice's global word offset: the fault draws and the
    padding follow the global column, so the result equals bulk_op's single run, faults included,
    and every row (results, copies, constants) ends as in a run over whole rows."""
    arity = OPERATIONS[op][0]
    n_bits = 64 * 37 - 5
    faults = TraFaultModel(flip_probability=0.2, weak_column_fraction=0.3, weak_column_flip_probability=0.5,
                           only_when_inputs_disagree=op == "maj", seed=int(np_rng.integers(2**63)))
    rows = [random_row(int(np_rng.integers(2**63)), i, n_bits) for i in range(arity)]
    expected = bulk_op(op, *rows, n_bits=n_bits, faults=faults).value
    program = program_for(op, [f"D{i}" for i in range(arity)], f"D{arity}")
    passed, whole = (Subarray(n_bits, arity + 1, faults=faults) for _ in range(2))
    for subarray in (passed, whole):
        for i, row in enumerate(rows):
            subarray.write_words(i, row)
    passed.run(program, pass_words=pass_words)
    whole.run(program)
    numpy.testing.assert_array_equal(passed.read_words(f"D{arity}"), expected)
    numpy.testing.assert_array_equal(passed.read_words("D0"), rows[0])  # a row the program leaves as it was
    numpy.testing.assert_array_equal(passed.read_words("C1"), constant_row(1, n_bits))
    assert state_as_ints(passed) == state_as_ints(whole) and passed.tra_count == whole.tra_count


def test_pass_words_apply_to_the_fast_executor_on_host_rows():
    subarray = random_subarray(200, 1)
    with pytest.raises(ValueError, match="pass_words"):
        subarray.run(program_for("xor", ["D0", "D1"], "D2"), executor="reference", pass_words=1)
    with pytest.raises(ValueError, match="pass_words must be"):
        subarray.run(program_for("xor", ["D0", "D1"], "D2"), pass_words=0)


def test_slices_are_checked_against_the_row():
    from cim_emu.ambit.compiler import compile_program
    from cim_emu.ambit.fast import evaluate
    from cim_emu.ambit.faults import NO_FAULTS

    compiled = compile_program(program_for("and", ["D0", "D1"], "D2").instructions, 3, False)
    root = compiled.outputs["D2"]
    rows = {"D0": numpy.ones(2, numpy.uint64), "D1": numpy.ones(2, numpy.uint64)}
    with pytest.raises(ValueError, match="word_offset must be"):
        evaluate(compiled, {root}, rows, 128, backend=NUMPY_BACKEND, faults=NO_FAULTS, tra_base=0, word_offset=2)
    with pytest.raises(ValueError, match="word_count must be at most 1"):
        evaluate(compiled, {root}, rows, 128, backend=NUMPY_BACKEND, faults=NO_FAULTS, tra_base=0, word_offset=1,
                 word_count=2)


def test_host_rows_pass_in_slices_only_past_the_memory_share():
    from cim_emu import backend as backends
    from cim_emu.ambit import streaming
    from cim_emu.gpu.memory import DEVICE_MEMORY_SHARE

    from fake_cupy import stand_in_backend

    budget_words = 1000  # three rows of 1000 words fill the share of free memory
    gpu = stand_in_backend(free_bytes=int(3 * 8 * budget_words / DEVICE_MEMORY_SHARE))
    assert streaming.words_per_device_pass(gpu, False, 3, 64 * budget_words) is None
    assert streaming.words_per_device_pass(gpu, False, 3, 64 * budget_words + 1) == budget_words
    assert streaming.words_per_device_pass(gpu, True, 3, 64 * 10**9) is None  # on the GPU already
    assert streaming.words_per_device_pass(backends.NUMPY_BACKEND, False, 3, 64 * 10**9) is None
