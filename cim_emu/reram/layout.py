"""Stage 2's operands: cells and input chunks laid out in row tiles for the products.

``K`` is split into ``T = ceil(K / rows)`` row tiles of ``rows`` word lines (the last one
zero-padded). Every partial sum of a read is then an entry of one product per tile

    sums[t, c*b, (n, pol, s)] = sum_{k < rows} tiles[t, c*b, k] * cells[t, k, (n, pol, s)]
                              = sum_{k in tile t} x'_c[k] * g_s[k, n]

with the input chunks as ``(T, C*b, rows)`` (:meth:`TileLayout.input_tiles`) and the cells
as ``(T, rows, N' * P * S)`` (:meth:`TileLayout.cells`), weight column ``n`` major and
(polarity, slice) minor (or ``W+ - W-`` per slice, for a signed ADC read with numpy).
Optionally each tile gets one more row, holding the ADC's bias, which the inputs meet with a
constant 1, so that the product yields ``scale * p + bias``.

**Column packing** (:class:`ColumnPacking`). When a partial sum needs at most ``bits <= 12``
bits, ``factor`` consecutive columns of a weight share one float32 column,

    packed = sum_j column_j * 2**(bits * j),    |packed| < 2**24,

with ``0 <= column_j < 2**bits``, or, for signed parts, ``|column_j| < 2**(bits - 1)``. That
cuts the product's work by ``factor``; after the product the parts are split exactly, from the
highest down (:meth:`ColumnPacking.unpack`): ``floor`` (or ``rint`` for signed parts, with no
ties) of the sums scaled by ``2**(-bits * j)``, then the part subtracted (scaling by powers of
two, rounding and subtracting integers below ``2**24`` are exact).

The full specification is ``docs/spec/reram.md`` (sections *Tiles and partial sums* and *How the
numpy pipeline computes it exactly*).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Union

import numpy

from ..parallel import default_threads, run_jobs

__all__ = ["ColumnPacking", "CompactOperand", "NO_PACKING", "TileLayout", "exact_float_dtype"]


def exact_float_dtype(bound: float) -> Any:
    """float32 when every integer up to ``bound`` is exact in it, else float64 (else error)."""
    if bound < 2**24:
        return numpy.float32
    if bound < 2**53:
        return numpy.float64
    raise ValueError(f"integer sums up to {bound:.3g} exceed float64's exact range (2**53); "
                     "use fewer rows per crossbar or fewer bits")


@dataclasses.dataclass(frozen=True)
class ColumnPacking:
    """``factor`` (polarity, slice) columns of a weight in one float32 column, radix ``2**bits``;
    ``signed``: the parts are signed, ``|p_j| < 2**(bits - 1)``, and split by rounding."""

    factor: int = 1
    bits: int = 1
    signed: bool = False

    @classmethod
    def for_sums(cls, largest: float, columns: int, *, signed: bool = False) -> "ColumnPacking":
        """The packing of ``columns`` columns whose sums are integers in ``[0, largest]`` (or
        ``[-largest, largest]`` when ``signed``): as many as fit in float32's 24 bits."""
        bits = max(1, math.ceil(math.log2((2 if signed else 1) * largest + 1)))
        return cls(max(1, min(columns, 24 // bits)), bits, signed)

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

    def unpack(self, sums: Any, parts: Any, xp: Any, *, integral_low: bool = True) -> None:
        """Split packed sums ``sum_j p_j 2**(bits j)`` into their parts, exactly: ``parts[j] = p_j``
        for ``j >= 1``, and ``p_0`` left in ``sums`` (which may be ``parts[0]``), or ``p_0 /
        2**bits`` with ``integral_low=False`` (one pass fewer, for a consumer that scales it).

        ``parts`` is ``(factor,) + sums.shape``; ``sums`` is consumed. With ``v = sums *
        2**(-bits (factor - 1))``, from the highest part down: ``p_j = floor(v)`` (``0 <= p_j <
        2**bits``), or ``rint(v)`` for signed parts, whose lower parts sum to less than half of
        ``2**(bits j)`` in magnitude (no ties); then ``v = (v - p_j) * 2**bits``. Scaling by
        powers of two, ``floor``, ``rint`` and subtracting below ``2**24`` are exact.
        """
        rounding, radix = (xp.rint if self.signed else xp.floor), 2.0**self.bits
        if self.factor == 1:
            return
        sums *= 2.0 ** (-self.bits * (self.factor - 1))
        for j in range(self.factor - 1, 0, -1):
            rounding(sums, out=parts[j])
            sums -= parts[j]
            if j > 1 or integral_low:
                sums *= radix


def _write_cells(out: numpy.ndarray, values: numpy.ndarray, scale: Optional[float], bias_row: Optional[int], *,
                 exact_in_out: bool = False) -> None:
    """One tile of the operand into ``out`` (``rows [+ 1]`` first): ``values`` (its first rows)
    times ``scale`` in float64, then rounded to ``out``'s dtype (or ``values`` cast), zeros in the
    rows past them, and ``bias_row`` in the row after ``rows``. ``exact_in_out``: every product
    is an integer that ``out``'s dtype holds exactly (the caller knows), so it is formed in that
    dtype, in one pass - the same values."""
    filled, rows = values.shape[0], out.shape[0] - (bias_row is not None)
    if scale is None:
        numpy.copyto(out[:filled], values, casting="unsafe")
    elif exact_in_out:
        numpy.multiply(values, out.dtype.type(scale), out=out[:filled], dtype=out.dtype, casting="unsafe")
    else:  # as values.astype(float64) * scale, then astype
        numpy.multiply(values, scale, out=out[:filled], dtype=numpy.float64, casting="unsafe")
    out[filled:rows] = 0
    if bias_row is not None:
        out[rows] = bias_row


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
              packing: ColumnPacking = NO_PACKING, scale: Optional[float] = None) -> numpy.ndarray:
        """``(P, S, K, N')`` cells -> the ``(T, rows [+ 1], N' * P * S / factor)`` operand (host, C-contiguous).

        With ``scale``, each cell is first multiplied by it in float64; the cells are then
        rounded to ``dtype``. With ``bias_row``, each tile gets one more row holding that value;
        with ``packing``, the (polarity, slice) columns of each weight are packed
        (:meth:`ColumnPacking.pack`). Built one tile at a time (a tile a job of the shared host
        threads), unpacked cells in one pass straight into the operand, packed ones through a
        temporary of one tile's size.
        """
        P, S, K, N = cells.shape
        rows, T = self.rows, self.tiles
        depth = rows + (bias_row is not None)
        groups = -(-(P * S) // packing.factor)
        operand = numpy.empty((T, depth, N * groups), dtype=dtype)

        def tile(t: int) -> None:
            k0, k1 = t * rows, min(K, (t + 1) * rows)
            values = cells[:, :, k0:k1].transpose(2, 3, 0, 1)  # (rows, N, P, S), a view
            if packing.factor == 1:  # straight into the operand, one pass
                out = operand[t].reshape(depth, N, P, S)
            else:
                out = numpy.empty((depth, N, P, S), dtype=dtype)
            _write_cells(out, values, scale, bias_row)
            if packing.factor > 1:
                operand[t] = packing.pack(out.reshape(1, depth, N, P * S), dtype)[0].reshape(depth, N * groups)

        run_jobs(tile, range(T), default_threads())
        return operand

    def operand(self, cells: numpy.ndarray, dtype: Any, *, bias_row: Optional[int] = None,
                packing: ColumnPacking = NO_PACKING, scale: Optional[float] = None,
                compact: bool = False) -> Union[numpy.ndarray, "CompactOperand"]:
        """The products' right operand of the integer ``cells`` (fixed point): :meth:`cells`, or
        with ``compact`` - unpacked cells within int16 - a :class:`CompactOperand` that keeps them
        as int16 (half of float32's memory, a quarter of float64's) and expands each tile where
        it is read, to the same values."""
        if compact and packing.factor == 1 and cells.size and -2**15 <= cells.min() and cells.max() < 2**15:
            largest = max(-int(cells.min()), int(cells.max()))
            exact = scale is not None and float(scale).is_integer() \
                and largest * abs(scale) < 2.0 ** (numpy.finfo(dtype).nmant + 1)
            return CompactOperand(self.cells(cells, numpy.int16), numpy.dtype(dtype), scale, bias_row,
                                  scaled_exactly=exact)
        return self.cells(cells, dtype, bias_row=bias_row, packing=packing, scale=scale)

    def input_tiles(self, chunks: Any, xp: Any, *, depth: int, dtype: Any, bias: bool = False) -> Any:
        """Input chunks ``(C, b, K)`` -> ``(T, C*b, depth)`` of ``dtype``: ``x_c[k]`` of tile ``t``,
        chunk ``c``, batch row ``b`` down the tile's rows, zero-padded to ``depth`` rows; with
        ``bias``, row ``rows`` holds 1 (it meets the cells' bias row)."""
        rows, T = self.rows, self.tiles
        C, b, K = chunks.shape
        full = K // rows  # tiles without padding
        tiles = xp.empty((T, C, b, depth), dtype=dtype)
        tiles[:full, :, :, :rows] = chunks[:, :, :full * rows].reshape(C, b, full, rows).transpose(2, 0, 1, 3)
        if full < T:
            tiles[full, :, :, :K - full * rows] = chunks[:, :, full * rows:]
            tiles[full, :, :, K - full * rows:rows] = 0
        if depth > rows:
            tiles[:, :, :, rows:] = 0
            if bias:
                tiles[:, :, :, rows] = 1
        return tiles.reshape(T, C * b, depth)


@dataclasses.dataclass(frozen=True)
class CompactOperand:
    """Unpacked integer cells ``(T, rows, columns)`` kept as int16, read as the operand
    ``(T, rows [+ 1], columns)`` of ``dtype`` that :meth:`TileLayout.cells` builds from them
    (times ``scale`` in float64, then rounded to ``dtype``; a bias row): ``operand[:, :, a:b]``
    is a compact view of those columns, ``operand[t]`` tile ``t`` expanded, a fresh array. The
    host readouts read one tile of one column block at a time, so the expansion costs one pass
    over the tile's cells against a product of ``C * b`` rows over them."""

    cells: numpy.ndarray
    dtype: numpy.dtype
    scale: Optional[float]
    bias_row: Optional[int]
    scaled_exactly: bool = False
    """Whether ``scale`` is an integer and every cell times it an integer that :attr:`dtype` holds
    exactly: a tile is then scaled in :attr:`dtype`, in one pass (the same values, half the time)."""

    @property
    def shape(self) -> tuple[int, int, int]:
        T, rows, columns = self.cells.shape
        return T, rows + (self.bias_row is not None), columns

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple) and len(key) == 3 and key[:2] == (slice(None), slice(None)) \
                and isinstance(key[2], slice):
            return dataclasses.replace(self, cells=self.cells[:, :, key[2]])
        if isinstance(key, (int, numpy.integer)):
            return self.tile(int(key))
        raise TypeError(f"a compact operand takes [t] or [:, :, a:b]; got {key!r}")

    def tile(self, t: int) -> numpy.ndarray:
        """Tile ``t`` as :meth:`TileLayout.cells` lays it out: ``(rows [+ 1], columns)`` of :attr:`dtype`."""
        columns = self.cells.shape[2]
        out = numpy.empty((self.shape[1], columns), dtype=self.dtype)
        _write_cells(out, self.cells[t], self.scale, self.bias_row, exact_in_out=self.scaled_exactly)
        return out
