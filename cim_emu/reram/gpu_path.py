"""Stages 2 to 5 through the CUDA kernels: int8 tensor cores with the ADC fused in, or the epilogue.

A backend with a kernel provider (CuPy's on a GPU, the CPU shim's on the host) reads the
crossbars through the kernels of ``kernels/`` (launched by :mod:`cim_emu.reram.gpu`), with the
numpy pipeline's bits:

* **Tensor cores** (:class:`TensorCoreReadout`, ``kernels/reram_tile_codes.cu``), when the
  devices are ideal and chunks and cell levels fit in int8 (:func:`tensor_cores_qualify`):
  with int8 input tiles ``(T, C*b, depth)`` and int8 cells ``(T, N' * P_conv * S, depth)``
  (for a signed ADC the ``S`` differences ``W+ - W-``, ``P_conv = 1``), each block computes

      codes[(c, b), (n, cell)] = sum_t ADC(sum_k x_c[k] * cells[t, (n, cell), k])

  with exact int32 sums (no partial sum is ever written to memory), and
  ``kernels/reram_epilogue.cu`` shift-adds them in int64:
  ``acc[b, n] = sum_c 2**(c dac) sum_{pol, s} sign_pol 2**(s bpc) codes[(c, b), (n, pol, s)]``.
* **The epilogue** (:func:`epilogue`, ``kernels/reram_epilogue.cu``) otherwise: the float
  products of :mod:`cim_emu.reram.pipeline` (cuBLAS on a GPU), then read noise, ADC and
  shift-and-add in one kernel, exactly as :meth:`~cim_emu.reram.pipeline.Pipeline.accumulate`
  does them with numpy.

Both rest on exact float32 products of integers, which CuPy's TF32 mode would break
(:func:`require_exact_float_products`). The full specification is ``docs/spec/reram.md``
(and ``docs/spec/gpu.md`` for the kernels).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Optional

import numpy

from ..backend import Backend
from ..gpu.provider import KernelProvider
from . import gpu
from .adc import Adc
from .config import ReramConfig, WeightMapping
from .dac import Dac
from .layout import ColumnPacking, TileLayout

__all__ = ["TensorCoreReadout", "epilogue", "require_exact_float_products", "tensor_cores_qualify"]


def require_exact_float_products(backend: Backend) -> None:
    """Refuse CuPy float products under ``CUPY_TF32``: cuBLAS would round their inputs to TF32
    (10-bit mantissas), and the pipeline relies on exact float32 sums of integers."""
    if backend.on_device and os.environ.get("CUPY_TF32", "0") != "0":
        raise RuntimeError("CUPY_TF32 makes CuPy's float32 products inexact (10-bit mantissas); "
                           "unset it: the crossbar pipeline relies on exact float32 integer sums")


def tensor_cores_qualify(config: ReramConfig, tiles: int) -> bool:
    """Whether stages 2 to 4 can run on int8 tensor cores: ideal devices (integer cells), input
    chunks and cell levels within int8 (so are differences of two levels, for a signed ADC),
    partial sums below ``2**24`` (exact in the ADC's float type too), code sums over the
    ``tiles`` below ``2**31``."""
    return (config.ideal_cells and config.inputs.max_chunk <= 127 and config.mapping.max_level <= 127
            and config.crossbar.rows * config.inputs.max_chunk * config.mapping.max_level < 2**24
            and tiles * (config.adc_levels + 1) < 2**31)


def _kernels_of(backend: Backend) -> KernelProvider:
    if backend.kernels is None:
        raise ValueError(f"the kernel path needs a backend with kernels; {backend.name!r} has none")
    return backend.kernels


class TensorCoreReadout:
    """Codes and their shift-and-add for the programmed cell ``levels`` ``(P, S, K, N')`` on
    int8 tensor cores (qualifying crossbars only: :func:`tensor_cores_qualify`)."""

    def __init__(self, config: ReramConfig, levels: numpy.ndarray, layout: TileLayout, dac: Dac, adc: Adc,
                 backend: Backend) -> None:
        self.config, self.levels, self.layout, self.dac, self.adc = config, levels, layout, dac, adc
        self.backend = backend
        self.depth = gpu.tile_codes_depth(layout.rows)
        self.cells_per_weight = (1 if config.signed_adc else config.mapping.polarities) * config.mapping.slices

    @functools.cached_property
    def cells(self) -> Any:
        """``(T, N' * cells, depth)`` int8 on the backend: for weight column ``n`` and each of its
        ``cells`` converted cells (``p * S + s``; for a signed ADC the ``S`` differences
        ``W+ - W-``), the levels down the tile's crossbar rows, zero-padded to the depth."""
        levels = self.levels.astype(numpy.int16)  # (P, S, K, N')
        if self.config.signed_adc:
            levels = (levels[0] - levels[1])[None]
        P, S, K, N = levels.shape
        rows, T = self.layout.rows, self.layout.tiles
        padded = numpy.zeros((P, S, T * rows, N), dtype=numpy.int8)
        padded[:, :, :K] = levels
        cells = numpy.zeros((T, N, P * S, self.depth), dtype=numpy.int8)
        cells[..., :rows] = padded.reshape(P, S, T, rows, N).transpose(2, 4, 0, 1, 3).reshape(T, N, P * S, rows)
        return self.backend.xp.asarray(cells.reshape(T, N * P * S, -1))

    def input_tiles(self, x: Any, xp: Any) -> Any:
        """The int8 input tiles ``(T, C*b, depth)`` of inputs ``x`` ``(b, K)``."""
        return self.layout.input_tiles(self.dac.convert(x, xp), xp, depth=self.depth, dtype=numpy.int8)

    def bytes_per_column(self, batch_rows: int) -> int:
        """Bytes of the int32 codes of one weight column for ``batch_rows`` batch rows."""
        return self.dac.chunks * batch_rows * self.cells_per_weight * 4

    def accumulate(self, tiles: Any, n0: int, n1: int, backend: Backend, out: Any) -> None:
        """Shift-and-added codes of weight columns ``n0 .. n1 - 1`` into ``out`` (int64
        ``(b, n1 - n0)``, rows may be strided) from the int8 input tiles ``(T, C*b, depth)``
        (exact: the accumulator bound is checked when the crossbars are programmed)."""
        mapping, kernels, C = self.config.mapping, _kernels_of(backend), self.dac.chunks
        cells = self.cells_per_weight
        codes = backend.xp.empty((tiles.shape[1], (n1 - n0) * cells), dtype=numpy.int32)
        gpu.reram_tile_codes(tiles, self.cells, codes, self.adc, first_column=n0 * cells, kernels=kernels)
        gpu.reram_shift_add_codes(
            codes, out, chunks=C, polarities=cells // mapping.slices, slices=mapping.slices,
            bits_per_cell=mapping.bits_per_cell, dac_bits=self.dac.bits,
            code_bound=self.layout.tiles * self.config.adc_levels, kernels=kernels)


def epilogue(sums: Any, noise: Optional[Any], *, adc: Adc, dac: Dac, packing: ColumnPacking, mapping: WeightMapping,
             tiles: int, width: int, prescaled: bool, saturates: bool, backend: Backend) -> Any:
    """Read noise, ADC and shift-and-add of the float partial sums ``(T, C*b, columns * width)``
    of one column block in ``kernels/reram_epilogue.cu``: ``acc`` int64 ``(b, columns)``."""
    xp = backend.xp
    acc = xp.empty((sums.shape[1] // dac.chunks, sums.shape[2] // width), dtype=numpy.int64)
    gpu.reram_adc_shift_add(
        xp.ascontiguousarray(sums), acc, adc, tiles=tiles, chunks=dac.chunks, width=width, pack=packing.factor,
        pack_bits=packing.bits, polarities=mapping.polarities, slices=mapping.slices,
        bits_per_cell=mapping.bits_per_cell, dac_bits=dac.bits, prescaled=prescaled, saturates=saturates,
        noise=None if noise is None else xp.ascontiguousarray(noise), kernels=_kernels_of(backend))
    return acc
