"""The full-adder loop body: its identity, and one bit of it run command by command."""

import itertools

import numpy
import pytest

from cim_emu.ambit import Subarray
from cim_emu.simdram.adder import full_adder_bit, load_chain, ripple
from cim_emu.simdram.builder import ProgramBuilder


def maj(a, b, c):
    return (a & b) | (b & c) | (a & c)


def test_sum_identity_holds_for_every_input():
    for a, b, k in itertools.product((0, 1), repeat=3):
        v, z = maj(a, b, k), maj(1 - a, b, k)
        assert maj(a, 1 - v, z) == a ^ b ^ k
        assert v == (a + b + k) // 2  # carry of a + b + k
        assert z == int(a - b - k < 0)  # borrow of a - b - k


@pytest.mark.parametrize("chain", ["carry", "borrow"])
@pytest.mark.parametrize("executor", ["reference", "fast"])
def test_one_bit_on_all_eight_input_columns(chain, executor):
    a, b, k = (numpy.array(bits, bool) for bits in zip(*itertools.product((0, 1), repeat=3)))
    subarray = Subarray(8, data_rows=4)
    for row, bits in enumerate((a, b, k)):
        subarray.write_bits(row, bits)
    p = ProgramBuilder()
    load_chain(p, "D2")
    full_adder_bit(p, "D0", "D1", "D3", chain)
    subarray.run(p.program(), executor=executor)
    assert subarray.read_bits(3).tolist() == (a ^ b ^ k).tolist()
    chain_out = maj(a, b, k) if chain == "carry" else maj(~a, b, k)
    assert subarray.read_bits("T0").tolist() == chain_out.tolist()
    assert subarray.read_bits("DCC0").tolist() == chain_out.tolist()
    assert len(p) == 9


def test_ripple_is_seven_commands_a_bit_plus_two():
    p = ProgramBuilder()
    ripple(p, ("D0", "D1", "D2"), ("D3", "D4", "D5"), ("D6", "D7", "D8"), "carry")
    assert p.program().counts() == {"AAP": 6 * 3 + 2, "AP": 3}


def test_unknown_chain_is_refused():
    with pytest.raises(ValueError, match="chain must be one of carry, borrow"):
        full_adder_bit(ProgramBuilder(), "D0", "D1", "D2", "sideways")
