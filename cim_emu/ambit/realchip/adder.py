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

The parts other bit-serial operations share (:mod:`~cim_emu.ambit.realchip.arithmetic`:
subtraction and comparison) are public here: the row regions (:func:`region_row`,
:func:`region_group`), a majority with its loads (:func:`majority_commands`), the ripple-carry
chain with the second operand read from any region (:func:`ripple_commands`; subtraction runs it
on ``NOT B`` with carry-in 1), the host's layout (:func:`layout_rows`), the command breakdown
(:func:`command_kinds`) and the measurement against exact integers (:func:`measure`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy

from ..._checks import int_in_range
from ...backend import BackendLike
from ...bits import random_row, unpack_bits
from .bank import RealChipBank
from .decoder import LAYOUTS, open_rows
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
#: copies of Multi-RowCopy land at the group's offset + 256, where nothing lives). ``b2`` is the
#: last free combination of bits 2, 4, 6: subtraction's second copy of B.
SUBARRAY = 2
PORT_BIT = 256
OFFSETS = {"carry": 0, "sum": 16, "t": 64, "a": 4, "b": 20, "result": 68, "not": 80, "b2": 84}
INDEX_BITS = (0, 1, 3, 5, 7)


def _spread(index: int) -> int:
    return sum(1 << bit for k, bit in enumerate(INDEX_BITS) if index >> k & 1)


def region_row(subarray: int, region: str, index: int = 0) -> int:
    """Row ``index`` (0..31) of a region: the index's bits on the group's address bits 0, 1, 3, 5, 7."""
    return 512 * subarray + OFFSETS[region] + _spread(index)


def region_group(subarray: int, region: str) -> tuple[int, int]:
    """``(RF, RS)`` of the 32-row group of a region."""
    return group_pair(512 * subarray + OFFSETS[region], GROUP_ROWS, LAYOUT)


def group_rows(subarray: int, region: str) -> set[int]:
    """The 32 rows of a region's group."""
    rf, rs = region_group(subarray, region)
    return {rf ^ (i & (rf ^ rs)) for i in range(1 << 9)}


def _live(bits: int, b_regions: tuple[str, str] = ("b", "b")) -> set[int]:
    """Rows that hold data the ripple still needs (never written on the way): A and the second
    operand's regions, the results, the NOT rows and the groups."""
    s, t = SUBARRAY, SUBARRAY + 1
    rows = {region_row(u, region, i) for u, b in zip((s, t), b_regions) for region in ("a", b) for i in range(bits)}
    rows |= {region_row(t, "result", i) for i in range(bits + 1)}
    rows |= {region_row(u, "not") for u in (s, t)}
    for u, region in ((s, "carry"), (t, "carry"), (t, "sum"), (t, "t")):
        rows |= group_rows(u, region)
    return rows


def majority_commands(subarray: int, region: str, sources: list, x: int, live: set) -> list[RealChipCommand]:
    """Load ``sources`` (row or ``None``: already in place; a repeated source counts as several
    operands) with MAJ``x`` replication into a group, then the charge-sharing APA."""
    copies, _ = replication(GROUP_ROWS, x)
    distinct = list(dict.fromkeys(sources))
    counts = [copies * sources.count(source) for source in distinct]
    rf, rs = region_group(subarray, region)
    commands = load_program(rf, rs, LAYOUT, distinct, counts, PORT_BIT, live)
    return commands + [APA(rf, rs, *MAJ_TIMING, comment=f"MAJ{x}", operands=x)]


def check_variant(variant: str, variants: Sequence[str]) -> str:
    """``variant`` if it is one of ``variants``, else ``ValueError`` listing them."""
    if variant not in variants:
        raise ValueError(f"variant must be one of {', '.join(variants)}; got {variant!r}")
    return variant


def ripple_commands(bits: int, variant: str, b_regions: tuple[str, str] = ("b", "b")) -> list[RealChipCommand]:
    """The ripple-carry chain (steps 1-5 of the module docstring) adding A to the operand held in
    region ``b_regions[0]`` of ``s`` and ``b_regions[1]`` of ``s + 1``. The initial carries are the
    host's (:func:`layout_rows`)."""
    check_variant(variant, VARIANTS)
    int_in_range("bits", bits, 1, 31)
    s, t = SUBARRAY, SUBARRAY + 1
    live = _live(bits, b_regions)
    commands: list[RealChipCommand] = []
    carry_s, carry_t, sum_group = region_group(s, "carry")[0], region_group(t, "carry")[0], region_group(t, "sum")[0]
    not_s, not_t = region_row(s, "not"), region_row(t, "not")
    for k in range(bits):
        a_s, a_t = region_row(s, "a", k), region_row(t, "a", k)
        b_s, b_t = region_row(s, b_regions[0], k), region_row(t, b_regions[1], k)
        commands += majority_commands(s, "carry", [a_s, b_s, None], 3, live)
        if variant == "maj3":
            commands += majority_commands(t, "t", [a_t, b_t, not_t], 3, live)
        commands += route(carry_s, not_s, LAYOUT, live)
        commands.append(APA(not_s, not_t, *COPY_TIMING, comment="NOT Cout"))
        if variant == "maj5":
            commands += majority_commands(t, "sum", [a_t, b_t, carry_t, not_t, not_t], 5, live)
        else:
            commands += majority_commands(t, "sum", [not_t, region_group(t, "t")[0], carry_t], 3, live)
        commands += route(sum_group, region_row(t, "result", k), LAYOUT, live)
        commands += majority_commands(t, "carry", [a_t, b_t, None], 3, live)  # after the sum, which reads C_t
    commands += route(carry_t, region_row(t, "result", bits), LAYOUT, live)
    return commands


def addition_program(bits: int, variant: str) -> RealChipProgram:
    """The real-chip program that adds the ``bits``-bit numbers laid out by :func:`layout_rows`."""
    check_variant(variant, VARIANTS)
    int_in_range("bits", bits, 1, 31)
    return RealChipProgram(tuple(ripple_commands(bits, variant)))


def write_group(bank: RealChipBank, subarray: int, region: str, value: int) -> None:
    """The host writes ``value`` (0 or 1) into every row of a region's group (an initial carry)."""
    xp = bank.backend.xp
    bits = xp.full(bank.row_bits, bool(value), dtype=bool)
    for row in sorted(group_rows(subarray, region)):
        bank.write_bits(row, bits)


def layout_rows(bank: RealChipBank, a_bits: list, b_bits: list, variant: str, carry_in: int = 0,
                b_regions: tuple[str, str] = ("b", "b")) -> None:
    """The host's writes before the ripple: A in both subarrays, B in region ``b_regions[0]`` of
    ``s`` and ``b_regions[1]`` of ``s + 1``, the carries ``carry_in`` and (``maj3``) ``NOT C``
    in the NOT row of ``s + 1``."""
    xp = bank.backend.xp
    for k, (a, b) in enumerate(zip(a_bits, b_bits)):
        for u, region in zip((SUBARRAY, SUBARRAY + 1), b_regions):
            bank.write_words(region_row(u, "a", k), a)
            bank.write_words(region_row(u, region, k), b)
    for u in (SUBARRAY, SUBARRAY + 1):
        write_group(bank, u, "carry", carry_in)
    bank.write_bits(region_row(SUBARRAY + 1, "not"), xp.full(bank.row_bits, variant == "maj3" and not carry_in))


def read_region(bank: RealChipBank, subarray: int, region: str, count: int) -> list:
    """The packed rows ``0 .. count - 1`` of a region."""
    return [bank.read_words(region_row(subarray, region, k)) for k in range(count)]


def add_on_chip(bank: RealChipBank, a_bits: list, b_bits: list, variant: str) -> list:
    """Add the bit-serial numbers ``a_bits`` and ``b_bits`` (packed rows, least significant first)
    on ``bank``; returns the ``len(a_bits) + 1`` packed sum rows, right on the shared columns."""
    program = addition_program(len(a_bits), variant)
    layout_rows(bank, a_bits, b_bits, variant)
    bank.run(program)
    return read_region(bank, SUBARRAY + 1, "result", len(a_bits) + 1)


def command_kinds(program: RealChipProgram) -> dict[str, int]:
    """Commands by what they do: ``MAJ3``/``MAJ5``/``MAJ7`` (charge sharing, by declared X),
    ``NOT`` (a sensed APA across subarrays), ``Multi-RowCopy`` (a sensed APA opening more than two
    rows), ``RowClone hop`` (two rows) and ``FRAC``."""
    kinds: dict[str, int] = {}
    for c in program:
        if c.op == "FRAC":
            kind = "FRAC"
        elif c.operands is not None:
            kind = f"MAJ{c.operands}"
        else:
            group = open_rows(c.rf, c.rs, LAYOUT)
            kind = "NOT" if group.neighbouring else "Multi-RowCopy" if len(group.rows) > 2 else "RowClone hop"
        kinds[kind] = kinds.get(kind, 0) + 1
    order = ["MAJ3", "MAJ5", "MAJ7", "NOT", "Multi-RowCopy", "RowClone hop", "FRAC"]
    return dict(sorted(kinds.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))


@dataclasses.dataclass(frozen=True)
class AdditionResult:
    """One emulated bit-serial operation (addition by default) of ``bits``-bit numbers, repeated
    ``trials`` times."""

    variant: str
    bits: int
    trials: int
    columns: int
    """Columns measured: those wired to the stripe between the two subarrays."""
    success: float
    """Share of columns whose whole result (the sum's ``bits + 1`` bits) is right in every trial."""
    bit_success: float
    """Share of (column, result bit) right in every trial."""
    commands: dict
    """``{"APA": a, "FRAC": f}`` of the whole operation."""
    majorities: int
    latency_ns: float
    operation: str = "add"
    kinds: dict = dataclasses.field(default_factory=dict)
    """:func:`command_kinds` of the program."""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


#: The result of any bit-serial operation (the same record as an addition's).
BitSerialResult = AdditionResult

#: ``compute(bank, a_rows, b_rows) -> result rows`` and ``exact(a_values, b_values) -> bits``.
Compute = Callable[[RealChipBank, list, list], list]
Exact = Callable[[numpy.ndarray, numpy.ndarray], numpy.ndarray]


def measure(operation: str, variant: str, program: RealChipProgram, compute: Compute, exact: Exact, bits: int,
            trials: int, row_bits: int, seed: int, errors: Optional[RealChipErrorModel],
            backend: BackendLike) -> AdditionResult:
    """Run ``compute`` on random ``bits``-bit operands in every column ``trials`` times (fresh
    operands every trial, from data streams ``1000 * trial + k``) on one bank under ``errors``
    (default ``RealChipErrorModel(seed=seed)``) and compare with ``exact`` on the column values:
    the share of shared columns right in every trial."""
    int_in_range("trials", trials, 1, 10**6)
    bank = RealChipBank(row_bits, LAYOUT, RealChipErrorModel(seed=seed) if errors is None else errors, backend)
    shared = numpy.arange(row_bits) % 2 == SUBARRAY % 2
    each: Any = True
    for trial in range(trials):
        a = [random_row(seed, 1000 * trial + k, row_bits) for k in range(bits)]
        b = [random_row(seed, 1000 * trial + bits + k, row_bits) for k in range(bits)]
        got = compute(bank, [bank.backend.asarray(w) for w in a], [bank.backend.asarray(w) for w in b])
        each = each & (numpy.array([_host(bank, g) for g in got]) == exact(column_values(a, row_bits),
                                                                           column_values(b, row_bits)))
    majorities = sum(1 for c in program if c.operands is not None)
    return AdditionResult(variant, bits, trials, int(shared.sum()), float(each[:, shared].all(axis=0).mean()),
                          float(each[:, shared].mean()), program.counts(), majorities, program.latency_ns(),
                          operation, command_kinds(program))


def emulate_addition(variant: str, bits: int = 8, trials: int = 8, row_bits: int = 65536, seed: int = 0,
                     errors: Optional[RealChipErrorModel] = None, backend: BackendLike = "numpy") -> AdditionResult:
    """Add random ``bits``-bit numbers in every column ``trials`` times (fresh numbers every trial)
    under ``errors`` (default ``RealChipErrorModel(seed=seed)``) and measure the share of columns
    right in every trial. Operand rows come from data streams ``1000 * trial + k``."""
    program = addition_program(bits, variant)
    return measure("add", variant, program, lambda bank, a, b: add_on_chip(bank, a, b, variant),
                   lambda a, b: value_bits(a + b, bits + 1), bits, trials, row_bits, seed, errors, backend)


def _host(bank: RealChipBank, words: Any) -> numpy.ndarray:
    return numpy.asarray(bank.backend.to_host(unpack_bits(words, bank.row_bits, xp=bank.backend.xp)))


def column_values(rows: Iterable, row_bits: int) -> numpy.ndarray:
    """Every column's number (int64) from its bit-serial packed rows, least significant first."""
    return sum((unpack_bits(w, row_bits).astype(numpy.int64) << k for k, w in enumerate(rows)),
               numpy.zeros(row_bits, numpy.int64))


def value_bits(values: numpy.ndarray, count: int) -> numpy.ndarray:
    """The ``count`` low bits of every value, as ``count`` rows of bools."""
    return numpy.array([values >> k & 1 for k in range(count)], dtype=bool)
