"""Weights to cell levels: the differential and offset mappings.

``cell_levels(W, mapping)`` returns an array of shape ``(P, S, K, N)`` of cell levels
``0 .. 2**bits_per_cell - 1``: polarity ``P`` (2 for differential: ``W+`` then ``W-``; 1 for
offset), slice ``S`` (least significant first), and the weight's position. For every weight,
``sum_s levels[p, s] * 2**(s * bits_per_cell)`` is the stored magnitude:

* differential: ``W+ = max(W, 0)``, ``W- = max(-W, 0)``;
* offset: ``W + B`` with ``B = 2**(weight_bits - 1) - 1`` (ISAAC).

The full specification is ``docs/spec/reram.md`` (section *Weight mapping*).
"""

from __future__ import annotations

from typing import Any

import numpy

from .config import WeightMapping


def check_input_rows(x: Any, K: int) -> None:
    """``ValueError`` unless the inputs ``x`` are ``(B, K)`` rows for ``K`` crossbar rows (a vector
    ``(K,)`` is one row, made ``(1, K)`` by the caller, so the message names both forms)."""
    if x.ndim != 2 or x.shape[1] != K:
        raise ValueError(f"x must have shape (K,) or (B, K) with K = {K}; got {tuple(x.shape)}")


def check_integer_array(name: str, array: Any, low: int, high: int, xp: Any, dtype: Any = numpy.int64) -> Any:
    """Validate an integer array (no NaN, no floats with fractions) in ``[low, high]``, and return
    it as ``dtype`` (int64 unless given: a type that holds ``[low, high]``; an integer array
    already of that type is returned as it is)."""
    array = xp.asarray(array)
    if array.dtype == bool or not (numpy.issubdtype(array.dtype, numpy.integer)):
        if numpy.issubdtype(array.dtype, numpy.floating):
            if not bool(xp.isfinite(array).all()):
                raise ValueError(f"{name} must be finite integers; it holds NaN or infinity")
            if not bool((array == xp.round(array)).all()):
                raise ValueError(f"{name} must hold integers; it holds fractions (quantize floats first)")
        else:
            raise TypeError(f"{name} must be an integer array; got dtype {array.dtype}")
    if array.size:  # two reductions, no temporaries
        smallest, largest = array.min(), array.max()
        if bool(smallest < low) or bool(largest > high):
            raise ValueError(f"{name} must lie in [{low}, {high}]; got values in [{int(smallest)}, {int(largest)}]")
    return array.astype(dtype, copy=False)


def narrowest_signed(limit: int) -> Any:
    """The narrowest numpy signed integer type that holds every integer in ``[-limit, limit]``."""
    return next(t for t in (numpy.int8, numpy.int16, numpy.int32, numpy.int64) if limit <= numpy.iinfo(t).max)


def narrowest_unsigned(limit: int) -> Any:
    """The narrowest numpy unsigned integer type that holds every integer in ``[0, limit]``."""
    return next(t for t in (numpy.uint8, numpy.uint16, numpy.uint32, numpy.uint64) if limit <= numpy.iinfo(t).max)


def cell_levels(weights: Any, mapping: WeightMapping, xp: Any = numpy) -> Any:
    """Cell levels ``(P, S, K, N)`` (uint8) of an integer weight matrix ``(K, N)``."""
    # the narrowest signed type that holds W + offset (below 2 * max_weight + 1), then the magnitudes
    # in the narrowest unsigned one (one byte for 8-bit weights): the (P, S, K, N) levels are
    # formed in that type, in place, with no wider intermediate
    weights = check_integer_array("weights", weights, -mapping.max_weight, mapping.max_weight, xp,
                                  dtype=narrowest_signed(2 * mapping.max_weight))
    if weights.ndim != 2:
        raise ValueError(f"weights must be a 2-D (K, N) matrix; got shape {tuple(weights.shape)}")
    if mapping.scheme == "differential":
        magnitudes = xp.stack([xp.maximum(weights, 0), xp.maximum(-weights, 0)])
    else:
        magnitudes = (weights + weights.dtype.type(mapping.offset))[None]
    unsigned = narrowest_unsigned(2 * mapping.max_weight)
    magnitudes = magnitudes.astype(unsigned)  # exact: 0 .. 2 * max_weight
    shifts = xp.arange(mapping.slices, dtype=unsigned) * unsigned(mapping.bits_per_cell)
    levels = magnitudes[:, None] >> shifts[None, :, None, None]
    levels &= unsigned(mapping.max_level)
    return levels.astype(numpy.uint8, copy=False)


def reference_levels(rows: int, mapping: WeightMapping, xp: Any = numpy) -> Any:
    """Levels ``(1, S, rows, 1)`` of the offset scheme's reference column (``B`` in every row)."""
    return cell_levels(xp.zeros((rows, 1), dtype=numpy.int64), mapping, xp)  # W = 0 is stored as B
