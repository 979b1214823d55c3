"""Stages 2 to 6, one read of programmed crossbars: products, read noise, ADC, shift-and-add.

For integer inputs ``x`` (``B x K``) and the programmed cells ``g_s[k, n]`` (fixed point: units
of ``2**-F`` of a level step), a read computes, in exact integers:

2. for every row tile ``t``, chunk ``c`` (:mod:`~cim_emu.reram.dac`), slice ``s``, polarity and
   column ``n``, the partial sum ``p = sum_{k in t} x'_c[k] g_s[k, n]`` - all of them from one
   batched matrix product per block of the batch and of the columns,
   ``(T, C*b, rows) @ (T, rows, N' * P * S)`` (:mod:`~cim_emu.reram.layout`), exact because the
   operands are integers whose sums stay below ``2**24`` (float32) or ``2**53`` (float64);
   ``N'`` counts the reference columns too;
3. read noise, if any, added to each partial sum: ``rint(sqrt(sum_k x'_c[k]**2 sigma_s[k, n]**2) * z)``,
   ``z ~ N(0, 1)`` drawn at index ``((b * T + t) * C + c) * (N' * P * S) + (n * P + pol) * S + s``
   of the stream ``Stream.READ | read_index`` (``b`` the global batch row), so that no blocking
   or batch split changes the noise;
4. each partial sum digitised by the ADC (:mod:`~cim_emu.reram.adc`); a signed ADC converts
   ``p+ - p-``;
5. shift-and-add: ``acc = sum_{t,c,s,pol} sign_pol * code * 2**(c * dac + s * bpc)``
   (``sign`` = +1 for ``W+``, offset weights and signed-ADC codes, -1 for ``W-``);
6. ``acc -= acc[reference column of n's tile]`` (reference-column readout only), then
   ``y = acc * (Delta * output_scale)`` (``int64`` when that step is 1, else one float64
   multiply) minus the exact digital corrections: ``2**(ib-1) * sum_k W[k, n]`` for signed
   inputs, ``B * sum_k x'[k]`` for the offset scheme's digital correction.

When the crossbars are programmed, :class:`Pipeline` bounds every intermediate value - the
partial sum (with room for 8 standard deviations of a full column's read noise), the ADC's
``scale * p + bias``, the codes summed over tiles, slices and polarities, the accumulator -
and picks float32 or float64 for each (refusing a configuration that would reach ``2**53``).
When a partial sum needs at most 12 bits the (polarity, slice) columns are packed
(:class:`~cim_emu.reram.layout.ColumnPacking`); otherwise an unsigned ADC takes *prescaled*
sums ``scale * p + bias`` straight from the product (cells times ``scale``, a bias row).

Blocks of about ``MATMUL_ROWS`` batch rows x chunks and column blocks of about ``BLOCK_BYTES``
of partial sums (more on a GPU) keep the sums in cache; on the host the column blocks run on
the shared threads (:mod:`cim_emu.parallel`), each with a single-threaded BLAS. None of this
changes the bits. With a kernel provider, stages 2 to 5 run through the kernels instead
(:mod:`~cim_emu.reram.gpu_path`), with the same bits.

The full specification is ``docs/spec/reram.md``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import numpy

from .. import rng
from ..backend import Backend
from ..parallel import default_threads, single_threaded_blas, thread_pool
from ..rng import Stream
from .adc import Adc
from .config import ReramConfig
from .dac import Dac
from .gpu_path import TensorCoreReadout, epilogue, require_exact_float_products, tensor_cores_qualify
from .layout import ColumnPacking, TileLayout

__all__ = ["BLOCK_BYTES", "DEVICE_BLOCK_BYTES", "MATMUL_ROWS", "Pipeline", "place_value_sums"]

#: Target size (bytes) of the partial sums of one block: small enough to stay in cache.
BLOCK_BYTES = 16 * 2**20
#: Target rows (batch rows x input chunks) of one block's matrix products (64 times more on a GPU).
MATMUL_ROWS = 1024
#: On a GPU, blocks only bound the memory the partial sums take.
DEVICE_BLOCK_BYTES = 1024 * 2**20


def _float_dtype(bound: float) -> Any:
    """float32 when every integer up to ``bound`` is exact in it, else float64 (else error)."""
    if bound < 2**24:
        return numpy.float32
    if bound < 2**53:
        return numpy.float64
    raise ValueError(f"integer sums up to {bound:.3g} exceed float64's exact range (2**53); "
                     "use fewer rows per crossbar or fewer bits")


def place_value_sums(config: ReramConfig) -> tuple[int, int]:
    """``(sum_s 2**(s * bpc), sum_c 2**(c * dac))``: the shift weights of all slices and of all chunks."""
    mapping, inputs = config.mapping, config.inputs
    return (sum(2 ** (s * mapping.bits_per_cell) for s in range(mapping.slices)),
            sum(2 ** (c * inputs.dac_bits) for c in range(inputs.chunks)))


class Pipeline:
    """The read stages of crossbars programmed to cell ``levels`` ``(P, S, K, N')``.

    ``fixed`` holds the programmed cells in fixed point (``fraction_bits`` fractional bits),
    ``sigma`` their read-noise standard deviations likewise (``None``: no read noise),
    ``column_sums`` the weights' column sums (the digital corrections); the operands are put on
    ``backend``, and ``seed`` keys the read noise.
    """

    def __init__(self, config: ReramConfig, levels: numpy.ndarray, fixed: numpy.ndarray,
                 sigma: Optional[numpy.ndarray], *, fraction_bits: int, column_sums: numpy.ndarray, seed: int,
                 backend: Backend) -> None:
        mapping = config.mapping
        P, S = mapping.polarities, mapping.slices
        self.config, self.seed, self.column_sums = config, seed, column_sums
        self.columns = levels.shape[3]
        """``N'``: weight columns, reference columns included."""
        self.dac = Dac.from_config(config)
        self.layout = TileLayout.over(config.crossbar.rows, levels.shape[2])
        rows, T = self.layout.rows, self.layout.tiles
        slices, chunks = place_value_sums(config)
        code_bound = T * config.adc_levels * slices * P  # |codes summed over tiles, slices, polarities|
        _float_dtype(code_bound * chunks)  # the final shift-and-add runs in float64: check it is exact
        ideal_sum = rows * self.dac.max_chunk * float(fixed.max(initial=0))
        max_sum = ideal_sum  # with read noise: room for 8 sigma of a full column (|z| <= 6.34)
        if sigma is not None:
            max_sum += 8 * math.sqrt(rows * self.dac.max_chunk**2 * float((sigma**2).max(initial=0)))
        adc = Adc.from_config(config, fraction_bits)
        adc_bound = adc.bound(2 * max_sum if config.signed_adc else max_sum)
        self.adc = dataclasses.replace(adc, dtype=_float_dtype(max(code_bound, adc_bound)))
        pack_bits = max(1, math.ceil(math.log2(ideal_sum + 1)))
        packable = 1 if config.signed_adc else 24 // pack_bits
        self.packing = ColumnPacking(max(1, min(P * S, packable)), pack_bits)
        self.prescaled = self.packing.factor == 1 and not config.signed_adc
        """Whether the product yields ``scale * p + bias`` (unpacked sums, unsigned ADC)."""
        if self.packing.factor > 1:
            self.sum_dtype: Any = numpy.float32
        else:
            self.sum_dtype = _float_dtype(adc_bound if self.prescaled else max_sum)
        bias = self.adc.bias if self.prescaled else None
        cells = self.layout.cells(fixed * (self.adc.scale if self.prescaled else 1), self.sum_dtype, bias_row=bias,
                                  packing=self.packing)
        self.operand = backend.xp.asarray(cells)
        """The cells as the products' right operand, ``(T, rows [+ 1], N' * width)`` on the backend."""
        self.sigma_squared = None if sigma is None else backend.xp.asarray(
            self.layout.cells(sigma * sigma, numpy.float64, bias_row=0 if bias else None))
        self.saturates = not config.devices.ideal or config.full_scale < config.max_partial_sum
        """Whether a conversion can leave the ADC's range (else its clamp is skipped)."""
        self.width = self.operand.shape[2] // self.columns
        """Operand columns per weight column: ``P * S``, divided by the packing factor."""
        signs = numpy.ones(1) if config.signed_adc else numpy.array([1.0, -1.0][:P])
        cell_weights = numpy.outer(signs, 2.0 ** (numpy.arange(S) * mapping.bits_per_cell)).reshape(-1)
        self.cell_weights = numpy.concatenate([cell_weights, numpy.zeros(-len(cell_weights) % self.packing.factor)])
        """``sign_pol * 2**(s * bpc)`` of each (polarity, slice) code, padded like the packed groups."""
        self.tensor_cores = (TensorCoreReadout(config, levels, self.layout, self.dac, self.adc, backend)
                             if tensor_cores_qualify(config, T) else None)
        """Stages 2 to 5 on int8 tensor cores (for a backend with kernels), where the crossbars qualify."""

    # -- stages 2 to 5, one column block ------------------------------------------------------
    def input_tiles(self, x: Any, xp: Any) -> Any:
        """Input chunks ``(T, C*b, rows [+ 1])`` of inputs ``x`` ``(b, K)``: the products' left operand."""
        return self.layout.input_tiles(self.dac.convert(x, xp), xp, depth=self.operand.shape[1],
                                       dtype=self.sum_dtype, bias=self.prescaled)

    def accumulate(self, tiles: Any, n0: int, n1: int, first_row: int, read_index: int, backend: Backend) -> Any:
        """Shift-and-added codes ``acc`` ``(b, n1 - n0)`` (int64) of weight columns ``n0 .. n1 - 1``
        from the input tiles of batch rows ``first_row ..`` (stages 2 to 5)."""
        config, mapping, xp = self.config, self.config.mapping, backend.xp
        T, C, P, S = self.layout.tiles, self.dac.chunks, mapping.polarities, mapping.slices
        b, width, pack = tiles.shape[1] // C, self.width, self.packing.factor
        sums = xp.matmul(tiles, self.operand[:, :, n0 * width:n1 * width])  # exact integers
        noise = None
        if self.sigma_squared is not None:
            noise = self.read_noise(tiles, n0, n1, first_row, read_index, backend)
        if backend.kernels is not None:  # ADC and shift-and-add in kernels/reram_epilogue.cu
            return epilogue(sums, noise, adc=self.adc, dac=self.dac, packing=self.packing, mapping=mapping, tiles=T,
                            width=width, prescaled=self.prescaled, saturates=self.saturates, backend=backend)
        code_dtype = self.adc.dtype
        weights = xp.asarray(self.cell_weights, dtype=code_dtype)
        per_chunk: Any = 0
        for j, part in self.packing.parts(sums, n1 - n0, xp):
            if noise is not None:
                part = part + noise[..., j::pack]
            if config.signed_adc:  # currents subtracted before the one signed ADC
                part = part.reshape(part.shape[:3] + (P, S))
                part = part[..., 0, :] - part[..., 1, :]
            codes = self.adc.convert(part.astype(code_dtype, copy=False), xp, prescaled=self.prescaled,
                                     saturates=self.saturates)
            per_chunk = per_chunk + codes.reshape(T, C, b, n1 - n0, -1) @ weights[j::pack]
        acc = xp.tensordot(self.dac.place_values(xp), per_chunk.sum(axis=0).astype(numpy.float64), axes=(0, 0))
        return acc.astype(numpy.int64)  # exact: |acc| < 2**53, checked when programmed

    def read_noise(self, tiles: Any, n0: int, n1: int, first_row: int, read_index: int, backend: Backend) -> Any:
        """Stage 3's noise ``(T, C*b, n1 - n0, P*S)`` for the partial sums of weight columns
        ``n0 .. n1 - 1`` of batch rows ``first_row ..``, scaled like the sums the ADC receives."""
        xp, sigma_squared = backend.xp, self.sigma_squared
        if sigma_squared is None:
            raise ValueError("these crossbars have no read noise")
        T, Cb, _ = tiles.shape
        C, PS = self.dac.chunks, self.config.mapping.polarities * self.config.mapping.slices
        b = Cb // C
        variance = xp.matmul(tiles.astype(numpy.float64) ** 2, sigma_squared[:, :, n0 * PS:n1 * PS])  # exact
        rows = (xp.arange(first_row, first_row + b, dtype=numpy.uint64)[None, None, :] * T
                + xp.arange(T, dtype=numpy.uint64)[:, None, None]) * C + xp.arange(C, dtype=numpy.uint64)[None, :, None]
        index = rows.reshape(T, Cb, 1) * (self.columns * PS) + xp.arange(n0 * PS, n1 * PS, dtype=numpy.uint64)
        z = rng.normal_at(self.seed, Stream.READ | read_index, index, backend=backend)
        noise = xp.rint(xp.sqrt(variance) * z)
        if self.prescaled:
            noise *= self.adc.scale
        return noise.reshape(T, Cb, n1 - n0, PS)

    # -- a whole read ------------------------------------------------------------------------
    def read(self, x: Any, read_index: int, row_offset: int, batch_block: Optional[int], backend: Backend, *,
             output_scale: float = 1.0, digital_corrections: bool = True) -> Any:
        """``y`` for inputs ``x`` ``(B, K)`` whose first row is global batch row ``row_offset``
        (``digital_corrections=False``: the analog part only), over blocks of the batch
        (``batch_block`` rows, default about ``MATMUL_ROWS / C``) and of the columns."""
        xp, kernels, C = backend.xp, backend.kernels, self.dac.chunks
        on_host = not backend.on_device
        tensor_cores = self.tensor_cores if kernels is not None else None
        if tensor_cores is None:
            require_exact_float_products(backend)
        batch_rows = batch_block or max(1, (MATMUL_ROWS if on_host else 64 * MATMUL_ROWS) // C)
        if tensor_cores is not None:  # the int32 codes, per converted cell
            per_column = tensor_cores.bytes_per_column(batch_rows)
        else:  # the partial sums of every tile
            per_column = self.layout.tiles * C * batch_rows * self.width * 4
        column_block = max(1, (BLOCK_BYTES if on_host else DEVICE_BLOCK_BYTES) // per_column)
        threads = default_threads() if kernels is None else 1
        results = []
        for b0 in range(0, x.shape[0], batch_rows):
            block = x[b0:b0 + batch_rows]
            tiles = self.input_tiles(block, xp) if tensor_cores is None else tensor_cores.input_tiles(block, xp)
            acc = xp.empty((block.shape[0], self.columns), dtype=numpy.int64)

            def accumulate(n0: int, tiles: Any = tiles, acc: Any = acc, first_row: int = row_offset + b0) -> None:
                n1 = min(self.columns, n0 + column_block)
                if tensor_cores is not None:
                    tensor_cores.accumulate(tiles, n0, n1, backend, out=acc[:, n0:n1])
                else:
                    acc[:, n0:n1] = self.accumulate(tiles, n0, n1, first_row, read_index, backend)

            starts = range(0, self.columns, column_block)
            if threads > 1 and len(starts) > 1:
                # numpy's element-wise passes are single-threaded: spread the column blocks over
                # host threads, each with a single-threaded BLAS (no oversubscription).
                with single_threaded_blas():
                    list(thread_pool(threads).map(accumulate, starts))
            else:
                for n0 in starts:
                    accumulate(n0)
            results.append(self.finish(acc, block, xp, output_scale, digital_corrections))
        return xp.concatenate(results)

    def finish(self, acc: Any, x: Any, xp: Any, output_scale: float = 1.0, digital_corrections: bool = True) -> Any:
        """Stage 6: subtract reference columns, scale by the ADC step (and ``output_scale``), and
        apply the exact digital corrections for inputs ``x``."""
        config, N = self.config, len(self.column_sums)
        if config.mapping.uses_reference_columns:
            tile_of_column = xp.arange(N) // config.crossbar.cols
            acc = acc[:, :N] - acc[:, N:][:, tile_of_column]
        step = config.adc_step * output_scale
        analog = acc if step == 1.0 else acc * step
        if not digital_corrections:
            return analog
        correction = xp.zeros((x.shape[0], N), dtype=numpy.int64)
        if config.inputs.signed:
            correction += self.dac.offset * xp.asarray(self.column_sums)[None]
        if config.mapping.scheme == "offset" and not config.mapping.uses_reference_columns:
            correction += config.mapping.offset * (x + self.dac.offset).sum(axis=1, keepdims=True)
        return analog - correction
