"""Which rows a timing-violating ``ACT RF, PRE, ACT RS`` opens: predecoder field layouts.

A DDR4 row decoder is split into *predecoders*, each decoding one field of the row address
(a few adjacent bits) into one-hot latches. When the PRECHARGE between two ACTIVATEs comes far
too early (tRP violated), the latches of the first ACTIVATE are not cleared before the second
one sets its own, so in every field both RF's and RS's value stay selected. A row opens when
every one of its fields equals RF's or RS's value in that field: the open set is the Cartesian
product over the fields (SiMRA, Yuksel et al., DSN 2024, Section 7.1; PULSAR, Yuksel et al.,
2024, Sections 3.2 and 4.2; the DRAM-Bender maintainer's description in DRAM-Bender issue 12).
With ``k`` fields where RF and RS differ, ``2**k`` rows open; in each such field the pair of
values is ``{a, a ^ d}``, so the open set is RF XOR every subset of the per-field differences.

The bits above the in-subarray fields select the subarray. They form one more field: RF and RS
in the same subarray open rows of that subarray only; in neighbouring subarrays (``|s_F - s_S|
== 1``) the same in-subarray rows open in both, which share the sense-amplifier stripe between
them (FCDRAM, Yuksel et al., HPCA 2024, Section 4). Subarrays further apart share nothing, and
no paper reports an operation there: :func:`open_rows` refuses them.

Layouts differ by vendor and die; :data:`LAYOUTS` holds two presets consistent with the
published examples (see each one's ``source``), and :class:`PredecoderLayout` takes any other.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Sequence

from ..._checks import int_below, int_in_range

#: Rows in one DDR4 bank of the modelled chips (an 8 Gb x8 DDR4 die: 64 Ki rows per bank).
BANK_ROWS = 2**16


class RealChipCommandError(ValueError):
    """A real-chip command the papers report as failing, or that breaks a rule of the model."""


@dataclasses.dataclass(frozen=True)
class PredecoderLayout:
    """The predecoder fields of the in-subarray row address and the subarray size.

    ``fields`` are ``(high, low)`` bit ranges (inclusive) of the row address; together they must
    cover bits ``0 .. log2(subarray_rows) - 1`` exactly once. ``bank_rows`` is the number of
    rows of the bank (a multiple of ``subarray_rows``).
    """

    name: str
    subarray_rows: int
    fields: tuple[tuple[int, int], ...]
    bank_rows: int = BANK_ROWS
    source: str = "user-defined"

    def __post_init__(self) -> None:
        rows = int_in_range("subarray_rows", self.subarray_rows, 2, 2**17)
        if rows & (rows - 1):
            raise ValueError(f"subarray_rows must be a power of two in [2, 2**17]; got {rows}")
        bank = int_in_range("bank_rows", self.bank_rows, rows, 2**18)
        if bank % rows:
            raise ValueError(f"bank_rows must be a multiple of subarray_rows ({rows}); got {bank}")
        width = rows.bit_length() - 1
        fields = tuple((int(h), int(lo)) for h, lo in self.fields)
        covered: list[int] = []
        for high, low in fields:
            if not 0 <= low <= high < width:
                raise ValueError(f"fields must be (high, low) bit ranges with 0 <= low <= high < {width} "
                                 f"(log2 of subarray_rows); got ({high}, {low})")
            covered += range(low, high + 1)
        if sorted(covered) != list(range(width)):
            raise ValueError(f"fields must cover bits 0..{width - 1} of the row address exactly once; "
                             f"got {sorted(covered)}")
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "subarray_rows", rows)
        object.__setattr__(self, "bank_rows", bank)

    @property
    def field_masks(self) -> tuple[int, ...]:
        """The address mask of every in-subarray field."""
        return tuple(((1 << (high + 1)) - 1) ^ ((1 << low) - 1) for high, low in self.fields)

    def subarray(self, row: int) -> int:
        """The subarray that holds ``row``."""
        return row // self.subarray_rows

    def check_row(self, name: str, row: Any) -> int:
        """``row`` as an int in ``[0, bank_rows)`` (``ValueError`` naming ``name`` otherwise)."""
        return int_below(name, row, self.bank_rows, str(self.bank_rows))


def _layout(name: str, rows: int, fields: Sequence[tuple[int, int]], source: str) -> PredecoderLayout:
    return PredecoderLayout(name, rows, tuple(fields), source=source)


#: Preset layouts by name.
LAYOUTS: dict[str, PredecoderLayout] = {
    layout.name: layout for layout in (
        _layout("simra-512", 512, [(8, 7), (6, 5), (4, 3), (2, 1), (0, 0)],
                "SiMRA (DSN 2024) Section 7.1: fields A[8:7], A[6:5], A[4:3], A[2:1], A[0] of a 512-row "
                "subarray; APA(256, 287) opens {256, 257, 262, 263, 280, 281, 286, 287}"),
        _layout("pulsar-1024", 1024, [(9, 8), (7, 6), (5, 4), (3, 2), (1, 0)],
                "PULSAR (2024) Sections 3.2 and 4.2: a 1024-row subarray with a field at bit 9; a "
                "layout consistent with the published 16-row group of row 38408 XOR subsets of "
                "{4, 16, 64, 512}; the exact field boundaries of that die are an assumption"),
    )
}


def as_layout(layout: Any) -> PredecoderLayout:
    """A :class:`PredecoderLayout`, or the name of a preset in :data:`LAYOUTS`."""
    if isinstance(layout, PredecoderLayout):
        return layout
    if isinstance(layout, str) and layout in LAYOUTS:
        return LAYOUTS[layout]
    raise ValueError(f"layout must be a PredecoderLayout or one of {', '.join(LAYOUTS)}; got {layout!r}")


@dataclasses.dataclass(frozen=True)
class RowGroup:
    """The rows one ``APA RF RS`` opens.

    ``first`` holds the open rows of RF's subarray and ``second`` those of RS's (empty when both
    are in the same subarray); ``offsets`` the in-subarray offsets open in each, sorted.
    """

    rf: int
    rs: int
    first: tuple[int, ...]
    second: tuple[int, ...]

    @property
    def rows(self) -> tuple[int, ...]:
        """Every open row, sorted."""
        return tuple(sorted(self.first + self.second))

    @property
    def neighbouring(self) -> bool:
        """True when RF and RS are in neighbouring subarrays (FCDRAM's case)."""
        return bool(self.second)

    @property
    def key(self) -> int:
        """A 36-bit identifier of the group (the same cells whatever the order of RF and RS):
        its lowest row times ``2**18`` plus ``RF XOR RS``."""
        return (min(self.first + self.second) << 18) | (self.rf ^ self.rs)


def open_rows(rf: Any, rs: Any, layout: Any = "simra-512") -> RowGroup:
    """The rows ``APA RF RS`` opens under ``layout`` (a :class:`PredecoderLayout` or a preset name).

    Raises :class:`RealChipCommandError` for RF and RS in subarrays that are not neighbours.
    """
    chosen = as_layout(layout)
    rf = chosen.check_row("rf", rf)
    rs = chosen.check_row("rs", rs)
    sub_f, sub_s = chosen.subarray(rf), chosen.subarray(rs)
    if abs(sub_f - sub_s) > 1:
        raise RealChipCommandError(
            f"APA {rf} {rs}: rows in subarrays {sub_f} and {sub_s} share no sense amplifiers; only the same "
            "or neighbouring subarrays (SiMRA, FCDRAM) compute")
    choices = [sorted({rf & mask, rs & mask}) for mask in chosen.field_masks]
    offsets = sorted(sum(parts) for parts in itertools.product(*choices))
    base_f = sub_f * chosen.subarray_rows
    first = tuple(base_f + o for o in offsets)
    second = () if sub_f == sub_s else tuple(sub_s * chosen.subarray_rows + o for o in offsets)
    return RowGroup(rf, rs, first, second)
