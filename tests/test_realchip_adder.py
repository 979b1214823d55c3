"""Bit-serial addition on a real chip: the MAJ5 sum identity, data movement by RowClone hops and
Multi-RowCopy, exact sums without errors, command counts, and the success under the error model."""

import itertools

import numpy
import pytest

from cim_emu.ambit.realchip import LAYOUTS, RealChipBank, RealChipCommandError, RealChipErrorModel, open_rows
from cim_emu.ambit.realchip.adder import SUBARRAY, VARIANTS, add_on_chip, addition_program, emulate_addition
from cim_emu.ambit.realchip.recipes import group_pair
from cim_emu.ambit.realchip.router import allocate, cube_row, load_program, neighbours, route
from cim_emu.bits import pack_bits, unpack_bits

LAYOUT = LAYOUTS["simra-512"]


def maj(*values):
    return 2 * sum(values) > len(values)


def test_maj5_sum_identity_and_simdram_form():
    for a, b, c in itertools.product((0, 1), repeat=3):
        cout = maj(a, b, c)
        assert cout == (a + b + c >= 2)
        assert maj(a, b, c, 1 - cout, 1 - cout) == (a + b + c) % 2
        assert maj(1 - cout, maj(a, b, 1 - c), c) == (a + b + c) % 2


def test_route_copies_without_touching_blocked_rows(np_rng):
    n = 300
    bank = RealChipBank(n, errors=RealChipErrorModel.none())
    blocked = set(int(r) for r in np_rng.choice(512, 120, replace=False)) - {7, 400}
    values = {row: np_rng.integers(0, 2, n).astype(bool) for row in blocked | {7}}
    for row, bits in values.items():
        bank.write_bits(row, bits)
    hops = route(7, 400, LAYOUT, blocked)
    for hop in hops:
        assert len(open_rows(hop.rf, hop.rs, LAYOUT).rows) == 2
        assert hop.rs in neighbours(hop.rf, LAYOUT)
    bank.run(hops)
    numpy.testing.assert_array_equal(bank.read_bits(400), values[7])
    for row in blocked:
        numpy.testing.assert_array_equal(bank.read_bits(row), values[row])
    with pytest.raises(RealChipCommandError, match="different subarrays"):
        route(7, 600, LAYOUT)
    with pytest.raises(RealChipCommandError, match="no chain"):
        route(7, 400, LAYOUT, set(neighbours(7, LAYOUT)))


def test_buddy_blocks_are_disjoint_subcubes_and_loads_place_every_copy(np_rng):
    counts = [6, 6, 6, 12]
    blocks = allocate(counts, 32)
    covered = [i for parts in blocks for start, length in parts for i in range(start, start + length)]
    assert len(covered) == len(set(covered)) == 30
    assert all(start % length == 0 for parts in blocks for start, length in parts)
    assert [sum(length for _, length in parts) for parts in blocks] == counts
    with pytest.raises(ValueError, match="do not fit"):
        allocate([20, 20], 32)
    n = 200
    bank = RealChipBank(n, errors=RealChipErrorModel.none())
    rf, rs = group_pair(1024 + 16, 32)
    sources = [1024 + 4 + k for k in (0, 1, 2, 8)]  # rows of another region, one field from each other
    data = [np_rng.integers(0, 2, n).astype(bool) for _ in sources]
    for row, bits in zip(sources, data):
        bank.write_bits(row, bits)
    bank.run(load_program(rf, rs, LAYOUT, sources, counts, 256, live=sources))
    for bits, parts in zip(data, blocks):
        for start, length in parts:
            for i in range(start, start + length):
                numpy.testing.assert_array_equal(bank.read_bits(cube_row(rf, rs, LAYOUT, i)), bits)
    assert len(bank.neutral & set(open_rows(rf, rs, LAYOUT).rows)) == 2


@pytest.mark.parametrize("variant", VARIANTS)
def test_ideal_chip_adds_exactly_on_the_shared_columns(np_rng, variant):
    n, bits = 500, 4
    bank = RealChipBank(n, errors=RealChipErrorModel.none())
    a = np_rng.integers(0, 2**bits, n)
    b = np_rng.integers(0, 2**bits, n)
    sums = add_on_chip(bank, [pack_bits((a >> k) & 1) for k in range(bits)],
                       [pack_bits((b >> k) & 1) for k in range(bits)], variant)
    total = sum(unpack_bits(w, n).astype(numpy.int64) << k for k, w in enumerate(sums))
    shared = numpy.arange(n) % 2 == SUBARRAY % 2
    numpy.testing.assert_array_equal(total[shared], (a + b)[shared])
    assert (total != a + b).any()  # NOT reaches only the shared half: the other half is not a sum


def test_maj5_saves_commands_and_latency():
    maj3, maj5 = addition_program(8, "maj3"), addition_program(8, "maj5")
    assert sum(c.operands is not None for c in maj3) == 32 and sum(c.operands is not None for c in maj5) == 24
    assert maj5.counts()["APA"] < maj3.counts()["APA"] and maj5.counts()["FRAC"] < maj3.counts()["FRAC"]
    assert maj5.latency_ns() < maj3.latency_ns()
    apa, frac = maj5.counts()["APA"], maj5.counts()["FRAC"]
    charge = sum(c.t1 == 1.5 for c in maj5.commands if c.op == "APA")
    assert maj5.latency_ns() == pytest.approx(charge * 49.82 + (apa - charge) * 84.32 + frac * 14.82)
    with pytest.raises(ValueError, match="variant must be one of"):
        addition_program(8, "maj7")
    with pytest.raises(ValueError, match="bits must be an integer in"):
        addition_program(32, "maj5")


def test_success_under_the_error_model():
    """Failures stick to cells: a column's sum is right in every trial only if it is capable in every
    majority group (at most 0.98**4 * 0.9837 for maj3, 0.98**2 * 0.9837 * 0.80 for maj5, both groups
    per bit reused), less the copies' failures; MAJ5's lower success makes its adder less reliable."""
    results = {v: emulate_addition(v, bits=3, trials=6, row_bits=2**14, seed=3) for v in VARIANTS}
    upper = {"maj3": 0.98**4 * 0.9837, "maj5": 0.98**2 * 0.9837 * 0.80}
    for variant, result in results.items():
        assert upper[variant] - 0.15 < result.success < upper[variant] + 0.02, (variant, result)
        assert result.bit_success > result.success
    assert results["maj5"].success < results["maj3"].success
