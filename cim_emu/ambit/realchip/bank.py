"""A bank of a real DDR4 chip computing by many-row activation: :class:`RealChipBank`.

Rows are plain bank row numbers holding packed words (:mod:`cim_emu.bits`); a fresh bank holds
zeros. :meth:`RealChipBank.apa` opens the group :func:`~.decoder.open_rows` names and, by the
timing regime (:func:`~.timing.regime`) and whether RF and RS share a subarray, computes:

=====================  ======================  =============================================
regime                 RF, RS                  result
=====================  ======================  =============================================
charge sharing         same subarray           every open row takes the bitwise majority of
                                               the rows that vote (all but Frac'd rows); a
                                               tie settles to a fair coin (SiMRA Section 7)
sensed                 same subarray           Multi-RowCopy: every open row takes RF's
                                               value (SiMRA Section 8)
sensed                 neighbouring            RF's subarray's open rows take RF; RS's take
                                               NOT RF on the shared columns (FCDRAM NOT)
charge sharing         neighbouring            RF's subarray is the reference side (its
                                               voting rows all ones or all zeros); RS's rows
                                               take AND (ones) or OR (zeros) of its voting
                                               rows, the reference rows NAND or NOR, on the
                                               shared columns (FCDRAM N:N logic)
ordinary (t2 >= tRP)   any                     nothing changes
=====================  ======================  =============================================

A group of one row (RF = RS) is an ordinary activation. The *shared columns* of the stripe
between subarrays ``s`` and ``s + 1`` are the columns ``c`` with ``c % 2 == s % 2``: open-bitline
arrays wire alternate bitlines to the stripes above and below (FCDRAM Section 2); the other
columns of the group keep their values in the emulator (the papers define nothing there).
Refused (:class:`~.decoder.RealChipCommandError`): timings outside the windows, subarrays that
are not neighbours, reading (or copying, or negating) a row left at VDD/2 by Frac, a group with
no voting row, and a reference side that is not uniform. Errors: :mod:`~.errors`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy

from ..._checks import int_in_range, positive_int
from ...backend import BackendLike, get_backend
from ...bits import WORD_DTYPE, as_bit_vector, constant_row, n_words, pack_bits, tail_mask, unpack_bits
from .decoder import PredecoderLayout, RealChipCommandError, RowGroup, as_layout, open_rows
from .errors import RealChipErrorModel, tie_bits
from .program import RealChipCommand, as_realchip_program
from .timing import regime


@dataclasses.dataclass(frozen=True)
class ApaOutcome:
    """What one APA did: the operation, the rows it opened and the error model's configuration."""

    op: str
    """``maj``, ``copy``, ``not``, ``and``, ``or`` (the reference side: ``nand``, ``nor``) or ``activate``."""
    rows: tuple[int, ...]
    operands: int
    """Distinct voting contents (X of MAJX); 1 for copy and NOT; the compute rows of logic."""
    pattern: str
    success_probability: float


class RealChipBank:
    """One bank of ``row_bits``-bit rows under a predecoder ``layout`` and an error model."""

    def __init__(self, row_bits: int, layout: Any = "simra-512", errors: Optional[RealChipErrorModel] = None,
                 backend: BackendLike = "numpy") -> None:
        self.row_bits = positive_int("row_bits", row_bits)
        self.layout: PredecoderLayout = as_layout(layout)
        if errors is not None and not isinstance(errors, RealChipErrorModel):
            raise TypeError(f"errors must be a RealChipErrorModel or None; got {type(errors).__name__}")
        self.errors = RealChipErrorModel() if errors is None else errors
        self.backend = get_backend(backend)
        self.rows: dict[int, Any] = {}
        self.neutral: set[int] = set()
        self.apa_count = 0

    # -- data --------------------------------------------------------------------------------
    def _zeros(self) -> Any:
        return self.backend.xp.zeros(n_words(self.row_bits), dtype=WORD_DTYPE)

    def write_bits(self, row: int, bits: Any) -> None:
        """Store a bit vector (bool or 0/1 integers, ``row_bits`` long) in ``row``."""
        row = self.layout.check_row("row", row)
        vector = as_bit_vector("bits", self.backend.asarray(bits))
        if vector.shape != (self.row_bits,):
            raise ValueError(f"bits must be a 1-D vector of row_bits = {self.row_bits} bits; got shape {vector.shape}")
        self._store(row, pack_bits(vector, xp=self.backend.xp))

    def write_words(self, row: int, words: Any) -> None:
        """Store packed words (``ceil(row_bits / 64)`` uint64, padding cleared) in ``row``."""
        row = self.layout.check_row("row", row)
        words = self.backend.asarray(words)
        if words.dtype != WORD_DTYPE or words.shape != (n_words(self.row_bits),):
            raise ValueError(f"words must be {n_words(self.row_bits)} uint64 words; got {words.dtype} {words.shape}")
        words = words.copy()
        words[-1] &= tail_mask(self.row_bits)
        self._store(row, words)

    def _store(self, row: int, words: Any) -> None:
        self.rows[row] = words
        self.neutral.discard(row)

    def read_words(self, row: int) -> Any:
        """A copy of the packed words of ``row`` (refused for a row left at VDD/2 by Frac)."""
        row = self.layout.check_row("row", row)
        return self._value(row).copy()

    def read_bits(self, row: int) -> Any:
        return unpack_bits(self.read_words(row), self.row_bits, xp=self.backend.xp)

    def _value(self, row: int) -> Any:
        if row in self.neutral:
            raise RealChipCommandError(f"row {row} holds VDD/2 after FRAC; its value is undefined until an APA "
                                       "or a write sets it")
        return self.rows.get(row, self._zeros())

    # -- commands ----------------------------------------------------------------------------
    def frac(self, row: int) -> None:
        """``FRAC row``: the row is left near VDD/2 and does not vote (FCDRAM Section 4.1)."""
        self.neutral.add(self.layout.check_row("row", row))

    def apa(self, rf: int, rs: int, t1: float, t2: float, operands: Optional[int] = None) -> ApaOutcome:
        """``APA RF RS t1 t2`` (see the module docstring); returns what it did.

        ``operands`` (X of MAJX, 1..64) tells the error model how many distinct operands a
        charge-sharing majority combines; ``None`` counts the distinct voting contents.
        """
        group = open_rows(rf, rs, self.layout)
        kind = regime(t1, t2)
        declared = None if operands is None else int_in_range("operands", operands, 1, 64)
        index = self.apa_count
        if kind == "ordinary" or len(group.rows) == 1:
            self.apa_count += 1
            return ApaOutcome("activate", group.rows, 1, "solid", 1.0)
        if group.neighbouring:
            outcome = self._not(group, index) if kind == "sensed" else self._logic(group, index)
        else:
            outcome = self._copy(group, index) if kind == "sensed" else self._majority(group, index, declared)
        self.apa_count += 1
        return outcome

    def execute(self, command: RealChipCommand) -> Optional[ApaOutcome]:
        if not isinstance(command, RealChipCommand):
            raise TypeError(f"command must be a RealChipCommand; got {type(command).__name__}")
        if command.op == "FRAC":
            self.frac(command.rf)
            return None
        return self.apa(command.rf, command.rs, command.t1, command.t2, command.operands)  # type: ignore[arg-type]

    def run(self, program: Any) -> list[ApaOutcome]:
        """Run a :class:`~.program.RealChipProgram` (or its text, or commands); the APA outcomes."""
        outcomes = [self.execute(command) for command in as_realchip_program(program)]
        return [o for o in outcomes if o is not None]

    # -- semantics ---------------------------------------------------------------------------
    def _flips(self, op: str, group: RowGroup, trial: int, rows: int, pattern: str, operands: int) -> Any:
        return self.errors.flip_words(op, group.key, trial, rows, pattern, operands, self.row_bits, self.backend)

    def _pattern(self, values: list) -> str:
        xp = self.backend.xp
        full = constant_row(1, self.row_bits, xp)
        solid = all(bool((v == 0).all()) or bool(xp.array_equal(v, full)) for v in values)
        return "solid" if solid else "random"

    def _distinct(self, values: list) -> int:
        return len({self.backend.to_host(v).tobytes() for v in values})

    def _voting(self, rows: tuple[int, ...], what: str) -> list:
        values = [self._value(r) for r in rows if r not in self.neutral]
        if not values:
            raise RealChipCommandError(f"every {what} row of the group {list(rows)} was left at VDD/2 by FRAC: "
                                       "nothing to sense")
        return values

    def _write_group(self, rows: tuple[int, ...], value: Any, keep: int = -1) -> None:
        for row in rows:
            if row != keep:
                self._store(row, value)

    def _majority(self, group: RowGroup, index: int, declared: Optional[int]) -> ApaOutcome:
        xp = self.backend.xp
        values = self._voting(group.rows, "open")
        counts = sum(unpack_bits(v, self.row_bits, xp=xp).astype(xp.int16) for v in values)
        twice = 2 * counts
        ones = pack_bits(twice > len(values), xp=xp)
        tied = pack_bits(twice == len(values), xp=xp)
        if bool(tied.any()):
            ones = (ones & ~tied) | (tied & tie_bits(self.errors.seed, index, self.row_bits, self.backend))
        operands = self._distinct(values) if declared is None else declared
        pattern, n = self._pattern(values), len(group.rows)
        result = ones ^ self._flips("maj", group, 2 * index, n, pattern, operands)
        self._write_group(group.rows, result)
        return ApaOutcome("maj", group.rows, operands, pattern,
                          self.errors.success_probability("maj", n, pattern, operands))

    def _copy(self, group: RowGroup, index: int) -> ApaOutcome:
        source = self._value(group.rf)
        n, pattern = len(group.rows), self._pattern([source])
        self._write_group(group.rows, source ^ self._flips("copy", group, 2 * index, n, pattern, 1), keep=group.rf)
        return ApaOutcome("copy", group.rows, 1, pattern, self.errors.success_probability("copy", n, pattern))

    def _shared(self, group: RowGroup) -> Any:
        """The packed mask of the columns wired to the stripe between the two subarrays."""
        lower = min(self.layout.subarray(group.rf), self.layout.subarray(group.rs))
        word = numpy.uint64(0xAAAAAAAAAAAAAAAA if lower % 2 else 0x5555555555555555)
        mask = self._zeros() | self.backend.xp.asarray(word)
        mask[-1] &= tail_mask(self.row_bits)
        return mask

    def _not(self, group: RowGroup, index: int) -> ApaOutcome:
        source = self._value(group.rf)
        n, pattern, shared = len(group.second), self._pattern([source]), self._shared(group)
        self._write_group(group.first, source, keep=group.rf)
        inverted = ~source ^ self._flips("not", group, 2 * index, n, pattern, 1)
        for row in group.second:
            old = self.rows.get(row, self._zeros())
            self._store(row, (inverted & shared) | (old & ~shared))
        return ApaOutcome("not", group.rows, 1, pattern, self.errors.success_probability("not", n, pattern))

    def _reference_ones(self, group: RowGroup, reference: list, shared: Any) -> bool:
        """True when every reference row holds ones on the shared columns, False when zeros."""
        states = set()
        for value in reference:
            part = value & shared
            states.add(True if bool(self.backend.xp.array_equal(part, shared)) else
                       False if not bool(part.any()) else None)
        if len(states) != 1 or None in states:
            raise RealChipCommandError(f"APA {group.rf} {group.rs}: the reference rows {list(group.first)} must all "
                                       "hold all ones (AND/NAND) or all zeros (OR/NOR) on the shared columns")
        return bool(states.pop())

    def _logic(self, group: RowGroup, index: int) -> ApaOutcome:
        reference = self._voting(group.first, "reference")
        compute = self._voting(group.second, "compute")
        shared = self._shared(group)
        ones = self._reference_ones(group, reference, shared)
        op, ref_op = ("and", "nand") if ones else ("or", "nor")
        result = compute[0]
        for value in compute[1:]:
            result = (result & value) if ones else (result | value)
        n, pattern = len(compute), self._pattern(compute)
        computed = result ^ self._flips(op, group, 2 * index, n, pattern, n)
        referenced = ~result ^ self._flips(ref_op, group, 2 * index + 1, n, pattern, n)
        for rows, value in ((group.second, computed), (group.first, referenced)):
            for row in rows:
                old = self.rows.get(row, self._zeros())
                self._store(row, (value & shared) | (old & ~shared))
        return ApaOutcome(op, group.rows, n, pattern, self.errors.success_probability(op, n, pattern))
