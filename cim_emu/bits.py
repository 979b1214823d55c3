"""Bit-packed rows: the storage layout shared by every engine and backend.

A row of ``n_bits`` bits is stored as ``ceil(n_bits / 64)`` unsigned 64-bit words,
little-endian in both senses: bit ``j`` of the row is bit ``j % 64`` (weight ``2**(j % 64)``)
of word ``j // 64``. Padding bits (positions ``n_bits`` .. ``64 * n_words - 1`` of the last
word) are always zero in stored rows. This is the layout of ``numpy.packbits(bits,
bitorder="little")`` viewed as little-endian ``uint64``, so conversion is one library call.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Optional

import numpy

from .backend import NUMPY_BACKEND, BackendLike
from .rng import uniform_uint32

WORD_BITS = 64
WORD_DTYPE = numpy.dtype("<u8")


def n_words(n_bits: int) -> int:
    """Number of 64-bit words that hold ``n_bits`` bits."""
    return -(-n_bits // WORD_BITS)


def tail_mask(n_bits: int) -> numpy.uint64:
    """Mask of the valid bits of the last word of an ``n_bits``-bit row."""
    rem = n_bits % WORD_BITS
    return numpy.uint64((1 << rem) - 1 if rem else (1 << WORD_BITS) - 1)


def as_bit_vector(name: str, array: Any) -> Any:
    """``array`` (numpy or CuPy) as bool: a bool array as it is, an integer array holding only 0
    and 1 converted; any other dtype or value is a ``ValueError`` naming ``name``."""
    if array.dtype == bool:
        return array
    if not numpy.issubdtype(array.dtype, numpy.integer):
        raise ValueError(f"{name} must be bool or integers 0/1; got dtype {array.dtype}")
    if not bool(((array == 0) | (array == 1)).all()):
        raise ValueError(f"{name} must be bool or integers 0/1; got dtype {array.dtype} with other values")
    return array == 1


def pack_bits(bits: Any, xp: ModuleType = numpy) -> Any:
    """Pack a 1-D array of bits (bool or 0/1 integers) into 64-bit words (padding zero)."""
    bits = xp.asarray(bits)
    n = int(bits.shape[0])
    padded = xp.zeros(n_words(n) * WORD_BITS, dtype=xp.uint8)
    padded[:n] = bits != 0
    return xp.packbits(padded, bitorder="little").view(WORD_DTYPE)


def unpack_bits(words: Any, n_bits: int, xp: ModuleType = numpy) -> Any:
    """Unpack 64-bit words into a bool array of ``n_bits`` bits."""
    as_bytes = xp.ascontiguousarray(words).view(xp.uint8)
    return xp.unpackbits(as_bytes, bitorder="little")[:n_bits].astype(bool)


def random_row(seed: int, stream: int, n_bits: int, backend: BackendLike = NUMPY_BACKEND) -> Any:
    """Packed words of a random ``n_bits``-bit row drawn from :mod:`cim_emu.rng`.

    Word ``w`` is ``u[2w] | u[2w + 1] << 32`` of ``rng.uniform_uint32(seed, stream, 0, ...)``;
    padding bits are cleared.
    """
    words = uniform_uint32(seed, stream, 0, 2 * n_words(n_bits), backend=backend).view(WORD_DTYPE)
    words[-1] &= tail_mask(n_bits)
    return words


def constant_row(value: int, n_bits: int, xp: ModuleType = numpy, word_offset: int = 0,
                 count: Optional[int] = None) -> Any:
    """The words of a row whose ``n_bits`` bits all equal ``value`` (0 or 1): all of them, or
    ``count`` words from word ``word_offset`` (one slice of the row; padding stays zero)."""
    total = n_words(n_bits)
    count = total - word_offset if count is None else count
    words = xp.zeros(count, dtype=WORD_DTYPE)
    if value:
        words[:] = numpy.uint64(2**64 - 1)
        if word_offset + count == total:
            words[-1] = tail_mask(n_bits)
    return words
