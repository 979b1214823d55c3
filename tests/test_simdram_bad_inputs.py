"""Bad inputs to SIMDRAM operations are clear errors: the if-else condition as documented, data
rows within the model limit, anything else a ValueError or TypeError naming the parameter."""

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cim_emu.simdram import simdram_op
from cim_emu.simdram.allocator import RowAllocator
from cim_emu.simdram.operations import build_operation, get_operation


@pytest.mark.parametrize("condition", [
    numpy.array([True, False, True]),
    numpy.array([1, 0, 1], numpy.int8),
    numpy.array([1, 0, 1], numpy.uint64),
    [1, 0, 1],
])  # fmt: skip
def test_if_else_takes_the_documented_conditions(condition):
    a, b = numpy.array([10, 20, 30], numpy.uint8), numpy.array([1, 2, 3], numpy.uint8)
    assert simdram_op("if_else", condition, a, b, bits=8).value.tolist() == [10, 2, 30]


@pytest.mark.parametrize("condition, message", [
    (numpy.array([2, 0, 1]), "got dtype int64 with other values"),
    (numpy.array([-1, 0, 1]), "got dtype int64 with other values"),
    (numpy.array([255, 0, 1], numpy.uint8), "got dtype uint8 with other values"),
    (numpy.array([1.0, 0.0, 1.0]), "got dtype float64"),
])  # fmt: skip
def test_if_else_refuses_other_conditions(condition, message):
    a = numpy.array([10, 20, 30], numpy.uint8)
    expected = f"operand 0 of if_else: the condition must be bool or integers 0/1; {message}"
    with pytest.raises(ValueError, match=expected):
        simdram_op("if_else", condition, a, a, bits=8)


@pytest.mark.parametrize("data_rows", [1007, 10**12, 10**100])
def test_data_rows_have_the_model_limit(data_rows):
    with pytest.raises(ValueError, match=r"data_rows must be an integer in \[1, 1006\]"):
        simdram_op("add", numpy.arange(3), numpy.arange(3), bits=8, data_rows=data_rows)
    with pytest.raises(ValueError, match=r"data_rows must be an integer in \[1, 1006\]"):
        RowAllocator(data_rows)


def test_data_rows_take_numpy_integers():
    assert build_operation("add", 8, data_rows=numpy.int64(100)).rows_used == 24
    assert simdram_op("add", [1], [2], bits=numpy.int64(8), data_rows=numpy.int16(30)).value.tolist() == [3]


VALUES = st.one_of(
    st.lists(st.integers(0, 1), min_size=1, max_size=5),
    st.lists(st.integers(-20, 300), min_size=1, max_size=5),
    st.lists(st.integers(-(2**70), 2**70), max_size=3),
)


@settings(max_examples=60, deadline=2000)
@given(st.sampled_from(["if_else", "add", "greater", "bitcount"]), VALUES,
       st.integers(1, 12) | st.integers(-3, 70) | st.integers(-(10**30), 10**30), st.booleans(),
       st.sampled_from([1006, 100]) | st.integers(-5, 1100) | st.integers(10**12, 10**30))
def test_any_operand_is_a_clear_error_or_the_reference(op, values, bits, signed, data_rows):
    operation = get_operation(op)
    operands = [values] * operation.arity
    try:
        result = simdram_op(op, *operands, bits=bits, signed=signed, data_rows=data_rows)
    except (ValueError, TypeError):
        return
    arrays = [numpy.asarray(values) != 0 if operation.condition_first and i == 0 else numpy.asarray(values)
              for i in range(operation.arity)]
    expected = operation.reference(*arrays, bits=bits, signed=signed)[0]
    assert numpy.asarray(result.value).tolist() == numpy.asarray(expected).tolist()
