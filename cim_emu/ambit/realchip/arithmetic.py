"""Bit-serial subtraction and unsigned comparison on a real chip, MAJ3 only or with MAJ5/MAJ7.

Both are SIMDRAM's two's-complement forms, built on the adder's machinery
(:mod:`~cim_emu.ambit.realchip.adder`, same subarrays ``s`` and ``s + 1``, 32-row groups, loads by
RowClone hops and Multi-RowCopy, results right on the columns of the shared stripe):

**Subtraction** ``a - b = a + NOT b + 1``: the adder's ripple chain
(:func:`~cim_emu.ambit.realchip.adder.ripple_commands`, variant ``maj3`` or ``maj5``) run on
``NOT B`` with both initial carries 1 (and ``NOT C = 0`` for ``maj3``). ``NOT B`` is computed on
the chip: NOT copies a row into the neighbouring subarray inverted, leaving the source as it
was, so the host writes B in region ``b`` of ``s`` and region ``b2`` of ``s + 1`` (two
placements, as the adder's two copies of B) and two NOT APAs a bit put ``NOT B`` in region
``b`` of ``s + 1`` and ``b2`` of ``s``, where the ripple reads it. The ``bits + 1`` result rows
are the difference modulo ``2**bits`` and, on top, the carry out: 1 exactly when ``a >= b``.

**Comparison** ``a > b`` / ``a >= b``: only the carry chain of ``a + NOT b + c0`` with
``c0 = 0`` / ``1`` (the carry out of ``bits`` bits is 1 exactly when ``a - b - 1 + c0 >= 0``):
no sum, no ``NOT Cout``, so it runs in the carry group of ``s`` alone; the host writes A in ``s``
and B in ``s + 1``, and one NOT APA a bit brings ``NOT B`` into region ``b`` of ``s``.

* ``maj3``: ``C(k+1) = MAJ3(A_k, NOT B_k, C_k)``, one majority a bit;
* ``maj7``: two bits a majority, the carry being a threshold function of the weighted bits,
  ``C(k+2) = MAJ7(A_k+1, A_k+1, NOT B_k+1, NOT B_k+1, A_k, NOT B_k, C_k)`` (weights 2, 2, 1, 1, 1
  against the threshold 4: if bit ``k + 1`` generates or kills the carry it decides, else
  ``C(k+1)`` does; ``tests/test_realchip_arithmetic.py`` checks the 32 cases); an odd top bit is
  a MAJ3. Five distinct operands, four copies each (the doubled ones eight): one block each.

The command counts (derived in ``docs/spec/realchip.md`` and checked by the tests) and the
success under the error model are measured by :func:`emulate_subtraction` and
:func:`emulate_comparison` against exact integer arithmetic.
"""

from __future__ import annotations

from typing import Optional

from ..._checks import int_in_range
from ...backend import BackendLike
from .adder import (
    LAYOUT,
    SUBARRAY,
    AdditionResult,
    check_variant,
    group_rows,
    layout_rows,
    majority_commands,
    measure,
    read_region,
    region_group,
    region_row,
    ripple_commands,
    value_bits,
    write_group,
)
from .bank import RealChipBank
from .errors import RealChipErrorModel
from .program import APA, RealChipCommand, RealChipProgram
from .router import route
from .timing import COPY_TIMING

SUB_VARIANTS = ("maj3", "maj5")
CMP_VARIANTS = ("maj3", "maj7")
#: The comparisons and their carry-in.
COMPARISONS = {">": 0, ">=": 1}


def subtraction_program(bits: int, variant: str) -> RealChipProgram:
    """The program that subtracts the ``bits``-bit numbers laid out by :func:`layout_subtraction`:
    ``2 * bits`` NOT APAs, then the adder's ripple on ``NOT B``."""
    check_variant(variant, SUB_VARIANTS)
    int_in_range("bits", bits, 1, 31)
    s, t = SUBARRAY, SUBARRAY + 1
    commands: list[RealChipCommand] = []
    for k in range(bits):
        commands.append(APA(region_row(s, "b", k), region_row(t, "b", k), *COPY_TIMING, comment="NOT B into s + 1"))
        commands.append(APA(region_row(t, "b2", k), region_row(s, "b2", k), *COPY_TIMING, comment="NOT B into s"))
    commands += ripple_commands(bits, variant, ("b2", "b"))
    return RealChipProgram(tuple(commands))


def layout_subtraction(bank: RealChipBank, a_bits: list, b_bits: list, variant: str) -> None:
    """The host's writes: A in both subarrays, B in region ``b`` of ``s`` and ``b2`` of ``s + 1``,
    the carries 1 and (``maj3``) ``NOT C = 0``."""
    layout_rows(bank, a_bits, b_bits, variant, carry_in=1, b_regions=("b", "b2"))


def subtract_on_chip(bank: RealChipBank, a_bits: list, b_bits: list, variant: str) -> list:
    """``a - b`` of the bit-serial numbers (packed rows, least significant first) on ``bank``: the
    ``len(a_bits) + 1`` packed rows of ``a + 2**bits - b`` (the difference modulo ``2**bits``, then
    the carry out, 1 where ``a >= b``), right on the shared columns."""
    program = subtraction_program(len(a_bits), variant)
    layout_subtraction(bank, a_bits, b_bits, variant)
    bank.run(program)
    return read_region(bank, SUBARRAY + 1, "result", len(a_bits) + 1)


def _comparison_live(bits: int) -> set[int]:
    s, t = SUBARRAY, SUBARRAY + 1
    rows = {region_row(s, region, k) for region in ("a", "b") for k in range(bits)}
    rows |= {region_row(t, "b", k) for k in range(bits)} | {region_row(s, "result")}
    return rows | group_rows(s, "carry")


def comparison_program(bits: int, variant: str) -> RealChipProgram:
    """The program whose carry out compares the ``bits``-bit numbers laid out by
    :func:`layout_comparison` (``>`` or ``>=`` by the initial carry): ``bits`` NOT APAs, the carry
    chain in the carry group of ``s``, the carry routed to the result row of ``s``."""
    check_variant(variant, CMP_VARIANTS)
    int_in_range("bits", bits, 1, 31)
    s, t = SUBARRAY, SUBARRAY + 1
    live = _comparison_live(bits)
    commands = [APA(region_row(t, "b", k), region_row(s, "b", k), *COPY_TIMING, comment="NOT B") for k in range(bits)]

    def a(k: int) -> int:
        return region_row(s, "a", k)

    def nb(k: int) -> int:
        return region_row(s, "b", k)

    k = 0
    while k < bits:
        if variant == "maj7" and k + 1 < bits:
            commands += majority_commands(s, "carry", [a(k + 1), a(k + 1), nb(k + 1), nb(k + 1), a(k), nb(k), None],
                                          7, live)
            k += 2
        else:
            commands += majority_commands(s, "carry", [a(k), nb(k), None], 3, live)
            k += 1
    commands += route(region_group(s, "carry")[0], region_row(s, "result"), LAYOUT, live)
    return RealChipProgram(tuple(commands))


def _carry_in(op: str) -> int:
    if op not in COMPARISONS:
        raise ValueError(f"op must be one of {', '.join(COMPARISONS)}; got {op!r}")
    return COMPARISONS[op]


def layout_comparison(bank: RealChipBank, a_bits: list, b_bits: list, op: str = ">=") -> None:
    """The host's writes: A in region ``a`` of ``s``, B in region ``b`` of ``s + 1``, the carry
    group of ``s`` all ``0`` (``>``) or all ``1`` (``>=``)."""
    carry_in = _carry_in(op)
    for k, (a, b) in enumerate(zip(a_bits, b_bits)):
        bank.write_words(region_row(SUBARRAY, "a", k), a)
        bank.write_words(region_row(SUBARRAY + 1, "b", k), b)
    write_group(bank, SUBARRAY, "carry", carry_in)


def compare_on_chip(bank: RealChipBank, a_bits: list, b_bits: list, variant: str, op: str = ">=") -> list:
    """``a > b`` or ``a >= b`` (``op``) of the bit-serial numbers on ``bank``: one packed row, right
    on the shared columns."""
    program = comparison_program(len(a_bits), variant)
    layout_comparison(bank, a_bits, b_bits, op)
    bank.run(program)
    return read_region(bank, SUBARRAY, "result", 1)


def emulate_subtraction(variant: str, bits: int = 8, trials: int = 8, row_bits: int = 65536, seed: int = 0,
                        errors: Optional[RealChipErrorModel] = None,
                        backend: BackendLike = "numpy") -> AdditionResult:
    """Subtract random ``bits``-bit numbers in every column ``trials`` times under ``errors``
    (default ``RealChipErrorModel(seed=seed)``) and measure, against ``a + 2**bits - b``, the share
    of columns whose ``bits + 1`` result bits are right in every trial (operation ``"sub"``)."""
    program = subtraction_program(bits, variant)
    return measure("sub", variant, program, lambda bank, a, b: subtract_on_chip(bank, a, b, variant),
                   lambda a, b: value_bits(a + (1 << bits) - b, bits + 1), bits, trials, row_bits, seed, errors,
                   backend)


def emulate_comparison(variant: str, op: str = ">=", bits: int = 8, trials: int = 8, row_bits: int = 65536,
                       seed: int = 0, errors: Optional[RealChipErrorModel] = None,
                       backend: BackendLike = "numpy") -> AdditionResult:
    """Compare random ``bits``-bit numbers in every column ``trials`` times under ``errors`` and
    measure the share of columns whose answer is right in every trial (operation ``">"`` or ``">="``)."""
    _carry_in(op)
    program = comparison_program(bits, variant)
    return measure(op, variant, program, lambda bank, a, b: compare_on_chip(bank, a, b, variant, op),
                   lambda a, b: (a > b if op == ">" else a >= b)[None, :], bits, trials, row_bits, seed, errors,
                   backend)
