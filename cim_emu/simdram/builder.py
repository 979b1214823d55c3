"""Writing SIMDRAM programs: AAP/AP commands with comments, and the operand types.

An operand is a tuple of row addresses, least significant bit first (``("D0", "D1", "D2")`` is a
3-bit value whose bit 0 is in row D0). A bit may also be a constant row, ``"C0"`` or ``"C1"``
(SIMDRAM's operations read known-zero bits from C0 instead of storing them). Every program is a
plain :class:`~cim_emu.ambit.program.Program` of ``AAP`` and ``AP`` commands over Ambit's
addresses (MICRO 2017, Table 1): data rows ``D<i>``, the B-group ``B0`` .. ``B15`` and the
constants — nothing else.
"""

from __future__ import annotations

from typing import Optional

from ..ambit.program import AAP, AP, Comment, Line, Program

Operand = tuple[str, ...]

ZERO, ONE = "C0", "C1"


def constant_row(bit: int) -> str:
    """``"C0"`` or ``"C1"``."""
    return ONE if bit else ZERO


class ProgramBuilder:
    """Accumulates commands; :meth:`program` returns them as a :class:`Program`."""

    def __init__(self) -> None:
        self._lines: list[Line] = []
        self._commands = 0

    def aap(self, source: str, destination: str, comment: Optional[str] = None) -> None:
        """``AAP source destination``: copy (or TRA result) from ``source`` into ``destination``."""
        self._lines.append(AAP(source, destination, comment))
        self._commands += 1

    def ap(self, address: str, comment: Optional[str] = None) -> None:
        """``AP address``: a triple-row activation whose result stays in its three rows."""
        self._lines.append(AP(address, comment))
        self._commands += 1

    def note(self, text: str) -> None:
        """A comment line."""
        self._lines.append(Comment(text))

    def copy(self, source: str, destination: str) -> None:
        """RowClone-FPM copy (skipped when source and destination are the same row)."""
        if source != destination:
            self.aap(source, destination, "copy")

    def __len__(self) -> int:
        return self._commands

    def program(self) -> Program:
        return Program(tuple(self._lines))


def extend(builder: ProgramBuilder, program: Program) -> None:
    """Append the lines of an existing program (e.g. one of :mod:`cim_emu.ambit.library`)."""
    for line in program.lines:
        if isinstance(line, Comment):
            builder.note(line.text or "")
        elif line.op == "AAP":
            source, destination = line.addresses  # Command checks that an AAP has two
            builder.aap(str(source), str(destination), line.comment)
        else:
            builder.ap(str(line.addresses[0]), line.comment)
