"""Data-row allocation for SIMDRAM programs, with a clear error when the subarray is full.

A SIMDRAM operation needs its operands' rows, its result rows and, for some operations,
temporary rows (SIMDRAM, ASPLOS 2021, Section 4.1, allocates them from the subarray's data
rows at run time). :class:`RowAllocator` hands out data rows ``D0``, ``D1``, ... of a subarray
of ``data_rows`` rows, lowest free first, takes them back when a program no longer needs them,
and raises :class:`OutOfRowsError` — naming what the rows were for, how many were asked for and
how many the subarray has — when it runs out. The designated rows T0..T3, DCC0 and DCC1 are not
data rows: programs use them through the B-group addresses (Ambit Table 1).
"""

from __future__ import annotations

import heapq

from ..ambit.addresses import AMBIT_DATA_ROWS, check_data_rows


class OutOfRowsError(ValueError):
    """The operation needs more data rows than the subarray has."""


class RowAllocator:
    """Hands out the data rows ``D0`` .. ``D(data_rows-1)`` of one subarray (``data_rows`` at most
    :data:`~cim_emu.ambit.addresses.MAX_DATA_ROWS`, the model limit)."""

    def __init__(self, data_rows: int = AMBIT_DATA_ROWS) -> None:
        self.data_rows = data_rows = check_data_rows(data_rows)
        self._free = list(range(data_rows))
        self._in_use: set[int] = set()
        self.high_water = 0
        """The most rows in use at any one time (what the operation needs of the subarray)."""

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def take(self, count: int, purpose: str) -> tuple[str, ...]:
        """``count`` free rows (e.g. ``("D4", "D5")``) for ``purpose``, lowest first."""
        if count > len(self._free):
            raise OutOfRowsError(
                f"out of data rows: {purpose} needs {count} row(s) but only {len(self._free)} of the "
                f"subarray's {self.data_rows} data rows are free ({self.in_use} in use); use a subarray "
                "with more data rows (data_rows=...) or narrower operands"
            )
        taken = [heapq.heappop(self._free) for _ in range(count)]
        self._in_use.update(taken)
        self.high_water = max(self.high_water, len(self._in_use))
        return tuple(f"D{index}" for index in taken)

    def take_one(self, purpose: str) -> str:
        return self.take(1, purpose)[0]

    def release(self, *rows: str) -> None:
        """Give rows back (constant rows ``C0``/``C1`` are ignored, so operands may contain them)."""
        for row in rows:
            if row in ("C0", "C1"):
                continue
            index = int(row[1:])
            if index not in self._in_use:
                raise ValueError(f"row {row} is not allocated")
            self._in_use.remove(index)
            heapq.heappush(self._free, index)
