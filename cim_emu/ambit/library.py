"""The Ambit paper's command sequences for bulk bitwise operations (MICRO 2017, Figure 8).

Each function returns a :class:`~cim_emu.ambit.program.Program` over data rows given by the
caller. With ``Di``, ``Dj`` the inputs and ``Dk`` the output:

========  ==============================================================  ============
op        sequence                                                        commands
========  ==============================================================  ============
copy      AAP(Di, Dk)  (RowClone-FPM)                                     1 AAP
not       AAP(Di, B5) AAP(B4, Dk)                                         2 AAP
and       AAP(Di, B0) AAP(Dj, B1) AAP(C0, B2) AAP(B12, Dk)                 4 AAP
or        as AND with C1 in place of C0                                   4 AAP
nand      AND's first three, then AAP(B12, B5) AAP(B4, Dk)                5 AAP
nor       as NAND with C1                                                 5 AAP
xor       AAP(Di, B8) AAP(Dj, B9) AAP(C0, B10) AP(B14) AP(B15)              5 AAP + 2 AP
          AAP(C1, B2) AAP(B12, Dk)
xnor      as XOR with C0 and C1 swapped                                   5 AAP + 2 AP
maj       AAP(Di, B0) AAP(Dj, B1) AAP(Dl, B2) AAP(B12, Dk)                 4 AAP
========  ==============================================================  ============

``maj`` (three-input majority) is the TRA itself, with the three inputs copied into the
designated rows first so that the data rows survive the destructive activation.
"""

from __future__ import annotations

from typing import Callable, Sequence

from .addresses import AddressLike
from .program import AAP, AP, Program

_CONSTANT_FOR = {"and": "C0", "or": "C1", "nand": "C0", "nor": "C1"}


def copy(src: AddressLike, dst: AddressLike) -> Program:
    """``dst = src`` by RowClone-FPM."""
    return Program.of(AAP(src, dst))


def not_(src: AddressLike, dst: AddressLike) -> Program:
    """``dst = NOT src`` through dual-contact cell DCC0."""
    return Program.of(AAP(src, "B5"), AAP("B4", dst))


def _and_or(op: str, a: AddressLike, b: AddressLike, dst: AddressLike) -> Program:
    head = (AAP(a, "B0"), AAP(b, "B1"), AAP(_CONSTANT_FOR[op], "B2"))
    if op in ("and", "or"):
        return Program.of(*head, AAP("B12", dst))
    return Program.of(*head, AAP("B12", "B5"), AAP("B4", dst))


def and_(a: AddressLike, b: AddressLike, dst: AddressLike) -> Program:
    """``dst = a AND b`` = MAJ(a, b, 0)."""
    return _and_or("and", a, b, dst)


def or_(a: AddressLike, b: AddressLike, dst: AddressLike) -> Program:
    """``dst = a OR b`` = MAJ(a, b, 1)."""
    return _and_or("or", a, b, dst)


def nand(a: AddressLike, b: AddressLike, dst: AddressLike) -> Program:
    """``dst = NOT (a AND b)``: the AND result negated through DCC0."""
    return _and_or("nand", a, b, dst)


def nor(a: AddressLike, b: AddressLike, dst: AddressLike) -> Program:
    """``dst = NOT (a OR b)``: the OR result negated through DCC0."""
    return _and_or("nor", a, b, dst)


def _xor_xnor(first: str, second: str, a: AddressLike, b: AddressLike, dst: AddressLike) -> Program:
    return Program.of(
        AAP(a, "B8"), AAP(b, "B9"), AAP(first, "B10"), AP("B14"), AP("B15"),
        AAP(second, "B2"), AAP("B12", dst),
    )  # fmt: skip


def xor(a: AddressLike, b: AddressLike, dst: AddressLike) -> Program:
    """``dst = a XOR b`` = (NOT a AND b) OR (a AND NOT b), through DCC0 and DCC1."""
    return _xor_xnor("C0", "C1", a, b, dst)


def xnor(a: AddressLike, b: AddressLike, dst: AddressLike) -> Program:
    """``dst = NOT (a XOR b)`` = (NOT a OR b) AND (a OR NOT b)."""
    return _xor_xnor("C1", "C0", a, b, dst)


def maj(a: AddressLike, b: AddressLike, c: AddressLike, dst: AddressLike) -> Program:
    """``dst = MAJ(a, b, c)``, the inputs copied to T0..T2 so that they survive."""
    return Program.of(AAP(a, "B0"), AAP(b, "B1"), AAP(c, "B2"), AAP("B12", dst))


#: Library operations: name -> (number of inputs, program builder(*inputs, dst)).
OPERATIONS: dict[str, tuple[int, Callable[..., Program]]] = {
    "copy": (1, copy),
    "not": (1, not_),
    "and": (2, and_),
    "or": (2, or_),
    "nand": (2, nand),
    "nor": (2, nor),
    "xor": (2, xor),
    "xnor": (2, xnor),
    "maj": (3, maj),
}


def program_for(op: str, inputs: Sequence[AddressLike], output: AddressLike) -> Program:
    """The library program of ``op`` reading ``inputs`` and writing ``output``."""
    if op not in OPERATIONS:
        raise ValueError(f"op must be one of {', '.join(OPERATIONS)}; got {op!r}")
    arity, build = OPERATIONS[op]
    if len(inputs) != arity:
        raise ValueError(f"{op} takes {arity} input row(s); got {len(inputs)}")
    return build(*inputs, output)
