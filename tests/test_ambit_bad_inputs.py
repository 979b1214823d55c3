"""Every bad input to the Ambit engine is a clear error (ValueError or TypeError naming the
parameter), never a crash deep in numpy, an exhausted memory or a silent wrong answer."""

import io
import tracemalloc

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cim_emu import _memory
from cim_emu._checks import SHOWN_CHARACTERS, shown
from cim_emu.ambit import (
    AAP,
    AP,
    Address,
    AmbitCostModel,
    DramOrganization,
    DramTiming,
    Program,
    ProgramSyntaxError,
    Subarray,
    bulk_op,
)
from cim_emu.ambit.addresses import MAX_DATA_ROWS, ROW_ADDRESSES
from cim_emu.ambit.cost import BANKS_RANGE, ROW_BYTES_RANGE, SUBARRAYS_PER_BANK_RANGE

from program_texts import PROGRAM_TEXT

#: What a bad input may raise; anything else is a bug.
CLEAR_ERRORS = (ValueError, TypeError)


@pytest.fixture
def little_memory(monkeypatch):
    """The host has 40 MiB left."""
    monkeypatch.setattr(_memory, "available_host_bytes", lambda: 40 * 2**20)


# -- data rows and row addresses -------------------------------------------------------------


def test_data_rows_have_the_model_limit():
    assert MAX_DATA_ROWS == 1006
    assert Subarray(8, MAX_DATA_ROWS).data_rows == MAX_DATA_ROWS
    for data_rows in (MAX_DATA_ROWS + 1, 5_000_000, 10**12, 10**100):
        with pytest.raises(ValueError, match=r"data_rows must be an integer in \[1, 1006\].*MAX_DATA_ROWS"):
            Subarray(8, data_rows)


def test_the_data_row_limit_is_configurable():
    subarray = Subarray(8, 2048, max_data_rows=2048)
    subarray.run("AAP C1 D2047")
    assert subarray.read_bits("D2047").all()
    with pytest.raises(ValueError, match=r"data_rows must be an integer in \[1, 2048\].*max_data_rows"):
        Subarray(8, 2049, max_data_rows=2048)
    with pytest.raises(ValueError, match=rf"max_data_rows must be an integer in \[1, {ROW_ADDRESSES}\]"):
        Subarray(8, 10, max_data_rows=10**12)


def test_a_row_beyond_the_subarray_is_a_clear_error():
    subarray = Subarray(8, 4)
    for executor in ("fast", "reference"):
        with pytest.raises(ValueError, match=r"row D5000 is out of range: this subarray has data rows D0\.\.D3"):
            subarray.run("AAP D0 D5000", executor=executor)


@pytest.mark.parametrize("text", ["D262144", "D999999999999", "D" + "9" * 100_000])
def test_a_row_index_beyond_any_dram_bank_is_a_clear_error(text):
    with pytest.raises(ValueError, match="out of range: no DRAM bank has more than 262144 rows") as info:
        Address.parse(text)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("row, message", [
    (9, "row index 9 is out of range"),
    (-1, "row index -1 is out of range"),
    (10**5000, "row index an integer of 16610 bits is out of range"),
    ("D" + "9" * 100_000, "row 'D" + "9" * 39 + "'... is out of range"),
    ("X" * 100_000, "unknown row 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX'...: expected D0..D3"),
    (2.0, "row must be a data row index, a row name or an Address; got 2.0"),
], ids=["9", "-1", "huge integer", "huge data row", "huge name", "float"])  # fmt: skip
def test_row_access_names_a_bad_row_briefly(row, message):
    with pytest.raises(CLEAR_ERRORS) as info:
        Subarray(8, 4).read_bits(row)
    assert message in str(info.value) and len(str(info.value)) < 200


def test_addresses_take_numpy_integers():
    address = Address("D", numpy.int64(3))
    assert address == Address("D", 3) and type(address.index) is int


# -- memory ----------------------------------------------------------------------------------


def test_rows_too_long_for_memory_name_row_bits(little_memory):
    with pytest.raises(_memory.InsufficientMemoryError, match=r"row_bits: 2 row\(s\) of 10000000000 bits would "
                                                              r"need 2\.3 GiB; only 40\.0 MiB of memory"):
        Subarray(10**10)
    assert issubclass(_memory.InsufficientMemoryError, ValueError)


def test_the_rows_a_program_writes_are_checked_before_they_are_allocated(little_memory):
    subarray = Subarray(2**27, 3)  # 16 MiB rows: the constant rows fit
    with pytest.raises(_memory.InsufficientMemoryError, match=r"3 row\(s\) of 134217728 bits"):
        subarray.run("AAP C1 D0\nAAP C1 D1\nAAP C1 D2")
    assert not subarray.read_bits("D0").any()  # nothing ran


def test_small_requests_are_never_checked(monkeypatch):
    monkeypatch.setattr(_memory, "available_host_bytes", lambda: pytest.fail("checked a small request"))
    Subarray(64 * 1024).run("AAP C1 D0")


def test_available_host_memory_is_known_here():
    available = _memory.available_host_bytes()
    assert available is None or available > 0


# -- program text ----------------------------------------------------------------------------


def test_a_byte_order_mark_at_the_start_is_dropped():
    assert Program.parse("\ufeffAAP D0 D1\n") == Program.of(AAP("D0", "D1"))
    assert Program.parse_lines(["\ufeff# hi\n", "AP B12"]).commands == (AP("B12"),)
    with pytest.raises(ProgramSyntaxError, match="line 2: unknown command '\\\\ufeffAAP'"):
        Program.parse("AP B12\n\ufeffAAP D0 D1\n")  # only at the start


@pytest.mark.parametrize("prefix, filler, suffix, token", [
    ("", "A", "", "unknown command 'AAAA"),
    ("AAP D0 ", "X", "", "unknown row address 'XXXX"),
    ("AP ", "B", " D1", "AP takes 1 address(es), got 2: 'AP BBBB"),
])  # fmt: skip
def test_long_tokens_are_cut_in_messages(prefix, filler, suffix, token):
    with pytest.raises(ProgramSyntaxError) as info:
        Program.parse(prefix + filler * 10_000_000 + suffix)  # a 10 MB token
    message = str(info.value)
    assert token in message and "'..." in message and len(message) < 250


def test_shown_cuts_long_values():
    assert shown("x" * 10) == "'xxxxxxxxxx'"
    assert shown("x" * 1000) == repr("x" * SHOWN_CHARACTERS) + "..."
    assert shown(10**100) == str(10**100)[:SHOWN_CHARACTERS] + "..."
    assert shown(2**100_000) == "an integer of 100001 bits"


def test_line_endings_and_lines_from_a_file():
    expected = Program.of(AAP("D0", "D1"), AP("B12"), AP("B13"))
    assert Program.parse("AAP D0 D1\r\nAP B12\rAP B13") == expected
    assert Program.parse_lines(io.StringIO("AAP D0 D1\nAP B12\nAP B13\n")) == expected


def test_a_long_program_file_takes_a_few_pointers_a_line(tmp_path):
    text = "AAP D0 B8\nAAP D1 B9\nAAP C0 B10\nAP B14\nAP B15\nAAP C1 B2\nAAP B12 D2\n\n" * 6000
    path = tmp_path / "long.txt"
    path.write_text(text)
    Program.parse(text)  # the commands and addresses are cached now
    tracemalloc.start()
    try:
        with path.open() as file:
            program = Program.parse_lines(file)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(program) == 42000
    assert peak < 2 * len(text)  # 1.2 times the text here; was 60 times


@pytest.mark.parametrize("program", [None, 3, 2.5, b"AAP D0 D1", object()])
def test_run_names_the_program_parameter(program):
    with pytest.raises(TypeError, match="program must be a Program, its text or an iterable of commands"):
        Subarray(8).run(program)


def test_run_refuses_lines_that_are_not_commands():
    with pytest.raises(TypeError, match="Command or a Comment"):
        Subarray(8).run(["AAP D0 D1"])


# -- single commands -------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ("aap", "D0", "C1"),  # a copy into a constant row, after the first ACTIVATE succeeded
    ("aap", "B12", "C0"),  # the same after a destructive TRA
    ("aap", "B4", "B5"),  # both wordlines of DCC0
    ("aap", "D1", "D9"),  # beyond the data rows
    ("ap", "B8"),  # two rows sensed
])  # fmt: skip
def test_a_failing_single_command_leaves_the_subarray_as_it_was(np_rng, command):
    subarray = Subarray(70, 4)
    for row in ("D0", "D1", "T0", "T1", "T2", "DCC0"):
        subarray.write_bits(row, np_rng.integers(0, 2, 70).astype(bool))
    before, tra_count = subarray.state(), subarray.tra_count
    with pytest.raises(ValueError):
        getattr(subarray, command[0])(*command[1:])
    assert not subarray.is_open and subarray.tra_count == tra_count
    after = subarray.state()
    assert all(numpy.array_equal(before[row], after[row]) for row in before)
    subarray.run("AAP D0 D2")  # the next run works
    assert numpy.array_equal(subarray.read_words("D2"), before["D0"])


def test_execute_takes_only_commands():
    with pytest.raises(TypeError, match="command must be a Command"):
        Subarray(8).execute("AAP D0 D1")


# -- bulk operations -------------------------------------------------------------------------


@pytest.mark.parametrize("n_bits", [numpy.int64(1000), numpy.uint16(1000), numpy.int32(1000)])
def test_bulk_op_takes_numpy_integers_for_n_bits(np_rng, n_bits):
    words = np_rng.integers(0, 2**64, 16, dtype=numpy.uint64)
    assert numpy.array_equal(bulk_op("not", words, n_bits=n_bits).value, bulk_op("not", words, n_bits=1000).value)


@pytest.mark.parametrize("n_bits", [960, 1025, 10**30, 1000.0, "1000", True])
def test_bulk_op_names_a_bad_n_bits(n_bits):
    with pytest.raises(ValueError, match=r"n_bits must be an integer in \[961, 1024\]"):
        bulk_op("not", numpy.zeros(16, numpy.uint64), n_bits=n_bits)


@pytest.mark.parametrize("dtype", [numpy.int8, numpy.uint8, numpy.int32, numpy.int64, numpy.uint32])
def test_bulk_op_takes_integer_bit_vectors(np_rng, dtype):
    a, b = (np_rng.integers(0, 2, 100) for _ in range(2))
    result = bulk_op("xor", a.astype(dtype), b.astype(dtype), n_bits=numpy.int64(100))
    assert numpy.array_equal(result.value, (a ^ b).astype(bool))
    assert numpy.array_equal(bulk_op("and", a.astype(dtype), b.astype(bool)).value, (a & b).astype(bool))


@pytest.mark.parametrize("operand, error, message", [
    (numpy.array([0, 1, 2]), ValueError, "operand 0 must be bool or integers 0/1; got dtype int64 with other values"),
    (numpy.array([0, -1]), ValueError, "operand 0 must be bool or integers 0/1"),
    (numpy.array([0.0, 1.0]), TypeError, "operand 0 has dtype float64"),
    (numpy.array(["1"]), TypeError, "operand 0 has dtype <U1"),
    (numpy.array([], bool), ValueError, "at least one bit"),
])  # fmt: skip
def test_bulk_op_refuses_other_operands(operand, error, message):
    with pytest.raises(error, match=message):
        bulk_op("not", operand)


# -- the cost model's organisation -----------------------------------------------------------


@pytest.mark.parametrize("name, allowed", [("row_bytes", ROW_BYTES_RANGE), ("banks", BANKS_RANGE),
                                           ("subarrays_per_bank", SUBARRAYS_PER_BANK_RANGE)])
def test_organisations_are_bounded_to_physical_ranges(name, allowed):
    low, high = allowed
    assert getattr(DramOrganization(**{name: numpy.int64(high)}), name) == high
    for value in (low - 1, high + 1, 10**24, 99999999999999999999):
        with pytest.raises(ValueError, match=rf"{name} must be an integer in \[{low}, {high}\]"):
            DramOrganization(**{name: value})


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0.0, -1.0])
def test_timings_are_finite_and_positive(value):
    with pytest.raises(ValueError, match="t_ras_ns must be a finite number > 0"):
        AmbitCostModel(timing=DramTiming(t_ras_ns=value))


# -- property: any program text is a clear error or a correct run ----------------------------


@settings(max_examples=150, deadline=2000)
@given(PROGRAM_TEXT, st.integers(-5, 2 * MAX_DATA_ROWS) | st.integers(-(10**30), 10**30),
       st.sampled_from(["fast", "reference"]))
def test_any_program_text_is_a_clear_error_or_a_correct_run(text, data_rows, executor):
    try:
        program = Program.parse(text)
        subarray = Subarray(70, data_rows)
    except CLEAR_ERRORS:
        return
    reference = Subarray(70, data_rows)
    try:
        subarray.run(program, executor=executor)
    except CLEAR_ERRORS:
        assert not subarray.is_open
        return
    for command in program:  # the same commands one at a time give the same rows
        reference.execute(command)
    assert all(numpy.array_equal(a, b) for a, b in zip(subarray.state().values(), reference.state().values()))


@settings(max_examples=60, deadline=2000)
@given(st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=20), st.binary(max_size=8),
                 st.lists(st.one_of(st.integers(), st.text(max_size=8), st.none()), max_size=3)))
def test_any_program_object_is_a_clear_error_or_a_program(program):
    try:
        Subarray(8, 4).run(program)
    except CLEAR_ERRORS:
        pass
