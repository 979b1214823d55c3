"""Recipes on a real-chip bank: MAJX with operand replication, and the row pairs that open N rows.

SiMRA (DSN 2024, Section 7) computes MAJX in a group of N rows by writing each of the X operands
into ``floor((N - 1) / X)`` rows and making the ``N - X floor((N - 1) / X)`` leftover rows
neutral with Frac, then one charge-sharing APA (``t1 = 1.5 ns``, ``t2 = 3 ns``).
"""

from __future__ import annotations

from typing import Any, Sequence

from ..._checks import int_in_range
from .bank import ApaOutcome, RealChipBank
from .decoder import PredecoderLayout, as_layout, open_rows
from .timing import MAJ_TIMING


def group_pair(base: int, rows: int, layout: Any = "simra-512") -> tuple[int, int]:
    """``(RF, RS)`` that open ``rows`` (a power of two, 1 .. 2**fields) rows of ``base``'s subarray:
    RS differs from RF in the lowest bit of the first ``log2(rows)`` fields, RF = ``base`` with those
    bits cleared."""
    chosen: PredecoderLayout = as_layout(layout)
    count = int_in_range("rows", rows, 1, 2 ** len(chosen.fields))
    if count & (count - 1):
        raise ValueError(f"rows must be a power of two in [1, {2 ** len(chosen.fields)}]; got {count}")
    lows = sorted(low for _, low in chosen.fields)[: count.bit_length() - 1]
    difference = sum(1 << low for low in lows)
    rf = chosen.check_row("base", base) & ~difference
    return rf, rf | difference


def replication(rows: int, operands: int) -> tuple[int, int]:
    """``(copies of each operand, neutral rows)`` of MAJ``operands`` in ``rows`` rows."""
    x = int_in_range("operands", operands, 1, rows)
    copies = (rows - 1) // x if rows > 1 else 1
    if copies < 1:
        raise ValueError(f"operands must be at most rows - 1 = {rows - 1} for MAJ with replication; got {x}")
    return copies, rows - copies * x


def majority(bank: RealChipBank, rf: int, rs: int, operands: Sequence[Any], t1: float = MAJ_TIMING[0],
             t2: float = MAJ_TIMING[1]) -> ApaOutcome:
    """MAJ of the packed ``operands`` in the group of ``APA rf rs``: replicate, Frac the rest, APA
    (declaring X = ``len(operands)`` to the error model). Every open row holds the result afterwards."""
    group = open_rows(rf, rs, bank.layout).rows
    copies, _ = replication(len(group), len(operands))
    for position, row in enumerate(group):
        index = position // copies
        if index < len(operands):
            bank.write_words(row, operands[index])
        else:
            bank.frac(row)
    return bank.apa(rf, rs, t1, t2, operands=len(operands))
