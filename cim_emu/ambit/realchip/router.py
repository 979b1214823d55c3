"""Moving data inside a real-chip subarray: RowClone hops, subcube replication, operand loads.

A real chip copies a row only with APA in the *sensed* regime (``t1 >= 18 ns``), and the APA
writes RF's value into every row of the group the decoder opens (SiMRA Section 8). So:

* **a hop** ``APA u v 36 3`` where ``u`` and ``v`` differ in exactly one predecoder field opens
  ``{u, v}``: a RowClone that touches nothing else. :func:`route` finds the shortest chain of
  hops between two rows of a subarray through rows that may be overwritten (breadth-first over
  the rows one field apart);
* **a Multi-RowCopy** fills an aligned *block* of a row group (a subcube: the group's rows whose
  index agrees outside its lowest ``k`` dimensions) from a *port* row, the block's first row with
  a spare address bit flipped (``port_bit``): ``APA port, port ^ port_bit ^ span`` opens the
  block and its copy at the flipped bit (scratch), all taking the port's value;
* **an operand load** (:func:`load_program`) places the copies MAJX replication asks for: each
  operand's count split into powers of two, blocks allocated largest first (a buddy allocator
  over the group's index, so every block is a subcube), the leftover rows Frac'd.
"""

from __future__ import annotations

import collections
from typing import Iterable, Optional, Sequence

from .decoder import PredecoderLayout, RealChipCommandError, open_rows
from .program import APA, FRAC, RealChipCommand
from .timing import COPY_TIMING


def neighbours(row: int, layout: PredecoderLayout) -> list[int]:
    """The rows of ``row``'s subarray that differ from it in exactly one predecoder field."""
    found = []
    for high, low in layout.fields:
        mask = ((1 << (high + 1)) - 1) ^ ((1 << low) - 1)
        for value in range(1 << (high - low + 1)):
            other = (row & ~mask) | (value << low)
            if other != row:
                found.append(other)
    return found


def route(src: int, dst: int, layout: PredecoderLayout, blocked: Iterable[int] = ()) -> list[RealChipCommand]:
    """The shortest chain of RowClone hops that copies ``src`` into ``dst`` without writing a row in
    ``blocked`` (``src`` and ``dst`` excepted); :class:`RealChipCommandError` when there is none."""
    if layout.subarray(src) != layout.subarray(dst):
        raise RealChipCommandError(f"route: rows {src} and {dst} are in different subarrays; copies stay in one")
    if src == dst:
        return []
    avoid = set(blocked) - {dst}
    previous: dict[int, Optional[int]] = {src: None}
    queue = collections.deque([src])
    while queue and dst not in previous:
        row = queue.popleft()
        for other in neighbours(row, layout):
            if other not in previous and other not in avoid:
                previous[other] = row
                queue.append(other)
    if dst not in previous:
        raise RealChipCommandError(f"route: no chain of RowClone hops from {src} to {dst} avoids the live rows")
    path = [dst]
    while previous[path[-1]] is not None:
        path.append(previous[path[-1]])  # type: ignore[arg-type]
    path.reverse()
    return [APA(u, v, *COPY_TIMING, comment="RowClone hop") for u, v in zip(path, path[1:])]


def cube_row(rf: int, rs: int, layout: PredecoderLayout, index: int) -> int:
    """Row ``index`` of the group of ``APA rf rs``: bit ``k`` of the index selects RS's value in the
    ``k``-th differing field (fields ordered by their lowest bit)."""
    differing = sorted(((rf ^ rs) & mask, mask) for mask in layout.field_masks if (rf ^ rs) & mask)
    row = rf
    for k, (_, mask) in enumerate(sorted(differing, key=lambda pair: pair[1] & -pair[1])):
        if index >> k & 1:
            row = (row & ~mask) | (rs & mask)
    return row


def allocate(counts: Sequence[int], size: int) -> list[list[tuple[int, int]]]:
    """Buddy allocation of ``counts[k]`` rows to operand ``k`` in a group of ``size`` rows: for each
    operand its blocks ``(start index, length)``, every one aligned (a subcube), largest first."""
    requests = sorted(((1 << b, k) for k, count in enumerate(counts) for b in range(count.bit_length())
                       if count >> b & 1), reverse=True)
    free = collections.defaultdict(list)
    free[size].append(0)
    blocks: list[list[tuple[int, int]]] = [[] for _ in counts]
    for length, k in requests:
        have = length
        while not free[have]:
            have *= 2
            if have > size:
                raise ValueError(f"counts {list(counts)} do not fit in {size} rows")
        start = free[have].pop(0)
        while have > length:  # split, keeping the upper halves free
            have //= 2
            free[have].insert(0, start + have)
        blocks[k].append((start, length))
    return blocks


def load_program(rf: int, rs: int, layout: PredecoderLayout, sources: Sequence[Optional[int]],
                 counts: Sequence[int], port_bit: int, live: Iterable[int] = ()) -> list[RealChipCommand]:
    """Commands that put ``counts[k]`` copies of row ``sources[k]`` into the group of ``APA rf rs``
    (``None``: the operand is already in its blocks, e.g. the previous result) and Frac the rest.

    Each block is filled by a route to its port and a Multi-RowCopy; a one-row block by a route.
    ``live`` rows (and the group's rows) are never written on the way.
    """
    group = open_rows(rf, rs, layout)
    size = len(group.rows)
    blocks = allocate(counts, size)
    group_rows = set(group.rows)
    blocked = set(live) | group_rows | {s for s in sources if s is not None}
    commands: list[RealChipCommand] = []
    used: set[int] = set()
    for source, parts in zip(sources, blocks):
        for start, length in parts:
            rows = [cube_row(rf, rs, layout, start + i) for i in range(length)]
            used.update(rows)
            if source is None:
                continue
            if length == 1:
                commands += route(source, rows[0], layout, blocked - {source})
                continue
            port = rows[0] ^ port_bit
            span = rows[0] ^ rows[-1]
            opened = set(open_rows(port, port ^ port_bit ^ span, layout).rows)
            if not opened >= set(rows) or (opened - set(rows)) & blocked:
                raise RealChipCommandError(f"load: the Multi-RowCopy of block {rows} from port {port} would open "
                                           f"{sorted(opened)}, overwriting live rows")
            commands += route(source, port, layout, blocked - {source})
            commands.append(APA(port, port ^ port_bit ^ span, *COPY_TIMING, comment="Multi-RowCopy"))
    commands += [FRAC(row) for row in group.rows if row not in used]
    return commands
