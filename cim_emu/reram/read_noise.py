"""Stage 3, read noise: one Gaussian term per conversion, drawn from the cells' variances.

A read perturbs every cell's conductance by an independent ``N(0, sigma_read(g)**2)``; a
conversion's column current thus gains a Gaussian term of variance ``v = sum_k x_c[k]**2
sigma[k, n]**2`` (fixed point), drawn once per conversion as ``rint(sqrt(v) * z)``, ``z`` the
normal draw of :mod:`cim_emu.rng` at the conversion's index in the stream ``Stream.READ |
read_index``. :class:`ReadNoise` holds the variances, laid out like the cells of the products
(:meth:`~cim_emu.reram.layout.TileLayout.cells`), and computes the noise of a block of
conversions with kernels (``kernels/reram_read_noise.cu``: the backend's, or on the host the
native ones) or, without them, with numpy step by step: the same bits.

The full specification is ``docs/spec/reram.md`` (section *Read noise*).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Optional

import numpy

from .. import rng
from ..backend import Backend
from ..parallel import single_threaded_blas
from ..rng import Stream, native
from .bit_tiles import BitTiles
from .config import ReramConfig
from .dac import Dac
from .gpu import NoiseRuns, reram_read_noise
from .layout import TileLayout

__all__ = ["ReadNoise"]


@dataclasses.dataclass(frozen=True, eq=False)
class ReadNoise:
    """The read noise of programmed crossbars: the cells' variances and how conversions index the stream."""

    sigma_squared: Any
    """The cells' variances ``(T, rows [+ 1], N' * P * S)`` on the backend: float32 where every
    variance of a conversion is exact in it, else float64. Where :attr:`row_squares` holds, a
    read-only broadcast of it (no memory of its own)."""
    row_squares: Optional[Any]
    """Column 0 of :attr:`sigma_squared` where every column has the same variances (state-
    independent read noise: one variance per input row, shared by the columns), else ``None``."""
    chunks: int
    cells_per_weight: int
    """``P * S``: the conversions of one weight column, one tile and one chunk."""
    columns: int
    """``N'``: weight columns, reference columns included."""
    seed: int
    post: float
    """What the rounded noise is multiplied by: the ADC's scale for prescaled sums, else 1."""
    binary_inputs: bool = False
    """Whether every input chunk is 0 or 1 (1-bit DACs), so that it is its own square."""

    @classmethod
    def of_sigma(cls, sigma: numpy.ndarray, layout: TileLayout, backend: Backend, *, bias_row: bool,
                 config: ReramConfig, dac: Dac, columns: int, seed: int, post: float) -> "ReadNoise":
        """The read noise of cells whose standard deviations (fixed point, host) are ``sigma``
        ``(P, S, K, N')``: their squares laid out like the products' cells (a zero row where the
        tiles have a bias row), narrowed to float32 when ``(rows + 1) * max_chunk**2 * max(squares)``
        is below ``2**24``, and reduced to one column where every cell of an input row has the
        same sigma - decided on ``sigma`` itself, so that only that column is laid out (squaring
        is exact in order: equal sigmas, equal squares; the squares of different non-negative
        sigmas differ)."""
        # one value broadcast (DeviceModel.shared_read_sigma), or one per input row
        shared = not any(sigma.strides) or bool((sigma == sigma[:1, :1, :, :1]).all())
        squares = layout.cells(sigma[:1, :1, :, :1] if shared else sigma, numpy.float64,
                               bias_row=0 if bias_row else None)
        numpy.multiply(squares, squares, out=squares)
        if squares.shape[1] * max(1, dac.max_chunk) ** 2 * float(squares.max(initial=0)) < 2**24:
            squares = squares.astype(numpy.float32)
        xp, row_squares = backend.xp, None
        mapping = config.mapping
        cells = mapping.polarities * mapping.slices
        if shared:
            row_squares = xp.asarray(squares)
            sigma_squared = xp.broadcast_to(row_squares, squares.shape[:2] + (columns * cells,))
        else:
            sigma_squared = xp.asarray(squares)
        return cls(sigma_squared, row_squares, dac.chunks, cells, columns, seed, post,
                   binary_inputs=dac.max_chunk <= 1)

    def values(self, tiles: Any, n0: int, n1: int, first_row: int, read_index: int, backend: Backend) -> Any:
        """The noise ``(T, C*b, n1 - n0, P*S)`` (float64) of the partial sums of weight columns
        ``n0 .. n1 - 1`` of batch rows ``first_row ..``, from their input tiles ``(T, C*b, rows
        [+ 1])``, scaled like the sums the ADC receives.

        ``rint(sqrt(v) * z)`` per conversion (times :attr:`post`). The variance ``v`` is an exact
        integer product in the dtype of :attr:`sigma_squared`; ``sqrt`` takes it in float64.
        Where :attr:`row_squares` holds, ``v`` is one product per row of the inputs, shared by
        the columns. The draws ``z`` come as runs: in the stream's order ``(b, t, c, n, p, s)``
        the conversions of columns ``n0 .. n1 - 1`` of one ``(b, t, c)`` are consecutive, and
        consecutive ``(b, t, c)`` lie ``N' * P * S`` apart.

        With kernels (the backend's, or the host's native ones: :func:`cim_emu.rng.native.kernels_for`)
        one launch draws, scales and rounds every value into place
        (:func:`~cim_emu.reram.gpu.reram_read_noise` of :meth:`runs`); otherwise numpy does it
        step by step (:func:`~cim_emu.rng.normal_runs`, then multiply, ``rint`` and multiply, a
        few batch rows at a time so that the temporaries stay in cache): the same bits.
        """
        xp, squares = backend.xp, self.sigma_squared
        if isinstance(tiles, BitTiles):  # numpy's noise reads the chunks as floats
            tiles = tiles.as_floats(squares.dtype)
        T, Cb, depth = tiles.shape
        C, PS = self.chunks, self.cells_per_weight
        b, length, stride = Cb // C, (n1 - n0) * PS, self.columns * PS
        kernels = native.kernels_for(backend)
        if kernels is not None:
            noise = xp.empty((T, C, b, length))
            reram_read_noise(self.runs(tiles, n0, n1, first_row, read_index, backend), noise, kernels=kernels,
                             **({} if kernels is backend.kernels else native.HOST_LAUNCH))
            return noise.reshape(T, Cb, n1 - n0, PS)
        seed, stream, first = self.seed, Stream.READ | read_index, first_row * T * C * stride + n0 * PS
        with contextlib.nullcontext() if backend.on_device else single_threaded_blas():  # small products
            x_squared = self._squared(tiles)
            if self.row_squares is not None:
                root = self._row_roots(x_squared, xp)
            else:
                x_squared, cells = x_squared.reshape(T, C, b, depth), squares[:, :, n0 * PS:n1 * PS]
            noise = xp.empty((T, C, b, length))
            rows = max(1, min(b, 2**17 // (T * C * length)))  # about 2**17 draws a step
            for r0 in range(0, b, rows):
                r1 = min(b, r0 + rows)
                z = rng.normal_runs(seed, stream, first + r0 * T * C * stride, stride, length, (r1 - r0) * T * C,
                                    backend=backend).reshape(r1 - r0, T, C, length)
                if self.row_squares is None:
                    variance = xp.matmul(x_squared[:, :, r0:r1].reshape(T, C * (r1 - r0), depth), cells)  # exact
                    factor = xp.sqrt(variance, dtype=numpy.float64).reshape(T, C, r1 - r0, length).transpose(2, 0, 1, 3)
                else:
                    factor = root[r0:r1, :, :, None]
                xp.multiply(factor, z, out=z)  # in the draws' order (b, t, c): contiguous passes
                xp.rint(z, out=z)
                if self.post != 1.0:
                    xp.multiply(z, self.post, out=z)
                noise[:, :, r0:r1] = z.transpose(1, 2, 0, 3)
        return noise.reshape(T, Cb, n1 - n0, PS)

    def runs(self, tiles: Any, n0: int, n1: int, first_row: int, read_index: int, backend: Backend) -> NoiseRuns:
        """The noise of :meth:`values` as the kernels take it (:class:`~cim_emu.reram.gpu.NoiseRuns`):
        ``b * T * C`` runs of ``(n1 - n0) * P * S`` draws in the stream's order ``(b, t, c)``,
        each placed at ``(t, c, b)`` of arrays ``(T, C*b, (n1 - n0) * P * S)``, with the roots of
        their variances (one per run where :attr:`row_squares` holds, else one per value)."""
        xp, squares = backend.xp, self.sigma_squared
        T, Cb, _ = tiles.shape
        C, PS = self.chunks, self.cells_per_weight
        b, length, stride = Cb // C, (n1 - n0) * PS, self.columns * PS
        with contextlib.nullcontext() if backend.on_device else single_threaded_blas():  # small products
            x_squared = self._squared(tiles)
            if self.row_squares is not None:
                roots = xp.ascontiguousarray(self._row_roots(x_squared, xp))
            else:  # exact integer products, laid out as the arrays
                roots = xp.sqrt(_tile_products(x_squared, squares[:, :, n0 * PS:n1 * PS], xp), dtype=numpy.float64)
        return NoiseRuns(self.seed, Stream.READ | read_index, first_row * T * C * stride + n0 * PS, stride, length,
                         b * T * C, roots, per_element=self.row_squares is None, inner=T * C, outer_step=length,
                         inner_step=b * length, post=self.post)

    def _squared(self, tiles: Any) -> Any:
        """The input chunks squared, in the variances' dtype (exact: integers); bits are their
        own squares (the tiles themselves where the dtypes agree, or bit tiles: read only)."""
        if isinstance(tiles, BitTiles):
            return tiles
        if self.binary_inputs:
            return tiles.astype(self.sigma_squared.dtype, copy=False)
        x_squared = tiles.astype(self.sigma_squared.dtype)
        x_squared *= x_squared
        return x_squared

    def _row_roots(self, x_squared: Any, xp: Any) -> Any:
        """The root of every input row's variance (:attr:`row_squares`), ``(b, T, C)`` in the
        draws' order (a transposed view)."""
        T, Cb, _ = x_squared.shape
        roots = xp.sqrt(_tile_products(x_squared, self.row_squares, xp), dtype=numpy.float64)
        return roots.reshape(T, self.chunks, Cb // self.chunks).transpose(2, 0, 1)


def _tile_products(tiles: Any, right: Any, xp: Any) -> Any:
    """``tiles @ right``, exact integers: bit tiles by their native product, float tiles by ``xp``."""
    return tiles.matmul(right) if isinstance(tiles, BitTiles) else xp.matmul(tiles, right)
