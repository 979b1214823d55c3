"""ADC full scales calibrated from data: the largest ideal partial sums that sample inputs produce.

:func:`largest_partial_sums` computes every partial sum of sample inputs from the ideal cell
levels and the input chunks exactly as the pipeline lays them out
(:class:`~cim_emu.reram.layout.TileLayout`), in float64 with integer operands far below ``2**53``
(exact); a signed ADC converts ``|p+ - p-|``. Device noise and IR drop are ignored. It returns
the largest over every conversion of each (weight slice, input chunk), or that percentile of
them, counted exactly: what ``AdcConfig(full_scales=...)`` is set to;
:meth:`~cim_emu.reram.crossbar.CrossbarArray.largest_partial_sum` pools the conversions of every
slice and chunk into the one ``AdcConfig(full_scale=...)``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy

from .. import backend as backends
from .mapping import check_input_rows, check_integer_array

__all__ = ["largest_partial_sums", "check_percentile"]


def check_percentile(percentile: Any) -> Optional[float]:
    """``percentile`` when it is ``None`` or a number in (0, 100], else :class:`ValueError`."""
    if percentile is not None and not (isinstance(percentile, (int, float)) and not isinstance(percentile, bool)
                                       and 0 < percentile <= 100):
        raise ValueError(f"percentile must be None or in (0, 100]; got {percentile!r}")
    return percentile


def _at_percentile(counts: numpy.ndarray, percentile: float) -> int:
    """The smallest ``v`` with at least ``percentile`` % of the counted values ``<= v``."""
    cumulative = numpy.cumsum(counts)
    return int(numpy.searchsorted(cumulative, percentile / 100 * cumulative[-1] - 1e-9))


def largest_partial_sums(crossbars: Any, x: Any, *, percentile: Optional[float] = None,
                         per_slice_and_chunk: bool = True) -> Any:
    """The largest ideal partial sum (or its ``percentile``, in (0, 100]) that integer inputs
    ``x`` ``(K,)`` or ``(B, K)`` produce on ``crossbars`` (a
    :class:`~cim_emu.reram.crossbar.CrossbarArray`), over every conversion (tile, polarity,
    column, reference columns included): per (weight slice, input chunk) as ``full_scales[s][c]``
    (a tuple of tuples), or over all of them (``per_slice_and_chunk=False``, an int). Each at
    least 1 (the smallest valid full scale). An empty ``x`` raises :class:`ValueError`."""
    check_percentile(percentile)
    config = crossbars.config
    inputs, mapping = config.inputs, config.mapping
    x = check_integer_array("x", backends.NUMPY_BACKEND.asarray(x), inputs.min_input, inputs.max_input, numpy)
    x = x[None] if x.ndim == 1 else x
    check_input_rows(x, crossbars.shape[0])
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one row to take the largest partial sum of; got none")
    layout, dac = crossbars.pipeline.layout, crossbars.pipeline.dac
    P, S, C = mapping.polarities, mapping.slices, inputs.chunks
    operand = layout.cells(crossbars.levels.astype(numpy.float64), numpy.float64)
    block = max(1, 2**22 // max(1, layout.tiles * C * operand.shape[2]))
    largest = numpy.zeros((S, C), dtype=numpy.int64)
    counts: list = [[numpy.zeros(1, dtype=numpy.int64) for _ in range(C)] for _ in range(S)]
    for b0 in range(0, x.shape[0], block):
        tiles = layout.input_tiles(dac.convert(x[b0:b0 + block], numpy), numpy, depth=layout.rows,
                                   dtype=numpy.float64)
        sums = numpy.rint(numpy.matmul(tiles, operand)).astype(numpy.int64)  # (T, C*b, N'*P*S)
        sums = sums.reshape(sums.shape[0], C, -1, P, S)  # (T, C, b * N', P, S)
        if config.signed_adc:
            sums = numpy.abs(sums[:, :, :, :1] - sums[:, :, :, 1:])
        by_cell = sums.transpose(4, 1, 0, 2, 3).reshape(S, C, -1)  # (S, C, conversions)
        numpy.maximum(largest, by_cell.max(axis=2, initial=0), out=largest)
        if percentile is not None:
            for s in range(S):
                for c in range(C):
                    block_counts = numpy.bincount(by_cell[s, c])
                    if len(block_counts) > len(counts[s][c]):
                        block_counts[:len(counts[s][c])] += counts[s][c]
                        counts[s][c] = block_counts
                    else:
                        counts[s][c][:len(block_counts)] += block_counts
    if not per_slice_and_chunk:
        if percentile is None:
            return max(1, int(largest.max()))
        pooled = numpy.zeros(max(len(cell) for row in counts for cell in row), dtype=numpy.int64)
        for row in counts:
            for cell in row:
                pooled[:len(cell)] += cell
        return max(1, _at_percentile(pooled, percentile))
    if percentile is not None:
        largest = numpy.array([[_at_percentile(counts[s][c], percentile) for c in range(C)] for s in range(S)])
    return tuple(tuple(max(1, int(v)) for v in row) for row in largest)
