"""Ambit programs as plain data, with a text form.

A program is a sequence of DRAM commands (Ambit, MICRO 2017, Section 5.3):

``AAP a b``
    ACTIVATE ``a``, ACTIVATE ``b``, PRECHARGE: the value sensed from ``a`` (a single row, its
    negation through an n-wordline, or the majority of three rows) is copied into every row
    raised by ``b`` (RowClone-FPM).
``AP a``
    ACTIVATE ``a``, PRECHARGE: used for a triple-row activation whose result stays in the
    three activated rows.

Text form: one command a line, the mnemonic and its addresses separated by white space,
case-insensitive; ``#`` starts a comment that runs to the end of the line; blank lines are
allowed; lines end in ``\n``, ``\r\n`` or ``\r``; a UTF-8 byte order mark (U+FEFF) at the
start is dropped. :meth:`Program.parse` (a string) and :meth:`Program.parse_lines` (a line at a
time, e.g. from an open file, so the text is never held whole) keep comments and blank lines;
their errors name the line and show at most :data:`~cim_emu._checks.SHOWN_CHARACTERS`
characters of a token. :meth:`Program.to_text` writes the canonical form — upper case, single
spaces, an inline comment as two spaces, ``#``, a space and its text — so canonical text parses
and prints back identically::

    # AND of D0 and D1 into D2 (Ambit Figure 8)
    AAP D0 B0
    AAP D1 B1
    AAP C0 B2
    AAP B12 D2  # triple-row activation: MAJ(D0, D1, 0)
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import io
from typing import Iterable, Iterator, Optional, Union

from .._checks import shown
from .addresses import Address, AddressLike, as_address

#: Mnemonics and the number of addresses each takes.
ARITY = {"AAP": 2, "AP": 1}

#: The UTF-8 byte order mark, dropped from the start of program text.
BYTE_ORDER_MARK = "\ufeff"


class ProgramSyntaxError(ValueError):
    """A program text that does not parse; ``line`` is the 1-based line number."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclasses.dataclass(frozen=True)
class Command:
    """One command: ``op`` (``"AAP"`` or ``"AP"``), its addresses and an optional comment."""

    op: str
    addresses: tuple[Address, ...]
    comment: Optional[str] = None

    def __post_init__(self) -> None:
        if self.op not in ARITY:
            raise ValueError(f"command must be one of {', '.join(ARITY)}; got {self.op!r}")
        object.__setattr__(self, "addresses", tuple(as_address(a) for a in self.addresses))
        if len(self.addresses) != ARITY[self.op]:
            raise ValueError(f"{self.op} takes {ARITY[self.op]} address(es); got {len(self.addresses)}")

    def to_text(self) -> str:
        text = " ".join([self.op, *map(str, self.addresses)])
        return text if self.comment is None else f"{text}  # {self.comment}".rstrip()

    def without_comment(self) -> "Command":
        return Command(self.op, self.addresses) if self.comment is not None else self

    __str__ = to_text


@dataclasses.dataclass(frozen=True)
class Comment:
    """A line that holds only a comment (``text`` is ``None`` for a blank line)."""

    text: Optional[str] = None

    def to_text(self) -> str:
        return "" if self.text is None else f"# {self.text}".rstrip()


Line = Union[Command, Comment]


def AAP(first: AddressLike, second: AddressLike, comment: Optional[str] = None) -> Command:
    """``AAP first second``: ACTIVATE, ACTIVATE, PRECHARGE."""
    return Command("AAP", (as_address(first), as_address(second)), comment)


def AP(address: AddressLike, comment: Optional[str] = None) -> Command:
    """``AP address``: ACTIVATE, PRECHARGE."""
    return Command("AP", (as_address(address),), comment)


@dataclasses.dataclass(frozen=True)
class Program:
    """An immutable sequence of lines (commands and comments).

    Iterating a program, ``len`` and :attr:`commands` see the commands only. Programs
    concatenate with ``+``. Two programs are equal when their lines are, comments included;
    :attr:`instructions` gives the commands without comments (what executors and caches use).
    """

    lines: tuple[Line, ...] = ()

    def __post_init__(self) -> None:
        lines = tuple(self.lines)
        for line in lines:
            if not isinstance(line, (Command, Comment)):
                raise TypeError(f"a program line must be a Command or a Comment; got {shown(line)}")
        object.__setattr__(self, "lines", lines)

    @classmethod
    def of(cls, *commands: Line) -> "Program":
        """``Program.of(AAP("D0", "B0"), AP("B12"))``."""
        return cls(commands)

    @classmethod
    def parse(cls, text: str) -> "Program":
        """Parse the text form; errors name the line number (see :meth:`parse_lines`)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str; got {type(text).__name__}")
        return cls.parse_lines(io.StringIO(text, newline=None))

    @classmethod
    def parse_lines(cls, lines: Iterable[str]) -> "Program":
        """Parse the text form one line at a time (an open text file, a list of strings).

        A byte order mark at the start of the first line is dropped. Lines are parsed as they
        come and equal lines share one object, so a long program takes a few pointers a line,
        not its text. Errors are :class:`ProgramSyntaxError` naming the line.
        """
        parsed = (_parse_line(number, raw.removeprefix(BYTE_ORDER_MARK) if number == 1 else raw)
                  for number, raw in enumerate(lines, start=1))
        return cls(tuple(parsed))

    def to_text(self) -> str:
        """The canonical text form, one line per line, ending in a newline."""
        return "".join(line.to_text() + "\n" for line in self.lines)

    __str__ = to_text

    @functools.cached_property
    def commands(self) -> tuple[Command, ...]:
        return tuple(line for line in self.lines if isinstance(line, Command))

    @functools.cached_property
    def instructions(self) -> tuple[Command, ...]:
        """The commands with their comments removed."""
        return tuple(c.without_comment() for c in self.commands)

    @functools.cached_property
    def _counts(self) -> dict[str, int]:
        counts = dict.fromkeys(ARITY, 0)
        for command in self.commands:
            counts[command.op] += 1
        return counts

    def counts(self) -> dict[str, int]:
        """Number of commands of each kind, e.g. ``{"AAP": 5, "AP": 2}``."""
        return dict(self._counts)

    def __iter__(self) -> Iterator[Command]:
        return iter(self.commands)

    def __len__(self) -> int:
        return len(self.commands)

    def __add__(self, other: "Program") -> "Program":
        if not isinstance(other, Program):
            return NotImplemented
        return Program(self.lines + other.lines)


@functools.lru_cache(maxsize=4096)
def _command(op: str, addresses: tuple[Address, ...], comment: Optional[str]) -> Command:
    """One :class:`Command` object for the recent lines that spell the same command and comment."""
    return Command(op, addresses, comment)


@functools.lru_cache(maxsize=4096)
def _comment(text: Optional[str]) -> Comment:
    """One :class:`Comment` object for the recent comment lines of the same text (and blank lines)."""
    return Comment(text)


def _parse_line(number: int, raw: str) -> Line:
    """Line ``number`` of a program text (a :class:`ProgramSyntaxError` naming it when it does not parse)."""
    if not isinstance(raw, str):
        raise TypeError(f"program lines must be str; got {type(raw).__name__} on line {number}")
    code, hash_sign, comment_text = raw.partition("#")
    comment = comment_text.strip() if hash_sign else None
    words = code.split()
    if not words:
        return _comment(comment)
    op = words[0].upper()
    if op not in ARITY:
        raise ProgramSyntaxError(number, f"unknown command {shown(words[0])} (expected AAP or AP)")
    if len(words) - 1 != ARITY[op]:
        raise ProgramSyntaxError(number, f"{op} takes {ARITY[op]} address(es), got {len(words) - 1}: "
                                         f"{shown(code.strip())}")
    try:
        addresses = tuple(Address.parse(word) for word in words[1:])
    except ValueError as exc:
        raise ProgramSyntaxError(number, str(exc)) from None
    return _command(op, addresses, comment)


def as_program(value: Union[Program, str, Iterable[Line]]) -> Program:
    """Accept a :class:`Program`, its text form, or an iterable of commands; anything else is a
    ``TypeError`` naming the parameter ``program`` (as :meth:`Subarray.run` calls it)."""
    if isinstance(value, Program):
        return value
    if isinstance(value, str):
        return Program.parse(value)
    if not isinstance(value, collections.abc.Iterable) or isinstance(value, (bytes, bytearray)):
        raise TypeError("program must be a Program, its text or an iterable of commands; "
                        f"got {type(value).__name__}")
    return Program(tuple(value))
