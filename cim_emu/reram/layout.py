"""Stage 2's operands: cells and input chunks laid out in row tiles for one batched product.

``K`` is split into ``T = ceil(K / rows)`` row tiles of ``rows`` word lines (the last one
zero-padded). Every partial sum of a read is then an entry of one batched matrix product

    sums[t, c*b, (n, pol, s)] = sum_{k < rows} tiles[t, c*b, k] * cells[t, k, (n, pol, s)]
                              = sum_{k in tile t} x'_c[k] * g_s[k, n]

with the input chunks as ``(T, C*b, rows)`` (:meth:`TileLayout.input_tiles`) and the cells
as ``(T, rows, N' * P * S)`` (:meth:`TileLayout.cells`), weight column ``n`` major and
(polarity, slice) minor. Optionally each tile gets one more row, holding the ADC's bias, which
the inputs meet with a constant 1, so that the product yields ``scale * p + bias``.

**Column packing** (:class:`ColumnPacking`). When a partial sum needs at most ``bits <= 12``
bits, ``factor`` consecutive (polarity, slice) columns of a weight share one float32 column,

    packed = sum_j column_j * 2**(bits * j),    0 <= column_j < 2**bits,    packed < 2**24,

which cuts the product's work by ``factor``; after the product the parts are split exactly,
from the highest down: ``p_j = floor(packed * 2**(-bits * j))``, ``packed -= p_j * 2**(bits * j)``
(scaling by powers of two, ``floor`` and subtracting integers below ``2**24`` are exact).

The full specification is ``docs/spec/reram.md`` (sections *Tiles and partial sums* and *How the
numpy pipeline computes it exactly*).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Optional

import numpy

__all__ = ["ColumnPacking", "NO_PACKING", "TileLayout"]


@dataclasses.dataclass(frozen=True)
class ColumnPacking:
    """``factor`` (polarity, slice) columns of a weight in one float32 column, radix ``2**bits``."""

    factor: int = 1
    bits: int = 1

    def pack(self, operand: numpy.ndarray, dtype: Any) -> numpy.ndarray:
        """``(T, R, N, P*S)`` -> ``(T, R, N, groups)``: every ``factor`` consecutive columns of a
        weight combined as ``sum_j column_j * 2**(bits * j)`` (the last group padded with zeros)."""
        if self.factor == 1:
            return operand
        columns = operand.shape[3]
        groups = -(-columns // self.factor)
        grouped = numpy.zeros(operand.shape[:3] + (groups * self.factor,), dtype=dtype)
        grouped[..., :columns] = operand
        radix = 2.0 ** (self.bits * numpy.arange(self.factor))
        return (grouped.reshape(operand.shape[:3] + (groups, self.factor)) * radix).sum(axis=-1)

    def parts(self, sums: Any, n_weights: int, xp: Any) -> Iterator[tuple[int, Any]]:
        """Split packed sums ``sum_j p_j 2**(bits j)`` (``0 <= p_j < 2**bits``) into their parts.

        Yields ``(j, p_j)`` from the highest part down, each ``(T, C*b, n_weights, groups)``:
        part ``j`` holds the (polarity, slice) columns ``j, j + factor, j + 2 factor, ...``.
        Exact, in place (``sums`` is consumed). The yielded array may be overwritten by the
        consumer.
        """
        shape = sums.shape[:2] + (n_weights, -1)
        if self.factor > 1:
            high = xp.empty_like(sums)
        for j in range(self.factor - 1, 0, -1):
            xp.multiply(sums, numpy.float32(2.0 ** (-self.bits * j)), out=high)
            xp.floor(high, out=high)
            sums -= high * numpy.float32(2.0 ** (self.bits * j))
            yield j, high.reshape(shape)
        yield 0, sums.reshape(shape)


NO_PACKING = ColumnPacking()
"""One (polarity, slice) column per operand column."""


@dataclasses.dataclass(frozen=True)
class TileLayout:
    """Row tiles of ``rows`` word lines over ``K`` inputs: ``tiles = ceil(K / rows)``."""

    rows: int
    tiles: int

    @classmethod
    def over(cls, rows: int, K: int) -> "TileLayout":
        """The row tiles of crossbars of ``rows`` word lines over ``K`` inputs."""
        return cls(rows, -(-K // rows))

    def cells(self, cells: numpy.ndarray, dtype: Any, *, bias_row: Optional[int] = None,
              packing: ColumnPacking = NO_PACKING) -> numpy.ndarray:
        """``(P, S, K, N')`` cells -> the ``(T, rows [+ 1], N' * P * S / factor)`` operand (host, C-contiguous).

        With ``bias_row``, each tile gets one more row holding that value; with ``packing``,
        the (polarity, slice) columns of each weight are packed (:meth:`ColumnPacking.pack`).
        """
        P, S, K, N = cells.shape
        rows, T = self.rows, self.tiles
        padded = numpy.zeros((P, S, T * rows, N), dtype=dtype)
        padded[:, :, :K] = cells
        padded = padded.reshape(P, S, T, rows, N)
        if bias_row is not None:
            padded = numpy.concatenate([padded, numpy.full((P, S, T, 1, N), bias_row, dtype=dtype)], axis=3)
        operand = packing.pack(padded.transpose(2, 3, 4, 0, 1).reshape(T, padded.shape[3], N, P * S), dtype)
        return numpy.ascontiguousarray(operand.reshape(T, operand.shape[1], -1).astype(dtype))

    def input_tiles(self, chunks: Any, xp: Any, *, depth: int, dtype: Any, bias: bool = False) -> Any:
        """Input chunks ``(C, b, K)`` -> ``(T, C*b, depth)`` of ``dtype``: ``x_c[k]`` of tile ``t``,
        chunk ``c``, batch row ``b`` down the tile's rows, zero-padded to ``depth`` rows; with
        ``bias``, row ``rows`` holds 1 (it meets the cells' bias row)."""
        rows, T = self.rows, self.tiles
        C, b, K = chunks.shape
        tiles = xp.zeros((T, C, b, depth), dtype=dtype)
        tiles[:, :, :, :rows] = xp.pad(chunks, ((0, 0), (0, 0), (0, T * rows - K))).reshape(
            C, b, T, rows).transpose(2, 0, 1, 3)
        if bias:
            tiles[:, :, :, rows] = 1
        return tiles.reshape(T, C * b, depth)
