"""ACTIVATE / PRECHARGE semantics, command by command, and every illegal command."""

import numpy
import pytest

from cim_emu.ambit import AAP, AP, B_GROUP, Address, AmbitCommandError, Program, Subarray

from ambit_model import TABLE


def bits(subarray, row):
    return subarray.read_bits(row).astype(int).tolist()


@pytest.fixture
def subarray():
    s = Subarray(6, data_rows=4)
    s.write_bits(0, [1, 1, 0, 0, 1, 0])
    s.write_bits(1, [1, 0, 1, 0, 0, 1])
    s.write_bits(2, [0, 1, 1, 0, 1, 1])
    return s


def test_address_table_is_ambit_table_1():
    assert {f"B{i}": [("~" if w.negated else "") + w.row for w in wls] for i, wls in B_GROUP.items()} == TABLE


def test_single_row_activation_senses_and_restores(subarray):
    before = subarray.state()
    subarray.activate("D0")
    assert subarray.is_open
    subarray.precharge()
    assert not subarray.is_open
    assert all(numpy.array_equal(before[r], v) for r, v in subarray.state().items())


def test_triple_row_activation_is_destructive_majority(subarray):
    for src, dst in (("D0", "B0"), ("D1", "B1"), ("D2", "B2")):
        subarray.aap(src, dst)
    subarray.ap("B12")
    majority = [1, 1, 1, 0, 1, 1]
    assert bits(subarray, "T0") == bits(subarray, "T1") == bits(subarray, "T2") == majority
    assert subarray.tra_count == 1


def test_n_wordline_reads_and_writes_the_negation(subarray):
    subarray.aap("D0", "B5")  # write DCC0 through its n-wordline: DCC0 = NOT D0
    assert bits(subarray, "DCC0") == [0, 0, 1, 1, 0, 1]
    subarray.aap("B5", "D3")  # read through the n-wordline: NOT DCC0 = D0
    assert bits(subarray, "D3") == bits(subarray, "D0")
    subarray.aap("B4", "D3")  # read through the d-wordline: DCC0 = NOT D0
    assert bits(subarray, "D3") == [0, 0, 1, 1, 0, 1]


def test_two_row_addresses_write_both_rows(subarray):
    subarray.aap("D1", "B8")  # DCC0 (n) and T0
    assert bits(subarray, "T0") == bits(subarray, "D1")
    assert bits(subarray, "DCC0") == [1 - b for b in bits(subarray, "D1")]
    subarray.aap("C1", "B10")  # T2 and T3
    assert bits(subarray, "T2") == bits(subarray, "T3") == [1] * 6


def test_second_activation_writes_every_raised_row_including_a_third():
    s = Subarray(3, data_rows=3)
    s.write_bits(0, [1, 0, 1])
    s.activate("D0")
    s.activate("D1")
    s.activate("D2")  # ACT, ACT, ACT: RowClone into two rows before the precharge
    s.precharge()
    assert bits(s, "D1") == bits(s, "D2") == [1, 0, 1]


def test_constant_rows_read_as_zeros_and_ones():
    s = Subarray(70, data_rows=2)
    s.aap("C1", "D0")
    assert bits(s, "D0") == [1] * 70 and bits(s, "C1") == [1] * 70 and bits(s, "C0") == [0] * 70
    assert int(s.read_words("D0")[-1]) == 2**6 - 1  # padding stays zero


@pytest.mark.parametrize(
    "commands, message",
    [
        ([("B8",)], "undefined"),
        ([("B11", "D0")], "undefined"),
        ([("D0", "C0")], "constant row C0"),
        ([("D0", "C1")], "constant row C1"),
        ([("D4", "D0")], "out of range"),
        ([("D0", "D17")], "out of range"),
        ([("B4", "B5")], "both wordlines of DCC0"),
        ([("B14", "B8")], "both wordlines of DCC0"),
        ([("B15", "B9")], "both wordlines of DCC1"),
    ],
)
def test_illegal_commands_raise_clear_errors(subarray, commands, message):
    program = Program.of(*(AAP(*c) if len(c) == 2 else AP(*c) for c in commands))
    for executor in ("fast", "reference"):
        with pytest.raises(AmbitCommandError, match=message):
            subarray.run(program, executor=executor)


def test_unknown_addresses_are_rejected():
    for text in ("B16", "D-1", "C2", "T0", "X3", ""):
        with pytest.raises(ValueError, match="unknown row address"):
            Address.parse(text)


def test_running_a_program_on_an_open_bank_is_an_error(subarray):
    subarray.activate("D0")
    with pytest.raises(AmbitCommandError, match="bank is open"):
        subarray.run(Program.of(AP("D1")))


def test_row_access_validation(subarray):
    with pytest.raises(AmbitCommandError, match="constant row C1"):
        subarray.write_bits("C1", [0] * 6)
    with pytest.raises(AmbitCommandError, match="out of range"):
        subarray.read_bits(9)
    with pytest.raises(ValueError, match="unknown row"):
        subarray.read_bits("Q1")
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        subarray.write_bits(0, [1, 0])
    with pytest.raises(ValueError, match="bool or integers 0/1"):
        subarray.write_bits(0, [2, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="uint64"):
        subarray.write_words(0, numpy.zeros(1, dtype=numpy.int64))
    with pytest.raises(ValueError, match="row_bits"):
        Subarray(0)
    with pytest.raises(ValueError, match="data_rows"):
        Subarray(8, data_rows=0)
    with pytest.raises(ValueError, match="executor"):
        subarray.run("AP D0", executor="slow")
    with pytest.raises(ValueError, match="scratch"):
        subarray.run("AP D0", scratch="discard")


def test_written_words_lose_their_padding_bits():
    s = Subarray(10, data_rows=1)
    s.write_words(0, numpy.array([2**64 - 1], dtype=numpy.uint64))
    assert int(s.read_words(0)[0]) == 2**10 - 1


@pytest.mark.parametrize("executor", ["fast", "reference"])
def test_taken_rows_are_private_copies_when_shared(executor):
    s = Subarray(70, data_rows=3)
    s.run("AAP C1 D0\nAAP D0 D1", executor=executor)
    taken = s.take_words("D1")
    taken[0] = 0  # must not change D0 (which shared D1's buffer) nor the constant row C1
    assert s.read_bits("D0").all() and s.read_bits("C1").all()
    with pytest.raises(AmbitCommandError, match="holds no value"):
        s.read_bits("D1")
