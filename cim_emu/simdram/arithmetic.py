"""Arithmetic as AAP/AP programs: add, sub, mult, div, abs, negation and ReLU.

Every function appends its program to a :class:`~cim_emu.simdram.builder.ProgramBuilder`, takes
its result (and temporary) rows from a :class:`~cim_emu.simdram.allocator.RowAllocator`, and
returns the result operand(s). Results are the low ``n`` bits (wrap-around modulo ``2**n``),
which is the same bit pattern for signed and unsigned operands except where noted.

Command counts (``n`` = bits; the published ones are CMU-SAFARI's hand-written SIMDRAM-style
μPrograms, listed in docs/simdram.md):

=============  ==============================  =====================  ==========================
operation      cim-emu                         published              how
=============  ==============================  =====================  ==========================
add, sub       7n + 2 (7 when n = 1)           8n + 1                 :mod:`.adder`
mult           5n² − 3n − 2 + 7⌊n/2⌋ + 4(n%2)  11n² − 5n − 1          only the n(n+1)/2 partial
                                                                      products below bit n
div unsigned   (13n² + 31n − 10)/2, n ≥ 2      —                      restoring, high zeros skipped
div signed     unsigned + 4·neg + OR + 11      —                      magnitudes, then signs
abs, neg       9n − 7 (1 when n = 1)           —                      conditional negation
relu           7⌊(n−1)/2⌋ + 4((n−1)%2) + 1     —                      mask by the sign
=============  ==============================  =====================  ==========================

Multiplication (SIMDRAM, ASPLOS 2021, Section 3.2): shift-and-add. Row ``j`` of partial products
``a AND b[j]`` is added to the accumulator from bit ``j`` upward; only bits below ``n`` are kept,
so row ``j`` costs ``n - j`` full-adder bits, each computing its partial-product bit in place in
T1..T3 (:func:`~.adder.load_and`, 4 commands) and then the 6 remaining adder commands. Row 0 is
the masked copy ``a AND b[0]`` (:func:`~.bitwise.mask_bits`).

Division (restoring division, one quotient bit per step from the top): at step ``i``
the partial remainder ``R' = 2R + a[i]`` has only ``w = n - i`` significant bits (``R' <= a >> i``),
so the step compares and subtracts over ``w`` bits: ``q[i] = (R'[:w] >= b[:w]) AND (b < 2**w)``
(the borrow chain of :mod:`.comparison`, then one AND with a precomputed "high bits of b are
zero" row), then ``R = R' - (q[i] AND b)`` by the subtraction body with its subtrahend computed in
place. Shifting is free: ``R'`` is the row list ``[a[i]] + R``, renamed, not moved. Division by
zero follows the common hardware convention (RISC-V): quotient all ones, remainder = dividend.
Signed division truncates toward zero (C, RISC-V; numpy's ``//`` floors instead): the
magnitudes are divided and the signs applied by conditional negation; ``x / 0 = -1`` with
remainder ``x``, and ``INT_MIN / -1`` wraps to ``INT_MIN`` with remainder 0.

Negation and absolute value: ``-x`` flips every bit above the lowest set bit, so
``out[k] = x[k] XOR u[k]`` with ``u[0] = 0``, ``u[k+1] = MAJ(s, x[k], u[k])`` — the OR of the
lower bits, gated by ``s`` (``s`` = the sign bit for abs, 1 for negation). With
``P = MAJ(NOT x, u, 0)`` computed on the way to the XOR, ``u[k+1] = MAJ(s, x[k], P)``, so a bit
costs Ambit's XOR (7) minus its initial loads plus three commands (9). ``abs(INT_MIN)`` wraps to
``INT_MIN``, as numpy's ``abs`` does; for unsigned operands abs is the identity.
"""

from __future__ import annotations

from ..ambit import library
from .adder import full_adder_bit, load_and, ripple, start_chain
from .allocator import RowAllocator
from .bitwise import mask_bits
from .builder import ONE, Operand, ProgramBuilder, extend
from .comparison import borrow_chain
from .reduction import and_or_reduce


def add(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand) -> Operand:
    """``a + b`` modulo ``2**n``."""
    return _add_or_sub(p, rows, a, b, "carry", "the sum")


def sub(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand) -> Operand:
    """``a - b`` modulo ``2**n``."""
    return _add_or_sub(p, rows, a, b, "borrow", "the difference")


def _add_or_sub(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand, chain: str, what: str) -> Operand:
    out = rows.take(len(a), what)
    if len(a) == 1:  # one bit: a + b = a - b = a XOR b, Ambit's 7-command XOR
        extend(p, library.xor(a[0], b[0], out[0]))
    else:
        ripple(p, a, b, out, chain)
    return out


def mul(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand) -> Operand:
    """``a * b`` modulo ``2**n`` (the same bits for signed and unsigned operands)."""
    n = len(a)
    acc = rows.take(n, "the product")
    mask_bits(p, a, b[0], acc, invert=False)
    for j in range(1, n):
        start_chain(p, 0)
        for i in range(n - j):
            load_and(p, a[i], b[j])
            full_adder_bit(p, acc[i + j], None, acc[i + j], "carry")
    return acc


def divmod_unsigned(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand) -> tuple[Operand, Operand]:
    """Unsigned ``(a // b, a % b)``; ``b = 0`` gives ``(2**n - 1, a)``."""
    n = len(a)
    quotient = rows.take(n, "the quotient")
    # b_fits[w] = 1 when b < 2**w, i.e. bits w..n-1 of b are zero (b_fits[n] = 1).
    b_fits = {n: ONE}
    if n > 1:
        fits_rows = rows.take(n - 1, "the rows 'b < 2**w' of division")
        p.aap(ONE, "B1", "T1 = 1")
        for w in range(n - 1, 0, -1):
            p.aap(b[w], "B5", "DCC0 = NOT b[w]")
            p.aap("C0", "B2")
            p.aap("B14", fits_rows[w - 1], "b < 2**w: NOT b[w] AND (b < 2**(w+1))")
            b_fits[w] = fits_rows[w - 1]
    remainder: Operand = ()
    for i in range(n - 1, -1, -1):
        w = n - i
        shifted = (a[i],) + remainder
        if w == n:
            borrow_chain(p, shifted, b, or_equal=True, signed=False, out=quotient[i])
        else:
            borrow_chain(p, shifted, b[:w], or_equal=True, signed=False, out=None)
            p.aap(b_fits[w], "B1")
            p.aap("C0", "B2")
            p.aap("B12", quotient[i], "q = (R' >= b) AND (b < 2**w)")
        fresh = rows.take_one("the partial remainder")
        targets = (fresh,) + shifted[1:]
        start_chain(p, 0)
        for k in range(w):
            load_and(p, quotient[i], b[k])
            full_adder_bit(p, shifted[k], None, targets[k], "borrow")
        remainder = targets
    if n > 1:
        rows.release(*fits_rows)
    return quotient, remainder


def divmod_signed(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand) -> tuple[Operand, Operand]:
    """Signed division truncating toward zero (C, RISC-V): ``(q, a - b*q)``.

    ``|a|`` and ``|b|`` (as unsigned: ``|INT_MIN| = 2**(n-1)``) are divided without sign, then the
    quotient is negated where the signs differ and ``b != 0``, the remainder where ``a < 0``.
    ``b = 0`` gives ``(-1, a)`` (RISC-V); ``INT_MIN / -1`` wraps to ``(INT_MIN, 0)``.
    """
    magnitude_a = negate_where(p, rows, a, a[-1])
    magnitude_b = negate_where(p, rows, b, b[-1])
    quotient, remainder = divmod_unsigned(p, rows, magnitude_a, magnitude_b)
    rows.release(*magnitude_a, *magnitude_b)
    signs_differ = rows.take_one("the sign of the quotient")
    extend(p, library.xor(a[-1], b[-1], signs_differ))
    b_nonzero = and_or_reduce(p, rows, b, "or")[0]
    negate_quotient = rows.take_one("the sign of the quotient")
    extend(p, library.and_(signs_differ, b_nonzero, negate_quotient))
    rows.release(signs_differ, b_nonzero)
    signed_quotient = negate_where(p, rows, quotient, negate_quotient)
    signed_remainder = negate_where(p, rows, remainder, a[-1])
    rows.release(*quotient, *remainder, negate_quotient)
    return signed_quotient, signed_remainder


def divide(p: ProgramBuilder, rows: RowAllocator, a: Operand, b: Operand, signed: bool) -> tuple[Operand, Operand]:
    """``(quotient, remainder)``: unsigned, or signed truncating toward zero."""
    return divmod_signed(p, rows, a, b) if signed else divmod_unsigned(p, rows, a, b)


def negate_where(p: ProgramBuilder, rows: RowAllocator, x: Operand, condition: str) -> Operand:
    """``-x if condition else x`` modulo ``2**n`` (``condition`` a one-bit row, or C1)."""
    n = len(x)
    out = rows.take(n, "the conditional negation")
    p.aap(x[0], out[0], "bit 0 never changes")
    if n == 1:
        return out
    p.aap(x[0], "B0")
    p.aap(condition, "B1")
    p.aap("C0", "B2")
    p.aap("B12", "B9", "u = c AND x[0]: T1 = u, DCC1 = NOT u")
    for k in range(1, n):
        p.aap(x[k], "B8", "T0 = x, DCC0 = NOT x")
        p.aap("C0", "B10")
        p.ap("B14", "P = NOT x AND u")
        p.ap("B15", "x AND NOT u")
        p.aap("C1", "B2")
        p.aap("B12", out[k], "x XOR u")
        if k < n - 1:
            p.aap(x[k], "B1")
            p.aap(condition, "B2")
            p.aap("B14", "B9", "u' = MAJ(P, x, c): T1 = u', DCC1 = NOT u'")
    return out


def negate(p: ProgramBuilder, rows: RowAllocator, x: Operand) -> Operand:
    """``-x`` modulo ``2**n``."""
    return negate_where(p, rows, x, ONE)


def absolute(p: ProgramBuilder, rows: RowAllocator, x: Operand, signed: bool) -> Operand:
    """``|x|`` (signed: ``abs(INT_MIN) = INT_MIN``; unsigned: a copy)."""
    if not signed:
        return copy_operand(p, rows, x)
    return negate_where(p, rows, x, x[-1])


def relu(p: ProgramBuilder, rows: RowAllocator, x: Operand, signed: bool) -> Operand:
    """``max(x, 0)`` (unsigned: a copy)."""
    if not signed:
        return copy_operand(p, rows, x)
    out = rows.take(len(x), "the ReLU")
    mask_bits(p, x[:-1], x[-1], out[:-1], invert=True)
    p.aap("C0", out[-1], "the sign of max(x, 0) is 0")
    return out


def copy_operand(p: ProgramBuilder, rows: RowAllocator, x: Operand) -> Operand:
    """A copy of ``x`` in new rows (n commands)."""
    out = rows.take(len(x), "the copy")
    for source, destination in zip(x, out):
        p.aap(source, destination, "copy")
    return out
