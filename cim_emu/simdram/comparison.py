"""Comparisons as AAP/AP programs: greater, greater-equal, equal, min, max, if-else.

**Greater / greater-or-equal** (3n + 1 commands; published 3n + 2). ``x > y`` is the borrow
out of ``y - x``, ``x >= y`` the borrow out of ``y - x - 1``: the chain
``D' = MAJ(NOT y[k], x[k], D)`` from ``D = 0`` (greater) or ``D = 1`` (greater-or-equal). It is
one TRA a bit, ``B15 = (DCC1, T0, T3)``, with ``NOT y[k]`` written into DCC1 through its
n-wordline (``AAP y B7``), ``x[k]`` into T3, and ``D`` in T0, where the previous TRA left it:

    AAP C0 B0;  then per bit: AAP y[k] B7; AAP x[k] B3; AP B15;  the last AP is AAP B15 out

Signed operands compare their top bits the other way round (a set sign bit means smaller):
the top bit loads ``x`` through the n-wordline and ``y`` into T3, at no extra cost.

**Equal** (4n + 3; published 4n + 3). Two chains run side by side on the two TRAs that share no
row: ``X' = MAJ(NOT a, b, X)`` on B14 (``a <= b`` so far) and ``Y' = MAJ(NOT b, a, Y)`` on B15
(``b <= a``), both from 1. ``AAP a B8`` and ``AAP b B9`` load each bit and its negation in two
commands, so a bit costs 4; at the end ``a == b`` is ``X AND Y`` (2 commands).

**Constant comparison** (BitWeaving/V scans, Li & Patel, SIGMOD 2013): with a constant known
when the program is written, its bits become C0/C1 operands of the chain
(``x < c``: ``D' = MAJ(NOT x[k], c[k], D)``, ``x >= c``: ``D' = MAJ(NOT c[k], x[k], D)``):
3k + 1 commands for a k-bit column and no row for the constant.

**Min / max** (11n + 1): ``c = a > b`` (3n + 1) into a temporary row, then
:func:`~.bitwise.select_bits` (8n). **If-else**: :func:`~.bitwise.select_bits` (8n).
"""

from __future__ import annotations

from typing import Optional, Sequence

from .allocator import RowAllocator
from .bitwise import select_bits
from .builder import ONE, Operand, ProgramBuilder, constant_row
from .layout import check_bits

RELATIONS = ("<", ">=")


def borrow_chain(p: ProgramBuilder, x: Sequence[str], y: Sequence[str], *, or_equal: bool, signed: bool,
                 out: Optional[str]) -> None:
    """``x > y`` (``or_equal``: ``x >= y``) into ``out``; ``out=None`` leaves it in T0, T3, DCC1."""
    n = len(x)
    p.aap(constant_row(int(or_equal)), "B0", "D = 1 (>=) or 0 (>)")
    for k in range(n):
        top_signed = signed and k == n - 1
        negated, plain = (x[k], y[k]) if top_signed else (y[k], x[k])
        p.aap(negated, "B7", "DCC1 = NOT y (sign bit of x when signed)")
        p.aap(plain, "B3")
        if k == n - 1 and out is not None:
            p.aap("B15", out, "D' = MAJ(NOT y, x, D)")
        else:
            p.ap("B15", "D' = MAJ(NOT y, x, D)")


def greater(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand, signed: bool) -> Operand:
    """``a > b`` as a one-bit operand."""
    out = rows.take(1, "the comparison")
    borrow_chain(p, a, b, or_equal=False, signed=signed, out=out[0])
    return out


def greater_equal(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand, signed: bool) -> Operand:
    """``a >= b`` as a one-bit operand."""
    out = rows.take(1, "the comparison")
    borrow_chain(p, a, b, or_equal=True, signed=signed, out=out[0])
    return out


def equal(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand) -> Operand:
    """``a == b`` as a one-bit operand (signedness does not matter)."""
    out = rows.take(1, "the comparison")
    p.aap(ONE, "B10", "X = Y = 1")
    for a_bit, b_bit in zip(a, b):
        p.aap(a_bit, "B8", "T0 = a, DCC0 = NOT a")
        p.aap(b_bit, "B9", "T1 = b, DCC1 = NOT b")
        p.ap("B14", "X' = MAJ(NOT a, b, X)")
        p.ap("B15", "Y' = MAJ(NOT b, a, Y)")
    p.aap("C0", "B2")
    p.aap("B12", out[0], "X AND Y")
    return out


def compare_constant(p: ProgramBuilder, rows: RowAllocator, x: Operand, relation: str, constant: int) -> Operand:
    """``x < constant`` or ``x >= constant`` (unsigned), the constant compiled into the program."""
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {', '.join(RELATIONS)}; got {relation!r}")
    n = check_bits(len(x), "the column width")
    if isinstance(constant, bool) or not isinstance(constant, int) or not 0 <= constant < 2**n:
        raise ValueError(f"constant must be an integer in 0..{2**n - 1} for a {n}-bit column; got {constant!r}")
    out = rows.take(1, "the comparison")
    greater_equal_form = relation == ">="
    p.aap(constant_row(int(greater_equal_form)), "B1", "D = 1 (>=) or 0 (<)")
    for k in range(n):
        bit = constant >> k & 1
        if greater_equal_form:  # D' = MAJ(x, NOT c, D)
            p.aap(x[k], "B4", "DCC0 = x")
            p.aap(constant_row(1 - bit), "B2", "T2 = NOT c")
        else:  # D' = MAJ(NOT x, c, D)
            p.aap(x[k], "B5", "DCC0 = NOT x")
            p.aap(constant_row(bit), "B2", "T2 = c")
        if k == n - 1:
            p.aap("B14", out[0])
        else:
            p.ap("B14")
    return out


def if_else(p: ProgramBuilder, rows: RowAllocator, condition: Operand, a: Operand, b: Operand) -> Operand:
    """``a if condition else b`` (``condition`` a one-bit operand)."""
    out = rows.take(len(a), "the selection")
    select_bits(p, condition[0], a, b, out)
    return out


def maximum(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand, signed: bool) -> Operand:
    """``max(a, b)``."""
    return _min_max(p, rows, a, b, signed, pick_greater=True)


def minimum(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand, signed: bool) -> Operand:
    """``min(a, b)``."""
    return _min_max(p, rows, a, b, signed, pick_greater=False)


def _min_max(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand, signed: bool,
             pick_greater: bool) -> Operand:
    a_greater = greater(p, rows, a, b, signed)
    out = rows.take(len(a), "the minimum or maximum")
    chosen_if_greater, chosen_otherwise = (a, b) if pick_greater else (b, a)
    select_bits(p, a_greater[0], chosen_if_greater, chosen_otherwise, out)
    rows.release(*a_greater)
    return out
