"""Reductions over the bits of each element as AAP/AP programs: AND, OR, XOR and bit count.

**AND / OR reduction** (n >= 2: 4 + 5⌊(n−2)/2⌋ + 3((n−2) % 2) commands, about 2.5 a bit).
Two running results, one on each of the TRAs that share no row (``B14 = (DCC0, T1, T2)`` and
``B15 = (DCC1, T0, T3)``): a round loads two bits into the DCCs, the identity-absorbing
constant (C0 for AND, C1 for OR) into T2 and T3 with one two-row write, and runs both TRAs (5
commands for two bits); the two results are combined at the end by ``B12``.

**XOR reduction** (parity; n >= 3: 8⌈(n−1)/2⌉ + 1): the running parity is the ``K`` input of
the full adder of :mod:`.adder`, whose sum bit is ``XOR(a, b, K)``: two bits a round. The sum
is put back into T0 and DCC0 as the next ``K`` (one extra command a round). n = 2 is Ambit's
XOR (7 commands).

**Bit count** (9(n − popcount(n)) + 1): a carry-save (Wallace/Dadda) tree of full adders.
Column ``w`` holds the rows of weight ``2**w``; while it has three rows a full adder turns them
into one sum (weight ``2**w``) and one carry (weight ``2**(w+1)``), and two rows go through a
half adder (the full adder with ``K`` = C0). Column ``w`` starts with ``⌊n / 2**w⌋`` rows and
needs as many adders as it sends carries, ``⌊n / 2**(w+1)⌋``: ``n − popcount(n)`` adders of 9
commands in all, plus one copy of the top bit. The last adder of a column writes its sum
straight into the result row. The result has ``n.bit_length()`` bits.
"""

from __future__ import annotations

from collections import deque

from ..ambit import library
from .adder import full_adder_bit, load_chain
from .allocator import RowAllocator
from .builder import Operand, ProgramBuilder, constant_row, extend

REDUCTIONS = ("and", "or")


def and_or_reduce(p: ProgramBuilder, rows: RowAllocator, x: Operand, op: str) -> Operand:
    """AND (``op="and"``) or OR (``"or"``) of the bits of each element, as a one-bit operand."""
    if op not in REDUCTIONS:
        raise ValueError(f"op must be one of {', '.join(REDUCTIONS)}; got {op!r}")
    out = rows.take(1, f"the {op}-reduction")
    if len(x) == 1:
        p.aap(x[0], out[0], "copy")
        return out
    absorbing = constant_row(int(op == "or"))
    p.aap(x[0], "B1", "first running result in T1")
    p.aap(x[1], "B0", "second running result in T0")
    rest = x[2:]
    for k in range(0, len(rest) - 1, 2):
        p.aap(absorbing, "B10")
        p.aap(rest[k], "B4")
        p.aap(rest[k + 1], "B6")
        p.ap("B14")
        p.ap("B15")
    if len(rest) % 2:
        p.aap(absorbing, "B2")
        p.aap(rest[-1], "B4")
        p.ap("B14")
    p.aap(absorbing, "B2")
    p.aap("B12", out[0], f"{op} of the two running results")
    return out


def xor_reduce(p: ProgramBuilder, rows: RowAllocator, x: Operand) -> Operand:
    """XOR of the bits of each element (parity), as a one-bit operand."""
    out = rows.take(1, "the xor-reduction")
    if len(x) == 1:
        p.aap(x[0], out[0], "copy")
        return out
    if len(x) == 2:
        extend(p, library.xor(x[0], x[1], out[0]))
        return out
    load_chain(p, x[0])
    rest = list(x[1:]) + (["C0"] if len(x) % 2 == 0 else [])
    for k in range(0, len(rest), 2):
        last = k + 2 == len(rest)
        full_adder_bit(p, rest[k], rest[k + 1], out[0] if last else "B11", "carry")
        if not last:
            p.aap("B0", "B4", "the parity so far, K, into DCC0 (T0 has it)")
    return out


def bitcount(p: ProgramBuilder, rows: RowAllocator, x: Operand) -> Operand:
    """Number of set bits of each element, as an operand of ``len(x).bit_length()`` bits."""
    width = len(x).bit_length()
    out = rows.take(width, "the bit count")
    columns = [deque((row, False) for row in x)] + [deque() for _ in range(width)]  # (row, is temporary)
    for w in range(width):
        column = columns[w]
        while len(column) >= 2:
            inputs = [column.popleft() for _ in range(min(3, len(column)))]
            third = inputs[2][0] if len(inputs) == 3 else "C0"
            carry = rows.take_one("a carry of the bit count")
            total = out[w] if not column else rows.take_one("a sum of the bit count")
            load_chain(p, third)
            full_adder_bit(p, inputs[0][0], inputs[1][0], total, "carry", chain_out=carry)
            rows.release(*(row for row, temporary in inputs if temporary))
            columns[w + 1].append((carry, True))
            if total != out[w]:
                column.append((total, True))
        if column:
            row, temporary = column.popleft()
            p.aap(row, out[w], "copy")
            if temporary:
                rows.release(row)
    return out
