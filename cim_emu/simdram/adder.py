"""The bit-serial full adder as AAP/AP programs: the loop body of add, sub, mult, div, bitcount.

SIMDRAM (Hajinazar et al., ASPLOS 2021, Section 3.2 and Figure 4) builds addition from the
majority-inverter full adder ``Cout = MAJ(A, B, Cin)``,
``S = MAJ(NOT Cout, MAJ(A, B, NOT Cin), Cin)``. cim-emu uses the equivalent form

    ``S = MAJ(A, NOT V, Z)`` with ``V = MAJ(A, B, K)`` and ``Z = MAJ(NOT A, B, K)``,

which holds for any ``K`` (check the eight cases, or see ``tests/test_simdram_adder.py``), and
which serves both directions of the chain: for addition ``K`` is the carry and the carry out is
``V``; for subtraction ``A - B`` ``K`` is the borrow and the borrow out is ``Z`` (the borrow of
``A - B - K`` is ``MAJ(NOT A, B, K)``), while the difference bit is the same ``S``.

Row use (Ambit Table 1; ``K`` lives in T0 and, as stored value, in DCC0):

==  ================  ==========================================================================
1   ``AAP A B9``       T1 = A, DCC1 = NOT A (n-wordline write)
2   ``AAP B B10``      T2 = T3 = B (a two-row write)
3   TRA ``B15``        Z = MAJ(DCC1, T0, T3) = MAJ(NOT A, K, B), left in DCC1, T0, T3
4   TRA ``B14``        V = MAJ(DCC0, T1, T2) = MAJ(K, A, B), left in DCC0, T1, T2
5   ``AAP A B1``       T1 = A again
6   ``AAP B5 B2``      T2 = NOT V (DCC0 read through its n-wordline)
7   ``AAP B13 S``      S = MAJ(T1, T2, T3) = MAJ(A, NOT V, Z), written to the result row
==  ================  ==========================================================================

Addition runs 3 as ``AP B15`` and 4 as ``AAP B14 B0`` (the carry V lands in DCC0 by the TRA
itself and in T0 by the copy: the next bit's K). Subtraction runs 4 as ``AP B14`` first and 3 as
``AAP B15 B4`` after step 6 (the borrow Z lands in T0 by the TRA and in DCC0 by the copy). Seven
commands a bit, against eight in SIMDRAM's and CMU-SAFARI's hand-written programs (8n+1):
the saving is that the TRA results stay in all three activated rows (Ambit, MICRO 2017,
Section 3.1) and are used where they are, and that the two-row address B10 and the
DCC-writing B9 load two operand copies each. Starting the chain costs two commands (K = 0 in
T0 and DCC0): 7n + 2 in all.
"""

from __future__ import annotations

from typing import Optional

from .builder import ProgramBuilder, constant_row

#: The two directions of the chain: which TRA result becomes the next bit's K.
CHAINS = ("carry", "borrow")


def load_chain(p: ProgramBuilder, row: str) -> None:
    """K = ``row`` in T0 and DCC0 (2 commands); ``row`` may be C0/C1."""
    p.aap(row, "B0", "K -> T0")
    p.aap(row, "B4", "K -> DCC0")


def start_chain(p: ProgramBuilder, bit: int) -> None:
    """K = constant ``bit`` (carry-in or borrow-in)."""
    load_chain(p, constant_row(bit))


def load_and(p: ProgramBuilder, x: str, y: str) -> None:
    """T1 = T2 = T3 = ``x AND y`` (4 commands): the second addend of a conditional add/sub."""
    p.aap(x, "B1")
    p.aap(y, "B2")
    p.aap("C0", "B3")
    p.ap("B13", "T1,T2,T3 = x AND y")


def full_adder_bit(p: ProgramBuilder, a: str, b: Optional[str], out: str, chain: str,
                   chain_out: str = "B0") -> None:
    """One bit of ``a + b + K`` (``chain="carry"``) or ``a - b - K`` (``"borrow"``) into ``out``.

    ``b=None`` means the second operand is already in T2 and T3 (after :func:`load_and`).
    ``chain_out`` is where an addition also copies its carry (T0 by default, the next bit's K;
    a data row for a carry-save adder). 7 commands, 6 with ``b=None``.
    """
    if chain not in CHAINS:
        raise ValueError(f"chain must be one of {', '.join(CHAINS)}; got {chain!r}")
    p.aap(a, "B9", "T1 = a, DCC1 = NOT a")
    if b is not None:
        p.aap(b, "B10", "T2 = T3 = b")
    if chain == "carry":
        p.ap("B15", "Z = MAJ(NOT a, b, K)")
        p.aap("B14", chain_out, "V = MAJ(K, a, b): the carry")
        p.aap(a, "B1")
        p.aap("B5", "B2", "T2 = NOT V")
    else:
        p.ap("B14", "V = MAJ(K, a, b)")
        p.aap("B5", "B2", "T2 = NOT V")
        p.aap("B15", "B4", "Z = MAJ(NOT a, b, K): the borrow, also into DCC0")
        p.aap(a, "B1")
    p.aap("B13", out, "S = MAJ(a, NOT V, Z)")


def ripple(p: ProgramBuilder, a: tuple, b: tuple, out: tuple, chain: str) -> None:
    """``out = a + b`` or ``a - b`` (mod 2**n), least significant bit first: 7n + 2 commands."""
    start_chain(p, 0)
    for a_bit, b_bit, out_bit in zip(a, b, out):
        full_adder_bit(p, a_bit, b_bit, out_bit, chain)
