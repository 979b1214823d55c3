"""Bit-serial subtraction and comparison on a real chip: the identities behind them, exact results on
an error-free chip for random widths and operands, the command counts against the formulas of
docs/spec/realchip.md, the MAJ5/MAJ7 savings, seeded reproducibility and the success under the
error model."""

import itertools

import numpy
import pytest

from cim_emu.ambit.realchip import RealChipBank, RealChipErrorModel
from cim_emu.ambit.realchip.adder import SUBARRAY, addition_program, command_kinds, emulate_addition
from cim_emu.ambit.realchip.arithmetic import (
    CMP_VARIANTS,
    COMPARISONS,
    SUB_VARIANTS,
    compare_on_chip,
    comparison_program,
    emulate_comparison,
    emulate_subtraction,
    subtract_on_chip,
    subtraction_program,
)
from cim_emu.ambit.realchip.timing import apa_latency_ns, frac_latency_ns
from cim_emu.bits import pack_bits, unpack_bits


def maj(*values):
    return 2 * sum(values) > len(values)


def rows_of(values, bits):
    return [pack_bits((values >> k) & 1) for k in range(bits)]


def value_of(rows, n):
    return sum(unpack_bits(w, n).astype(numpy.int64) << k for k, w in enumerate(rows))


def operands(np_rng, n, bits):
    """Random operands, with a quarter of the columns equal (where > and >= differ)."""
    a = np_rng.integers(0, 2**bits, n)
    b = np_rng.integers(0, 2**bits, n)
    equal = np_rng.random(n) < 0.25
    b[equal] = a[equal]
    return a, b


# -- the identities ---------------------------------------------------------------------------------
def test_two_bit_carry_is_one_maj7():
    """C2 = MAJ7(A1, A1, B1, B1, A0, B0, C0): the carry is a threshold of the weighted bits."""
    for a1, b1, a0, b0, c0 in itertools.product((0, 1), repeat=5):
        assert maj(a1, a1, b1, b1, a0, b0, c0) == (2 * (a1 + b1) + a0 + b0 + c0 >= 4)


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_carry_chains_compare_and_subtract(bits):
    """Every pair of ``bits``-bit numbers: the MAJ3 chain and the MAJ7 pairs on NOT b with carry-in
    0 / 1 give a > b / a >= b, and a + NOT b + 1 is a + 2**bits - b."""
    mask = 2**bits - 1
    for a, b in itertools.product(range(2**bits), repeat=2):
        nb = ~b & mask
        for op, c0 in COMPARISONS.items():
            c3 = c7 = c0
            for k in range(bits):
                c3 = maj(a >> k & 1, nb >> k & 1, c3)
            k = 0
            while k < bits:
                if k + 1 < bits:
                    hi, lo = (a >> k + 1 & 1, nb >> k + 1 & 1), (a >> k & 1, nb >> k & 1)
                    c7, k = maj(*hi, *hi, *lo, c7), k + 2
                else:
                    c7, k = maj(a >> k & 1, nb >> k & 1, c7), k + 1
            assert c3 == c7 == (a > b if op == ">" else a >= b)
        assert a + nb + 1 == a + 2**bits - b


# -- exact on an error-free chip --------------------------------------------------------------------
@pytest.mark.parametrize("variant", SUB_VARIANTS)
def test_ideal_chip_subtracts_exactly_on_the_shared_columns(np_rng, variant):
    n, bits = int(np_rng.integers(200, 600)), int(np_rng.integers(1, 7))
    a, b = operands(np_rng, n, bits)
    bank = RealChipBank(n, errors=RealChipErrorModel.none())
    total = value_of(subtract_on_chip(bank, rows_of(a, bits), rows_of(b, bits), variant), n)
    shared = numpy.arange(n) % 2 == SUBARRAY % 2
    numpy.testing.assert_array_equal(total[shared] % 2**bits, ((a - b) % 2**bits)[shared])
    numpy.testing.assert_array_equal(total[shared] >> bits, (a >= b)[shared])  # the carry out: no borrow
    assert (total[~shared] != (a + 2**bits - b)[~shared]).any()  # NOT reaches only the shared half


@pytest.mark.parametrize("variant", CMP_VARIANTS)
def test_ideal_chip_compares_exactly_on_the_shared_columns(np_rng, variant):
    n, bits = int(np_rng.integers(200, 600)), int(np_rng.integers(1, 8))
    a, b = operands(np_rng, n, bits)
    shared = numpy.arange(n) % 2 == SUBARRAY % 2
    for op in COMPARISONS:
        bank = RealChipBank(n, errors=RealChipErrorModel.none())
        (got,) = compare_on_chip(bank, rows_of(a, bits), rows_of(b, bits), variant, op)
        expected = a > b if op == ">" else a >= b
        numpy.testing.assert_array_equal(unpack_bits(got, n)[shared], expected[shared])


def test_emulation_without_errors_is_exact(np_rng):
    """The measurement path (seeded operand streams, numpy's integers) agrees in every column."""
    seed, bits = int(np_rng.integers(0, 2**31)), int(np_rng.integers(1, 6))
    row_bits = int(np_rng.integers(100, 700))
    none = RealChipErrorModel.none()
    results = [emulate_subtraction(v, bits, 2, row_bits, seed, none) for v in SUB_VARIANTS]
    results += [emulate_comparison(v, op, bits, 2, row_bits, seed, none) for v in CMP_VARIANTS for op in COMPARISONS]
    for result in results:
        assert (result.success, result.bit_success) == (1.0, 1.0), result
        assert result.columns == (row_bits + 1 - SUBARRAY % 2) // 2


# -- command counts ----------------------------------------------------------------------------------
def ones(j, n):
    """How many k < n have bit j set."""
    return sum(k >> j & 1 for k in range(n))


def bit(j, k):
    return k >> j & 1


def ripple_kinds(n, variant, subtract):
    """docs/spec/realchip.md: the ripple's commands by kind (addition; subtraction adds 2n NOTs and
    2 hops for every bit k with k & 8, B' being read from region b2 of s)."""
    maj3 = variant == "maj3"
    hops = (71 if maj3 else 56) * n + 13 * ones(0, n) + (0 if maj3 else 2 * ones(2, n)) - 5 * ones(3, n) + ones(4, n)
    detour = 1 if n == 1 else 0 if n == 2 else 2 if n < 16 else 1
    hops += 2 + bit(0, n) + bit(2, n) + bit(4, n) + detour + (2 * ones(3, n) if subtract else 0)
    kinds = {"MAJ3": (4 if maj3 else 2) * n, "MAJ5": 0 if maj3 else n, "NOT": 3 * n if subtract else n,
             "Multi-RowCopy": (20 if maj3 else 16) * n, "RowClone hop": hops, "FRAC": (8 if maj3 else 6) * n}
    return {kind: count for kind, count in kinds.items() if count}


def comparison_kinds(n, variant):
    if variant == "maj3":
        hops = 14 * n + 4 * ones(0, n) - 2 * ones(3, n) + 2
        return {"MAJ3": n, "NOT": n, "Multi-RowCopy": 4 * n, "RowClone hop": hops, "FRAC": 2 * n}
    pairs, odd = n // 2, n % 2
    hops = 14 * pairs + ones(2, 2 * pairs) + 2 + odd * (14 - 2 * bit(3, n - 1))
    kinds = {"MAJ3": odd, "MAJ7": pairs, "NOT": n, "Multi-RowCopy": 4 * (pairs + odd), "RowClone hop": hops,
             "FRAC": 2 * n}
    return {kind: count for kind, count in kinds.items() if count}


def latency(kinds):
    sensed = sum(count for kind, count in kinds.items() if not kind.startswith(("MAJ", "FRAC")))
    majorities = sum(count for kind, count in kinds.items() if kind.startswith("MAJ"))
    return sensed * apa_latency_ns(36, 3) + majorities * apa_latency_ns(1.5, 3) + kinds["FRAC"] * frac_latency_ns()


def test_command_counts_match_the_formulas(np_rng):
    widths = sorted({1, 2, 8, *(int(n) for n in np_rng.integers(1, 32, 4))})
    for n in widths:
        for variant in SUB_VARIANTS:
            for program, subtract in ((addition_program(n, variant), False), (subtraction_program(n, variant), True)):
                expected = ripple_kinds(n, variant, subtract)
                assert command_kinds(program) == expected, (n, variant, subtract)
                assert program.counts() == {"APA": sum(expected.values()) - expected["FRAC"], "FRAC": expected["FRAC"]}
                assert program.latency_ns() == pytest.approx(latency(expected))
        for variant in CMP_VARIANTS:
            program = comparison_program(n, variant)
            assert command_kinds(program) == comparison_kinds(n, variant), (n, variant)
            assert program.latency_ns() == pytest.approx(latency(comparison_kinds(n, variant)))
    # the documented 8-bit figures
    apas = {(op, v): p(8, v).counts()["APA"] for op, p, vs in (("add", addition_program, SUB_VARIANTS),
            ("sub", subtraction_program, SUB_VARIANTS), ("cmp", comparison_program, CMP_VARIANTS)) for v in vs}
    assert apas == {("add", "maj3"): 824, ("add", "maj5"): 672, ("sub", "maj3"): 840, ("sub", "maj5"): 688,
                    ("cmp", "maj3"): 178, ("cmp", "maj7"): 90}


def test_maj5_and_maj7_save_apas_and_latency(np_rng):
    for n in sorted({2, *(int(n) for n in np_rng.integers(2, 32, 3))}):
        sub3, sub5 = subtraction_program(n, "maj3"), subtraction_program(n, "maj5")
        saved = sub3.counts()["APA"] - sub5.counts()["APA"]
        assert saved == 20 * n - 2 * ones(2, n) > 0
        assert sub3.counts()["FRAC"] - sub5.counts()["FRAC"] == 2 * n and sub5.latency_ns() < sub3.latency_ns()
        cmp3, cmp7 = comparison_program(n, "maj3"), comparison_program(n, "maj7")
        assert cmp7.counts()["APA"] < cmp3.counts()["APA"] and cmp7.latency_ns() < cmp3.latency_ns()
        assert cmp7.counts()["FRAC"] == cmp3.counts()["FRAC"] == 2 * n
        assert sum(c.operands is not None for c in cmp7) == (n + 1) // 2
        if n % 2 == 0:  # pairs only: 9.5n + 2n - ones(2, n) - 2 ones(3, n) fewer APAs
            assert cmp3.counts()["APA"] - cmp7.counts()["APA"] == 23 * n // 2 - ones(2, n) - 2 * ones(3, n)
    assert comparison_program(1, "maj7").to_text() == comparison_program(1, "maj3").to_text()  # one bit: a MAJ3


def test_refusals():
    with pytest.raises(ValueError, match="variant must be one of"):
        subtraction_program(8, "maj7")
    with pytest.raises(ValueError, match="variant must be one of"):
        comparison_program(8, "maj5")
    with pytest.raises(ValueError, match="bits must be an integer in"):
        comparison_program(32, "maj3")
    with pytest.raises(ValueError, match="op must be one of"):
        emulate_comparison("maj3", "<", bits=2, trials=1, row_bits=64)


# -- errors ------------------------------------------------------------------------------------------
def test_seeded_errors_are_reproducible(np_rng):
    seed, n, bits = int(np_rng.integers(0, 2**31)), 1024, 4
    a, b = operands(np_rng, n, bits)

    def run(error_seed):
        bank = RealChipBank(n, errors=RealChipErrorModel(seed=error_seed))
        (got,) = compare_on_chip(bank, rows_of(a, bits), rows_of(b, bits), "maj7", ">")
        return unpack_bits(got, n), bank.apa_count

    (first, apas), (again, _), (other, _) = run(seed), run(seed), run(seed + 1)
    numpy.testing.assert_array_equal(first, again)
    assert (first != other).any() and apas == comparison_program(bits, "maj7").counts()["APA"]
    once = emulate_subtraction("maj5", bits=2, trials=2, row_bits=512, seed=seed)
    assert once == emulate_subtraction("maj5", bits=2, trials=2, row_bits=512, seed=seed)


def test_success_under_the_error_model(np_rng):
    """Failures stick to cells. A comparison is right in every trial at most where its carry group is
    capable of the majority (0.98 for MAJ3, 0.34 for MAJ7 in 32 rows on random data; a non-capable
    column's last majority flips it half the time); a subtraction is an addition plus two NOTs a bit
    (0.9837 each), so it succeeds less than the addition on the same cells."""
    seed = int(np_rng.integers(0, 2**31))
    cmp = {v: emulate_comparison(v, ">=", bits=4, trials=6, row_bits=2**12, seed=seed) for v in CMP_VARIANTS}
    assert 0.85 < cmp["maj3"].success < 0.99 and 0.24 < cmp["maj7"].success < 0.34 + 0.03
    assert cmp["maj3"].success == cmp["maj3"].bit_success  # one result bit
    sub = {v: emulate_subtraction(v, bits=3, trials=6, row_bits=2**12, seed=seed) for v in SUB_VARIANTS}
    add = {v: emulate_addition(v, bits=3, trials=6, row_bits=2**12, seed=seed) for v in SUB_VARIANTS}
    for v in SUB_VARIANTS:
        assert sub[v].success < add[v].success - 0.03 and sub[v].bit_success > sub[v].success
        assert sub[v].success > add[v].success * 0.9837 ** 6 - 0.06
    assert sub["maj5"].success < sub["maj3"].success
    assert sub["maj5"].operation == "sub" and cmp["maj7"].operation == ">="
