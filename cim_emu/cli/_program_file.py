"""An Ambit program file read for ``cim-emu ambit run``: a stream of lines, every problem one usage error.

The file is decoded as UTF-8 and parsed a line at a time
(:meth:`~cim_emu.ambit.Program.parse_lines`), so its text is never held whole; a byte order mark
at its start is dropped. Two limits keep a huge file from exhausting memory:

* a line may hold at most :data:`MAX_LINE_CHARACTERS` characters (a command needs a few dozen);
* before each :data:`LINES_PER_MEMORY_CHECK` lines, the memory they may take once parsed and
  compiled (:data:`BYTES_PER_LINE` each) is checked against the memory left
  (:func:`cim_emu._memory.require_bytes`).

Errors are :class:`click.BadParameter` naming ``PROGRAM_FILE`` and, where there is one, the line.
"""

from __future__ import annotations

import pathlib
from typing import IO, Any, Iterator

import click

from .._memory import InsufficientMemoryError, format_bytes, require_bytes

#: How usage errors name the program file argument.
PROGRAM_HINT = "'PROGRAM_FILE'"

#: The longest line a program file may hold, in characters.
MAX_LINE_CHARACTERS = 1 << 24

#: Lines parsed between two checks of the memory left.
LINES_PER_MEMORY_CHECK = 1 << 16

#: Memory one line may take once parsed and compiled, at most: a few pointers for the line, a
#: comment's text, and the compiler's nodes for a command (with faults on, one per TRA).
BYTES_PER_LINE = 512


def _checked_lines(file: IO[str], path: pathlib.Path) -> Iterator[str]:
    """The lines of ``file``, each at most :data:`MAX_LINE_CHARACTERS` long, with the memory for
    the next :data:`LINES_PER_MEMORY_CHECK` of them checked before they are read."""
    number = 0
    while True:
        if number % LINES_PER_MEMORY_CHECK == 0:
            require_bytes(LINES_PER_MEMORY_CHECK * BYTES_PER_LINE, parameter="PROGRAM_FILE",
                          what=f"the program's lines {number + 1} to {number + LINES_PER_MEMORY_CHECK}")
        line = file.readline(MAX_LINE_CHARACTERS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARACTERS and not line.endswith("\n"):
            raise click.BadParameter(f"{path}, line {number}: longer than {MAX_LINE_CHARACTERS} characters "
                                     f"({format_bytes(MAX_LINE_CHARACTERS)}); a command needs a few dozen",
                                     param_hint=PROGRAM_HINT)
        yield line


def read_program(path: pathlib.Path) -> Any:
    """The :class:`~cim_emu.ambit.Program` in ``path``; any problem is a one-line usage error."""
    from ..ambit import Program, ProgramSyntaxError  # noqa: PLC0415

    try:
        with path.open(encoding="utf-8") as file:
            program = Program.parse_lines(_checked_lines(file, path))
    except (OSError, UnicodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint=PROGRAM_HINT) from None
    except ProgramSyntaxError as exc:  # its message starts with "line N:"
        raise click.BadParameter(f"{path}, {exc}", param_hint=PROGRAM_HINT) from None
    except InsufficientMemoryError as exc:
        raise click.BadParameter(f"{path} does not fit in memory: {exc.reason}", param_hint=PROGRAM_HINT) from None
    if not len(program):
        raise click.BadParameter(f"{path} holds no commands", param_hint=PROGRAM_HINT)
    return program
