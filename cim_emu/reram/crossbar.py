"""The front of the ReRAM engine: weights programmed into crossbars once, read by many products.

:class:`CrossbarArray` validates an integer weight matrix ``W`` (``K x N``), programs it - cell
levels ``(P, S, K, N)`` by the weight mapping (:mod:`~cim_emu.reram.mapping`), one reference
column per column tile for the offset scheme's reference-column readout, the devices'
programmed conductances in fixed point (:mod:`~cim_emu.reram.devices`), with IR drop each tile's
effective conductances (:mod:`~cim_emu.reram.ir_drop`) - and builds the read
stages once. Each :meth:`~CrossbarArray.matmul` (or ``x @ crossbars``) is then one *read* of
``y = x @ W`` for integer inputs ``x`` (``B x K``):

* through the single exact product (:mod:`~cim_emu.reram.exact`) when the configuration is
  exact (lossless ADC, ideal devices) - the pipeline's bits, computed as ``x @ W``;
* otherwise through the pipeline (:mod:`~cim_emu.reram.pipeline`): DACs, products, read noise,
  ADC, shift-and-add, digital corrections - on int8 tensor cores or with the epilogue kernel on a
  backend with kernels (:mod:`~cim_emu.reram.gpu_path`).

Host inputs larger than a device backend's free memory allows pass through it in blocks of
rows, each keyed by its global batch rows, so that the bits are those of one pass; reads later
in the devices' life are :meth:`~CrossbarArray.at_time` (:mod:`~cim_emu.reram.drift`). Batch
blocks, chunking and the backend never change the bits: every random draw is keyed by the
global batch row, tile, chunk, column, polarity and slice.

``cim_emu/reram/README.md`` lists the modules in pipeline order; the full specification is
``docs/spec/reram.md``.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy

from .. import backend as backends
from .._checks import int_below, positive_int
from . import drift
from .calibration import largest_partial_sums
from .config import ReramConfig
from .devices import FRACTION_BITS, read_sigma_fixed, to_fixed
from .exact import ExactProduct
from .ir_drop import effective_conductances
from .mapping import cell_levels, check_input_rows, check_integer_array, narrowest_signed, reference_levels
from .pipeline import Pipeline, place_value_sums
from .programming import program_fixed

__all__ = ["CrossbarArray"]


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
        ``"numpy"``, ``"cupy"``, ``"auto"`` (follows the weights' array kind) or a
        :class:`~cim_emu.backend.Backend`.

    ``x @ crossbars`` and :meth:`matmul` compute products; each call is one *read* (read
    noise is fresh per read, keyed by ``read_index``, which counts calls unless given).
    """

    def __init__(self, weights: Any, config: Optional[ReramConfig] = None, *, seed: int = 0,
                 backend: backends.BackendLike = None, read_time: Optional[float] = None,
                 output_scale: float = 1.0) -> None:
        self.config = config or ReramConfig()
        if not isinstance(self.config, ReramConfig):
            raise TypeError(f"config must be a ReramConfig; got {type(self.config).__name__}")
        self.seed = int_below("seed", seed, 2**64, "2**64")
        self.backend, _ = backends.resolve(backend, weights)
        mapping = self.config.mapping
        # the caller's weights, checked and copied into the narrowest integer type (1 byte for 8-bit
        # weights) and frozen: the cells are programmed from them
        self._weights = check_integer_array("weights", backends.NUMPY_BACKEND.asarray(weights), -mapping.max_weight,
                                            mapping.max_weight, numpy, dtype=narrowest_signed(mapping.max_weight))
        if self._weights.ndim != 2 or 0 in self._weights.shape:
            raise ValueError(f"weights must be a non-empty 2-D (K, N) matrix; got shape {self._weights.shape}")
        if self._weights is weights or not self._weights.flags.owndata:  # the caller's array: ours must be a copy
            self._weights = self._weights.copy()
        self.shape = self._weights.shape
        self._weights.flags.writeable = False
        self.reads = 0
        self.output_scale = float(output_scale)
        self._program(read_time)

    # -- programming ---------------------------------------------------------------------------
    @property
    def weights(self) -> numpy.ndarray:
        """The programmed integer weights ``(K, N)``, int64 on the host: a copy (the crossbars hold
        them in the narrowest integer type, one byte each for 8-bit weights)."""
        return self._weights.astype(numpy.int64)

    def scaled_weights(self, scale: Any) -> numpy.ndarray:
        """``weights * scale`` (float64, host) from the compact integers, without an int64 copy."""
        scaled: numpy.ndarray = numpy.multiply(self._weights, scale, dtype=numpy.float64)
        return scaled

    @property
    def n_row_tiles(self) -> int:
        return -(-self.shape[0] // self.config.crossbar.rows)

    @property
    def n_col_tiles(self) -> int:
        return -(-self.shape[1] // self.config.crossbar.cols)

    @property
    def uses_reference_columns(self) -> bool:
        return self.config.mapping.uses_reference_columns

    def _program(self, read_time: Optional[float]) -> None:
        config, mapping, devices = self.config, self.config.mapping, self.config.devices
        levels = self.levels
        self.read_time = read_time
        self.fraction_bits = 0 if config.ideal_cells else FRACTION_BITS
        if config.ideal_cells:
            fixed, sigma = levels, None  # integers: cast tile by tile where the operand is built
        elif config.wires.ideal:  # one pass, no full-size float64 arrays
            fixed, sigma = program_fixed(devices, levels, mapping.max_level, self.seed, read_time)
        else:
            programmed = devices.program(levels, mapping.max_level, self.seed, read_time)
            effective = effective_conductances(  # IR drop, per tile
                programmed, config.wires, rows=config.crossbar.rows, cols=config.crossbar.cols, columns=self.shape[1])
            fixed = to_fixed(effective, mapping.max_level)
            sigma = read_sigma_fixed(devices, programmed, mapping.max_level)
        column_sums = self._weights.sum(axis=0, dtype=numpy.int64)
        self.pipeline = Pipeline(config, levels, fixed, sigma, fraction_bits=self.fraction_bits,
                                 column_sums=column_sums, seed=self.seed, backend=self.backend)
        """The read stages (:class:`~cim_emu.reram.pipeline.Pipeline`)."""
        self.exact_product = ExactProduct(self._weights, column_sums, config, self.backend)
        """The single exact product of an exact configuration (:class:`~cim_emu.reram.exact.ExactProduct`)."""

    @property
    def levels(self) -> numpy.ndarray:
        """The ideal cell levels ``(P, S, K, N')`` of the weights, reference columns included
        (uint8, host), computed again at each access: the programmed crossbars do not keep them."""
        levels = cell_levels(self._weights, self.config.mapping)  # (P, S, K, N)
        if self.uses_reference_columns:  # one reference column (B in every row) per column tile
            reference = numpy.broadcast_to(reference_levels(self.shape[0], self.config.mapping)[..., :1],
                                           levels.shape[:3] + (self.n_col_tiles,))
            levels = numpy.concatenate([levels, reference], axis=3)
        return levels

    @property
    def _tensor_cores(self) -> bool:
        """Whether a backend with kernels reads these crossbars on int8 tensor cores."""
        return self.pipeline.tensor_cores is not None

    # -- bounds and calibration ----------------------------------------------------------------
    def adc_error_bound(self) -> float:
        """Largest ``|y - x @ W|`` the ADC can cause with ideal devices and no clipping:
        ``Delta / 2`` per conversion times its shift weight, summed over tiles, chunks, slices
        and converted polarities (twice with reference columns, whose conversions err too).
        0 for a lossless ADC; with full scales per slice and chunk, each conversion's own
        ``Delta``; infinite with ADC offset or gain errors (which this bound does not cover)."""
        config = self.config
        if config.adc_lossless:
            return 0.0
        if config.adc.has_errors:
            return math.inf
        mapping, inputs = config.mapping, config.inputs
        polarities = 1 if config.signed_adc else mapping.polarities
        if config.adc.full_scales is None:  # one Delta, times the shift weights
            slices, chunks = place_value_sums(config)
            bound = self.n_row_tiles * polarities * slices * chunks * config.adc_step / 2
        else:
            place_steps = sum(config.step_of(fs) * 2.0 ** (s * mapping.bits_per_cell + c * inputs.dac_bits)
                              for s, row in enumerate(config.full_scales) for c, fs in enumerate(row))
            bound = self.n_row_tiles * polarities * place_steps / 2
        return 2 * bound if self.uses_reference_columns else bound

    def largest_partial_sum(self, x: Any, *, percentile: Optional[float] = None) -> int:
        """The largest ideal partial sum that integer inputs ``x`` ``(K,)`` or ``(B, K)`` produce,
        over every conversion (tile, chunk, slice, polarity, column, reference columns included):
        what an ADC full scale calibrated from data is set to (``AdcConfig(full_scale=...)``).
        ``percentile`` (in (0, 100]) returns instead the smallest integer ``v`` with at least
        that share of the conversions ``<= v`` (exact, by counting). At least 1; device noise
        is ignored (:func:`~cim_emu.reram.calibration.largest_partial_sums`)."""
        pooled: int = largest_partial_sums(self, x, percentile=percentile, per_slice_and_chunk=False)
        return pooled

    def largest_partial_sums(self, x: Any, *, percentile: Optional[float] = None) -> tuple[tuple[int, ...], ...]:
        """:meth:`largest_partial_sum` per weight slice ``s`` and input chunk ``c``, as
        ``full_scales[s][c]``: what ``AdcConfig(full_scales=...)`` is set to when calibrating
        the ADC ranges per slice and chunk."""
        grid: tuple[tuple[int, ...], ...] = largest_partial_sums(self, x, percentile=percentile)
        return grid

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
        chosen, on_gpu = backends.resolve(self.backend, x)
        xp = chosen.xp
        inputs = self.config.inputs
        x = x if on_gpu else numpy.asarray(x)
        if _integers_within(x, inputs.min_input, inputs.max_input):
            x = x.astype(numpy.int64, copy=False)
        else:  # not integers, or out of range: the check raises (or converts integral floats)
            x = check_integer_array("x", x, inputs.min_input, inputs.max_input, xp if on_gpu else numpy)
        vector = x.ndim == 1
        if vector:
            x = x[None]
        check_input_rows(x, self.shape[0])
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
        if x.shape[0] == 0:  # an empty batch: no rows, with the dtype and width a read gives
            probe = xp.zeros((1, x.shape[1]), dtype=numpy.int64)
            y = chosen.to_kind_of(self._read(probe, read_index, row_offset, batch_block, method, chosen), on_gpu)[:0]
        elif pass_rows is not None:
            # Host inputs larger than the GPU's free memory allows: one block of rows at a time,
            # each keyed by its global rows (row_offset), so the bits are those of one pass.
            y = numpy.concatenate([
                chosen.to_kind_of(self._read(xp.asarray(x[r0:r0 + pass_rows]), read_index, row_offset + r0,
                                             batch_block, method, chosen), False)
                for r0 in range(0, x.shape[0], pass_rows)])
        else:
            y = chosen.to_kind_of(self._read(xp.asarray(x), read_index, row_offset, batch_block, method, chosen),
                                  on_gpu)
        return y[0] if vector else y

    def _read(self, x: Any, read_index: int, row_offset: int, batch_block: Optional[int], method: str,
              backend: backends.Backend) -> Any:
        if self.config.exact and method == "auto" and self.output_scale == 1.0:
            return self.exact_product(x, backend)
        return self.pipeline.read(x, read_index, row_offset, batch_block, backend, output_scale=self.output_scale)

    def _rows_per_device_pass(self, x: Any, chosen: backends.Backend) -> Optional[int]:
        """Batch rows of host inputs ``x`` per pass through the GPU, or ``None`` when all fit in
        :data:`~cim_emu.gpu.memory.DEVICE_MEMORY_SHARE` of its free memory (or the backend is
        the host's): each row takes its inputs (int64) and twice its outputs (int64 or float64:
        the result and the digital corrections); the partial sums are bounded apart, by the
        blocks of :meth:`~cim_emu.reram.pipeline.Pipeline.read`."""
        per_row = 8 * (self.shape[0] + 2 * self.n_col_tiles * self.config.crossbar.cols)
        return chosen.units_per_device_pass(per_row, x.shape[0])

    # -- time ------------------------------------------------------------------------------------
    def at_time(self, t_seconds: float, *, drift_compensation: bool = False) -> "CrossbarArray":
        """The same programmed crossbars read ``t_seconds`` after programming (drift applied).

        ``drift_compensation=True`` applies global drift compensation as IBM aihwkit's
        ``GlobalDriftCompensation`` does: reference reads of the all-ones input at the largest
        input value right after programming and at ``t_seconds`` set ``output_scale`` to their
        ratio, which multiplies the analog part of every later output (see
        :mod:`cim_emu.reram.drift`). The reference reads use read indices ``2**55`` and
        ``2**55 + 1``, outside the user's.
        """
        drifted: CrossbarArray = drift.at_time(self, t_seconds, drift_compensation=drift_compensation)
        return drifted


def _integers_within(x: Any, low: int, high: int) -> bool:
    """Whether ``x`` is a non-empty integer array with every value in ``[low, high]`` (two reductions)."""
    return (x.dtype != bool and numpy.issubdtype(x.dtype, numpy.integer) and x.size > 0
            and int(x.min()) >= low and int(x.max()) <= high)
