"""Per-bit building blocks with a one-bit row shared by every bit: masking and selection.

Both use the two TRAs that share no row, ``B14 = (DCC0, T1, T2)`` and
``B15 = (DCC1, T0, T3)`` (Ambit, MICRO 2017, Table 1), the way Ambit's XOR does.

``mask_bits`` — ``out[k] = x[k] AND m`` (or ``AND NOT m``) for a one-bit row ``m``: two bits per
round, ``m`` (or, written through the n-wordlines of B8/B9, ``NOT m``) in both DCCs, the two bits
in T1 and T0, one two-row write of 0 into T2 and T3, and two TRAs that write the results: 7
commands for two bits, 4 for a lone one. Used by ReLU (``AND NOT sign``) and by the first row of
partial products of multiplication (``a AND b[0]``).

``select_bits`` — ``out[k] = c ? a[k] : b[k]`` (SIMDRAM's if-else) as the majority-inverter
multiplexer ``MAJ(MAJ(c, a, 0), MAJ(NOT c, b, 0), 1)`` (no majority-inverter graph of two nodes
computes a multiplexer: an exhaustive search over all of them finds none). ``AAP c B8`` puts
``c`` in T0 and ``NOT c`` in DCC0 in one command, so 8 commands a bit:

    AAP c B8; AAP b B1; AAP a B6; AAP C0 B10; AP B14; AP B15; AAP C1 B2; AAP B12 out

(B14 = MAJ(NOT c, b, 0), B15 = MAJ(a, c, 0), then B12 = MAJ of the two and 1: their OR). The
public hand-written if-then-else of SIMDRAM's repository computes ``c OR b`` under Ambit's
semantics (docs/spec/ambit.md); this one is run bit by bit in the tests.
"""

from __future__ import annotations

from typing import Sequence

from .builder import ProgramBuilder


def mask_bits(p: ProgramBuilder, x: Sequence[str], mask: str, out: Sequence[str], *, invert: bool) -> None:
    """``out[k] = x[k] AND mask`` (``invert``: ``AND NOT mask``): 7 commands per pair, 4 per lone bit."""
    load_dcc0, load_dcc1 = ("B8", "B9") if invert else ("B4", "B6")
    what = "NOT m" if invert else "m"
    for k in range(0, len(x) - 1, 2):
        p.aap(mask, load_dcc0, f"DCC0 = {what}")
        p.aap(mask, load_dcc1, f"DCC1 = {what}")
        p.aap(x[k], "B1")
        p.aap(x[k + 1], "B0")
        p.aap("C0", "B10", "T2 = T3 = 0")
        p.aap("B14", out[k], f"x AND {what}")
        p.aap("B15", out[k + 1], f"x AND {what}")
    if len(x) % 2:
        p.aap(mask, load_dcc0, f"DCC0 = {what}")
        p.aap(x[-1], "B1")
        p.aap("C0", "B2")
        p.aap("B14", out[-1], f"x AND {what}")


def select_bits(p: ProgramBuilder, condition: str, a: Sequence[str], b: Sequence[str], out: Sequence[str]) -> None:
    """``out[k] = a[k] if condition else b[k]``: 8 commands per bit."""
    for a_bit, b_bit, out_bit in zip(a, b, out):
        p.aap(condition, "B8", "T0 = c, DCC0 = NOT c")
        p.aap(b_bit, "B1")
        p.aap(a_bit, "B6", "DCC1 = a")
        p.aap("C0", "B10", "T2 = T3 = 0")
        p.ap("B14", "NOT c AND b")
        p.ap("B15", "c AND a")
        p.aap("C1", "B2")
        p.aap("B12", out_bit, "OR of the two")
