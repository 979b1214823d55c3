"""Philox4x32-10 and the uint32 draws ``u(seed, stream, i)`` (see :mod:`cim_emu.rng`)."""

from __future__ import annotations

from typing import Any, Tuple

import numpy

from ..backend import NUMPY_BACKEND, BackendLike, get_backend
from . import native

__all__ = ["PHILOX_M0", "PHILOX_M1", "PHILOX_W0", "PHILOX_W1", "PHILOX_ROUNDS", "philox4x32", "random_uint32",
           "uniform_uint32", "uniform_runs"]

PHILOX_M0 = 0xD2511F53
"""Philox4x32 multiplier applied to counter word 0."""
PHILOX_M1 = 0xCD9E8D57
"""Philox4x32 multiplier applied to counter word 2."""
PHILOX_W0 = 0x9E3779B9
"""Weyl increment of key word 0 between rounds (golden ratio in 0.32 fixed point)."""
PHILOX_W1 = 0xBB67AE85
"""Weyl increment of key word 1 between rounds (sqrt(3) - 1 in 0.32 fixed point)."""
PHILOX_ROUNDS = 10
"""Rounds of Philox4x32-10."""

_U32_MASK = 0xFFFFFFFF
_U64_LIMIT = 2**64


# --------------------------------------------------------------------------- validation


def _is_integer(value: Any) -> bool:
    """True for a Python int or numpy integer scalar, but not for a bool."""
    return isinstance(value, (int, numpy.integer)) and not isinstance(value, bool)


def check_int(name: str, value: Any, high: int, high_text: str) -> int:
    """``value`` as an int in ``[0, high)``; TypeError/ValueError naming ``name`` otherwise."""
    if not _is_integer(value):
        raise TypeError(
            f"{name} must be an integer in [0, {high_text}), got {value!r} "
            f"({type(value).__name__})"
        )
    value = int(value)
    if not 0 <= value < high:
        raise ValueError(f"{name} must be an integer in [0, {high_text}), got {value}")
    return value


def check_range(start: Any, count: Any) -> Tuple[int, int]:
    """Validate an element range ``start .. start + count - 1`` inside ``[0, 2**64)``."""
    if not _is_integer(start) or not 0 <= int(start) <= _U64_LIMIT:  # an empty range may end at 2**64
        raise (TypeError if not _is_integer(start) else ValueError)(
            f"start must be an integer in [0, 2**64], got {start!r}")
    start = int(start)
    if not _is_integer(count):
        raise TypeError(
            f"count must be an integer in [0, 2**64 - start], got {count!r} "
            f"({type(count).__name__})"
        )
    count = int(count)
    if not 0 <= count <= _U64_LIMIT - start:
        raise ValueError(
            f"count must be an integer in [0, 2**64 - start] = [0, {_U64_LIMIT - start}] "
            f"for start={start}, got {count}"
        )
    return start, count


def check_runs(first: Any, stride: Any, length: Any, runs: Any) -> Tuple[int, int, int, int]:
    """Validate ``runs`` runs of ``length`` elements, run ``r`` from ``first + r * stride``, inside ``[0, 2**64)``."""
    values = []
    for name, value in (("first", first), ("stride", stride), ("length", length), ("runs", runs)):
        if not _is_integer(value):
            raise TypeError(f"{name} must be an integer >= 0, got {value!r} ({type(value).__name__})")
        if int(value) < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value}")
        values.append(int(value))
    first, stride, length, runs = values
    if first > _U64_LIMIT:
        raise ValueError(f"first must be an integer in [0, 2**64], got {first}")
    if runs <= 1:
        stride = 0  # never used
    if runs and length and first + (runs - 1) * stride + length > _U64_LIMIT:
        raise ValueError(f"the runs must end by 2**64: first + (runs - 1) * stride + length = "
                         f"{first + (runs - 1) * stride + length} for first={first}, stride={stride}, "
                         f"length={length}, runs={runs}")
    return first, stride, length, runs


def _as_uint32_words(name: str, words: Any, n: int, xp: Any) -> list:
    """A tuple of ``n`` uint32 arrays or ints, as uint64 arrays of the ``xp`` namespace."""
    if not isinstance(words, (tuple, list)) or len(words) != n:
        raise TypeError(f"{name} must be a tuple of {n} uint32 arrays or ints, got {words!r}")
    out = []
    for position, word in enumerate(words):
        label = f"{name}[{position}]"
        if _is_integer(word):
            word = xp.asarray(check_int(label, word, 2**32, "2**32"), dtype=xp.uint32)
        else:
            word = xp.asarray(word)
            if word.dtype != numpy.uint32:
                raise TypeError(f"{label} must be a uint32 array or an int, got dtype {word.dtype}")
        out.append(word.astype(xp.uint64))
    return out


def check_index(index: Any, xp: Any) -> Any:
    """``index`` as a uint64 array of element indices in ``[0, 2**64)``."""
    index = xp.asarray(index)
    if index.dtype.kind not in "iu":
        raise TypeError(
            f"index must be an integer array with elements in [0, 2**64), got dtype {index.dtype}"
        )
    if index.dtype.kind == "i" and index.size and bool(xp.any(index < 0)):
        raise ValueError(
            "index must be an integer array with elements in [0, 2**64), got a negative element"
        )
    return index.astype(xp.uint64)


# --------------------------------------------------------------------------- Philox



def _philox(c0: Any, c1: Any, c2: Any, c3: Any, k0: Any, k1: Any, xp: Any) -> tuple:
    """Philox4x32-10 on uint64 arrays holding 32-bit words; returns four uint32 arrays.

    The counter words are broadcast against each other; the key words (0-d or broadcastable
    arrays) broadcast in the arithmetic. Products of two 32-bit words are below ``2**64`` and
    therefore exact in uint64; the high word is ``prod >> 32``, the low word ``prod & mask``.
    """
    c0, c1, c2, c3 = xp.broadcast_arrays(c0, c1, c2, c3)
    mask, shift = xp.uint64(_U32_MASK), xp.uint64(32)
    m0, m1 = xp.uint64(PHILOX_M0), xp.uint64(PHILOX_M1)
    w0, w1 = xp.uint64(PHILOX_W0), xp.uint64(PHILOX_W1)
    for round_number in range(PHILOX_ROUNDS):
        if round_number:  # the key is bumped between rounds, not before the first
            k0, k1 = (k0 + w0) & mask, (k1 + w1) & mask
        prod0 = m0 * c0
        prod1 = m1 * c2
        c0, c1, c2, c3 = (
            (prod1 >> shift) ^ c1 ^ k0,
            prod1 & mask,
            (prod0 >> shift) ^ c3 ^ k1,
            prod0 & mask,
        )
    return tuple(word.astype(xp.uint32) for word in (c0, c1, c2, c3))


def philox4x32(counter: Any, key: Any, *, xp: Any = numpy) -> tuple:
    """Philox4x32-10 of ``counter`` under ``key``, element-wise.

    Parameters
    ----------
    counter:
        Four uint32 arrays (or ints in ``[0, 2**32)``) ``(c0, c1, c2, c3)``, broadcastable
        against each other.
    key:
        Two words ``(k0, k1)``, each an int in ``[0, 2**32)`` or a uint32 array broadcastable
        against the counter.
    xp:
        Array namespace (``numpy`` or ``cupy``).

    Returns
    -------
    tuple of four uint32 arrays of the broadcast shape: the counter after ten rounds (see the
    module docstring). Agrees with Random123's ``philox4x32_R(10, ctr, key)`` and its
    ``kat_vectors``.
    """
    c0, c1, c2, c3 = _as_uint32_words("counter", counter, 4, xp)
    k0, k1 = _as_uint32_words("key", key, 2, xp)
    return _philox(c0, c1, c2, c3, k0, k1, xp)


# --------------------------------------------------------------------------- uint32 draws


def _blocks(seed: int, stream: int, block: Any, xp: Any) -> tuple:
    """The four words of counter blocks ``block`` (uint64 array) for a validated seed/stream."""
    key0 = xp.asarray(seed & _U32_MASK, dtype=xp.uint64)
    key1 = xp.asarray(seed >> 32, dtype=xp.uint64)
    stream0 = xp.asarray(stream & _U32_MASK, dtype=xp.uint64)
    stream1 = xp.asarray(stream >> 32, dtype=xp.uint64)
    return _philox(block & xp.uint64(_U32_MASK), block >> xp.uint64(32), stream0, stream1,
                   key0, key1, xp)


def random_uint32(seed: Any, stream: Any, index: Any, *, backend: BackendLike = NUMPY_BACKEND) -> Any:
    """The uint32 draws ``u(seed, stream, i)`` at arbitrary element indices.

    Parameters
    ----------
    seed, stream:
        Integers in ``[0, 2**64)``.
    index:
        Integer array (any shape; int64 or uint64, elements in ``[0, 2**64)``) of element
        indices.
    backend:
        Where to draw (default numpy; see :mod:`cim_emu.backend`).

    Returns
    -------
    uint32 array of the shape of ``index``. Each element costs one Philox evaluation (of its
    own block); use :func:`uniform_uint32` for a contiguous range.
    """
    seed = check_int("seed", seed, _U64_LIMIT, "2**64")
    stream = check_int("stream", stream, _U64_LIMIT, "2**64")
    chosen = get_backend(backend)
    xp = chosen.xp
    index = check_index(index, xp)
    drawn = native.by_kernels(chosen, "uniform", "at", seed, stream, index)  # kernels/philox_draws.cu
    if drawn is not None:
        return drawn
    w0, w1, w2, w3 = _blocks(seed, stream, index >> xp.uint64(2), xp)
    word = index & xp.uint64(3)
    return xp.where(word == 0, w0, xp.where(word == 1, w1, xp.where(word == 2, w2, w3)))


def uniform_uint32(seed: Any, stream: Any, start: Any, count: Any, *, backend: BackendLike = NUMPY_BACKEND) -> Any:
    """The uint32 draws of elements ``start .. start + count - 1``.

    Equal to ``random_uint32(seed, stream, arange(start, start + count))``, but every counter
    block is evaluated once: about ``count / 4`` Philox evaluations.

    Parameters
    ----------
    seed, stream:
        Integers in ``[0, 2**64)``.
    start, count:
        Integers, ``start >= 0``, ``count >= 0``, ``start + count <= 2**64``.
    backend:
        Where to draw (default numpy; see :mod:`cim_emu.backend`).

    Returns
    -------
    1-D uint32 array of length ``count``.
    """
    seed = check_int("seed", seed, _U64_LIMIT, "2**64")
    stream = check_int("stream", stream, _U64_LIMIT, "2**64")
    start, count = check_range(start, count)
    chosen = get_backend(backend)
    drawn = native.by_kernels(chosen, "uniform", "range", seed, stream, start, count)  # kernels/philox_draws.cu
    if drawn is not None:
        return drawn
    xp = chosen.xp
    first_block = start >> 2
    n_blocks = ((start + count + 3) >> 2) - first_block
    block = xp.arange(n_blocks, dtype=xp.uint64) + xp.uint64(first_block)
    words = xp.stack(_blocks(seed, stream, block, xp), axis=-1).reshape(-1)
    offset = start - 4 * first_block
    return words[offset:offset + count]


def uniform_runs(seed: Any, stream: Any, first: Any, stride: Any, length: Any, runs: Any, *,
                 backend: BackendLike = NUMPY_BACKEND) -> Any:
    """The uint32 draws of ``runs`` runs of ``length`` consecutive elements, run ``r`` starting at
    element ``first + r * stride``.

    Row ``r`` equals ``uniform_uint32(seed, stream, first + r * stride, length)``: a strided
    block of a stream (e.g. the conversions of a block of crossbar columns, for every batch row,
    tile and input chunk) in one call, every counter block of a run evaluated once.

    Parameters
    ----------
    seed, stream:
        Integers in ``[0, 2**64)``.
    first, stride, length, runs:
        Integers ``>= 0`` with ``first + (runs - 1) * stride + length <= 2**64`` (when ``runs``
        and ``length`` are not 0). Runs may overlap.
    backend:
        Where to draw (default numpy; see :mod:`cim_emu.backend`).

    Returns
    -------
    uint32 array of shape ``(runs, length)``.
    """
    seed = check_int("seed", seed, _U64_LIMIT, "2**64")
    stream = check_int("stream", stream, _U64_LIMIT, "2**64")
    first, stride, length, runs = check_runs(first, stride, length, runs)
    chosen = get_backend(backend)
    drawn = native.by_kernels(chosen, "uniform", "runs", seed, stream, first, stride, length, runs)
    if drawn is not None:
        return drawn
    xp = chosen.xp
    if not (runs and length):
        return xp.empty((runs, length), dtype=xp.uint32)
    run = xp.arange(runs, dtype=xp.uint64)
    if stride % 4:  # the runs start at different words of their blocks: one evaluation per element
        index = (run * xp.uint64(stride) + xp.uint64(first))[:, None] + xp.arange(length, dtype=xp.uint64)
        return random_uint32(seed, stream, index, backend=chosen)
    phase = first & 3  # every run starts at this word of its first block
    n_blocks = (phase + length + 3) >> 2
    block = (run * xp.uint64(stride >> 2) + xp.uint64(first >> 2))[:, None] + xp.arange(n_blocks, dtype=xp.uint64)
    words = xp.stack(_blocks(seed, stream, block, xp), axis=-1).reshape(runs, 4 * n_blocks)
    return words[:, phase:phase + length]
