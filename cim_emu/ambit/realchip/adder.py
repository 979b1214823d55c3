"""Bit-serial addition on a real chip, with MAJ3 only or with MAJ5: commands, DDR4 cost, success.

The full adder is ``Cout = MAJ3(A, B, C)``; its sum either SIMDRAM's majority form
``S = MAJ3(NOT Cout, MAJ3(A, B, NOT C), C)`` (variant ``"maj3"``) or the MAJ5 identity
``S = MAJ5(A, B, C, NOT Cout, NOT Cout)`` (variant ``"maj5"``; check the eight cases, or
``tests/test_realchip_adder.py``), which saves one majority and its operand loads per bit.

On a real chip NOT exists only across neighbouring subarrays (FCDRAM), so the adder works in
subarrays ``s`` (rows 1024-1535 of the ``simra-512`` layout) and ``s + 1`` on the columns their
shared stripe serves (half the row), with the bits of A and B stored in both (a layout choice)
and the carry kept in both (a MAJ3 in each). Per bit:

1. ``Cout_s = MAJ3(A, B, C_s)`` in the carry group of ``s``; ``C_s`` is already there (the
   previous majority left it in every row of the group), so only A and B are loaded;
2. (``maj3``) ``T = MAJ3(A, B, NOT C)`` in a third group, ``NOT C`` being the previous bit's
   ``NOT Cout`` (all ones for the first bit);
3. ``Cout_s`` routed to the NOT row of ``s`` and negated into the NOT row of ``s + 1``: one NOT APA;
4. ``S = MAJ5(A, B, C_t, NOT Cout, NOT Cout)`` (``maj5``) or ``MAJ3(NOT Cout, T, C_t)`` (``maj3``)
   in the sum group, routed to the result row of bit ``k``;
5. ``Cout_t = MAJ3(A, B, C_t)`` in the carry group of ``s + 1`` (after the sum, which reads
   ``C_t``); the last carry is routed to the top result row.

Every majority runs in a group of 32 rows (SiMRA's most reliable) with SiMRA's replication and
Frac, its operand copies loaded by RowClone hops and Multi-RowCopy
(:func:`~cim_emu.ambit.realchip.router.load_program`). The whole addition is one
:class:`~cim_emu.ambit.realchip.program.RealChipProgram`; :func:`emulate_addition` runs it on a
:class:`~cim_emu.ambit.realchip.bank.RealChipBank` under the error model, every copy, NOT and
majority an APA with its own errors. Only the operands' first placement (the host writing A, B
and the initial carries) is a write. Cost: :meth:`RealChipProgram.latency_ns` on DDR4-2400.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy

from ..._checks import int_in_range
from ...backend import BackendLike
from ...bits import random_row, unpack_bits
from .bank import RealChipBank
from .decoder import LAYOUTS
from .errors import RealChipErrorModel
from .program import APA, RealChipCommand, RealChipProgram
from .recipes import group_pair, replication
from .router import load_program, route
from .timing import COPY_TIMING, MAJ_TIMING

VARIANTS = ("maj3", "maj5")
LAYOUT = LAYOUTS["simra-512"]
GROUP_ROWS = 32

#: The two subarrays, and the in-subarray offsets of every region. Groups span the address bits
#: 0, 1, 3, 5, 7; regions differ in bits 2, 4, 6; bit 8 is the ports' spare bit (so the scratch
#: copies of Multi-RowCopy land at the group's offset + 256, where nothing lives).
SUBARRAY = 2
PORT_BIT = 256
OFFSETS = {"carry": 0, "sum": 16, "t": 64, "a": 4, "b": 20, "result": 68, "not": 80}


def _row(subarray: int, region: str, index: int = 0) -> int:
    """Row ``index`` (0..31) of a region: the index's bits on the group's address bits 0, 1, 3, 5, 7."""
    spread = sum(1 << bit for k, bit in enumerate((0, 1, 3, 5, 7)) if index >> k & 1)
    return 512 * subarray + OFFSETS[region] + spread


def _group(subarray: int, region: str) -> tuple[int, int]:
    return group_pair(512 * subarray + OFFSETS[region], GROUP_ROWS, LAYOUT)


def _live(bits: int) -> set[int]:
    """Rows that hold data the program still needs (never written on the way)."""
    rows = {_row(s, region, i) for s in (SUBARRAY, SUBARRAY + 1) for region in ("a", "b") for i in range(bits)}
    rows |= {_row(SUBARRAY + 1, "result", i) for i in range(bits + 1)}
    rows |= {_row(s, "not") for s in (SUBARRAY, SUBARRAY + 1)}
    for s, region in ((SUBARRAY, "carry"), (SUBARRAY + 1, "carry"), (SUBARRAY + 1, "sum"), (SUBARRAY + 1, "t")):
        rf, rs = _group(s, region)
        rows |= {rf ^ (i & (rf ^ rs)) for i in range(1 << 9)}
    return rows


def _majority(subarray: int, region: str, sources: list, x: int, live: set) -> list[RealChipCommand]:
    """Load ``sources`` (row or ``None``: already in place; a repeated source counts as several
    operands) with MAJ``x`` replication into a group, then the charge-sharing APA."""
    copies, _ = replication(GROUP_ROWS, x)
    distinct = list(dict.fromkeys(sources))
    counts = [copies * sources.count(source) for source in distinct]
    rf, rs = _group(subarray, region)
    commands = load_program(rf, rs, LAYOUT, distinct, counts, PORT_BIT, live)
    return commands + [APA(rf, rs, *MAJ_TIMING, comment=f"MAJ{x}", operands=x)]


def addition_program(bits: int, variant: str) -> RealChipProgram:
    """The real-chip program that adds the ``bits``-bit numbers laid out by :func:`layout_rows`."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    int_in_range("bits", bits, 1, 31)
    s, t = SUBARRAY, SUBARRAY + 1
    live = _live(bits)
    commands: list[RealChipCommand] = []
    carry_s, carry_t, sum_group = _group(s, "carry")[0], _group(t, "carry")[0], _group(t, "sum")[0]
    for k in range(bits):
        a_s, b_s, a_t, b_t = _row(s, "a", k), _row(s, "b", k), _row(t, "a", k), _row(t, "b", k)
        commands += _majority(s, "carry", [a_s, b_s, None], 3, live)
        if variant == "maj3":
            commands += _majority(t, "t", [a_t, b_t, _row(t, "not")], 3, live)
        commands += route(carry_s, _row(s, "not"), LAYOUT, live)
        commands.append(APA(_row(s, "not"), _row(t, "not"), *COPY_TIMING, comment="NOT Cout"))
        if variant == "maj5":
            commands += _majority(t, "sum", [a_t, b_t, carry_t, _row(t, "not"), _row(t, "not")], 5, live)
        else:
            commands += _majority(t, "sum", [_row(t, "not"), _group(t, "t")[0], carry_t], 3, live)
        commands += route(sum_group, _row(t, "result", k), LAYOUT, live)
        commands += _majority(t, "carry", [a_t, b_t, None], 3, live)  # after the sum, which reads C_t
    commands += route(carry_t, _row(t, "result", bits), LAYOUT, live)
    return RealChipProgram(tuple(commands))


def layout_rows(bank: RealChipBank, a_bits: list, b_bits: list, variant: str) -> None:
    """The host's writes before the program: A and B in both subarrays, the carries 0 and (``maj3``)
    ``NOT C = 1`` in the NOT row of ``s + 1``."""
    xp = bank.backend.xp
    zeros = xp.zeros(bank.row_bits, dtype=bool)
    for s in (SUBARRAY, SUBARRAY + 1):
        for k, (a, b) in enumerate(zip(a_bits, b_bits)):
            bank.write_words(_row(s, "a", k), a)
            bank.write_words(_row(s, "b", k), b)
        rf, rs = _group(s, "carry")
        for i in range(GROUP_ROWS):
            bank.write_bits(rf ^ (_spread(i) & (rf ^ rs)), zeros)
    bank.write_bits(_row(SUBARRAY + 1, "not"), ~zeros if variant == "maj3" else zeros)


def _spread(index: int) -> int:
    return sum(1 << bit for k, bit in enumerate((0, 1, 3, 5, 7)) if index >> k & 1)


def add_on_chip(bank: RealChipBank, a_bits: list, b_bits: list, variant: str) -> list:
    """Add the bit-serial numbers ``a_bits`` and ``b_bits`` (packed rows, least significant first)
    on ``bank``; returns the ``len(a_bits) + 1`` packed sum rows, right on the shared columns."""
    program = addition_program(len(a_bits), variant)
    layout_rows(bank, a_bits, b_bits, variant)
    bank.run(program)
    return [bank.read_words(_row(SUBARRAY + 1, "result", k)) for k in range(len(a_bits) + 1)]


@dataclasses.dataclass(frozen=True)
class AdditionResult:
    """One emulated bit-serial addition of ``bits``-bit numbers, repeated ``trials`` times."""

    variant: str
    bits: int
    trials: int
    columns: int
    """Columns measured: those wired to the stripe between the two subarrays."""
    success: float
    """Share of columns whose whole sum (``bits + 1`` bits) is right in every trial."""
    bit_success: float
    """Share of (column, sum bit) right in every trial."""
    commands: dict
    """``{"APA": a, "FRAC": f}`` of the whole addition."""
    majorities: int
    latency_ns: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def emulate_addition(variant: str, bits: int = 8, trials: int = 8, row_bits: int = 65536, seed: int = 0,
                     errors: Optional[RealChipErrorModel] = None, backend: BackendLike = "numpy") -> AdditionResult:
    """Add random ``bits``-bit numbers in every column ``trials`` times (fresh numbers every trial)
    under ``errors`` (default ``RealChipErrorModel(seed=seed)``) and measure the share of columns
    right in every trial. Operand rows come from data streams ``1000 * trial + k``."""
    int_in_range("trials", trials, 1, 10**6)
    program = addition_program(bits, variant)
    bank = RealChipBank(row_bits, LAYOUT, RealChipErrorModel(seed=seed) if errors is None else errors, backend)
    shared = numpy.arange(row_bits) % 2 == SUBARRAY % 2
    each = numpy.ones((bits + 1, row_bits), bool)
    for trial in range(trials):
        a = [random_row(seed, 1000 * trial + k, row_bits) for k in range(bits)]
        b = [random_row(seed, 1000 * trial + bits + k, row_bits) for k in range(bits)]
        got = add_on_chip(bank, [bank.backend.asarray(w) for w in a], [bank.backend.asarray(w) for w in b], variant)
        each &= numpy.array([_host(bank, g) for g in got]) == _exact_sum(a, b, row_bits)
    majorities = sum(1 for c in program if c.operands is not None)
    return AdditionResult(variant, bits, trials, int(shared.sum()), float(each[:, shared].all(axis=0).mean()),
                          float(each[:, shared].mean()), program.counts(), majorities, program.latency_ns())


def _host(bank: RealChipBank, words: Any) -> numpy.ndarray:
    return numpy.asarray(bank.backend.to_host(unpack_bits(words, bank.row_bits, xp=bank.backend.xp)))


def _exact_sum(a: list, b: list, row_bits: int) -> numpy.ndarray:
    """The ``len(a) + 1`` sum bits of every column, by integer addition."""
    value_a = sum(unpack_bits(w, row_bits).astype(numpy.int64) << k for k, w in enumerate(a))
    value_b = sum(unpack_bits(w, row_bits).astype(numpy.int64) << k for k, w in enumerate(b))
    return numpy.array([(value_a + value_b) >> k & 1 for k in range(len(a) + 1)], dtype=bool)
