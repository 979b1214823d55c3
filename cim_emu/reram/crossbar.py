"""Weights programmed into ReRAM crossbars once, read by many matrix products.

:class:`CrossbarArray` programs an integer weight matrix ``W`` (``K x N``) into an array of
crossbars and then computes ``y = x @ W`` for integer inputs ``x`` (``B x K``) through the
integer pipeline of DESIGN.md:

1. inputs (plus ``2**(ib-1)`` when signed) are split into ``C`` chunks of ``dac_bits``;
2. ``K`` is split into row tiles of ``rows`` inputs; for every tile ``t``, chunk ``c``, slice
   ``s``, polarity and column ``n`` the column current gives the partial sum
   ``p = sum_{k in t} x_c[k] g_s[k, n]`` — all of them from one batched matrix product per
   block of the batch and of the columns, ``(T, C*b, rows) @ (T, rows, N*P*S)``, exact
   because the operands are integers whose sums stay below ``2**24`` (float32) or ``2**53``
   (float64); when a partial sum needs at most 12 bits, the (polarity, slice) columns of a
   weight are packed in pairs (or more) into one float32 column in radix ``2**bits`` and split
   exactly after the product, halving the product's work;
3. read noise, if any, is added to each partial sum (fixed point, seeded per read);
4. each partial sum is digitised by the ADC (:mod:`cim_emu.reram.adc`);
5. shift-and-add in exact integers: ``acc = sum_{t,c,s,pol} sign * code * 2**(c*dac + s*bpc)``;
6. ``y = acc * Delta`` (``Delta = 1`` for a unit-step ADC: an ``int64`` result; otherwise one
   float64 multiply), minus the exact digital corrections (signed inputs, offset weights).

A configuration whose ADC is lossless and whose devices are ideal takes a single exact integer
product instead (same bits): ``x @ W`` in float32 over blocks of ``K`` short enough that no
partial sum reaches ``2**24``, summed in int64.

On a GPU (CuPy) the ADC and shift-and-add run in ``kernels/reram_epilogue.cu``; with ideal
devices and chunks and cell levels that fit in int8, steps 2 to 4 instead run on int8 tensor
cores with the ADC fused in (``kernels/reram_tile_codes.cu``: exact int32 sums, no partial sum
ever written to memory), and the single exact product of a lossless crossbar whose inputs span
at most 256 values (8-bit, signed or not) takes the same kernel. A batch of host (numpy) inputs
larger than the GPU's free memory allows is streamed through it in blocks of rows. The bits are
the numpy backend's in every case.

Batch blocks, chunking and the backend never change the bits: every random draw is keyed by
the global batch row, tile, chunk, column, polarity and slice (see :meth:`CrossbarArray.matmul`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Any, Iterator, Optional

import numpy

from .. import backend as backends
from .. import rng
from .._checks import int_below, positive_int
from ..ambit.fast import _thread_pool, default_threads
from .adc import Adc
from .config import ReramConfig
from .devices import FRACTION_BITS, STREAM_READ, read_sigma_fixed, to_fixed
from .mapping import cell_levels, check_integer_array, reference_levels

#: Target size (bytes) of the partial sums of one block: small enough to stay in cache.
BLOCK_BYTES = 16 * 2**20
#: Target rows (batch rows x input chunks) of one block's matrix products (64 times more on a GPU).
MATMUL_ROWS = 1024
#: On a GPU, blocks only bound the memory the partial sums take.
DEVICE_BLOCK_BYTES = 1024 * 2**20


def _kernel_provider(xp: Any) -> Any:
    """The provider of the CUDA kernels for arrays of ``xp``: CuPy's kernels on a GPU, ``None``
    for numpy (the numpy pipeline). The tests put the CPU shim here, to run the GPU dispatch -
    every kernel and the Python around it - on numpy arrays."""
    if xp is numpy:
        return None
    from .. import kernels_loader  # noqa: PLC0415 - imports CuPy only when used

    return kernels_loader.CupyKernels()


def _require_exact_float_products(xp: Any) -> None:
    """Refuse CuPy float products under ``CUPY_TF32``: cuBLAS would round their inputs to TF32
    (10-bit mantissas), and the pipeline relies on exact float32 sums of integers."""
    if xp is not numpy and os.environ.get("CUPY_TF32", "0") != "0":
        raise RuntimeError("CUPY_TF32 makes CuPy's float32 products inexact (10-bit mantissas); "
                           "unset it: the crossbar pipeline relies on exact float32 integer sums")


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@functools.lru_cache(maxsize=None)
def _blas_controller() -> Any:
    import threadpoolctl  # noqa: PLC0415 - after numpy, so that its BLAS is found

    return threadpoolctl.ThreadpoolController()


def _single_threaded_blas() -> Any:
    """A context in which BLAS uses one thread (threadpoolctl)."""
    return _blas_controller().limit(limits=1, user_api="blas")


def _float_dtype(bound: float) -> Any:
    """float32 when every integer up to ``bound`` is exact in it, else float64 (else error)."""
    if bound < 2**24:
        return numpy.float32
    if bound < 2**53:
        return numpy.float64
    raise ValueError(f"integer sums up to {bound:.3g} exceed float64's exact range (2**53); "
                     "use fewer rows per crossbar or fewer bits")


class CrossbarArray:
    """An integer weight matrix programmed into crossbars, with its programmed state.

    Parameters
    ----------
    weights:
        Integer matrix ``(K, N)`` with ``|W| <= 2**(weight_bits - 1) - 1``.
    config:
        The :class:`~cim_emu.reram.config.ReramConfig` (default: ISAAC-like, lossless, ideal).
    seed:
        Key of every random draw (programming noise, stuck cells, drift, read noise).
    backend:
        ``"numpy"``, ``"cupy"`` or ``"auto"`` (follows the weights' array kind).

    ``x @ crossbars`` and :meth:`matmul` compute products; each call is one *read* (read
    noise is fresh per read, keyed by ``read_index``, which counts calls unless given).
    """

    def __init__(self, weights: Any, config: Optional[ReramConfig] = None, *, seed: int = 0,
                 backend: Optional[str] = None, read_time: Optional[float] = None,
                 output_scale: float = 1.0) -> None:
        self.config = config or ReramConfig()
        if not isinstance(self.config, ReramConfig):
            raise TypeError(f"config must be a ReramConfig; got {type(self.config).__name__}")
        self.seed = int_below("seed", seed, 2**64, "2**64")
        self.backend, _ = backends.resolve(backend, weights)
        mapping = self.config.mapping
        host_weights = check_integer_array("weights", backends.NUMPY_BACKEND.asarray(weights),
                                           -mapping.max_weight, mapping.max_weight, numpy)
        if host_weights.ndim != 2 or 0 in host_weights.shape:
            raise ValueError(f"weights must be a non-empty 2-D (K, N) matrix; got shape {host_weights.shape}")
        self.shape = host_weights.shape
        self._weights = host_weights
        self._column_sums = host_weights.sum(axis=0)
        self.reads = 0
        self.output_scale = float(output_scale)
        self._program(read_time)

    # -- programming ---------------------------------------------------------------------------
    @property
    def n_row_tiles(self) -> int:
        return -(-self.shape[0] // self.config.crossbar.rows)

    @property
    def n_col_tiles(self) -> int:
        return -(-self.shape[1] // self.config.crossbar.cols)

    @property
    def uses_reference_columns(self) -> bool:
        mapping = self.config.mapping
        return mapping.scheme == "offset" and mapping.offset_correction == "reference_column"

    def _program(self, read_time: Optional[float]) -> None:
        config, mapping, devices = self.config, self.config.mapping, self.config.devices
        K = self.shape[0]
        rows = config.crossbar.rows
        levels = cell_levels(self._weights, mapping)  # (P, S, K, N)
        if self.uses_reference_columns:  # one reference column (B in every row) per column tile
            reference = numpy.broadcast_to(reference_levels(K, mapping)[..., :1],
                                           levels.shape[:3] + (self.n_col_tiles,))
            levels = numpy.concatenate([levels, reference], axis=3)
        self.read_time = read_time
        self.fraction_bits = 0 if devices.ideal else FRACTION_BITS
        if devices.ideal:
            fixed, sigma = levels.astype(numpy.float64), None
        else:
            programmed = devices.program(levels, mapping.max_level, self.seed, read_time)
            fixed = to_fixed(programmed, mapping.max_level)
            sigma = read_sigma_fixed(devices, programmed, mapping.max_level)
        self.levels = levels
        code_bound, accumulator_bound = self._code_bounds()
        _float_dtype(accumulator_bound)  # the final shift-and-add runs in float64: check it is exact
        ideal_sum = rows * config.inputs.max_chunk * float(fixed.max(initial=0))
        max_sum = ideal_sum  # with read noise: room for 8 sigma of a full column (|z| <= 6.34)
        if sigma is not None:
            max_sum += 8 * math.sqrt(rows * config.inputs.max_chunk**2 * float((sigma**2).max(initial=0)))
        adc = Adc.build(config.adc_levels, config.full_scale, self.fraction_bits, config.signed_adc, None)
        adc_bound = adc.bound(2 * max_sum if config.signed_adc else max_sum)
        self._adc = dataclasses.replace(adc, dtype=_float_dtype(max(code_bound, adc_bound)))
        # Column packing: when a partial sum needs at most 12 bits, the (polarity, slice) columns
        # of a weight are combined in radix 2**bits into one float32 column (exact below 2**24),
        # cutting the matrix-product work by the packing factor; the sums are unpacked exactly.
        # Otherwise an unsigned ADC takes prescaled sums, scale * p + bias, straight from the product.
        self._pack_bits = max(1, math.ceil(math.log2(ideal_sum + 1)))
        packable = 1 if config.signed_adc else 24 // self._pack_bits
        self._pack = max(1, min(mapping.polarities * mapping.slices, packable))
        self._prescaled = self._pack == 1 and not config.signed_adc
        if self._pack > 1:
            self._sum_dtype = numpy.float32
        else:
            self._sum_dtype = _float_dtype(adc_bound if self._prescaled else max_sum)
        bias = self._adc.bias if self._prescaled else None
        self._operand = self._tile_layout(fixed * (self._adc.scale if self._prescaled else 1), self._sum_dtype,
                                          bias_row=bias, pack=self._pack)
        self._sigma_squared = None if sigma is None else self._tile_layout(sigma * sigma, numpy.float64,
                                                                           bias_row=0 if bias else None)
        self._saturates = not devices.ideal or config.full_scale < config.max_partial_sum
        self._sigma_columns = levels.shape[3] * mapping.polarities * mapping.slices
        self._operand_columns_per_weight = self._operand.shape[2] // levels.shape[3]

    def _tile_layout(self, cells: numpy.ndarray, dtype: Any, bias_row: Optional[int] = None,
                     pack: int = 1) -> Any:
        """``(P, S, K, N')`` cells -> ``(T, rows [+ 1], N' * P * S)`` matmul operand on the backend.

        With ``bias_row``, each tile gets one more row holding that value, which the inputs
        meet with a constant 1: the product then carries the ADC's bias. With ``pack > 1``,
        every ``pack`` consecutive (polarity, slice) columns of a weight are combined as
        ``sum_j column_j * 2**(pack_bits * j)`` (see :meth:`_parts`).
        """
        P, S, K, N = cells.shape
        rows, T = self.config.crossbar.rows, self.n_row_tiles
        padded = numpy.zeros((P, S, T * rows, N), dtype=dtype)
        padded[:, :, :K] = cells
        padded = padded.reshape(P, S, T, rows, N)
        if bias_row is not None:
            padded = numpy.concatenate([padded, numpy.full((P, S, T, 1, N), bias_row, dtype=dtype)], axis=3)
        operand = padded.transpose(2, 3, 4, 0, 1).reshape(T, padded.shape[3], N, P * S)
        if pack > 1:
            groups = -(-(P * S) // pack)
            grouped = numpy.zeros(operand.shape[:3] + (groups * pack,), dtype=dtype)
            grouped[..., :P * S] = operand
            radix = 2.0 ** (self._pack_bits * numpy.arange(pack))
            operand = (grouped.reshape(operand.shape[:3] + (groups, pack)) * radix).sum(axis=-1)
        operand = operand.reshape(T, operand.shape[1], -1).astype(dtype)
        return self.backend.xp.asarray(numpy.ascontiguousarray(operand))

    def _parts(self, sums: Any, n_weights: int, xp: Any) -> Iterator[tuple[int, Any]]:
        """Split packed sums ``sum_j p_j 2**(bits j)`` (``0 <= p_j < 2**bits``) into their parts.

        Yields ``(j, p_j)`` from the highest part down, each ``(T, C*b, n_weights, groups)``:
        part ``j`` holds the (polarity, slice) columns ``j, j + pack, j + 2 pack, ...``. Exact,
        in place: scaling by powers of two, ``floor`` and subtracting integers below ``2**24``
        are exact in float32. The yielded array may be overwritten by the consumer.
        """
        shape = sums.shape[:2] + (n_weights, -1)
        high = xp.empty_like(sums) if self._pack > 1 else None
        for j in range(self._pack - 1, 0, -1):
            xp.multiply(sums, numpy.float32(2.0 ** (-self._pack_bits * j)), out=high)
            xp.floor(high, out=high)
            sums -= high * numpy.float32(2.0 ** (self._pack_bits * j))
            yield j, high.reshape(shape)
        yield 0, sums.reshape(shape)

    def _code_bounds(self) -> tuple[int, int]:
        """Bounds on |sum over tiles, slices, polarities of weighted codes| and on |acc|."""
        config = self.config
        slices = sum(2 ** (s * config.mapping.bits_per_cell) for s in range(config.mapping.slices))
        chunks = sum(2 ** (c * config.inputs.dac_bits) for c in range(config.inputs.chunks))
        per_chunk = self.n_row_tiles * config.adc_levels * slices * config.mapping.polarities
        return per_chunk, per_chunk * chunks

    def adc_error_bound(self) -> float:
        """Largest ``|y - x @ W|`` the ADC can cause with ideal devices and no clipping:
        ``Delta / 2`` per conversion times its shift weight, summed over tiles, chunks, slices
        and converted polarities (twice with reference columns, whose conversions err too).
        0 for a lossless ADC."""
        config = self.config
        if config.adc_lossless:
            return 0.0
        slices = sum(2 ** (s * config.mapping.bits_per_cell) for s in range(config.mapping.slices))
        chunks = sum(2 ** (c * config.inputs.dac_bits) for c in range(config.inputs.chunks))
        polarities = 1 if config.signed_adc else config.mapping.polarities
        bound = self.n_row_tiles * polarities * slices * chunks * config.adc_step / 2
        return 2 * bound if self.uses_reference_columns else bound

    def largest_partial_sum(self, x: Any, *, percentile: Optional[float] = None) -> int:
        """The largest ideal partial sum that integer inputs ``x`` ``(K,)`` or ``(B, K)`` produce,
        over every conversion (tile, chunk, slice, polarity, column, reference columns included):
        what an ADC full scale calibrated from data is set to (``AdcConfig(full_scale=...)``).

        The sums come from the ideal cell levels :attr:`levels` and the input chunks exactly as
        the pipeline forms them (:meth:`_input_tiles`, :meth:`_tile_layout`), in float64 with
        integer operands far below ``2**53`` (exact); a signed ADC converts ``|p+ - p-|``.
        Device noise is ignored. ``percentile`` (in (0, 100]) returns instead the smallest
        integer ``v`` with at least that share of the conversions ``<= v`` (exact, by counting).
        At least 1 (the smallest valid full scale).
        """
        if percentile is not None and not (isinstance(percentile, (int, float)) and 0 < percentile <= 100):
            raise ValueError(f"percentile must be None or in (0, 100]; got {percentile!r}")
        xp, inputs, mapping = numpy, self.config.inputs, self.config.mapping
        x = check_integer_array("x", backends.NUMPY_BACKEND.asarray(x), inputs.min_input, inputs.max_input, xp)
        x = x[None] if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[1] != self.shape[0]:
            raise ValueError(f"x must have shape (K,) or (B, K) with K = {self.shape[0]}; got {tuple(x.shape)}")
        rows, P, S = self.config.crossbar.rows, mapping.polarities, mapping.slices
        operand = backends.NUMPY_BACKEND.asarray(self._tile_layout(self.levels.astype(numpy.float64), numpy.float64))
        columns = operand.shape[2]
        block = max(1, 2**22 // max(1, self.n_row_tiles * inputs.chunks * columns))
        largest, counts = 0, None
        for b0 in range(0, x.shape[0], block):
            tiles = self._input_tiles(x[b0:b0 + block], xp)[:, :, :rows].astype(numpy.float64)
            sums = numpy.rint(numpy.matmul(tiles, operand)).astype(numpy.int64)  # (T, C*b, N'*P*S)
            if self.config.signed_adc:
                sums = sums.reshape(sums.shape[:2] + (-1, P, S))
                sums = numpy.abs(sums[..., 0, :] - sums[..., 1, :])
            largest = max(largest, int(sums.max(initial=0)))
            if percentile is not None:
                block_counts = numpy.bincount(sums.ravel())
                if counts is not None and len(counts) >= len(block_counts):
                    counts[:len(block_counts)] += block_counts
                else:
                    if counts is not None:
                        block_counts[:len(counts)] += counts
                    counts = block_counts
        if percentile is not None and counts is not None:
            cumulative = numpy.cumsum(counts)
            largest = int(numpy.searchsorted(cumulative, percentile / 100 * cumulative[-1] - 1e-9))
        return max(1, largest)

    # -- reading -------------------------------------------------------------------------------
    __array_ufunc__ = None  # so that ``numpy_array @ crossbars`` defers to __rmatmul__

    def __rmatmul__(self, x: Any) -> Any:
        return self.matmul(x)

    def matmul(self, x: Any, *, read_index: Optional[int] = None, row_offset: int = 0,
               batch_block: Optional[int] = None, method: str = "auto") -> Any:
        """``x @ W`` through the emulated pipeline; ``x`` is ``(K,)`` or ``(B, K)`` integers.

        ``read_index`` keys the read noise of this call (default: the number of earlier calls);
        ``row_offset`` is the global batch index of ``x``'s first row, so that a batch split
        over several calls with the same ``read_index`` and matching offsets gives the same
        bits as one call. ``batch_block`` (rows per block) only tunes memory use.
        ``method="pipeline"`` runs the full pipeline even where ``"auto"`` would take the single
        exact product (for checking that both give the same bits).
        Returns ``int64`` when the ADC step is 1, else ``float64``, as the input's array kind.
        """
        chosen, on_gpu = backends.resolve(self.backend.name, x)
        xp = chosen.xp
        inputs = self.config.inputs
        x = check_integer_array("x", x if on_gpu else numpy.asarray(x), inputs.min_input, inputs.max_input,
                                xp if on_gpu else numpy)
        vector = x.ndim == 1
        if vector:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.shape[0]:
            raise ValueError(f"x must have shape (K,) or (B, K) with K = {self.shape[0]}; got {tuple(x.shape)}")
        if read_index is None:
            read_index = self.reads
        read_index = int_below("read_index", read_index, 2**55, "2**55")
        if not isinstance(row_offset, int) or row_offset < 0:
            raise ValueError(f"row_offset must be a non-negative integer; got {row_offset!r}")
        if method not in ("auto", "pipeline"):
            raise ValueError(f"method must be 'auto' or 'pipeline'; got {method!r}")
        if batch_block is not None:
            batch_block = positive_int("batch_block", batch_block)
        self.reads += 1
        pass_rows = self._rows_per_device_pass(x, chosen) if not on_gpu else None
        if pass_rows is not None:
            # Host inputs larger than the GPU's free memory allows: one block of rows at a time,
            # each keyed by its global rows (row_offset), so the bits are those of one pass.
            y = numpy.concatenate([
                chosen.to_kind_of(self._read(xp.asarray(x[r0:r0 + pass_rows]), read_index, row_offset + r0,
                                             batch_block, method, xp), False)
                for r0 in range(0, x.shape[0], pass_rows)])
        else:
            y = chosen.to_kind_of(self._read(xp.asarray(x), read_index, row_offset, batch_block, method, xp), on_gpu)
        return y[0] if vector else y

    def _read(self, x: Any, read_index: int, row_offset: int, batch_block: Optional[int], method: str,
              xp: Any) -> Any:
        if self.config.exact and method == "auto" and self.output_scale == 1.0:
            return self._exact_product(x, xp)
        return self._product(x, read_index, row_offset, batch_block, xp)

    def _rows_per_device_pass(self, x: Any, chosen: Any) -> Optional[int]:
        """Batch rows of host inputs ``x`` per pass through the GPU, or ``None`` when all fit in
        :data:`~cim_emu.backend.DEVICE_MEMORY_SHARE` of its free memory (or the backend is
        numpy): each row takes its inputs (int64) and twice its outputs (int64 or float64: the
        result and the digital corrections); the partial sums are bounded apart, by the blocks
        of :meth:`_product`."""
        per_row = 8 * (self.shape[0] + 2 * self.n_col_tiles * self.config.crossbar.cols)
        return backends.units_per_device_pass(chosen.xp, per_row, x.shape[0])

    def _product(self, x: Any, read_index: int, row_offset: int, batch_block: Optional[int], xp: Any,
                 digital_corrections: bool = True) -> Any:
        """The pipeline over blocks of the batch and of the columns (``digital_corrections=False``:
        the analog part only). Blocks keep the partial sums in cache and the matrix products
        large (about ``MATMUL_ROWS`` rows each); they never change the bits."""
        C = self.config.inputs.chunks
        kernels = _kernel_provider(xp)
        on_host = xp is numpy
        tensor_cores = kernels is not None and self._tensor_cores
        if not tensor_cores:
            _require_exact_float_products(xp)
        batch_rows = batch_block or max(1, (MATMUL_ROWS if on_host else 64 * MATMUL_ROWS) // C)
        if tensor_cores:  # the int32 codes, per converted cell
            per_column = C * batch_rows * self._tensor_core_cells.shape[1] // self.levels.shape[3] * 4
        else:  # the partial sums of every tile
            per_column = self.n_row_tiles * C * batch_rows * self._operand_columns_per_weight * 4
        column_block = max(1, (BLOCK_BYTES if on_host else DEVICE_BLOCK_BYTES) // per_column)
        n_columns = self._sigma_columns // (self.config.mapping.polarities * self.config.mapping.slices)
        threads = default_threads() if kernels is None else 1
        results = []
        for b0 in range(0, x.shape[0], batch_rows):
            block = x[b0:b0 + batch_rows]
            tiles = self._input_tiles(block, xp, depth=self._tensor_core_depth if tensor_cores else None)
            acc = xp.empty((block.shape[0], n_columns), dtype=numpy.int64)

            def accumulate(n0: int, tiles: Any = tiles, acc: Any = acc, first_row: int = row_offset + b0) -> None:
                n1 = min(n_columns, n0 + column_block)
                if tensor_cores:
                    self._tensor_core_accumulate(tiles, n0, n1, kernels, xp, out=acc[:, n0:n1])
                else:
                    acc[:, n0:n1] = self._accumulate(tiles, n0, n1, first_row, read_index, xp, kernels)

            starts = range(0, n_columns, column_block)
            if threads > 1 and len(starts) > 1:
                # numpy's element-wise passes are single-threaded: spread the column blocks over
                # host threads, each with a single-threaded BLAS (no oversubscription).
                with _single_threaded_blas():
                    list(_thread_pool(threads).map(accumulate, starts))
            else:
                for n0 in starts:
                    accumulate(n0)
            results.append(self._finish(acc, block, xp, digital_corrections))
        return xp.concatenate(results)

    @functools.cached_property
    def _exact_operand(self) -> tuple[int, Any]:
        """``(block, W as float)`` for the single exact product: K is cut into blocks short
        enough that no partial sum of ``x @ W`` reaches ``2**24`` (float32; else ``2**53``, float64)."""
        inputs, mapping = self.config.inputs, self.config.mapping
        largest = max(abs(inputs.min_input), inputs.max_input) * mapping.max_weight
        block, dtype = (2**24 - 1) // max(largest, 1), numpy.float32
        if block < 1:
            block, dtype = (2**53 - 1) // largest, numpy.float64
        return block, self.backend.xp.asarray(self._weights.astype(dtype))

    def _exact_product(self, x: Any, xp: Any) -> Any:
        """``x @ W`` exactly: float products over blocks of K, summed in int64 - or, on a GPU, one
        int8 tensor-core product with exact int32 sums (``kernels/reram_tile_codes.cu`` without
        its ADC) when the inputs span at most 256 values and ``|W| <= 127``: with
        ``shift = min_input + 128``, ``x @ W = (x - shift) @ W + shift * colsum(W)``, where
        ``x - shift`` lies in int8's range and ``|(x - shift) @ W| <= K * 128 * 127 < 2**31``
        (checked), so every sum is an exact int32 and the correction an exact int64."""
        kernels = _kernel_provider(xp)
        inputs, mapping = self.config.inputs, self.config.mapping
        if (kernels is not None and inputs.max_input - inputs.min_input <= 255 and mapping.max_weight <= 127
                and self.shape[0] * 128 * 127 < 2**31):
            from .. import kernels_loader  # noqa: PLC0415

            shift = inputs.min_input + 128
            weights_t = self._exact_tensor_core_weights
            shifted = xp.zeros((1, x.shape[0], weights_t.shape[2]), dtype=numpy.int8)
            shifted[0, :, :self.shape[0]] = x - shift
            y = xp.empty((x.shape[0], self.shape[1]), dtype=numpy.int32)
            kernels_loader.reram_tile_codes(shifted, weights_t, y, None, kernels=kernels)
            y = y.astype(numpy.int64)
            if shift:
                y += xp.asarray(shift * self._column_sums)
            return y
        _require_exact_float_products(xp)
        block, weights = self._exact_operand
        x = x.astype(weights.dtype)
        if block >= self.shape[0]:
            return xp.matmul(x, weights).astype(numpy.int64)
        y = xp.zeros((x.shape[0], self.shape[1]), dtype=numpy.int64)
        for k0 in range(0, self.shape[0], block):
            y += xp.matmul(x[:, k0:k0 + block], weights[k0:k0 + block]).astype(numpy.int64)
        return y

    def _input_tiles(self, x: Any, xp: Any, depth: Optional[int] = None) -> Any:
        """Input chunks ``(T, C*b, rows [+ 1])``: ``x_c[k]`` of tile ``t``, chunk ``c``, row ``b``,
        as the float operand of :meth:`_accumulate` - or, with ``depth``, as int8 zero-padded to
        ``depth`` rows, the operand of :meth:`_tensor_core_accumulate`."""
        config, inputs = self.config, self.config.inputs
        rows, T, C = config.crossbar.rows, self.n_row_tiles, inputs.chunks
        b, K = x.shape
        shifts = xp.arange(C, dtype=numpy.int64) * inputs.dac_bits
        chunks = ((x + inputs.input_offset)[None] >> shifts[:, None, None]) & inputs.max_chunk  # (C, b, K)
        tile_rows = self._operand.shape[1] if depth is None else depth
        tiles = xp.zeros((T, C, b, tile_rows), dtype=self._sum_dtype if depth is None else numpy.int8)
        tiles[:, :, :, :rows] = xp.pad(chunks, ((0, 0), (0, 0), (0, T * rows - K))).reshape(
            C, b, T, rows).transpose(2, 0, 1, 3)
        if depth is None and tile_rows > rows:
            tiles[:, :, :, rows] = 1  # meets the bias row
        return tiles.reshape(T, C * b, tile_rows)

    # -- int8 tensor cores (kernels/reram_tile_codes.cu) ------------------------------------------
    @functools.cached_property
    def _tensor_cores(self) -> bool:
        """Whether steps 2 to 4 can run on int8 tensor cores: ideal devices (integer cells),
        input chunks and cell levels within int8 (so are differences of two levels, for a
        signed ADC), partial sums below ``2**24`` (exact in the ADC's float type too), code sums
        over the tiles below ``2**31``."""
        config = self.config
        return (config.devices.ideal and config.inputs.max_chunk <= 127 and config.mapping.max_level <= 127
                and config.crossbar.rows * config.inputs.max_chunk * config.mapping.max_level < 2**24
                and self.n_row_tiles * (config.adc_levels + 1) < 2**31)

    @property
    def _tensor_core_depth(self) -> int:
        from .. import kernels_loader  # noqa: PLC0415

        return _round_up(self.config.crossbar.rows, kernels_loader.TILE_CODES_DEPTH)

    @functools.cached_property
    def _tensor_core_cells(self) -> Any:
        """``(T, N' * cells, depth)`` int8 on the backend: for weight column ``n`` and each of its
        ``cells`` converted cells (``p * S + s``; for a signed ADC the ``S`` differences
        ``W+ - W-``), the levels down the tile's crossbar rows, zero-padded to the depth."""
        levels = self.levels.astype(numpy.int16)  # (P, S, K, N')
        if self.config.signed_adc:
            levels = (levels[0] - levels[1])[None]
        P, S, K, N = levels.shape
        rows, T = self.config.crossbar.rows, self.n_row_tiles
        padded = numpy.zeros((P, S, T * rows, N), dtype=numpy.int8)
        padded[:, :, :K] = levels
        cells = numpy.zeros((T, N, P * S, self._tensor_core_depth), dtype=numpy.int8)
        cells[..., :rows] = padded.reshape(P, S, T, rows, N).transpose(2, 4, 0, 1, 3).reshape(T, N, P * S, rows)
        return self.backend.xp.asarray(cells.reshape(T, N * P * S, -1))

    @functools.cached_property
    def _exact_tensor_core_weights(self) -> Any:
        """``W`` transposed, int8 ``(1, N, depth)``, zero-padded: the operand of the single exact product."""
        from .. import kernels_loader  # noqa: PLC0415

        K, N = self.shape
        weights = numpy.zeros((1, N, _round_up(K, kernels_loader.TILE_CODES_DEPTH)), dtype=numpy.int8)
        weights[0, :, :K] = self._weights.T
        return self.backend.xp.asarray(weights)

    def _tensor_core_accumulate(self, tiles: Any, n0: int, n1: int, kernels: Any, xp: Any, out: Any) -> None:
        """Shift-and-added codes of weight columns ``n0 .. n1 - 1`` into ``out`` (int64
        ``(b, n1 - n0)``, rows may be strided) from the int8 input tiles ``(T, C*b, depth)``:
        the codes of every (chunk, cell), summed over the tiles by the tensor-core kernel, then
        ``sum_c 2**(c dac) sum_cell sign * 2**(s bpc) * code`` in int64 by the epilogue kernel
        (exact: the accumulator bound is checked at construction)."""
        from .. import kernels_loader  # noqa: PLC0415

        config, mapping = self.config, self.config.mapping
        C, b = config.inputs.chunks, tiles.shape[1] // config.inputs.chunks
        cells = self._tensor_core_cells.shape[1] // self.levels.shape[3]
        codes = xp.empty((C * b, (n1 - n0) * cells), dtype=numpy.int32)
        kernels_loader.reram_tile_codes(tiles, self._tensor_core_cells, codes, self._adc,
                                        first_column=n0 * cells, kernels=kernels)
        kernels_loader.reram_shift_add_codes(
            codes, out, chunks=C, polarities=cells // mapping.slices, slices=mapping.slices,
            bits_per_cell=mapping.bits_per_cell, dac_bits=config.inputs.dac_bits,
            code_bound=self.n_row_tiles * config.adc_levels, kernels=kernels)

    def _accumulate(self, tiles: Any, n0: int, n1: int, first_row: int, read_index: int, xp: Any,
                    kernels: Any = None) -> Any:
        """Shift-and-added codes ``acc`` ``(b, n1 - n0)`` of weight columns ``n0 .. n1 - 1``."""
        config, inputs, mapping = self.config, self.config.inputs, self.config.mapping
        T, C = self.n_row_tiles, inputs.chunks
        P, S = mapping.polarities, mapping.slices
        b = tiles.shape[1] // C
        width = self._operand_columns_per_weight
        sums = xp.matmul(tiles, self._operand[:, :, n0 * width:n1 * width])  # exact integers
        noise = None
        if self._sigma_squared is not None:
            noise = self._read_noise(tiles, n0, n1, first_row, read_index, xp)
        if kernels is not None:  # ADC and shift-and-add in kernels/reram_epilogue.cu
            from .. import kernels_loader  # noqa: PLC0415 - imports CuPy only when used

            acc = xp.empty((b, n1 - n0), dtype=numpy.int64)
            kernels_loader.reram_adc_shift_add(
                xp.ascontiguousarray(sums), acc, self._adc, tiles=T, chunks=C, width=width, pack=self._pack,
                pack_bits=self._pack_bits, polarities=P, slices=S, bits_per_cell=mapping.bits_per_cell,
                dac_bits=inputs.dac_bits, prescaled=self._prescaled, saturates=self._saturates,
                noise=None if noise is None else xp.ascontiguousarray(noise), kernels=kernels)
            return acc
        code_dtype = self._adc.dtype
        slice_weights = 2.0 ** (numpy.arange(S) * mapping.bits_per_cell)
        signs = numpy.ones(1) if config.signed_adc else numpy.array([1.0, -1.0][:P])
        weights = numpy.outer(signs, slice_weights).reshape(-1)
        padding = -len(weights) % self._pack  # packed groups are padded with empty columns
        weights = xp.asarray(numpy.concatenate([weights, numpy.zeros(padding)]), dtype=code_dtype)
        per_chunk = 0
        for j, part in self._parts(sums, n1 - n0, xp):
            if noise is not None:
                part = part + noise[..., j::self._pack]
            if config.signed_adc:  # currents subtracted before the one signed ADC
                part = part.reshape(part.shape[:3] + (P, S))
                part = part[..., 0, :] - part[..., 1, :]
            codes = self._adc.convert(part.astype(code_dtype, copy=False), xp, prescaled=self._prescaled,
                                      saturates=self._saturates)
            per_chunk = per_chunk + codes.reshape(T, C, b, n1 - n0, -1) @ weights[j::self._pack]
        chunk_weights = 2.0 ** (xp.arange(C, dtype=numpy.float64) * inputs.dac_bits)
        acc = xp.tensordot(chunk_weights, per_chunk.sum(axis=0).astype(numpy.float64), axes=(0, 0))
        return acc.astype(numpy.int64)  # exact: |acc| < 2**53, checked at init

    def _read_noise(self, tiles: Any, n0: int, n1: int, first_row: int, read_index: int, xp: Any) -> Any:
        """``rint(sqrt(sum_k x_c[k]**2 sigma[k, n]**2) * z)`` for the partial sums of weight
        columns ``n0 .. n1 - 1``, scaled like the sums the ADC receives; ``(T, C*b, n1 - n0, P*S)``.

        ``z`` of global batch row ``b``, tile ``t``, chunk ``c`` and (column, polarity, slice)
        index ``j`` is drawn at index ``((b * T + t) * C + c) * (N' * P * S) + j``, so any
        blocking or batch split gives the same noise.
        """
        T, Cb, _ = tiles.shape
        C, columns = self.config.inputs.chunks, self._sigma_columns
        P, S = self.config.mapping.polarities, self.config.mapping.slices
        b = Cb // C
        sigma_squared = self._sigma_squared[:, :, n0 * P * S:n1 * P * S]
        variance = xp.matmul(tiles.astype(numpy.float64) ** 2, sigma_squared)  # exact integers
        rows = (xp.arange(first_row, first_row + b, dtype=numpy.uint64)[None, None, :] * T
                + xp.arange(T, dtype=numpy.uint64)[:, None, None]) * C + xp.arange(C, dtype=numpy.uint64)[None, :, None]
        index = rows.reshape(T, Cb, 1) * columns + xp.arange(n0 * P * S, n1 * P * S, dtype=numpy.uint64)
        z = rng.normal_at(self.seed, STREAM_READ | read_index, index, xp=xp)
        noise = xp.rint(xp.sqrt(variance) * z)
        if self._prescaled:
            noise *= self._adc.scale
        return noise.reshape(T, Cb, n1 - n0, P * S)

    def _finish(self, acc: Any, x: Any, xp: Any, digital_corrections: bool) -> Any:
        """Subtract reference columns, scale by the ADC step (and drift compensation), and
        apply the exact digital corrections."""
        config, N = self.config, self.shape[1]
        if self.uses_reference_columns:
            tile_of_column = xp.arange(N) // config.crossbar.cols
            acc = acc[:, :N] - acc[:, N:][:, tile_of_column]
        step = config.adc_step * self.output_scale
        analog = acc if step == 1.0 else acc * step
        if not digital_corrections:
            return analog
        correction = xp.zeros((x.shape[0], N), dtype=numpy.int64)
        if config.inputs.signed:
            correction += config.inputs.input_offset * xp.asarray(self._column_sums)[None]
        if config.mapping.scheme == "offset" and not self.uses_reference_columns:
            correction += config.mapping.offset * (x + config.inputs.input_offset).sum(axis=1, keepdims=True)
        return analog - correction

    # -- time ------------------------------------------------------------------------------
    def at_time(self, t_seconds: float, *, drift_compensation: bool = False) -> "CrossbarArray":
        """The same programmed crossbars read ``t_seconds`` after programming (drift applied).

        ``drift_compensation=True`` applies global drift compensation as IBM aihwkit's
        ``GlobalDriftCompensation`` does: a reference read — the all-ones vector of its
        documentation, at the largest input value (aihwkit's code reads the identity matrix,
        which here would put single cells through the ADC, where rounding dominates) — right
        after programming and again at ``t_seconds``, each summarised as ``mean(|y|)`` over the
        columns; the analog part of every later output
        (``acc * Delta``, before the exact digital corrections) is multiplied by
        ``alpha = reference_at_programming / reference_at_t`` (one float64 multiply).
        The reference reads use read indices ``2**55`` and ``2**55 + 1``, outside the user's.
        """
        if not (isinstance(t_seconds, (int, float)) and t_seconds >= 0 and math.isfinite(t_seconds)):
            raise ValueError(f"t_seconds must be a finite number of seconds >= 0; got {t_seconds!r}")
        drifted = CrossbarArray(self._weights, self.config, seed=self.seed, backend=self.backend.name,
                                read_time=float(t_seconds))
        if drift_compensation:
            fresh = self if self.read_time is None else CrossbarArray(
                self._weights, self.config, seed=self.seed, backend=self.backend.name)
            alpha = fresh._reference_read(2**55) / drifted._reference_read(2**55 + 1)
            drifted.output_scale = alpha
        return drifted

    def _reference_read(self, read_index: int) -> float:
        """``mean(|analog output|)`` of the all-ones input at the largest input value."""
        xp = self.backend.xp
        probe = xp.full((1, self.shape[0]), self.config.inputs.max_input, dtype=numpy.int64)
        y = self._product(probe, read_index, 0, None, xp, digital_corrections=False)
        return max(float(xp.abs(y.astype(numpy.float64)).mean()), 1e-12)
