"""Bernoulli and standard normal draws from the uint32 draws (see :mod:`cim_emu.rng`)."""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Any

from ..backend import NUMPY_BACKEND, BackendLike, get_backend
from . import native
from .normal_table import BODY_SIZE, NORMAL_BODY_BITS, normal_table
from .philox import check_index, check_int, check_range, check_runs, random_uint32, uniform_runs, uniform_uint32

__all__ = ["bernoulli_threshold", "bernoulli", "bernoulli_at", "normal", "normal_at", "normal_runs"]

_U64_LIMIT = 2**64



def bernoulli_threshold(p: Any) -> int:
    """The threshold ``t = round(p * 2**32)`` of a Bernoulli(p) draw ``u < t``.

    Computed exactly (``p`` as a :class:`fractions.Fraction`; round half to even), so that a
    float64 ``p`` gives the same ``t`` everywhere. The draw's probability is exactly
    ``t / 2**32``.

    Parameters
    ----------
    p:
        A real number in ``[0, 1]`` (Python or numpy scalar, or a Fraction).

    Returns
    -------
    int in ``[0, 2**32]``, to be compared with the uint32 draw in 64-bit arithmetic
    (``t = 2**32`` for ``p = 1``: always true).
    """
    if not isinstance(p, numbers.Real) or isinstance(p, bool):
        raise TypeError(f"p must be a real number in [0, 1], got {p!r} ({type(p).__name__})")
    if isinstance(p, numbers.Rational):
        exact = Fraction(int(p.numerator), int(p.denominator))
    else:
        value = float(p)  # exact for every binary float up to float64
        if math.isnan(value):
            raise ValueError(f"p must be a real number in [0, 1], got {p!r}")
        exact = Fraction(value)
    if not 0 <= exact <= 1:
        raise ValueError(f"p must be a real number in [0, 1], got {p!r}")
    return round(exact * 2**32)


def _seed_stream(seed: Any, stream: Any) -> tuple[int, int]:
    return check_int("seed", seed, _U64_LIMIT, "2**64"), check_int("stream", stream, _U64_LIMIT, "2**64")


def _bernoulli_from(u: Any, threshold: int, xp: Any) -> Any:
    """Bernoulli draws ``u < threshold`` from uint32 draws ``u``, compared in uint64."""
    return u.astype(xp.uint64) < xp.uint64(threshold)


def bernoulli(seed: Any, stream: Any, start: Any, count: Any, p: Any, *,
              backend: BackendLike = NUMPY_BACKEND) -> Any:
    """Bernoulli(p) draws of elements ``start .. start + count - 1`` (a 1-D bool array).

    Element ``i`` is ``uniform_uint32(...)[i] < bernoulli_threshold(p)``; its probability of
    being True is exactly ``bernoulli_threshold(p) / 2**32``. Arguments as in
    :func:`uniform_uint32`; ``p`` in ``[0, 1]``.
    """
    threshold = bernoulli_threshold(p)
    chosen = get_backend(backend)
    drawn = native.by_kernels(chosen, "bernoulli", "range", *_seed_stream(seed, stream), *check_range(start, count),
                              threshold=threshold)
    if drawn is not None:
        return drawn
    return _bernoulli_from(uniform_uint32(seed, stream, start, count, backend=chosen), threshold, chosen.xp)


def bernoulli_at(seed: Any, stream: Any, index: Any, p: Any, *, backend: BackendLike = NUMPY_BACKEND) -> Any:
    """Bernoulli(p) draws at arbitrary element indices (a bool array of ``index``'s shape).

    The same draws as :func:`bernoulli` at the same indices. Arguments as in
    :func:`random_uint32`; ``p`` in ``[0, 1]``.
    """
    threshold = bernoulli_threshold(p)
    chosen = get_backend(backend)
    drawn = native.by_kernels(chosen, "bernoulli", "at", *_seed_stream(seed, stream), check_index(index, chosen.xp),
                              threshold=threshold)
    if drawn is not None:
        return drawn
    return _bernoulli_from(random_uint32(seed, stream, index, backend=chosen), threshold, chosen.xp)


def _normal_from(u: Any, xp: Any) -> Any:
    """Standard normal draws (float64) from uint32 draws ``u`` by table lookup."""
    table = xp.asarray(normal_table())
    high = u >> xp.uint32(NORMAL_BODY_BITS)
    low = u & xp.uint32(BODY_SIZE - 1)
    top = xp.uint32(BODY_SIZE - 1)  # h == 65535: the upper tail, mirrored from the lower one
    entry = xp.where(high == 0, xp.uint32(BODY_SIZE) + low,
                     xp.where(high == top, xp.uint32(2 * BODY_SIZE - 1) - low, high))
    z = xp.take(table, entry)
    return xp.where(high == top, -z, z)


def normal(seed: Any, stream: Any, start: Any, count: Any, *, backend: BackendLike = NUMPY_BACKEND) -> Any:
    """Standard normal draws of elements ``start .. start + count - 1`` (1-D float64 array).

    Element ``i`` is the table lookup of ``uniform_uint32(...)[i]`` described in the module
    docstring: an exact sample of N(0, 1) discretised to ``2**16`` body levels with tails
    resolved to ``2**-32`` in probability. Arguments as in :func:`uniform_uint32`.
    """
    chosen = get_backend(backend)
    drawn = native.by_kernels(chosen, "normal", "range", *_seed_stream(seed, stream), *check_range(start, count))
    if drawn is not None:
        return drawn
    return _normal_from(uniform_uint32(seed, stream, start, count, backend=chosen), chosen.xp)


def normal_at(seed: Any, stream: Any, index: Any, *, backend: BackendLike = NUMPY_BACKEND) -> Any:
    """Standard normal draws at arbitrary element indices (float64, ``index``'s shape).

    The same draws as :func:`normal` at the same indices. Arguments as in
    :func:`random_uint32`.
    """
    chosen = get_backend(backend)
    drawn = native.by_kernels(chosen, "normal", "at", *_seed_stream(seed, stream), check_index(index, chosen.xp))
    if drawn is not None:
        return drawn
    return _normal_from(random_uint32(seed, stream, index, backend=chosen), chosen.xp)


def normal_runs(seed: Any, stream: Any, first: Any, stride: Any, length: Any, runs: Any, *,
                backend: BackendLike = NUMPY_BACKEND) -> Any:
    """Standard normal draws of ``runs`` runs of ``length`` consecutive elements, run ``r``
    starting at element ``first + r * stride`` (float64, shape ``(runs, length)``).

    Row ``r`` equals ``normal(seed, stream, first + r * stride, length)``, and so the draws of
    :func:`normal_at` at those indices. Arguments as in :func:`uniform_runs`.
    """
    chosen = get_backend(backend)
    drawn = native.by_kernels(chosen, "normal", "runs", *_seed_stream(seed, stream),
                              *check_runs(first, stride, length, runs))
    if drawn is not None:
        return drawn
    return _normal_from(uniform_runs(seed, stream, first, stride, length, runs, backend=chosen), chosen.xp)
