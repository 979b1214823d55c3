"""Row addresses of an Ambit subarray and the wordlines each one raises.

An Ambit subarray (Seshadri et al., "Ambit: In-Memory Accelerator for Bulk Bitwise Operations
Using Commodity DRAM Technology", MICRO 2017, Section 5.1 and Table 1) splits its row
addresses into three groups:

* the **D-group**: data rows ``D0`` .. ``D(n-1)`` (1006 in a subarray of 1024 wordlines);
* the **C-group**: two constant rows, ``C0`` (all zeros) and ``C1`` (all ones), which can be
  read (activated first) but never written;
* the **B-group**: 16 reserved addresses ``B0`` .. ``B15`` that map onto six physical rows —
  the designated rows ``T0`` .. ``T3`` and the dual-contact rows ``DCC0`` and ``DCC1`` —
  through eight wordlines. A dual-contact cell has a *d*-wordline, which connects it to the
  bitline, and an *n*-wordline, which connects it to the complementary bitline: a cell read
  through its n-wordline shows its negation, and a cell written through it stores the
  negation of the sensed value.

Table 1 of the paper (the addresses below are checked against it):

===== ======================  ===== ======================
addr  wordlines raised        addr  wordlines raised
===== ======================  ===== ======================
B0    T0                      B8    DCC0 (n), T0
B1    T1                      B9    DCC1 (n), T1
B2    T2                      B10   T2, T3
B3    T3                      B11   T0, T3
B4    DCC0                    B12   T0, T1, T2
B5    DCC0 (n)                B13   T1, T2, T3
B6    DCC1                    B14   DCC0, T1, T2
B7    DCC1 (n)                B15   DCC1, T0, T3
===== ======================  ===== ======================
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any, NamedTuple, Union

from .._checks import int_in_range, shown

#: The six physical rows behind the B-group, in storage order.
DESIGNATED_ROWS = ("T0", "T1", "T2", "T3", "DCC0", "DCC1")

#: Data rows of the paper's subarray: 1024 wordlines less C0, C1 and the 16 B-group addresses.
AMBIT_DATA_ROWS = 1006

#: The model limit on data rows per subarray: the paper's subarray. ``Subarray(max_data_rows=...)``
#: raises it for a larger subarray (up to :data:`ROW_ADDRESSES`).
MAX_DATA_ROWS = AMBIT_DATA_ROWS

#: Rows one DRAM bank can address (DDR4 and DDR5: row address bits A0-A17): no subarray has
#: more, so no data row index reaches it.
ROW_ADDRESSES = 2**18


class Wordline(NamedTuple):
    """One raised wordline: the physical row it connects, and whether it is an n-wordline."""

    row: str
    negated: bool = False

    def __str__(self) -> str:
        return f"{self.row} (n)" if self.negated else self.row


def _wl(name: str) -> Wordline:
    return Wordline(name[:-4], True) if name.endswith("(n)") else Wordline(name)


#: Ambit Table 1: the wordlines raised by each B-group address.
B_GROUP: dict[int, tuple[Wordline, ...]] = {
    index: tuple(_wl(w) for w in spec.split(","))
    for index, spec in enumerate(
        [
            "T0", "T1", "T2", "T3",
            "DCC0", "DCC0 (n)", "DCC1", "DCC1 (n)",
            "DCC0 (n),T0", "DCC1 (n),T1", "T2,T3", "T0,T3",
            "T0,T1,T2", "T1,T2,T3", "DCC0,T1,T2", "DCC1,T0,T3",
        ]
    )
}  # fmt: skip

_ADDRESS_RE = re.compile(r"^(?:(D)(0|[1-9][0-9]*)|(B)(1[0-5]|[0-9])|(C)([01]))$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True, order=True)
class Address:
    """A row address: group ``"D"``, ``"B"`` or ``"C"`` and an index (``D12``, ``B5``, ``C1``)."""

    group: str
    index: int

    def __post_init__(self) -> None:
        if self.group not in _INDEX_LIMITS:
            raise ValueError(f"address group must be 'D', 'B' or 'C'; got {shown(self.group)}")
        index = int_in_range(f"{self.group}-group address index", self.index, 0, _INDEX_LIMITS[self.group])
        object.__setattr__(self, "index", index)  # a numpy integer is stored as an int

    @classmethod
    def parse(cls, text: str) -> "Address":
        """Parse ``"D12"``, ``"b5"``, ``"C1"`` (case-insensitive).

        A data row index must be below :data:`ROW_ADDRESSES`; errors show at most
        :data:`~cim_emu._checks.SHOWN_CHARACTERS` characters of ``text``.
        """
        if not isinstance(text, str):
            raise TypeError(f"a row address must be a string like 'D3'; got {type(text).__name__}")
        return _parse_address(text.strip())

    def __str__(self) -> str:
        return f"{self.group}{self.index}"

    @property
    def is_constant(self) -> bool:
        """True for ``C0`` and ``C1``."""
        return self.group == "C"

    @property
    def wordlines(self) -> tuple[Wordline, ...]:
        """The wordlines this address raises (a constant row raises none of the stored rows)."""
        if self.group == "B":
            return B_GROUP[self.index]
        if self.group == "D":
            return (Wordline(str(self)),)
        return ()


#: The largest index of each address group.
_INDEX_LIMITS = {"D": ROW_ADDRESSES - 1, "B": 15, "C": 1}


@functools.lru_cache(maxsize=4096)
def _parse_address(text: str) -> Address:
    """One :class:`Address` object per spelling, so that a long program holds each address once."""
    match = _ADDRESS_RE.match(text)
    if not match:
        raise ValueError(
            f"unknown row address {shown(text)}: expected D<n> (data row), B0..B15 "
            "(designated/DCC rows, Ambit Table 1) or C0/C1 (constant rows)"
        )
    group, index = next((g, i) for g, i in zip(match.groups()[::2], match.groups()[1::2]) if g)
    group = group.upper()
    if group == "D" and (len(index) > len(str(ROW_ADDRESSES)) or int(index) >= ROW_ADDRESSES):  # length first:
        raise ValueError(  # converting a million digits takes long
            f"row address {shown(text)} is out of range: no DRAM bank has more than {ROW_ADDRESSES} rows"
        )
    return Address(group, int(index))


def check_data_rows(data_rows: Any, max_data_rows: Any = MAX_DATA_ROWS) -> int:
    """``data_rows`` as an int in ``1..max_data_rows`` (the model limit, :data:`MAX_DATA_ROWS` unless
    raised, at most :data:`ROW_ADDRESSES`); a ``ValueError`` naming the parameter otherwise."""
    limit = int_in_range("max_data_rows", max_data_rows, 1, ROW_ADDRESSES)
    try:
        return int_in_range("data_rows", data_rows, 1, limit)
    except ValueError as exc:
        why = "MAX_DATA_ROWS, the Ambit paper's subarray" if limit == MAX_DATA_ROWS else "max_data_rows"
        raise ValueError(f"{exc} (at most {limit} data rows per subarray: {why})") from None


AddressLike = Union[Address, str]


def as_address(value: AddressLike) -> Address:
    """Accept an :class:`Address` or its text form."""
    if isinstance(value, Address):
        return value
    if isinstance(value, str):
        return Address.parse(value)
    raise TypeError(f"a row address must be an Address or a string like 'D3'; got {type(value).__name__}")
