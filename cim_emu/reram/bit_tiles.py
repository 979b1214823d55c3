"""Input tiles of 1-bit DACs kept as bits, and their products by look-up tables (``kernels/binary_product.cpp``).

With 1-bit DACs (ISAAC's default) every input chunk is 0 or 1. The host readout
(:mod:`~cim_emu.reram.host_path`) multiplies each row tile of chunks with the crossbars' cells, a
BLAS product of ``C*b`` rows by ``rows [+ 1]`` by the operand's columns: half or more of a noisy
read's time. :class:`BitTiles` keeps the same tiles as bits, eight inputs a byte (``rows / 8``
bytes a row instead of ``4 (rows + 1)``), and multiplies them natively by look-up tables (the
"method of four Russians", ``kernels/binary_product.cpp``): for every group of four word lines
the sums of the 16 subsets of their cells are formed once per tile and block of columns, then
each output is ``rows / 4`` additions of table entries instead of ``rows [+ 1]`` multiply-adds.
The bias row of prescaled sums (an input always 1) is added to the tables of the first group.

**Same bits.** Every partial sum of the pipeline is an integer its float type holds exactly (the
cells are non-negative integers, or ``W+ - W-`` bounded like them, and every sum of a subset of a
column's cells is bounded by the column's sum, below ``2**24`` in float32 and ``2**53`` in
float64: the rule that already makes the BLAS product exact in any order). Every addition of
the tables is of two such sums, so the native product equals BLAS's to the bit
(``tests/test_reram_bit_tiles.py`` holds them to each other, and the pipeline with bit tiles to
the pipeline with float tiles).

Which runs is chosen like the host's other native twins, by ``CIM_EMU_NATIVE``
(:mod:`cim_emu.gpu.host_native`): ``auto`` (or unset) is the native product when a C++ compiler is
found and float tiles through BLAS otherwise, ``0`` always BLAS, ``1`` the native product or
:class:`~cim_emu.gpu.ShimUnavailableError`.
"""

from __future__ import annotations

import ctypes
import dataclasses
from typing import Any, Optional

import numpy

from ..gpu import cpu_shim
from ..gpu.host_native import NATIVE_ENV, NativeBuild
from ..gpu.sources import kernel_source
from .layout import TileLayout

__all__ = ["NATIVE_ENV", "SOURCE", "BUILD", "GROUP_ROWS", "BitTiles", "library", "status"]

SOURCE = "binary_product.cpp"
"""The native product's source, in ``kernels/``."""

GROUP_ROWS = 4
"""Word lines a table covers (the kernel's ``kGroupRows``): one addition of a table entry takes the
place of this many multiply-adds."""

_FLOAT_TYPES = {numpy.dtype(numpy.float32): "cim_binary_product_f32",
                numpy.dtype(numpy.float64): "cim_binary_product_f64"}


def _build() -> dict:
    library = cpu_shim.host_library(kernel_source(SOURCE), "binary_product", cpu_shim.OPTIMIZED_FLAGS)
    functions = {}
    for dtype, name in _FLOAT_TYPES.items():
        function = getattr(library, name)
        function.restype = None
        function.argtypes = [ctypes.c_void_p, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_void_p, ctypes.c_int,
                             ctypes.c_longlong, ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong]
        functions[dtype] = function
    return functions


BUILD: NativeBuild[dict] = NativeBuild(_build, "the native binary product", "BLAS",
                                       "multiplying the input chunks as floats")
"""The native product (a ctypes function per float type), built once per process
(:class:`~cim_emu.gpu.host_native.NativeBuild`)."""


def library() -> Optional[dict]:
    """The native product's functions (by float dtype), or ``None`` where BLAS multiplies float
    tiles (module docstring); :class:`~cim_emu.gpu.ShimUnavailableError` when ``CIM_EMU_NATIVE=1``
    and it cannot be built."""
    return BUILD.chosen()


def status() -> str:
    """Which product multiplies the input bits of 1-bit DACs, and why: for ``cim-emu info``."""
    return BUILD.status(f"native (kernels/{SOURCE})")


@dataclasses.dataclass(frozen=True)
class BitTiles:
    """Input tiles ``(T, C*b, rows [+ 1])`` of 0 and 1, as bits: ``bits[t, r, j // 8]`` holds the
    input of word line ``j`` in its bit ``j % 8``; with ``bias`` the tiles' row ``rows`` is 1
    (the cells' bias row), which the products add without a bit."""

    bits: numpy.ndarray
    """``(T, C*b, ceil(rows / 8))`` uint8."""
    rows: int
    bias: bool
    functions: dict
    """The native product's functions by float dtype (:func:`library`)."""

    @classmethod
    def of_chunks(cls, chunks: numpy.ndarray, layout: TileLayout, *, bias: bool, functions: dict) -> "BitTiles":
        """The tiles of input chunks ``(C, b, K)``, every one 0 or 1 (1-bit DACs)."""
        C, b, K = chunks.shape
        rows, T = layout.rows, layout.tiles
        padded = numpy.zeros((C, b, T * rows), dtype=numpy.uint8)
        padded[:, :, :K] = chunks
        # (C, b, T, ceil(rows / 8)): packbits pads each tile's last byte with zeros
        bits = numpy.packbits(padded.reshape(C, b, T, rows), axis=3, bitorder="little")
        return cls(numpy.ascontiguousarray(bits.transpose(2, 0, 1, 3)).reshape(T, C * b, -1), rows, bias, functions)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, C*b, rows [+ 1])``, the shape of the same tiles as floats."""
        T, Cb, _ = self.bits.shape
        return T, Cb, self.rows + self.bias

    def __len__(self) -> int:
        return self.bits.shape[0]

    def product(self, t: int, right: numpy.ndarray, out: numpy.ndarray, rows: Optional[int] = None) -> numpy.ndarray:
        """``out = tiles[t] @ right`` for ``right`` ``(rows [+ 1], n)`` (float32 or float64, its
        rows contiguous) into ``out`` ``(C*b, n)`` of the same dtype, over the first ``rows`` word
        lines only (the rest of the tile's inputs must be 0), the bias row added where the tiles
        have one. Every sum of ``right``'s rows must be an integer the dtype holds exactly."""
        rows = self.rows if rows is None else rows
        if not 0 <= rows <= self.rows:
            raise ValueError(f"rows must be in [0, {self.rows}] (the tiles' word lines); got {rows}")
        depth, Cb = self.rows + self.bias, self.bits.shape[1]
        if right.ndim != 2 or right.shape[0] != depth or out.shape != (Cb, right.shape[1]):
            raise ValueError(f"tile {t} of shape {self.shape[1:]} cannot multiply {right.shape} into {out.shape}")
        if right.dtype != out.dtype or right.dtype not in _FLOAT_TYPES:
            raise TypeError(f"the binary product takes float32 or float64 operands of one dtype; got {right.dtype} "
                            f"and {out.dtype}")
        if right.strides[1] != right.itemsize:
            right = numpy.ascontiguousarray(right)
        if out.strides[1] != out.itemsize:
            raise ValueError("the binary product writes rows of contiguous columns")
        bits = self.bits[t]
        base = right[self.rows].ctypes.data if self.bias else None
        self.functions[right.dtype](bits.ctypes.data, bits.shape[0], bits.shape[1], right.ctypes.data, rows,
                                    right.shape[1], right.strides[0] // right.itemsize, base, out.ctypes.data,
                                    out.strides[0] // out.itemsize)
        return out

    def matmul(self, right: numpy.ndarray) -> numpy.ndarray:
        """``tiles @ right`` for ``right`` ``(T, rows [+ 1], n)``: ``(T, C*b, n)`` (a broadcast ``right`` is
        read tile by tile)."""
        T, Cb, _ = self.shape
        out = numpy.empty((T, Cb, right.shape[2]), dtype=right.dtype)
        for t in range(T):
            self.product(t, right[t], out[t])
        return out

    def as_floats(self, dtype: Any) -> numpy.ndarray:
        """The same tiles as floats ``(T, C*b, rows [+ 1])`` of ``dtype``."""
        T, Cb, depth = self.shape
        tiles = numpy.empty((T, Cb, depth), dtype=dtype)
        tiles[:, :, :self.rows] = numpy.unpackbits(self.bits, axis=2, count=self.rows, bitorder="little")
        if self.bias:
            tiles[:, :, self.rows] = 1
        return tiles
