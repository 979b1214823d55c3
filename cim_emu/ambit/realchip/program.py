"""Real-chip programs (APA and Frac on plain row addresses) as data, with a text form.

``APA RF RS t1 t2 [X]``
    ``ACT RF``, ``t1`` ns, ``PRE``, ``t2`` ns, ``ACT RS``, then (after tRAS) a proper
    ``PRE``: with tRP violated the group of rows :func:`~cim_emu.ambit.realchip.decoder.open_rows`
    names opens at once (SiMRA, DSN 2024; FCDRAM, HPCA 2024). Rows are plain bank row numbers
    (real chips have no designated rows); ``t1`` and ``t2`` are ns. The optional ``X`` is not
    seen by the chip: it tells the error model how many distinct operands a majority combines
    (X of MAJX), which the data cannot always show (solid operands are only all zeros or all
    ones); without it the model counts the distinct contents of the voting rows.
``FRAC R``
    ``ACT R`` and ``PRE`` 1.5 ns later: the row is left near VDD/2, so it does not vote in a
    later charge-sharing APA (FCDRAM Section 4.1; SiMRA Section 7 uses it for the rows left over
    by operand replication) until an APA writes it.

The text form follows the ideal mode's (``docs/spec/ambit.md``): one command a line,
case-insensitive mnemonics, white space between fields, ``#`` comments, blank lines kept. Times
are decimal numbers; :meth:`RealChipProgram.to_text` writes the shortest text that parses back
to the same float (``1.5``, ``36``), so canonical text parses and prints back identically. The ideal mode's
parser (:mod:`cim_emu.ambit.program`) is unchanged and refuses these mnemonics: a real-chip
program is parsed by :meth:`RealChipProgram.parse`.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Iterable, Iterator, Optional, Union

from ..._checks import int_in_range, shown
from ..addresses import ROW_ADDRESSES
from ..program import BYTE_ORDER_MARK, Comment, ProgramSyntaxError
from .timing import DDR4_T_RAS_NS, DDR4_T_RP_NS, apa_latency_ns, check_time, frac_latency_ns

#: Mnemonics and the number of operands each takes (APA: four, and an optional X).
REALCHIP_ARITY = {"APA": 4, "FRAC": 1}


def _row(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < ROW_ADDRESSES:
        raise ValueError(f"{name} must be a row number in [0, 2**18); got {shown(value)}")
    return value


def _time_text(value: Optional[float]) -> str:
    """The shortest text that parses back to ``value`` (``1.5``, ``36``, ``1e-05``)."""
    text = repr(float(value))  # type: ignore[arg-type]
    return text[:-2] if text.endswith(".0") else text


@dataclasses.dataclass(frozen=True)
class RealChipCommand:
    """``APA`` (rows ``rf``, ``rs``; times ``t1``, ``t2`` in ns) or ``FRAC`` (row ``rf``)."""

    op: str
    rf: int
    rs: Optional[int] = None
    t1: Optional[float] = None
    t2: Optional[float] = None
    comment: Optional[str] = None
    operands: Optional[int] = None

    def __post_init__(self) -> None:
        if self.op not in REALCHIP_ARITY:
            raise ValueError(f"op must be one of {', '.join(REALCHIP_ARITY)}; got {shown(self.op)}")
        _row("rf" if self.op == "APA" else "row", self.rf)
        if self.op == "APA":
            _row("rs", self.rs)
            object.__setattr__(self, "t1", check_time("t1", self.t1))
            object.__setattr__(self, "t2", check_time("t2", self.t2))
            if self.operands is not None:
                int_in_range("operands", self.operands, 1, 64)
        elif (self.rs, self.t1, self.t2, self.operands) != (None, None, None, None):
            raise ValueError("FRAC takes one row; rs, t1, t2 and operands must be None")

    def to_text(self) -> str:
        if self.op == "APA":
            text = f"APA {self.rf} {self.rs} {_time_text(self.t1)} {_time_text(self.t2)}"
            text += "" if self.operands is None else f" {self.operands}"
        else:
            text = f"FRAC {self.rf}"
        return text if self.comment is None else f"{text}  # {self.comment}".rstrip()

    __str__ = to_text


def APA(rf: int, rs: int, t1: float, t2: float, comment: Optional[str] = None,
        operands: Optional[int] = None) -> RealChipCommand:
    """``APA rf rs t1 t2`` (``operands``: the optional X of MAJX for the error model)."""
    return RealChipCommand("APA", rf, rs, t1, t2, comment, operands)


def FRAC(row: int, comment: Optional[str] = None) -> RealChipCommand:
    """``FRAC row``."""
    return RealChipCommand("FRAC", row, comment=comment)


RealChipLine = Union[RealChipCommand, Comment]


@dataclasses.dataclass(frozen=True)
class RealChipProgram:
    """An immutable sequence of real-chip commands and comments; iterating sees the commands."""

    lines: tuple[RealChipLine, ...] = ()

    def __post_init__(self) -> None:
        lines = tuple(self.lines)
        for line in lines:
            if not isinstance(line, (RealChipCommand, Comment)):
                raise TypeError(f"a real-chip program line must be a RealChipCommand or a Comment; got {shown(line)}")
        object.__setattr__(self, "lines", lines)

    @classmethod
    def of(cls, *lines: RealChipLine) -> "RealChipProgram":
        return cls(lines)

    @classmethod
    def parse(cls, text: str) -> "RealChipProgram":
        """Parse the text form; errors are :class:`~cim_emu.ambit.program.ProgramSyntaxError` naming the line."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str; got {type(text).__name__}")
        lines = io.StringIO(text, newline=None)
        return cls(tuple(_parse_line(number, raw.removeprefix(BYTE_ORDER_MARK) if number == 1 else raw)
                         for number, raw in enumerate(lines, start=1)))

    def to_text(self) -> str:
        return "".join(line.to_text() + "\n" for line in self.lines)

    __str__ = to_text

    @property
    def commands(self) -> tuple[RealChipCommand, ...]:
        return tuple(line for line in self.lines if isinstance(line, RealChipCommand))

    def counts(self) -> dict[str, int]:
        """Commands of each kind, e.g. ``{"APA": 3, "FRAC": 1}``."""
        counts = dict.fromkeys(REALCHIP_ARITY, 0)
        for command in self.commands:
            counts[command.op] += 1
        return counts

    def latency_ns(self, t_ras_ns: float = DDR4_T_RAS_NS, t_rp_ns: float = DDR4_T_RP_NS) -> float:
        """Latency of the program on one bank (DDR4-2400 by default): every APA ``t1 + t2 + tRAS +
        tRP``, every Frac ``1.5 ns + tRP`` (:mod:`~cim_emu.ambit.realchip.timing`)."""
        total = 0.0
        for c in self.commands:
            if c.op == "APA":
                total += apa_latency_ns(float(c.t1), float(c.t2), t_ras_ns, t_rp_ns)  # type: ignore[arg-type]
            else:
                total += frac_latency_ns(t_rp_ns)
        return total

    def __iter__(self) -> Iterator[RealChipCommand]:
        return iter(self.commands)

    def __len__(self) -> int:
        return len(self.commands)

    def __add__(self, other: "RealChipProgram") -> "RealChipProgram":
        if not isinstance(other, RealChipProgram):
            return NotImplemented
        return RealChipProgram(self.lines + other.lines)


def _number(number: int, word: str, kind: type) -> float:
    try:
        return kind(word)
    except ValueError:
        raise ProgramSyntaxError(number, f"expected a {'row number' if kind is int else 'time in ns'}, "
                                         f"got {shown(word)}") from None


def _parse_line(number: int, raw: str) -> RealChipLine:
    code, hash_sign, comment_text = raw.partition("#")
    comment = comment_text.strip() if hash_sign else None
    words = code.split()
    if not words:
        return Comment(comment)
    op = words[0].upper()
    if op not in REALCHIP_ARITY:
        raise ProgramSyntaxError(number, f"unknown command {shown(words[0])} (expected APA or FRAC)")
    allowed = (4, 5) if op == "APA" else (1,)
    if len(words) - 1 not in allowed:
        raise ProgramSyntaxError(number, f"{op} takes {' or '.join(map(str, allowed))} operand(s), got "
                                         f"{len(words) - 1}: {shown(code.strip())}")
    try:
        if op == "FRAC":
            return FRAC(int(_number(number, words[1], int)), comment)
        rf, rs = (int(_number(number, w, int)) for w in words[1:3])
        t1, t2 = (_number(number, w, float) for w in words[3:5])
        operands = int(_number(number, words[5], int)) if len(words) == 6 else None
        return APA(rf, rs, t1, t2, comment, operands)
    except ValueError as exc:
        if isinstance(exc, ProgramSyntaxError):
            raise
        raise ProgramSyntaxError(number, str(exc)) from None


def as_realchip_program(value: Union[RealChipProgram, str, Iterable[RealChipLine]]) -> RealChipProgram:
    """A :class:`RealChipProgram`, its text, or an iterable of commands (``TypeError`` naming ``program``)."""
    if isinstance(value, RealChipProgram):
        return value
    if isinstance(value, str):
        return RealChipProgram.parse(value)
    if isinstance(value, (bytes, bytearray)) or not hasattr(value, "__iter__"):
        raise TypeError(f"program must be a RealChipProgram, its text or an iterable of commands; "
                        f"got {type(value).__name__}")
    return RealChipProgram(tuple(value))
