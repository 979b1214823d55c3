"""Stages 2 to 5 with numpy on the host: one row tile at a time, in blocks that stay in cache.

:class:`HostReadout` reads one *job* of a read - a block of ``b`` batch rows and of the weight
columns ``n0 .. n1 - 1`` - from its input tiles ``(T, C*b, rows [+ 1])``
(:meth:`~cim_emu.reram.layout.TileLayout.input_tiles`). For every row tile ``t`` in turn:

1. the tile's partial sums, one 2-D float product ``(C*b, rows [+ 1]) @ (rows [+ 1], n * width)``
   into a buffer reused from tile to tile (exact: integers below ``2**24`` or ``2**53``); with
   1-bit DACs the tiles are bits and the product is native, by look-up tables, with BLAS's bits
   (:mod:`~cim_emu.reram.bit_tiles`);
2. packed columns split into their parts (:meth:`~cim_emu.reram.layout.ColumnPacking.unpack`);
3. read noise, if any, added in float64 (it is integer-valued, so the sum is exact);
4. the ADC (:meth:`~cim_emu.reram.adc.Adc.convert`), in place;
5. the codes summed over the tiles, per part: ``code_sums[j] += codes`` (exact: below the code
   bound checked when the crossbars are programmed).

Then the shift-and-add of the summed codes: ``sum_j code_sums[j] @ cell_weights[j::factor]``
per chunk, and ``sum_c 2**(c dac) * ...`` in float64, to int64.

**The signed ADC** (``subtract`` readout). The operand holds ``W+ - W-`` per slice
(``differences``), as the tensor-core path does (:mod:`~cim_emu.reram.gpu_path`): one product
gives ``p+ - p-`` exactly (every partial sum of the product is an integer no larger in
magnitude than a polarity's sum), and half as many columns as per polarity. Its sums are packed
like per-polarity ones, as signed parts (``ColumnPacking(signed=True)``). Read noise keeps its
definition: it is drawn per polarity (:meth:`~cim_emu.reram.pipeline.Pipeline.read_noise`), and
``(p+ + n+) - (p- + n-) = (p+ - p-) + (n+ - n-)`` exactly, as all are integers. An operand
that holds both polarities (built for a backend with kernels) is read too: each polarity's sums,
their noise added, then subtracted.

**Read noise drawn in place** (:meth:`HostReadout.accumulate_drawing`). Where the host's native
kernels are built (:func:`cim_emu.rng.native.kernels_for`), stages 3 to 5 of a tile run in one
call of ``kernels/reram_epilogue.cu`` (``reram_noisy_shift_add``) instead: each conversion's
noise drawn at its index, added, converted and shift-added into int64, row by row, with no noise
array and no numpy pass; the tile's product stays step 1. The same bits (the tests hold both
paths to the reference).

The full specification is ``docs/spec/reram.md``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy

from .adc import Adc
from .bit_tiles import BitTiles
from .config import WeightMapping
from .dac import Dac
from .gpu import NoiseRuns, NoisyReadout, noisy_shift_add_launcher
from .layout import ColumnPacking

__all__ = ["HostReadout"]


@dataclasses.dataclass(frozen=True, eq=False)
class HostReadout:
    """Stages 2 to 5 of one job on the host, for the operand ``(T, rows [+ 1], N' * width)``."""

    operand: Any
    width: int
    """Operand columns per weight column."""
    packing: ColumnPacking
    adc: Adc
    dac: Dac
    cell_weights: numpy.ndarray
    """``sign * 2**(s * bpc)`` of each converted cell, padded to a multiple of the packing factor."""
    sum_dtype: Any
    prescaled: bool
    saturates: bool
    polarities: int
    """Polarities whose sums the operand gives apart: 1, or 2 for a signed ADC read from both."""
    last_rows: int
    """Word lines of the last row tile that hold inputs (the rest are zero padding)."""
    mapping: WeightMapping
    """Polarities, slices and bits per cell: a weight column's draws and their weights (noise drawn in place)."""

    def tile_product(self, tiles: Any, operand: Any, t: int, out: Any, xp: Any) -> None:
        """Tile ``t``'s partial sums into ``out``: ``tiles[t] @ operand[t]`` (bit tiles by their native
        product), over the last tile's rows that hold inputs only (the padding adds zeros), unless
        float tiles have a bias row after them."""
        if isinstance(tiles, BitTiles):  # their bias row is no bit: the last tile's padding is left out either way
            tiles.product(t, operand[t], out, rows=self.last_rows if t == len(tiles) - 1 else None)
        elif t == len(tiles) - 1 and self.last_rows < operand.shape[1] and not self.prescaled:
            xp.matmul(tiles[t][:, :self.last_rows], operand[t][:self.last_rows], out=out)
        else:
            xp.matmul(tiles[t], operand[t], out=out)

    def noise_parts(self, noise: Any, xp: Any) -> Any:
        """Read noise ``(T, C*b, n, P*S)`` as ``(T, factor, C*b, n, groups)``: part ``j`` of
        group ``g`` is cell ``g * factor + j`` (zero for the cells that pad the last group); for
        ``W+ - W-`` cells, ``n+ - n-``."""
        if self.adc.signed and self.polarities == 1:
            slices = noise.shape[3] // 2
            noise = noise[..., :slices] - noise[..., slices:]
        factor, cells = self.packing.factor, noise.shape[3]
        groups = -(-cells // factor)
        if groups * factor != cells:
            noise = xp.concatenate([noise, xp.zeros(noise.shape[:3] + (groups * factor - cells,))], axis=3)
        T, Cb, n = noise.shape[:3]
        return noise.reshape(T, Cb, n, groups, factor).transpose(0, 4, 1, 2, 3)

    def accumulate(self, tiles: Any, n0: int, n1: int, noise: Optional[Any], xp: Any) -> Any:
        """Shift-and-added codes ``acc`` ``(b, n1 - n0)`` (int64) of weight columns ``n0 .. n1 - 1``
        from the input tiles ``(T, C*b, rows [+ 1])`` and the read noise (or ``None``)."""
        operand = self.operand[:, :, n0 * self.width:n1 * self.width]
        if noise is None and self.polarities == 1:
            code_sums = self.tile_codes(tiles, operand, xp)
        else:
            code_sums = self.tile_codes_per_part(tiles, operand, n1 - n0, noise, xp)
        C, factor = self.dac.chunks, self.packing.factor
        weights = xp.asarray(self.cell_weights, dtype=code_sums.dtype).reshape(-1, factor)
        per_chunk: Any = 0
        for j in range(factor):
            per_chunk = per_chunk + code_sums[j].reshape(C, -1, weights.shape[0]) @ weights[:, j]
        acc = xp.matmul(self.dac.place_values(xp), per_chunk.astype(numpy.float64))  # exact: below 2**53
        return acc.reshape(tiles.shape[1] // C, n1 - n0).astype(numpy.int64)

    def accumulate_drawing(self, tiles: Any, n0: int, n1: int, runs: NoiseRuns, kernels: Any) -> Any:
        """:meth:`accumulate` with read noise, stages 3 to 5 in the host's native ``kernels``, the
        noise drawn in place from ``runs`` (:meth:`~cim_emu.reram.read_noise.ReadNoise.runs`
        of the same block): tile after tile, its product, then one kernel call that adds every
        conversion's code, shift-and-added, to ``acc``."""
        operand = self.operand[:, :, n0 * self.width:n1 * self.width]
        T, Cb = tiles.shape[:2]
        C = self.dac.chunks
        acc = numpy.zeros((Cb // C, n1 - n0), dtype=numpy.int64)
        sums = numpy.empty((1, Cb, operand.shape[2]), dtype=self.sum_dtype)
        readout = (NoisyReadout.SUBTRACT if self.polarities == 2 else
                   NoisyReadout.DIFFERENCES if self.adc.signed else NoisyReadout.PER_POLARITY)
        launch = noisy_shift_add_launcher(  # the kernel's arguments made once, the tile passed at each launch
            sums, acc, self.adc, runs, chunks=C, width=self.width, pack=self.packing.factor,
            pack_bits=self.packing.bits, polarities=self.mapping.polarities, slices=self.mapping.slices,
            bits_per_cell=self.mapping.bits_per_cell, dac_bits=self.dac.bits, readout=readout,
            prescaled=self.prescaled, saturates=self.saturates, kernels=kernels, grid=(1, 1))
        for t in range(T):
            self.tile_product(tiles, operand, t, sums[0], numpy)
            launch(t)
        return acc

    def tile_codes(self, tiles: Any, operand: Any, xp: Any) -> Any:
        """Codes summed over the tiles, ``(factor, C*b, columns)``, without read noise: every
        part of a tile converted in one pass of the ADC, in place (tile 0 in the sums' buffer)."""
        T, Cb = tiles.shape[:2]
        adc, factor = self.adc, self.packing.factor
        shape = (factor, Cb, operand.shape[2])
        code_sums = xp.empty(shape, dtype=adc.dtype)
        parts = xp.empty(shape, dtype=adc.dtype) if T > 1 else code_sums
        buffer = xp.empty(shape[1:], dtype=self.sum_dtype) if adc.dtype != self.sum_dtype else None
        units = None  # part 0 left as p_0 / 2**bits, for the ADC's multiplier to scale
        if factor > 1 and adc.multiplier is not None:
            units = xp.asarray([2.0**-self.packing.bits] + [1.0] * (factor - 1), dtype=adc.dtype)[:, None, None]
        for t in range(T):
            target = code_sums if t == 0 else parts
            sums = target[0] if buffer is None else buffer
            self.tile_product(tiles, operand, t, sums, xp)
            self.packing.unpack(sums, target, xp, integral_low=units is None)
            if buffer is not None:
                target[0] = buffer
            adc.convert(target, xp, prescaled=self.prescaled, saturates=self.saturates, units=units)
            if t:
                code_sums += parts
        return code_sums

    def tile_codes_per_part(self, tiles: Any, operand: Any, n: int, noise: Optional[Any], xp: Any) -> Any:
        """Codes summed over the tiles, ``(factor, C*b, n * codes per weight)``, part by part:
        read noise added (float64), and both polarities' sums subtracted for a signed ADC."""
        T, Cb = tiles.shape[:2]
        adc, factor, subtract = self.adc, self.packing.factor, self.polarities == 2
        parts = xp.empty((factor, Cb, operand.shape[2]), dtype=self.sum_dtype)
        code_sums = xp.zeros((factor, Cb, operand.shape[2] // self.polarities), dtype=adc.dtype)
        noise = None if noise is None else self.noise_parts(noise, xp)
        noisy = None  # one part's noisy sums in the ADC's type, reused (exact: bounded integers)
        if noise is not None and not subtract:
            noisy = xp.empty((Cb, n, operand.shape[2] // n), dtype=adc.dtype)
        for t in range(T):
            self.tile_product(tiles, operand, t, parts[0], xp)
            self.packing.unpack(parts[0], parts, xp)
            for j in range(factor):
                part = parts[j].reshape(Cb, n, -1)
                if noise is not None:  # summed in float64 (into the ADC's type, unless subtracted first)
                    part = (part + noise[t, j] if noisy is None else
                            xp.add(part, noise[t, j], out=noisy, dtype=numpy.float64, casting="same_kind"))
                if subtract:  # each polarity's (noisy) sums, subtracted before the one signed ADC
                    part = part.reshape(Cb, n, 2, -1)
                    part = part[:, :, 0] - part[:, :, 1]
                codes = adc.convert(part.astype(adc.dtype, copy=False), xp, prescaled=self.prescaled,
                                    saturates=self.saturates)
                code_sums[j] += codes.reshape(Cb, -1)
        return code_sums
