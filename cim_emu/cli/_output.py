"""Output of the command line: aligned text tables on the terminal, JSON and CSV files.

JSON documents (``--json PATH``; ``-`` writes to standard output) are one object whose keys
are stable:

``cim_emu_version``
    The version of cim-emu that wrote the document.
``command``
    The command that wrote it, without the program name, e.g. ``"ambit run"``.
``backend``
    The backend the command computed on (``"numpy"`` or ``"cupy"``), or ``null`` when it
    computed nothing on arrays.
``seed``
    The seed of every random draw the command made, or ``null`` when it drew nothing.
``results``
    A list of records (objects), one per row of the command's main table.

A command may add keys of its own beside these (its ``--help`` names them); the five above are
always present. CSV files (``--csv PATH``) hold the same records, one per line, with a header.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import numbers
import sys
from typing import Any, Callable, ContextManager, Iterable, Iterator, Mapping, Optional, Sequence, TextIO

import click

from .._version import __version__


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a text table: the record key, its heading and a format spec for values."""

    key: str
    heading: str
    spec: str = ""
    """Format spec of the values (as in ``format(value, spec)``), e.g. ``".2f"``."""


def _cell(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return format(value, spec)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def format_table(records: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """The records as an aligned text table: numbers right-aligned, text left-aligned."""
    cells = [[_cell(record.get(c.key), c.spec) for c in columns] for record in records]
    right = [any(_is_number(record.get(c.key)) for record in records) for c in columns]
    widths = [max([len(c.heading), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        padded = (v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right))
        return "  ".join(padded).rstrip()

    return "\n".join([line([c.heading for c in columns]), *(line(row) for row in cells)])


def format_fields(fields: Mapping[str, Any]) -> str:
    """``name  value`` lines with the values aligned (a value's own line breaks stay aligned)."""
    width = max(map(len, fields), default=0)
    indent = "\n" + " " * (width + 2)
    return "\n".join(f"{name.ljust(width)}  {str(value).replace(chr(10), indent)}"
                     for name, value in fields.items())


@contextlib.contextmanager
def _opened(path: str) -> Iterator[TextIO]:
    """A text stream writing to ``path``, or standard output for ``-``; errors name the file."""
    if path == "-":
        yield sys.stdout
        return
    try:
        stream = open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise click.FileError(path, hint=exc.strerror or str(exc)) from None
    with stream:
        yield stream


def _jsonable(value: Any) -> Any:
    """numpy scalars become Python numbers; anything else is an error."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def command_name() -> str:
    """The running command without the program name, e.g. ``"ambit run"``."""
    names: list[str] = []
    context = click.get_current_context()
    while context.parent is not None:
        if context.info_name:  # None only for a context made without a name
            names.append(context.info_name)
        context = context.parent
    return " ".join(reversed(names))


def write_json(path: str, results: Iterable[Mapping[str, Any]], *, backend: Optional[str],
               seed: Optional[int], **extra: Any) -> None:
    """Write the documented JSON object (see the module docstring) to ``path`` (``-``: stdout).

    ``extra`` adds the command's own keys after the five stable ones.
    """
    document = {"cim_emu_version": __version__, "command": command_name(), "backend": backend,
                "seed": seed, "results": list(results), **extra}
    with _opened(path) as stream:
        json.dump(document, stream, indent=2, default=_jsonable)
        stream.write("\n")


def write_csv(path: str, records: Sequence[Mapping[str, Any]]) -> None:
    """Write ``records`` as CSV to ``path`` (``-``: stdout); the header is every key, first seen first."""
    keys = list(dict.fromkeys(key for record in records for key in record))
    with _opened(path) as stream:
        writer = csv.DictWriter(stream, fieldnames=keys, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def progress(items: Sequence, label: str, show: bool) -> ContextManager[Iterable]:
    """``items`` behind a progress bar on standard error when ``show`` (a context manager).

    Standard error keeps standard output parseable (``--json -``); quick runs show no bar.
    """
    if not show:
        return contextlib.nullcontext(items)
    return click.progressbar(items, label=label, file=sys.stderr, show_pos=True)


def json_option(command: Callable) -> Callable:
    """``--json PATH``: write the results as the documented JSON object."""
    return click.option(
        "--json", "json_path", metavar="PATH", type=click.Path(dir_okay=False, allow_dash=True),
        help="Also write the results as JSON to PATH ('-': standard output, in place of the text).",
    )(command)


def csv_option(command: Callable) -> Callable:
    """``--csv PATH``: write the result records as CSV."""
    return click.option(
        "--csv", "csv_path", metavar="PATH", type=click.Path(dir_okay=False, allow_dash=True),
        help="Also write the result records as CSV to PATH ('-': standard output, in place of the text).",
    )(command)


def report(text: str, records: Sequence[Mapping[str, Any]], *, json_path: Optional[str] = None,
           csv_path: Optional[str] = None, backend: Optional[str], seed: Optional[int],
           **extra: Any) -> None:
    """Print ``text`` and write the requested JSON and CSV files.

    A file written to standard output (``-``) takes the place of the text, so that the output
    stays parseable; at most one of them may go there.
    """
    if json_path == "-" and csv_path == "-":
        raise click.UsageError("--json and --csv cannot both write to standard output ('-')")
    if "-" not in (json_path, csv_path):
        click.echo(text)
    if json_path:
        write_json(json_path, records, backend=backend, seed=seed, **extra)
    if csv_path:
        write_csv(csv_path, records)
