"""Vertical (bit-plane) layout: integer arrays in and out of SIMDRAM's row format.

SIMDRAM (Hajinazar et al., "SIMDRAM: A Framework for Bit-Serial SIMD Processing Using DRAM",
ASPLOS 2021, Section 3) stores an array of ``n``-bit integers *vertically*: the array occupies
``n`` rows, row ``i`` holds bit ``i`` of every element, one element per column (bit line). Every
row is a packed row of :mod:`cim_emu.bits` (element ``e`` is bit ``e % 64`` of word
``e // 64``), so the planes of ``N`` elements form a ``uint64`` array of shape
``(n, ceil(N / 64))``. Signed values are stored in two's complement; reading back sign-extends.

The transposition is the only computation cim-emu does outside the emulated DRAM (SIMDRAM
gives it to a transposition unit in the memory controller, Section 4.2). It is vectorised and
works a byte at a time: byte ``c`` of eight consecutive elements forms an 8-by-8 bit matrix held
in one 64-bit word, and all these words are transposed at once by three delta swaps (Warren,
"Hacker's Delight", 2nd ed., Section 7-3, ``transpose8``), after which byte ``j`` of a word is
the byte of bit plane ``8c + j`` for those eight elements. So a ``b``-bit array costs
``ceil(b / 8)`` passes over its bytes, whatever the width, and the same code runs on numpy and
CuPy arrays (the namespace follows the array).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy

from ..bits import WORD_BITS

#: Widths SIMDRAM operations accept (bits per element).
MIN_BITS, MAX_BITS = 1, 64

#: Delta swaps of ``transpose8``: (shift, mask).
_TRANSPOSE8 = ((7, 0x00AA00AA00AA00AA), (14, 0x0000CCCC0000CCCC), (28, 0x00000000F0F0F0F0))


def check_bits(bits: Any, name: str = "bits") -> int:
    """``bits`` as an int in ``1..64``, or a ``ValueError`` naming the parameter and the range."""
    if isinstance(bits, bool) or not isinstance(bits, (int, numpy.integer)) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"{name} must be an integer in {MIN_BITS}..{MAX_BITS}; got {bits!r}")
    return int(bits)


def value_range(bits: int, signed: bool) -> tuple[int, int]:
    """The smallest and largest value of a ``bits``-bit integer."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def result_dtype(bits: int, signed: bool) -> numpy.dtype:
    """The narrowest numpy integer type that holds every ``bits``-bit value."""
    for size in (8, 16, 32, 64):
        if bits <= size:
            return numpy.dtype(f"{'i' if signed else 'u'}{size // 8}")
    raise ValueError(f"bits must be an integer in {MIN_BITS}..{MAX_BITS}; got {bits!r}")


def namespace_of(array: Any) -> ModuleType:
    """numpy for numpy arrays, cupy for CuPy arrays (without importing CuPy otherwise)."""
    module = type(array).__module__.split(".")[0]
    if module == "cupy":
        import cupy  # noqa: PLC0415 - only when given a CuPy array

        return cupy
    return numpy


def transpose_bytes(words: Any) -> Any:
    """Transpose, in place, the 8-by-8 bit matrix in each ``uint64`` of ``words``.

    Entry ``(i, j)`` of a word is bit ``j`` of its byte ``i``; afterwards bit ``i`` of byte ``j``
    holds it. The transposition is its own inverse.
    """
    xp = namespace_of(words)
    for shift, mask in _TRANSPOSE8:
        swap = xp.bitwise_and(xp.bitwise_xor(words, words >> numpy.uint64(shift)), numpy.uint64(mask))
        words ^= swap
        words ^= swap << numpy.uint64(shift)
    return words


def _container(bits: int, signed: bool) -> tuple[numpy.dtype, numpy.dtype]:
    """The integer types of the narrowest width (8, 16, 32 or 64) that holds ``bits``."""
    signed_type, unsigned_type = result_dtype(bits, True), result_dtype(bits, False)
    return (signed_type if signed else unsigned_type), unsigned_type


def to_vertical(values: Any, bits: int, signed: bool = False) -> Any:
    """Bit planes of ``values`` (1-D integer array): ``uint64`` array of shape ``(bits, ceil(N/64))``.

    Raises ``ValueError`` when a value does not fit in ``bits`` bits with the given signedness.
    """
    bits = check_bits(bits)
    xp = namespace_of(values)
    values = xp.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"values must be a 1-D array; got shape {tuple(values.shape)}")
    if values.dtype != bool and not numpy.issubdtype(values.dtype, numpy.integer):
        raise TypeError(f"values must be an integer or bool array; got dtype {values.dtype}")
    count = int(values.shape[0])
    if count == 0:
        raise ValueError("values must hold at least one element")
    low, high = value_range(bits, signed)
    if values.dtype != bool and count and (int(values.min()) < low or int(values.max()) > high):
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"values must fit in {bits}-bit {kind} integers ({low}..{high}); "
                         f"got values in {int(values.min())}..{int(values.max())}")
    value_type, word_type = _container(bits, signed)
    groups = -(-count // WORD_BITS)
    padded = xp.zeros(groups * WORD_BITS, dtype=word_type)
    padded[:count] = values.astype(value_type).view(word_type) if values.dtype != bool else values
    by_byte = padded.view(numpy.uint8).reshape(groups * 8, 8, word_type.itemsize)  # 8 elements a row
    planes = xp.empty((bits, groups * 8), dtype=numpy.uint8)
    for byte in range(-(-bits // 8)):
        block = transpose_bytes(xp.ascontiguousarray(by_byte[:, :, byte]).view(numpy.uint64))
        used = min(8, bits - 8 * byte)
        planes[8 * byte: 8 * byte + used] = block.view(numpy.uint8).reshape(groups * 8, 8)[:, :used].T
    return planes.view(numpy.uint64)


def from_vertical(planes: Any, count: int, signed: bool = False, dtype: Any = None) -> Any:
    """Integers from bit planes (shape ``(bits, n_words)``): the inverse of :func:`to_vertical`.

    ``count`` elements are returned, sign-extended when ``signed``; ``dtype`` defaults to
    :func:`result_dtype`. One plane (``bits == 1``) read as unsigned can be asked for as ``bool``.
    """
    xp = namespace_of(planes)
    bits = check_bits(int(planes.shape[0]), "number of bit planes")
    groups = int(planes.shape[1])
    if not 0 < count <= groups * WORD_BITS:
        raise ValueError(f"count must be in 1..{groups * WORD_BITS} for {groups} words; got {count!r}")
    value_type, word_type = _container(bits, signed)
    width = 8 * word_type.itemsize
    plane_bytes = xp.ascontiguousarray(planes).view(numpy.uint8)  # (bits, groups * 8)
    by_byte = xp.empty((groups * 8, 8, word_type.itemsize), dtype=numpy.uint8)
    for byte in range(width // 8):
        block = xp.zeros((groups * 8, 8), dtype=numpy.uint8)
        used = max(0, min(8, bits - 8 * byte))
        block[:, :used] = plane_bytes[8 * byte: 8 * byte + used].T
        if signed and used < 8:
            block[:, used:] = plane_bytes[bits - 1][:, None]
        by_byte[:, :, byte] = transpose_bytes(block.view(numpy.uint64)).view(numpy.uint8).reshape(groups * 8, 8)
    values = by_byte.reshape(-1).view(word_type)[:count]
    dtype = numpy.dtype(dtype) if dtype is not None else result_dtype(bits, signed)
    if dtype == numpy.dtype(bool):
        return values.astype(bool)
    return (values.view(value_type) if signed else values).astype(dtype)
