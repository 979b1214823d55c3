"""Every SIMDRAM operation: equal to numpy, built of AAP/AP only, with the documented counts."""

import itertools

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cim_emu.ambit import AmbitCostModel, Program, Subarray
from cim_emu.bits import random_row
from cim_emu.simdram import OPERATIONS, OutOfRowsError, build_operation, modelled_cost, simdram_op
from cim_emu.simdram.layout import value_range

WIDTHS = [1, 2, 7, 8, 16, 32]
CASES = [(op, signed) for op in OPERATIONS for signed in (False, True)]
CASE_IDS = [f"{op}-{'signed' if signed else 'unsigned'}" for op, signed in CASES]


def popcount(n):
    return bin(n).count("1")


def or_reduce_count(n):
    return 1 if n == 1 else 4 + 5 * ((n - 2) // 2) + 3 * ((n - 2) % 2)


def unsigned_div_count(n):
    return 16 if n == 1 else (13 * n * n + 31 * n - 10) // 2


def negate_count(n):
    return 1 if n == 1 else 9 * n - 7


# Command counts as exact formulas of the width n (see docs/simdram.md for the derivations).
COUNTS = {
    "add": lambda n, s: 7 if n == 1 else 7 * n + 2,
    "sub": lambda n, s: 7 if n == 1 else 7 * n + 2,
    "mul": lambda n, s: 5 * n * n - 3 * n - 2 + 7 * (n // 2) + 4 * (n % 2),
    # signed: |a|, |b|, unsigned division, XOR of the signs, b != 0, AND, two negations
    "div": lambda n, s: unsigned_div_count(n) + (4 * negate_count(n) + 7 + or_reduce_count(n) + 4 if s else 0),
    "neg": lambda n, s: negate_count(n),
    "abs": lambda n, s: negate_count(n) if s else n,
    "relu": lambda n, s: 7 * ((n - 1) // 2) + 4 * ((n - 1) % 2) + 1 if s else n,
    "equal": lambda n, s: 4 * n + 3,
    "greater": lambda n, s: 3 * n + 1,
    "greater_equal": lambda n, s: 3 * n + 1,
    "min": lambda n, s: 11 * n + 1,
    "max": lambda n, s: 11 * n + 1,
    "if_else": lambda n, s: 8 * n,
    "bitcount": lambda n, s: 9 * (n - popcount(n)) + 1,
    "and_reduce": lambda n, s: or_reduce_count(n),
    "or_reduce": lambda n, s: or_reduce_count(n),
    "xor_reduce": lambda n, s: {1: 1, 2: 7}.get(n, 8 * (-(-(n - 1) // 2)) + 1),
}

# Published counts of CMU-SAFARI's hand-written SIMDRAM-style programs (docs/simdram.md).
PUBLISHED = {
    "add": lambda n: 8 * n + 1,
    "sub": lambda n: 8 * n + 1,
    "mul": lambda n: 11 * n * n - 5 * n - 1,
    "greater": lambda n: 3 * n + 2,
    "greater_equal": lambda n: 3 * n + 2,
    "equal": lambda n: 4 * n + 3,
}


def edge_values(bits, signed):
    low, high = value_range(bits, signed)
    return sorted({v for v in (low, low + 1, -1, 0, 1, high - 1, high) if low <= v <= high})


def operand_arrays(op, bits, signed, columns):
    """Operand arrays from per-element tuples; the if-else condition becomes bool."""
    arrays = [numpy.array(values, dtype=numpy.int64 if signed or bits < 64 else numpy.uint64)
              for values in zip(*columns)]
    if OPERATIONS[op].condition_first:
        arrays[0] = arrays[0] != 0
    return arrays


def check_against_numpy(op, bits, signed, arrays, executor="fast"):
    result = simdram_op(op, *arrays, bits=bits, signed=signed, executor=executor)
    got = result.value if isinstance(result.value, tuple) else (result.value,)
    expected = OPERATIONS[op].reference(*arrays, bits=bits, signed=signed)
    assert len(got) == len(expected)
    for value, reference in zip(got, expected):
        assert value.tolist() == numpy.asarray(reference).tolist(), f"{op} {bits}-bit signed={signed}"
    return result


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("op, signed", CASES, ids=CASE_IDS)
@settings(max_examples=6)
@given(data=st.data())
def test_operation_equals_numpy_on_random_data(op, signed, bits, data):
    low, high = value_range(bits, signed)
    value = st.one_of(st.sampled_from(edge_values(bits, signed)), st.integers(low, high))
    condition = st.integers(0, 1)
    element = st.tuples(*[condition if OPERATIONS[op].condition_first and i == 0 else value
                          for i in range(OPERATIONS[op].arity)])
    columns = data.draw(st.lists(element, min_size=1, max_size=70))
    check_against_numpy(op, bits, signed, operand_arrays(op, bits, signed, columns))


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("op, signed", CASES, ids=CASE_IDS)
def test_operation_equals_numpy_on_every_combination_of_edge_values(op, signed, bits):
    """0, 1, -1, min, max and their neighbours, in every combination: overflow included."""
    edges = edge_values(bits, signed)
    choices = [[0, 1] if OPERATIONS[op].condition_first and i == 0 else edges for i in range(OPERATIONS[op].arity)]
    check_against_numpy(op, bits, signed, operand_arrays(op, bits, signed, list(itertools.product(*choices))))


@pytest.mark.parametrize("op, signed", CASES, ids=CASE_IDS)
def test_64_bit_operands(np_rng, op, signed):
    low, high = value_range(64, signed)
    dtype = numpy.int64 if signed else numpy.uint64
    columns = [tuple(np_rng.integers(low, high, OPERATIONS[op].arity, endpoint=True, dtype=dtype))
               for _ in range(40)]
    columns += list(itertools.product(edge_values(64, signed), repeat=OPERATIONS[op].arity))[:60]
    check_against_numpy(op, 64, signed, operand_arrays(op, 64, signed, columns))


@pytest.mark.parametrize("bits", [1, 2, 7, 8])
@pytest.mark.parametrize("op, signed", CASES, ids=CASE_IDS)
def test_reference_and_fast_executors_leave_identical_state(op, signed, bits):
    built = build_operation(op, bits, signed)
    states = []
    for executor in ("reference", "fast"):
        subarray = Subarray(150, data_rows=built.rows_used)
        for stream, row in enumerate(subarray.state()):
            subarray.write_words(row, random_row(7, stream, 150))
        subarray.run(built.program, executor=executor)
        states.append(subarray.state())
    assert states[0].keys() == states[1].keys()
    for row in states[0]:
        assert states[0][row].tolist() == states[1][row].tolist(), row


@pytest.mark.parametrize("bits", WIDTHS + [64])
@pytest.mark.parametrize("op, signed", CASES, ids=CASE_IDS)
def test_programs_are_aap_ap_only_with_the_documented_count(op, signed, bits):
    program = build_operation(op, bits, signed).program
    assert isinstance(program, Program)
    assert {command.op for command in program} <= {"AAP", "AP"}
    assert Program.parse(program.to_text()).instructions == program.instructions
    assert len(program) == COUNTS[op](bits, signed)


@pytest.mark.parametrize("bits", [*range(1, 19), 24, 31, 32, 33, 48, 63, 64])
@pytest.mark.parametrize("op", sorted(PUBLISHED))
def test_never_more_commands_than_published(op, bits):
    ours = COUNTS[op](bits, False)
    assert ours == len(build_operation(op, bits).program)
    assert ours <= PUBLISHED[op](bits)
    if op in ("add", "sub", "mul") and bits > 1:
        assert ours < PUBLISHED[op](bits)


def test_programs_only_touch_the_rows_they_were_given():
    built = build_operation("div", 8)
    used = {str(a) for command in built.program for a in command.addresses if str(a).startswith("D")}
    assert max(int(row[1:]) for row in used) < built.rows_used


def test_cost_is_the_ambit_model_of_the_program(np_rng):
    a, b = np_rng.integers(0, 256, 1000), np_rng.integers(0, 256, 1000)
    result = simdram_op("add", a, b, bits=8)
    expected = AmbitCostModel().program_cost(result.program, 1000)
    assert result.cost == expected == modelled_cost("add", 8, 1000)
    assert result.commands == 58
    assert result.elements_per_second == pytest.approx(1000 / (50 * 52.75e-9 + 8 * 48.75e-9))  # 8 AP, one a bit


def test_subarray_too_small_raises_a_clear_error():
    with pytest.raises(OutOfRowsError, match=r"the product needs 32 row\(s\) but only 26 of the subarray's 90"):
        build_operation("mul", 32, data_rows=90)
    with pytest.raises(OutOfRowsError, match="data_rows="):
        simdram_op("div", numpy.arange(4), numpy.arange(4), bits=16, data_rows=60)


@pytest.mark.parametrize("call, error, message", [
    (lambda: simdram_op("fma", [1], [2], bits=8), ValueError, "op must be one of add, sub"),
    (lambda: simdram_op("add", numpy.arange(3), bits=8), ValueError, "add takes 2 operand"),
    (lambda: simdram_op("add", numpy.arange(3), numpy.arange(3), bits=65), ValueError, r"1\.\.64"),
    (lambda: simdram_op("add", numpy.arange(3), numpy.arange(4), bits=8), ValueError, "one length"),
    (lambda: simdram_op("add", numpy.array([1]), numpy.array([300]), bits=8), ValueError,
     r"operand 1 of add: values must fit in 8-bit unsigned integers \(0\.\.255\)"),
    (lambda: simdram_op("add", numpy.array([1.5]), numpy.array([3]), bits=8), TypeError, "operand 0 of add"),
])
def test_bad_input_names_the_parameter(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("op", ["add", "mul", "greater", "if_else", "bitcount"])
def test_runs_in_column_slices_give_the_bits_of_one_run(np_rng, op):
    """run_program with pass_words (how numpy operands larger than a GPU's memory pass through
    it on the CuPy backend) equals one run over whole rows, faults included."""
    from cim_emu.ambit import TraFaultModel
    from cim_emu.simdram.api import run_program
    from cim_emu.simdram.layout import to_vertical
    from cim_emu.simdram.operations import get_operation, operand_widths

    faults = TraFaultModel(flip_probability=0.01, weak_column_fraction=0.05, seed=int(np_rng.integers(2**63)))
    count, bits = 64 * 9 - 5, 8
    built = build_operation(op, bits)
    planes = {rows: to_vertical(np_rng.integers(0, 2**width, count), width, False)
              for width, rows in zip(operand_widths(get_operation(op), bits), built.inputs)}
    expected, cost = run_program(built.program, planes, built.outputs, count, faults=faults)
    got, passed_cost = run_program(built.program, planes, built.outputs, count, faults=faults, pass_words=2)
    assert passed_cost == cost
    for result, reference in zip(got, expected):
        numpy.testing.assert_array_equal(result, reference)
