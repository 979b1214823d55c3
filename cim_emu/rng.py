"""Counter-based random numbers: the single source of randomness of cim-emu.

Every random number in the package is a pure function of ``(seed, stream, index)``: it does not
depend on call order, on thread schedule, or on how a range of indices is split into chunks.
The same functions run unchanged on numpy and on CuPy (pass ``xp=cupy``), and a CUDA twin
written from this docstring gives the same bits.

Generator
---------
Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
SC 2011, doi:10.1145/2063384.2063405), the same generator as Random123's ``philox4x32_R(10,
...)`` and cuRAND's ``Philox4_32_10``. It maps a 128-bit counter ``(c0, c1, c2, c3)`` and a
64-bit key ``(k0, k1)`` (32-bit words) to four 32-bit words by ten rounds of::

    (hi0, lo0) = M0 * c0        # 32x32 -> 64-bit product, high and low words
    (hi1, lo1) = M1 * c2
    (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0,  lo1,  hi0 ^ c3 ^ k1,  lo0)

with the key bumped *between* rounds (nine times in all, not after the last round)::

    k0 = (k0 + W0) mod 2**32;   k1 = (k1 + W1) mod 2**32

and the constants ``M0 = 0xD2511F53``, ``M1 = 0xCD9E8D57`` (multipliers) and
``W0 = 0x9E3779B9``, ``W1 = 0xBB67AE85`` (Weyl increments: the golden ratio and sqrt(3) - 1
in 0.32 fixed point). The output is the counter after the tenth round. Known answers: the
``philox4x32 10`` lines of Random123's ``kat_vectors`` (checked in ``tests/test_rng.py``).

Mapping from (seed, stream, index) to numbers
---------------------------------------------
All three are integers in ``[0, 2**64)``.

- key: ``k0 = seed & 0xFFFFFFFF``, ``k1 = seed >> 32``.
- Element ``i`` lives in counter block ``b = i >> 2`` (``i // 4``), at output word ``i & 3``.
- counter of block ``b``: ``c0 = b & 0xFFFFFFFF``, ``c1 = b >> 32``,
  ``c2 = stream & 0xFFFFFFFF``, ``c3 = stream >> 32``.
- ``u(seed, stream, i) = philox4x32_10(counter(b, stream), key(seed))[i & 3]``, a uint32.

So elements 0, 1, 2, 3 of seed 0, stream 0 are the four words of the first known-answer
vector (counter 0, key 0). The CUDA twin evaluates this function directly (one block per
``i >> 2``); nothing relies on cuRAND's ``curand_init`` state layout. A range of ``count``
elements costs about ``count / 4`` Philox evaluations. Different *streams* are different
counter halves, so they never overlap; callers assign one stream per purpose (e.g. per noise
source) and index elements within it.

Derived draws
-------------
Bernoulli(p)
    ``t = round(p * 2**32)`` (exact arithmetic, round half to even;
    :func:`bernoulli_threshold`), and the draw is ``u < t`` compared in 64 bits. Its
    probability is exactly ``t / 2**32``; ``p = 0`` gives never, ``p = 1`` (``t = 2**32``)
    always.
Normal N(0, 1), by table lookup (no transcendental function at draw time, so that libm and
CUDA cannot differ in the last bit)
    :func:`normal_table` holds ``2**17`` float64 values: ``BODY[h] = Phi^-1((h + 0.5) / 2**16)``
    for ``h`` in ``[0, 65536)`` at entries ``0 .. 65535``, and
    ``TAIL[l] = Phi^-1((l + 0.5) / 2**32)`` for ``l`` in ``[0, 65536)`` at entries
    ``65536 .. 131071`` (the lower tail, all negative). With ``h = u >> 16`` and
    ``l = u & 0xFFFF``::

        0 < h < 65535:  z = BODY[h]
        h == 0:         z = TAIL[l]
        h == 65535:     z = -TAIL[65535 - l]

    (``BODY[0]`` and ``BODY[65535]`` are in the table but never drawn.) This is an exact
    sample of a discretisation of N(0, 1): ``z = Phi^-1(m)`` where ``m`` is the midpoint of the
    probability cell that holds ``u / 2**32``, with cells of width ``2**-16`` in the body and
    ``2**-32`` in the two outer cells (``u / 2**32 < 2**-16`` or ``>= 1 - 2**-16``, i.e.
    ``|z|`` beyond about 3.8). Its mean is exactly 0 (the table is exactly antisymmetric), its
    variance is ``1 - 2.3e-6``, and ``|z| <= -TAIL[0] = 6.3380`` (``Phi^-1(2**-33)``).
    ``Phi^-1`` is Python's :meth:`statistics.NormalDist.inv_cdf`, which implements Wichura's
    algorithm AS 241 (PPND16, Applied Statistics 37(3), 1988; relative accuracy about 1e-16).
    The table is computed once on the host and the very same array is shipped to the GPU.

Validation
----------
``seed`` and ``stream`` are Python ints (or numpy integer scalars) in ``[0, 2**64)``;
``start >= 0``, ``count >= 0`` and ``start + count <= 2**64``; ``p`` is a real number in
``[0, 1]``; ``index`` is an integer array with elements in ``[0, 2**64)``. Violations raise
:class:`TypeError` (wrong kind) or :class:`ValueError` (out of range) whose message names the
parameter and its allowed range.
"""

from __future__ import annotations

import functools
import math
import numbers
from fractions import Fraction
from statistics import NormalDist
from typing import Any, Tuple

import numpy

__all__ = [
    "PHILOX_M0",
    "PHILOX_M1",
    "PHILOX_W0",
    "PHILOX_W1",
    "PHILOX_ROUNDS",
    "NORMAL_BODY_BITS",
    "philox4x32",
    "random_uint32",
    "uniform_uint32",
    "bernoulli_threshold",
    "bernoulli",
    "bernoulli_at",
    "normal_table",
    "normal",
    "normal_at",
]

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
NORMAL_BODY_BITS = 16
"""Bits of ``u`` that select a body level of the normal table (``2**16`` levels)."""

_U32_MASK = 0xFFFFFFFF
_U64_LIMIT = 2**64
_BODY_SIZE = 1 << NORMAL_BODY_BITS  # 65536 body entries, then 65536 tail entries


# --------------------------------------------------------------------------- validation


def _is_integer(value: Any) -> bool:
    """True for a Python int or numpy integer scalar, but not for a bool."""
    return isinstance(value, (int, numpy.integer)) and not isinstance(value, bool)


def _check_int(name: str, value: Any, high: int, high_text: str) -> int:
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


def _check_range(start: Any, count: Any) -> Tuple[int, int]:
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


def _as_uint32_words(name: str, words: Any, n: int, xp: Any) -> list:
    """A tuple of ``n`` uint32 arrays or ints, as uint64 arrays of the ``xp`` namespace."""
    if not isinstance(words, (tuple, list)) or len(words) != n:
        raise TypeError(f"{name} must be a tuple of {n} uint32 arrays or ints, got {words!r}")
    out = []
    for position, word in enumerate(words):
        label = f"{name}[{position}]"
        if _is_integer(word):
            word = xp.asarray(_check_int(label, word, 2**32, "2**32"), dtype=xp.uint32)
        else:
            word = xp.asarray(word)
            if word.dtype != numpy.uint32:
                raise TypeError(f"{label} must be a uint32 array or an int, got dtype {word.dtype}")
        out.append(word.astype(xp.uint64))
    return out


def _as_index(index: Any, xp: Any) -> Any:
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


def random_uint32(seed: Any, stream: Any, index: Any, *, xp: Any = numpy) -> Any:
    """The uint32 draws ``u(seed, stream, i)`` at arbitrary element indices.

    Parameters
    ----------
    seed, stream:
        Integers in ``[0, 2**64)``.
    index:
        Integer array (any shape; int64 or uint64, elements in ``[0, 2**64)``) of element
        indices.
    xp:
        Array namespace (``numpy`` or ``cupy``).

    Returns
    -------
    uint32 array of the shape of ``index``. Each element costs one Philox evaluation (of its
    own block); use :func:`uniform_uint32` for a contiguous range.
    """
    seed = _check_int("seed", seed, _U64_LIMIT, "2**64")
    stream = _check_int("stream", stream, _U64_LIMIT, "2**64")
    index = _as_index(index, xp)
    if xp is not numpy:  # CuPy: the CUDA twin, kernels/philox_draws.cu
        from . import kernels_loader  # noqa: PLC0415 - imports CuPy only when used

        return kernels_loader.draw_at("uniform", seed, stream, index)
    w0, w1, w2, w3 = _blocks(seed, stream, index >> xp.uint64(2), xp)
    word = index & xp.uint64(3)
    return xp.where(word == 0, w0, xp.where(word == 1, w1, xp.where(word == 2, w2, w3)))


def uniform_uint32(seed: Any, stream: Any, start: Any, count: Any, *, xp: Any = numpy) -> Any:
    """The uint32 draws of elements ``start .. start + count - 1``.

    Equal to ``random_uint32(seed, stream, arange(start, start + count))``, but every counter
    block is evaluated once: about ``count / 4`` Philox evaluations.

    Parameters
    ----------
    seed, stream:
        Integers in ``[0, 2**64)``.
    start, count:
        Integers, ``start >= 0``, ``count >= 0``, ``start + count <= 2**64``.
    xp:
        Array namespace (``numpy`` or ``cupy``).

    Returns
    -------
    1-D uint32 array of length ``count``.
    """
    seed = _check_int("seed", seed, _U64_LIMIT, "2**64")
    stream = _check_int("stream", stream, _U64_LIMIT, "2**64")
    start, count = _check_range(start, count)
    if xp is not numpy:  # CuPy: the CUDA twin, kernels/philox_draws.cu
        from . import kernels_loader  # noqa: PLC0415 - imports CuPy only when used

        return kernels_loader.draw_range("uniform", seed, stream, start, count)
    first_block = start >> 2
    n_blocks = ((start + count + 3) >> 2) - first_block
    block = xp.arange(n_blocks, dtype=xp.uint64) + xp.uint64(first_block)
    words = xp.stack(_blocks(seed, stream, block, xp), axis=-1).reshape(-1)
    offset = start - 4 * first_block
    return words[offset:offset + count]


# --------------------------------------------------------------------------- Bernoulli


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


def _bernoulli_from(u: Any, threshold: int, xp: Any) -> Any:
    """Bernoulli draws ``u < threshold`` from uint32 draws ``u``, compared in uint64."""
    return u.astype(xp.uint64) < xp.uint64(threshold)


def bernoulli(seed: Any, stream: Any, start: Any, count: Any, p: Any, *,
              xp: Any = numpy) -> Any:
    """Bernoulli(p) draws of elements ``start .. start + count - 1`` (a 1-D bool array).

    Element ``i`` is ``uniform_uint32(...)[i] < bernoulli_threshold(p)``; its probability of
    being True is exactly ``bernoulli_threshold(p) / 2**32``. Arguments as in
    :func:`uniform_uint32`; ``p`` in ``[0, 1]``.
    """
    threshold = bernoulli_threshold(p)
    return _bernoulli_from(uniform_uint32(seed, stream, start, count, xp=xp), threshold, xp)


def bernoulli_at(seed: Any, stream: Any, index: Any, p: Any, *, xp: Any = numpy) -> Any:
    """Bernoulli(p) draws at arbitrary element indices (a bool array of ``index``'s shape).

    The same draws as :func:`bernoulli` at the same indices. Arguments as in
    :func:`random_uint32`; ``p`` in ``[0, 1]``.
    """
    threshold = bernoulli_threshold(p)
    return _bernoulli_from(random_uint32(seed, stream, index, xp=xp), threshold, xp)


# --------------------------------------------------------------------------- normal


@functools.lru_cache(maxsize=None)
def normal_table() -> numpy.ndarray:
    """The inverse-CDF table of the normal draws: read-only float64, ``2**17`` entries.

    Entries ``0 .. 65535`` are ``BODY[h] = Phi^-1((h + 0.5) / 2**16)``; entries
    ``65536 .. 131071`` are ``TAIL[l] = Phi^-1((l + 0.5) / 2**32)`` (the lower tail). ``Phi^-1``
    is :meth:`statistics.NormalDist.inv_cdf` (Wichura's AS 241, relative accuracy about
    1e-16). Computed once per process and cached; the same array is copied to the GPU. See
    the module docstring for how a uint32 draw selects an entry.
    """
    inv_cdf = NormalDist().inv_cdf
    body = [inv_cdf((h + 0.5) / 2**NORMAL_BODY_BITS) for h in range(_BODY_SIZE)]
    tail = [inv_cdf((low + 0.5) / 2**32) for low in range(_BODY_SIZE)]
    table = numpy.array(body + tail, dtype=numpy.float64)
    table.setflags(write=False)
    return table


def _normal_from(u: Any, xp: Any) -> Any:
    """Standard normal draws (float64) from uint32 draws ``u`` by table lookup."""
    table = xp.asarray(normal_table())
    high = u >> xp.uint32(NORMAL_BODY_BITS)
    low = u & xp.uint32(_BODY_SIZE - 1)
    top = xp.uint32(_BODY_SIZE - 1)  # h == 65535: the upper tail, mirrored from the lower one
    entry = xp.where(high == 0, xp.uint32(_BODY_SIZE) + low,
                     xp.where(high == top, xp.uint32(2 * _BODY_SIZE - 1) - low, high))
    z = xp.take(table, entry)
    return xp.where(high == top, -z, z)


def normal(seed: Any, stream: Any, start: Any, count: Any, *, xp: Any = numpy) -> Any:
    """Standard normal draws of elements ``start .. start + count - 1`` (1-D float64 array).

    Element ``i`` is the table lookup of ``uniform_uint32(...)[i]`` described in the module
    docstring: an exact sample of N(0, 1) discretised to ``2**16`` body levels with tails
    resolved to ``2**-32`` in probability. Arguments as in :func:`uniform_uint32`.
    """
    return _normal_from(uniform_uint32(seed, stream, start, count, xp=xp), xp)


def normal_at(seed: Any, stream: Any, index: Any, *, xp: Any = numpy) -> Any:
    """Standard normal draws at arbitrary element indices (float64, ``index``'s shape).

    The same draws as :func:`normal` at the same indices. Arguments as in
    :func:`random_uint32`.
    """
    return _normal_from(random_uint32(seed, stream, index, xp=xp), xp)
