"""The command semantics of an Ambit subarray, written once for every executor.

:class:`BankInterpreter` executes ACTIVATE and PRECHARGE exactly as docs/spec/ambit.md and the Ambit
paper (MICRO 2017, Sections 3-5) describe them, over a mapping from physical row names to
row values. What a *value* is comes from an :class:`Algebra`:

* the reference executor (:class:`~cim_emu.ambit.executors.ReferenceExecutor`, and a
  :class:`~cim_emu.ambit.subarray.Subarray`'s single commands) uses bit-packed rows
  (:class:`~cim_emu.ambit.executors.PackedRowAlgebra`), so every command is carried out on the
  data, one after the other;
* the compiler (:mod:`cim_emu.ambit.compiler`) uses expression nodes, so the same walk
  through the program yields, for every row the program writes, an expression of the rows it
  reads, which the fast executor then evaluates in one pass over memory.

Because both go through this one interpreter, they cannot disagree on what a command means
or on which commands are illegal.

Semantics:

* ACTIVATE on a precharged bank raises the address's wordlines. The sense amplifiers settle
  to the value seen through them: one row gives its value (through an n-wordline, its
  negation); three rows give their bitwise majority (triple-row activation, TRA). A TRA
  restores the settled value into all three cells (n-wordline cells take its negation), so
  it is destructive; a single-row activation restores the cell unchanged. An address that
  raises two wordlines (B8-B11) cannot be activated first: two cells on a bitline give no
  majority, so that is undefined and raises :class:`AmbitCommandError`.
* ACTIVATE on an open bank (the second ACTIVATE of AAP: RowClone-FPM) writes the settled
  value into every newly raised row (n-wordline cells take its negation). Writing a constant
  row (C0, C1) is an error; so is raising both wordlines of one dual-contact cell, which
  would connect the bitline to its complement.
* PRECHARGE closes the bank.
"""

from __future__ import annotations

import contextlib
from typing import Generic, Iterator, MutableMapping, Optional, Protocol, TypeVar

from .addresses import DESIGNATED_ROWS, Address, AddressLike, Wordline, as_address
from .program import Command

V = TypeVar("V")


class AmbitCommandError(ValueError):
    """An undefined or illegal command (the message says which rule it breaks)."""


class Algebra(Protocol[V]):
    """Operations on row values that the command semantics need."""

    def constant(self, bit: int) -> V:
        """The value of the constant row C0 (``bit=0``) or C1 (``bit=1``)."""

    def invert(self, value: V) -> V:
        """Bitwise NOT (what an n-wordline does)."""

    def majority(self, a: V, b: V, c: V, tra_index: int) -> V:
        """Bitwise majority of a triple-row activation; ``tra_index`` keys its faults."""


class BankInterpreter(Generic[V]):
    """Executes commands on ``rows`` (physical row name -> value) through ``algebra``.

    ``rows`` holds the data rows ``D0`` .. ``D(data_rows-1)`` and the designated rows
    ``T0`` .. ``T3``, ``DCC0``, ``DCC1``; a value of ``None`` marks a row whose content was
    dropped (see ``scratch="drop"`` in :meth:`Subarray.run`), which may be written but not
    read. ``tra_count`` counts the triple-row activations executed so far.
    """

    def __init__(self, algebra: Algebra[V], rows: MutableMapping[str, Optional[V]], data_rows: int,
                 tra_count: int = 0) -> None:
        self.algebra = algebra
        self.rows = rows
        self.data_rows = data_rows
        self.tra_count = tra_count
        self.sensed: Optional[V] = None
        self.raised: list[Wordline] = []
        self._undo: Optional[dict[str, Optional[V]]] = None  # earlier row values, in all_or_nothing

    @property
    def is_open(self) -> bool:
        return self.sensed is not None

    def _check_range(self, address: Address) -> None:
        if address.group == "D" and address.index >= self.data_rows:
            raise AmbitCommandError(
                f"row {address} is out of range: this subarray has data rows D0..D{self.data_rows - 1}"
            )

    def _read(self, wordline: Wordline) -> V:
        value = self.rows[wordline.row]
        if value is None:
            raise AmbitCommandError(
                f"row {wordline.row} holds no value: an earlier program ran with scratch='drop'; "
                "write the row before reading it"
            )
        return self.algebra.invert(value) if wordline.negated else value

    def _write(self, wordline: Wordline, value: V) -> None:
        if self._undo is not None:
            self._undo.setdefault(wordline.row, self.rows[wordline.row])
        self.rows[wordline.row] = self.algebra.invert(value) if wordline.negated else value

    def activate(self, address: AddressLike) -> None:
        """ACTIVATE ``address`` (on a precharged bank: sense; on an open bank: copy in)."""
        address = as_address(address)
        self._check_range(address)
        wordlines = address.wordlines
        if self.sensed is None:
            if address.is_constant:
                self.sensed = self.algebra.constant(address.index)
            elif len(wordlines) == 1:
                self.sensed = self._read(wordlines[0])
            elif len(wordlines) == 3:
                a, b, c = (self._read(w) for w in wordlines)
                self.sensed = self.algebra.majority(a, b, c, self.tra_count)
                self.tra_count += 1
                for wordline in wordlines:  # TRA is destructive: every cell takes the result
                    self._write(wordline, self.sensed)
            else:
                raise AmbitCommandError(
                    f"ACTIVATE {address} on a precharged bank is undefined: it raises "
                    f"{len(wordlines)} rows ({', '.join(map(str, wordlines))}) and only one or three "
                    "rows can be sensed; use it as the second address of an AAP"
                )
            self.raised = list(wordlines)
            return
        if address.is_constant:
            raise AmbitCommandError(f"cannot write constant row {address}: C0 and C1 are read-only")
        for wordline in wordlines:
            if any(r.row == wordline.row and r.negated != wordline.negated for r in self.raised):
                raise AmbitCommandError(
                    f"ACTIVATE {address} would raise both wordlines of {wordline.row}, "
                    "shorting the bitline to its complement"
                )
        for wordline in wordlines:
            self._write(wordline, self.sensed)
        self.raised.extend(wordlines)

    def precharge(self) -> None:
        """PRECHARGE: close the bank."""
        self.sensed = None
        self.raised = []

    def execute(self, command: Command) -> None:
        """Carry out one AAP or AP."""
        for address in command.addresses:
            self.activate(address)
        self.precharge()

    @contextlib.contextmanager
    def all_or_nothing(self) -> Iterator[None]:
        """Commands that either all take effect or, when one raises, leave no trace: the rows,
        the bank (open or closed, with what it sensed) and the TRA count are put back as they
        were before the error propagates. The rows written meanwhile keep their earlier values
        in an undo log, so the cost is that of the writes, not of the subarray's size."""
        tra_count, sensed, raised = self.tra_count, self.sensed, list(self.raised)
        self._undo = {}
        try:
            yield
        except BaseException:
            self.rows.update(self._undo)
            self.tra_count, self.sensed, self.raised = tra_count, sensed, raised
            raise
        finally:
            self._undo = None

    def require_precharged(self) -> None:
        if self.sensed is not None:
            raise AmbitCommandError(
                "the bank is open (ACTIVATE without PRECHARGE); call precharge() before running a program"
            )


def row_names(data_rows: int) -> list[str]:
    """Names of the stored rows of a subarray with ``data_rows`` data rows."""
    return [f"D{i}" for i in range(data_rows)] + list(DESIGNATED_ROWS)
