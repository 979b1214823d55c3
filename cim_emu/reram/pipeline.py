"""Stages 2 to 6, one read of programmed crossbars: products, read noise, ADC, shift-and-add.

For integer inputs ``x`` (``B x K``) and the programmed cells ``g_s[k, n]`` (fixed point: units
of ``2**-F`` of a level step), a read computes, in exact integers:

2. for every row tile ``t``, chunk ``c`` (:mod:`~cim_emu.reram.dac`), slice ``s``, polarity and
   column ``n``, the partial sum ``p = sum_{k in t} x'_c[k] g_s[k, n]`` - all of them from
   matrix products per block of the batch and of the columns, ``(C*b, rows) @ (rows, N' * P *
   S)`` per tile (:mod:`~cim_emu.reram.layout`), exact because the operands are integers whose
   sums stay below ``2**24`` (float32) or ``2**53`` (float64); ``N'`` counts the reference
   columns too; for a signed ADC read with numpy, the cells are ``W+ - W-`` per slice
   (:mod:`~cim_emu.reram.host_path`), whose products are ``p+ - p-``;
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
When a partial sum needs at most 12 bits the columns of a weight are packed
(:class:`~cim_emu.reram.layout.ColumnPacking`; signed parts for ``W+ - W-``); otherwise an
unsigned ADC takes *prescaled* sums ``scale * p + bias`` straight from the product (cells times
``scale``, a bias row). Without read noise the ADC converts with a multiplier checked over
every partial sum the crossbars can produce (:meth:`~cim_emu.reram.adc.Adc.rounding_over`).

On the host a read is cut into jobs of batch rows and weight columns (:meth:`Pipeline.blocks`),
which run on the shared threads (:mod:`cim_emu.parallel`) with a single-threaded BLAS; a job
reads its row tiles one after the other, so that a tile's buffers stay in cache
(:mod:`~cim_emu.reram.host_path`); with 1-bit DACs its input tiles are bits, multiplied natively
(:mod:`~cim_emu.reram.bit_tiles`). None of this changes the bits. With a kernel provider,
stages 2 to 5 run through the kernels instead (:mod:`~cim_emu.reram.gpu_path`), in blocks of
about ``MATMUL_ROWS`` batch rows x chunks and ``BLOCK_BYTES`` of partial sums (more on a GPU),
with the same bits.

The full specification is ``docs/spec/reram.md``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from typing import Any, Optional, Union

import numpy

from ..backend import Backend
from ..gpu.memory import DEVICE_MEMORY_SHARE
from ..gpu.provider import KernelProvider, supports
from ..parallel import default_threads, run_jobs, single_threaded_blas
from ..rng import native
from . import bit_tiles
from .adc import Adc
from .adc_ranges import RangedAdc, RangedReadout
from .bit_tiles import BitTiles
from .config import ReramConfig
from .dac import Dac
from .gpu import TILE_CODES_SOURCE
from .gpu_path import TensorCoreReadout, epilogue, require_exact_float_products, tensor_cores_qualify
from .host_path import HostReadout
from .layout import ColumnPacking, CompactOperand, TileLayout, exact_float_dtype
from .read_noise import ReadNoise

__all__ = ["BLOCK_BYTES", "DEVICE_BLOCK_BYTES", "HOST_MATMUL_ROWS", "MATMUL_ROWS", "MIN_JOB_PRODUCTS", "NOISE_BYTES",
           "Pipeline", "TILE_BYTES", "place_value_sums"]

#: Target size (bytes) of the partial sums of one block: small enough to stay in cache.
BLOCK_BYTES = 16 * 2**20
#: Target rows (batch rows x input chunks) of one block's matrix products (64 times more on a GPU).
MATMUL_ROWS = 1024
#: On a GPU, blocks only bound the memory the partial sums take.
DEVICE_BLOCK_BYTES = 1024 * 2**20
#: On the host, the target rows (batch rows x input chunks) of one job's products.
HOST_MATMUL_ROWS = 1024
#: On the host, the target size (bytes) of one tile's partial sums in a job: the buffers of a tile stay in cache.
TILE_BYTES = 2**20
#: On the host, the most bytes of read noise (float64, every tile) in a job.
NOISE_BYTES = 16 * 2**20
#: On the host, the fewest multiply-adds of a job cut for another thread (handing it over costs about 0.1 ms).
MIN_JOB_PRODUCTS = 2**25


def place_value_sums(config: ReramConfig) -> tuple[int, int]:
    """``(sum_s 2**(s * bpc), sum_c 2**(c * dac))``: the shift weights of all slices and of all chunks."""
    mapping, inputs = config.mapping, config.inputs
    return (sum(2 ** (s * mapping.bits_per_cell) for s in range(mapping.slices)),
            sum(2 ** (c * inputs.dac_bits) for c in range(inputs.chunks)))


class Pipeline:
    """The read stages of crossbars programmed to cell ``levels`` ``(P, S, K, N')``.

    ``fixed`` holds the programmed cells in fixed point (``fraction_bits`` fractional bits; ideal
    cells may pass their integer ``levels`` themselves), ``sigma`` their read-noise standard
    deviations likewise (``None``: no read noise), ``column_sums`` the weights' column sums (the
    digital corrections); the operands are put on ``backend``, and ``seed`` keys the read noise.
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
        exact_float_dtype(code_bound * chunks)  # the final shift-and-add runs in float64: check it is exact
        ideal_sum = rows * self.dac.max_chunk * float(fixed.max(initial=0))
        max_sum = ideal_sum  # with read noise: room for 8 sigma of a full column (|z| <= 6.34)
        if sigma is not None:
            largest_sigma = float(sigma.max(initial=0))  # squaring is monotone: the largest variance, exactly
            max_sum += 8 * math.sqrt(rows * self.dac.max_chunk**2 * (largest_sigma * largest_sigma))
        adc = Adc.from_config(config, fraction_bits)
        adc_bound = adc.bound(2 * max_sum if config.signed_adc else max_sum)
        self.adc = dataclasses.replace(adc, dtype=exact_float_dtype(max(code_bound, adc_bound)))
        self.saturates = not config.ideal_cells or config.full_scale < config.max_partial_sum
        """Whether a conversion can leave the ADC's range (else its clamp is skipped)."""
        if sigma is None:  # the partial sums are integers in [0, ideal_sum] ([-ideal_sum, ideal_sum] when signed)
            self.adc = self.adc.rounding_over(-int(ideal_sum) if config.signed_adc else 0, int(ideal_sum),
                                              saturates=self.saturates)
        self.ranged = RangedAdc.build(config, fraction_bits, tiles=T, columns=self.columns, seed=seed,
                                      max_sum=2 * max_sum if config.signed_adc else max_sum) \
            if config.adc_ranged else None
        """ADCs that differ (full scales per slice and chunk, offset and gain errors), or ``None``:
        read unpacked, without kernels (:mod:`~cim_emu.reram.adc_ranges`)."""
        self.step = config.adc_step if self.ranged is None else self.ranged.step
        """The partial-sum units of one unit of the accumulator (``Delta``)."""
        self.differences = config.signed_adc and backend.kernels is None and self.ranged is None
        """Whether the operand holds ``W+ - W-`` per slice (a signed ADC read with numpy), not
        each polarity's cells (:mod:`~cim_emu.reram.host_path`)."""
        if self.differences:
            self.packing = ColumnPacking.for_sums(ideal_sum, S, signed=True)
            positive = fixed[:1].astype(numpy.int16) if fixed.dtype.kind in "ui" else fixed[:1]
            fixed = positive - fixed[1:]  # exact: integers (levels up to 255 as int16)
        elif config.signed_adc or self.ranged is not None:  # unpacked: the epilogue kernel (both polarities'
            # sums) and the ranged readout (every cell's sum) read one partial sum per column
            self.packing = ColumnPacking(1, ColumnPacking.for_sums(ideal_sum, 1).bits)
        else:
            self.packing = ColumnPacking.for_sums(ideal_sum, P * S)
        self.prescaled = (self.packing.factor == 1 and not config.signed_adc and self.ranged is None
                          and exact_float_dtype(adc_bound) == exact_float_dtype(max_sum))
        """Whether the product yields ``scale * p + bias`` (unpacked sums, unsigned ADC, and
        ``scale * p + bias`` as exact in the products' float type as ``p``: prescaling never
        makes the products wider)."""
        if self.packing.factor > 1:
            self.sum_dtype: Any = numpy.float32
        else:
            self.sum_dtype = exact_float_dtype(adc_bound if self.prescaled else max_sum)
        bias = self.adc.bias if self.prescaled else None
        compact = backend.kernels is None and not backend.on_device and self.ranged is None
        cells = self.layout.operand(fixed, self.sum_dtype, bias_row=bias, packing=self.packing,
                                    scale=self.adc.scale if self.prescaled else None, compact=compact)
        self.operand = cells if isinstance(cells, CompactOperand) else backend.xp.asarray(cells)
        """The cells as the products' right operand, ``(T, rows [+ 1], N' * width)`` on the backend
        (for the host readout, unpacked cells as a :class:`~cim_emu.reram.layout.CompactOperand`)."""
        self.noise = None if sigma is None else ReadNoise.of_sigma(
            sigma, self.layout, backend, bias_row=bool(bias), config=config, dac=self.dac, columns=self.columns,
            seed=seed, post=self.adc.scale if self.prescaled else 1.0)
        """Stage 3, read noise (:class:`~cim_emu.reram.read_noise.ReadNoise`), or ``None``."""
        self.width = self.operand.shape[2] // self.columns
        """Operand columns per weight column: ``P * S`` (``S`` for ``W+ - W-``), divided by the packing factor."""
        signs = numpy.ones(1) if config.signed_adc else numpy.array([1.0, -1.0][:P])
        cell_weights = numpy.outer(signs, 2.0 ** (numpy.arange(S) * mapping.bits_per_cell)).reshape(-1)
        self.cell_weights = numpy.concatenate([cell_weights, numpy.zeros(-len(cell_weights) % self.packing.factor)])
        """``sign_pol * 2**(s * bpc)`` of each (polarity, slice) code, padded like the packed groups."""
        last_rows = levels.shape[2] - (T - 1) * rows
        self.readout: Union[HostReadout, RangedReadout] = (
            HostReadout(self.operand, self.width, self.packing, self.adc, self.dac, self.cell_weights,
                        self.sum_dtype, self.prescaled, self.saturates,
                        polarities=2 if config.signed_adc and not self.differences else 1, last_rows=last_rows,
                        mapping=mapping)
            if self.ranged is None else RangedReadout(self.operand, self.ranged, self.dac, P, S, last_rows=last_rows))
        """Stages 2 to 5 with the array library: one row tile at a time (:mod:`~cim_emu.reram.host_path`),
        or with :attr:`ranged` ADCs (:mod:`~cim_emu.reram.adc_ranges`, on every backend)."""
        self.tensor_cores = (TensorCoreReadout(config, levels, self.layout, self.dac, self.adc, backend)
                             if backend.kernels is not None and tensor_cores_qualify(config, T)
                             and self.ranged is None else None)
        """Stages 2 to 5 on int8 tensor cores (a backend with kernels, where the crossbars qualify;
        it keeps the cell levels for its operand, which without kernels no one keeps)."""

    @property
    def sigma_squared(self) -> Optional[Any]:
        """The cells' read-noise variances (:attr:`ReadNoise.sigma_squared`), or ``None``: no read noise."""
        return None if self.noise is None else self.noise.sigma_squared

    @property
    def row_squares(self) -> Optional[Any]:
        """:attr:`ReadNoise.row_squares`: one variance per input row where the columns share them."""
        return None if self.noise is None else self.noise.row_squares

    # -- stages 2 to 5, one column block ------------------------------------------------------
    def input_tiles(self, x: Any, xp: Any, bit_products: Optional[dict] = None) -> Any:
        """Input chunks ``(T, C*b, rows [+ 1])`` of inputs ``x`` ``(b, K)``: the products' left operand
        (:class:`~cim_emu.reram.bit_tiles.BitTiles` multiplied by ``bit_products`` where given)."""
        chunks = self.dac.convert(x, xp)
        if bit_products is not None:
            return BitTiles.of_chunks(chunks, self.layout, bias=self.prescaled, functions=bit_products)
        depth = self.operand.shape[1]
        return self.layout.input_tiles(chunks, xp, depth=depth, dtype=self.sum_dtype, bias=self.prescaled)

    def bit_products(self, backend: Backend) -> Optional[dict]:
        """The native product of input bits (:mod:`~cim_emu.reram.bit_tiles`) where a read on ``backend``
        keeps its tiles as bits (1-bit DACs, the host readout, the numpy backend, the product built), else ``None``."""
        on_host = isinstance(self.readout, HostReadout) and backend.kernels is None and not backend.on_device
        return bit_tiles.library() if on_host and self.dac.max_chunk <= 1 else None

    def accumulate(self, tiles: Any, n0: int, n1: int, first_row: int, read_index: int, backend: Backend) -> Any:
        """Shift-and-added codes ``acc`` ``(b, n1 - n0)`` (int64) of weight columns ``n0 .. n1 - 1``
        from the input tiles of batch rows ``first_row ..`` (stages 2 to 5): with the kernels, or
        with the array library (:class:`~cim_emu.reram.host_path.HostReadout`)."""
        noise = None
        if self.noise is not None:
            drawing = self.drawing_kernels(backend)
            if drawing is not None and isinstance(self.readout, HostReadout):
                runs = self.noise.runs(tiles, n0, n1, first_row, read_index, backend)
                return self.readout.accumulate_drawing(tiles, n0, n1, runs, drawing)
            noise = self.read_noise(tiles, n0, n1, first_row, read_index, backend)
        if self.ranged is not None or backend.kernels is None:
            return self.readout.accumulate(tiles, n0, n1, noise, backend.xp)
        if self.differences or isinstance(self.operand, CompactOperand):
            raise ValueError("these crossbars were built for a backend without kernels (their operand holds "
                             "W+ - W- or int16 cells, which the epilogue kernel does not read)")
        width = self.width
        sums = backend.xp.matmul(tiles, self.operand[:, :, n0 * width:n1 * width])  # exact integers
        # ADC and shift-and-add in kernels/reram_epilogue.cu
        return epilogue(sums, noise, adc=self.adc, dac=self.dac, packing=self.packing, mapping=self.config.mapping,
                        tiles=self.layout.tiles, width=width, prescaled=self.prescaled, saturates=self.saturates,
                        backend=backend)

    def drawing_kernels(self, backend: Backend) -> Optional[KernelProvider]:
        """The host's native kernels where a read on ``backend`` draws its noise in place
        (:meth:`HostReadout.accumulate_drawing`: read noise, the host readout, the numpy backend
        and native kernels built, :func:`cim_emu.rng.native.kernels_for`), else ``None``."""
        if self.noise is None or self.ranged is not None or backend.kernels is not None or backend.on_device:
            return None
        return native.kernels_for(backend)

    def read_noise(self, tiles: Any, n0: int, n1: int, first_row: int, read_index: int, backend: Backend) -> Any:
        """Stage 3's noise ``(T, C*b, n1 - n0, P*S)`` (float64) for the partial sums of weight columns
        ``n0 .. n1 - 1`` of batch rows ``first_row ..`` (:meth:`ReadNoise.values`)."""
        if self.noise is None:
            raise ValueError("these crossbars have no read noise")
        return self.noise.values(tiles, n0, n1, first_row, read_index, backend)

    def tensor_cores_on(self, backend: Backend) -> Optional[TensorCoreReadout]:
        """The tensor-core readout where these crossbars qualify and ``backend``'s device runs
        its kernel (compute capability 8.0 or newer), else ``None``."""
        return self.tensor_cores if supports(backend.kernels, TILE_CODES_SOURCE) else None

    # -- a whole read ------------------------------------------------------------------------
    def read(self, x: Any, read_index: int, row_offset: int, batch_block: Optional[int], backend: Backend, *,
             output_scale: float = 1.0, digital_corrections: bool = True) -> Any:
        """``y`` for inputs ``x`` ``(B, K)`` whose first row is global batch row ``row_offset``
        (``digital_corrections=False``: the analog part only), over jobs of batch rows
        (``batch_block`` rows at most) and columns (:meth:`blocks`), spread over the host threads."""
        xp, kernels = backend.xp, backend.kernels
        tensor_cores = self.tensor_cores_on(backend)
        if tensor_cores is None:
            require_exact_float_products(backend)
        threads = default_threads() if kernels is None and not backend.on_device else 1
        batch_rows, column_block = self.blocks(x.shape[0], batch_block, backend, threads)
        bit_products = self.bit_products(backend)  # None with kernels (the tensor cores' too)
        acc = xp.empty((x.shape[0], self.columns), dtype=numpy.int64)
        column_starts = range(0, self.columns, column_block)
        jobs = [(b0, n0) for b0 in range(0, x.shape[0], batch_rows) for n0 in column_starts]
        # The input tiles of a batch block, shared by its column jobs and dropped after the last.
        shared: dict[int, list] = {}
        lock = threading.Lock()

        def tiles_of(b0: int) -> Any:
            with lock:
                entry = shared.get(b0)
            if entry is None:
                block = x[b0:b0 + batch_rows]
                tiles = (self.input_tiles(block, xp, bit_products) if tensor_cores is None
                         else tensor_cores.input_tiles(block, xp))
                with lock:
                    entry = shared.setdefault(b0, [tiles, len(column_starts)])
            return entry[0]

        def run(job: tuple[int, int]) -> None:
            b0, n0 = job
            b1, n1 = min(x.shape[0], b0 + batch_rows), min(self.columns, n0 + column_block)
            tiles = tiles_of(b0)
            if tensor_cores is not None:
                tensor_cores.accumulate(tiles, n0, n1, backend, out=acc[b0:b1, n0:n1])
            else:
                acc[b0:b1, n0:n1] = self.accumulate(tiles, n0, n1, row_offset + b0, read_index, backend)
            with lock:
                shared[b0][1] -= 1
                if not shared[b0][1]:
                    del shared[b0]

        if kernels is not None:
            for job in jobs:
                run(job)
        else:
            # numpy's element-wise passes are single-threaded: spread the jobs over host threads,
            # each with a single-threaded BLAS (no oversubscription; a threaded BLAS is slower on
            # products of one tile anyway).
            with single_threaded_blas():
                run_jobs(run, jobs, threads)
        return self.finish(acc, x, xp, output_scale, digital_corrections)

    def blocks(self, batch: int, batch_block: Optional[int], backend: Backend, threads: int) -> tuple[int, int]:
        """``(batch rows, weight columns)`` of one job of a read of ``batch`` rows.

        With the kernels, or on a device: about ``MATMUL_ROWS / C`` rows (64 times more on a GPU)
        and the columns whose partial sums (or codes) take ``BLOCK_BYTES`` (``DEVICE_BLOCK_BYTES``),
        one job after the other. On the host without kernels:
        about ``HOST_MATMUL_ROWS / C`` rows and the columns whose sums of *one tile* take
        ``TILE_BYTES`` (the tiles are read one after the other, :mod:`~cim_emu.reram.host_path`),
        with read noise (or its roots, per conversion) also bounded over every tile (``NOISE_BYTES``:
        not where it is drawn in place from one root per input row); both cut smaller, down to
        ``MIN_JOB_PRODUCTS`` multiply-adds, while there are fewer than four jobs a thread (so that
        the threads finish together). ``batch_block`` caps the rows. None of it changes the bits.
        """
        C, T, on_host = self.dac.chunks, self.layout.tiles, not backend.on_device
        if backend.kernels is not None or not on_host:
            return self._kernel_blocks(batch, batch_block, backend)
        rows = min(batch_block or max(1, HOST_MATMUL_ROWS // C), max(1, batch))
        per_column = C * rows * self.width * 4
        columns = min(self.columns, max(1, TILE_BYTES // per_column))
        if self.noise is not None and (self.row_squares is None or self.drawing_kernels(backend) is None):
            P, S = self.config.mapping.polarities, self.config.mapping.slices  # the noise (or its roots) of every tile
            columns = min(columns, max(1, NOISE_BYTES // (T * C * rows * P * S * 8)))
        depth = self.operand.shape[1]

        def few_large_jobs() -> bool:  # too few jobs to share out evenly, each worth halving
            jobs = -(-batch // rows) * -(-self.columns // columns)
            return (threads > 1 and jobs < 4 * threads
                    and T * C * rows * columns * self.width * depth >= 2 * MIN_JOB_PRODUCTS)

        while few_large_jobs() and columns * self.width > 64:
            columns = -(-columns // 2)
        while few_large_jobs() and C * rows > 64:
            rows = -(-rows // 2)
        return rows, columns

    def _kernel_blocks(self, batch: int, batch_block: Optional[int], backend: Backend) -> tuple[int, int]:
        """:meth:`blocks` with the kernels or on a device: one job at a time, holding the input
        tiles of its rows and, per weight column, its partial sums (or int32 codes), its read
        noise (float64) and its share of the result (int64). On a device the job takes at most
        ``DEVICE_BLOCK_BYTES`` and :data:`~cim_emu.gpu.memory.DEVICE_MEMORY_SHARE` of the free
        memory, the tiles at most half of that (fewer rows until they fit)."""
        C, T, on_host = self.dac.chunks, self.layout.tiles, not backend.on_device
        budget = BLOCK_BYTES if on_host else DEVICE_BLOCK_BYTES
        free = None if on_host else backend.free_bytes()
        if free is not None:
            budget = max(1, min(budget, int(DEVICE_MEMORY_SHARE * free)))
        tensor_cores = self.tensor_cores_on(backend)
        if tensor_cores is not None:
            tile_row_bytes = T * C * tensor_cores.depth  # int8
        else:
            tile_row_bytes = T * C * self.operand.shape[1] * numpy.dtype(self.sum_dtype).itemsize
        rows = min(batch_block or max(1, (MATMUL_ROWS if on_host else 64 * MATMUL_ROWS) // C), max(1, batch))
        rows = max(1, min(rows, budget // 2 // tile_row_bytes))
        if tensor_cores is not None:  # the int32 codes of every converted cell
            per_column = tensor_cores.bytes_per_column(rows)
        else:  # the partial sums of every tile, and their read noise
            per_column = T * C * rows * self.width * numpy.dtype(self.sum_dtype).itemsize
            if self.noise is not None:
                mapping = self.config.mapping
                per_column += T * C * rows * mapping.polarities * mapping.slices * 8
        per_column += rows * 8
        return rows, max(1, (budget - rows * tile_row_bytes) // per_column)

    def finish(self, acc: Any, x: Any, xp: Any, output_scale: float = 1.0, digital_corrections: bool = True) -> Any:
        """Stage 6: subtract reference columns, scale by the ADC step (and ``output_scale``), and
        apply the exact digital corrections for inputs ``x``."""
        config, N = self.config, len(self.column_sums)
        if config.mapping.uses_reference_columns:
            tile_of_column = xp.arange(N) // config.crossbar.cols
            acc = acc[:, :N] - acc[:, N:][:, tile_of_column]
        step = self.step * output_scale
        analog = acc if step == 1.0 else acc * step
        if not digital_corrections:
            return analog
        correction = xp.zeros((x.shape[0], N), dtype=numpy.int64)
        if config.inputs.signed:
            correction += self.dac.offset * xp.asarray(self.column_sums)[None]
        if config.mapping.scheme == "offset" and not config.mapping.uses_reference_columns:
            correction += config.mapping.offset * (x + self.dac.offset).sum(axis=1, keepdims=True)
        return analog - correction
