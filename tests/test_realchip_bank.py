"""APA and FRAC on a real-chip bank without errors: majority with replication, Multi-RowCopy, NOT and
N:N logic across neighbouring subarrays, ordinary activations, refusals, the program text form."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cim_emu.ambit.program import Program, ProgramSyntaxError
from cim_emu.ambit.realchip import (
    APA,
    FRAC,
    RealChipBank,
    RealChipCommandError,
    RealChipErrorModel,
    RealChipProgram,
    open_rows,
)
from cim_emu.ambit.realchip.recipes import group_pair, majority, replication
from cim_emu.bits import pack_bits

IDEAL = RealChipErrorModel.none()


def random_bits(rng, n, count):
    return [rng.integers(0, 2, n).astype(bool) for _ in range(count)]


def exact_majority(bits):
    return 2 * numpy.sum(bits, axis=0) > len(bits)


@pytest.mark.parametrize("rows,operands", [(4, 3), (8, 3), (8, 5), (8, 7), (16, 5), (16, 9), (32, 7), (32, 9)])
def test_majority_with_replication_and_frac(np_rng, rows, operands):
    n = 777
    bank = RealChipBank(n, errors=IDEAL)
    rf, rs = group_pair(512 * 3 + 40, rows)
    data = random_bits(np_rng, n, operands)
    outcome = majority(bank, rf, rs, [pack_bits(d) for d in data])
    expected = exact_majority(data)
    assert outcome.op == "maj" and outcome.operands == operands and outcome.pattern == "random"
    assert len(outcome.rows) == rows
    for row in outcome.rows:  # destructive: every open row takes the result, Frac'd rows too
        numpy.testing.assert_array_equal(bank.read_bits(row), expected)


def test_replication_counts():
    assert replication(32, 5) == (6, 2)
    assert replication(8, 3) == (2, 2)
    assert replication(16, 9) == (1, 7)
    with pytest.raises(ValueError, match="operands must be"):
        replication(4, 5)


def test_frac_rows_do_not_vote_and_a_tie_is_a_coin(np_rng):
    n = 4096
    bank = RealChipBank(n, errors=IDEAL)
    rows = open_rows(0, 3).rows  # fields [2:1] and [0] differ: 4 rows
    a, b = random_bits(np_rng, n, 2)
    bank.write_bits(rows[0], a)
    bank.write_bits(rows[1], a)
    bank.write_bits(rows[2], b)
    bank.frac(rows[3])
    bank.apa(0, 3, 1.5, 3.0)  # two votes of a, one of b: a wins everywhere
    numpy.testing.assert_array_equal(bank.read_bits(rows[3]), a)
    bank.write_bits(rows[2], ~a)
    bank.write_bits(rows[3], ~a)
    bank.apa(0, 3, 1.5, 3.0)  # two against two: a fair coin per bit, the same in every row
    result = bank.read_bits(rows[0])
    assert 0.45 < result.mean() < 0.55
    for row in rows[1:]:
        numpy.testing.assert_array_equal(bank.read_bits(row), result)


def test_multi_row_copy(np_rng):
    n = 1000
    bank = RealChipBank(n, errors=IDEAL)
    source = random_bits(np_rng, n, 1)[0]
    bank.write_bits(256, source)
    outcome = bank.run(RealChipProgram.of(APA(256, 287, 36, 3)))[0]
    assert outcome.op == "copy"
    for row in open_rows(256, 287).rows:
        numpy.testing.assert_array_equal(bank.read_bits(row), source)


def test_not_across_neighbouring_subarrays_on_half_the_columns(np_rng):
    n = 1000
    bank = RealChipBank(n, errors=IDEAL)
    source, old = random_bits(np_rng, n, 2)
    group = open_rows(5, 512 + 6)
    bank.write_bits(5, source)
    for row in group.second:
        bank.write_bits(row, old)
    assert bank.apa(5, 512 + 6, 36, 3).op == "not"
    shared = numpy.arange(n) % 2 == 0  # the stripe between subarrays 0 and 1 serves even columns
    for row in group.second:
        numpy.testing.assert_array_equal(bank.read_bits(row), numpy.where(shared, ~source, old))
    for row in group.first:
        numpy.testing.assert_array_equal(bank.read_bits(row), source)


@pytest.mark.parametrize("reference,op", [(1, "and"), (0, "or")])
def test_nn_logic_across_neighbouring_subarrays(np_rng, reference, op):
    n = 999
    bank = RealChipBank(n, errors=IDEAL)
    rf, rs = 512 * 1 + 0, 512 * 2 + 31  # subarrays 1 and 2: the stripe serves odd columns
    group = open_rows(rf, rs)
    assert len(group.first) == len(group.second) == 8
    data = random_bits(np_rng, n, 8)
    for row in group.first:
        bank.write_bits(row, numpy.full(n, bool(reference)))
    old = {}
    for row, bits in zip(group.second, data):
        bank.write_bits(row, bits)
        old[row] = bits
    outcome = bank.apa(rf, rs, 1.5, 3)
    assert outcome.op == op and outcome.operands == 8
    exact = numpy.logical_and.reduce(data) if reference else numpy.logical_or.reduce(data)
    shared = numpy.arange(n) % 2 == 1
    for row in group.second:
        numpy.testing.assert_array_equal(bank.read_bits(row), numpy.where(shared, exact, old[row]))
    for row in group.first:
        numpy.testing.assert_array_equal(bank.read_bits(row), numpy.where(shared, ~exact, bool(reference)))


def test_refusals_and_ordinary_activation(np_rng):
    n = 64
    bank = RealChipBank(n, errors=IDEAL)
    bits = random_bits(np_rng, n, 1)[0]
    bank.write_bits(256, bits)
    for t1, t2 in [(10, 3), (1.5, 9)]:
        with pytest.raises(RealChipCommandError, match="outside the working windows"):
            bank.apa(256, 287, t1, t2)
    assert bank.apa(256, 287, 1.5, 13.32).op == "activate"  # tRP met: nothing changes
    numpy.testing.assert_array_equal(bank.read_bits(256), bits)
    numpy.testing.assert_array_equal(bank.read_bits(287), numpy.zeros(n, bool))
    bank.frac(256)
    with pytest.raises(RealChipCommandError, match="VDD/2"):
        bank.read_bits(256)
    with pytest.raises(RealChipCommandError, match="VDD/2"):
        bank.apa(256, 287, 36, 3)  # copying a Frac'd row
    for row in open_rows(256, 287).rows:
        bank.frac(row)
    with pytest.raises(RealChipCommandError, match="nothing to sense"):
        bank.apa(256, 287, 1.5, 3)
    bank.write_bits(512, bits | ~bits)  # not a uniform reference side... mixed with a zeros row
    bank.write_bits(513, numpy.zeros(n, bool))
    with pytest.raises(RealChipCommandError, match="reference rows"):
        bank.apa(512, 1024 + 1, 1.5, 3)
    with pytest.raises(ValueError, match="t1 must be a number of ns"):
        bank.apa(0, 1, -1, 3)
    with pytest.raises(ValueError, match="bits must be a 1-D vector"):
        bank.write_bits(0, numpy.zeros(n + 1, bool))
    with pytest.raises(TypeError, match="errors must be"):
        RealChipBank(n, errors=0.5)
    with pytest.raises(ValueError, match="row_bits must be a positive integer"):
        RealChipBank(0)
    with pytest.raises(ValueError, match="operands must be an integer in \\[1, 64\\]"):
        bank.apa(0, 3, 1.5, 3, operands=0)
    with pytest.raises(ValueError, match="words must be 1 uint64 words"):
        bank.write_words(0, numpy.zeros(1, numpy.int64))


def test_the_ideal_parser_is_unchanged_and_refuses_real_chip_commands():
    with pytest.raises(ProgramSyntaxError, match="expected AAP or AP"):
        Program.parse("APA 256 287 1.5 3")


def test_program_text_round_trip_and_errors():
    text = "# MAJ3 in 8 rows\nFRAC 286\nfrac 287  # neutral\n\nAPA 256 287 1.5 3 3\nAPA 256 287 36 3\n"
    program = RealChipProgram.parse(text)
    assert program.counts() == {"APA": 2, "FRAC": 2}
    assert program.commands[2] == APA(256, 287, 1.5, 3, operands=3) and program.commands[3].operands is None
    assert RealChipProgram.parse(program.to_text()) == program
    assert program.to_text().splitlines()[2] == "FRAC 287  # neutral"
    assert list(program)[0] == FRAC(286)
    for bad, message in [("AAP D0 D1", "unknown command"), ("APA 1 2 3", "takes 4 or 5 operand"),
                         ("APA 1 x 1 2", "expected a row number"), ("FRAC 1.5", "expected a row number"),
                         ("APA 1 2 1 fast", "expected a time"), ("FRAC 999999999", "row must be a row number")]:
        with pytest.raises(ProgramSyntaxError, match=message):
            RealChipProgram.parse("# ok\n" + bad)


@given(st.lists(st.tuples(st.integers(0, 2**18 - 1), st.integers(0, 2**18 - 1),
                          st.floats(0, 1000, allow_nan=False), st.floats(0, 1000, allow_nan=False)), max_size=5))
def test_any_program_prints_and_parses_back(commands):
    program = RealChipProgram(tuple(APA(*c) for c in commands) + (FRAC(3),))
    assert RealChipProgram.parse(program.to_text()) == program
