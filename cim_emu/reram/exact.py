"""The single exact product: what a lossless crossbar with ideal devices computes, in one step.

When ``config.exact`` holds (lossless ADC, ideal devices), every stage of the pipeline is exact
and the whole read equals the integer product ``y = x @ W``. It is computed as such, with the
pipeline's bits:

* float products over blocks of ``K`` short enough that no partial sum reaches ``2**24``:
  ``block = floor((2**24 - 1) / (max|x| * max|W|))`` rows in float32 (else float64 and
  ``2**53``), each block's product converted to int64 and summed;
* with a kernel provider, when the inputs span at most 256 values, ``|W| <= 127`` and
  ``K * 128 * 127 < 2**31``, one int8 tensor-core product (``kernels/reram_tile_codes.cu``
  without its ADC): with ``shift = min_input + 128``,

      x @ W = (x - shift) @ W + shift * colsum(W),

  where ``x - shift`` lies in int8's range and ``|(x - shift) @ W| <= K * 128 * 127 < 2**31``,
  so every sum is an exact int32 and the correction an exact int64.

The full specification is ``docs/spec/reram.md`` (section *How the numpy pipeline computes it
exactly*, *The single exact product*).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy

from ..backend import Backend
from ..gpu.provider import supports
from . import gpu
from .config import ReramConfig
from .gpu_path import require_exact_float_products

__all__ = ["ExactProduct"]


class ExactProduct:
    """``x @ W`` exactly, for integer weights ``(K, N)`` (a host integer array) held on ``backend``."""

    def __init__(self, weights: numpy.ndarray, column_sums: numpy.ndarray, config: ReramConfig,
                 backend: Backend) -> None:
        self.weights, self.column_sums, self.config, self.backend = weights, column_sums, config, backend

    @functools.cached_property
    def float_operand(self) -> tuple[int, Any]:
        """``(block, W as float)``: K is cut into blocks short enough that no partial sum of
        ``x @ W`` reaches ``2**24`` (float32; else ``2**53``, float64)."""
        inputs, mapping = self.config.inputs, self.config.mapping
        largest = max(abs(inputs.min_input), inputs.max_input) * mapping.max_weight
        block, dtype = (2**24 - 1) // max(largest, 1), numpy.float32
        if block < 1:
            block, dtype = (2**53 - 1) // largest, numpy.float64
        return block, self.backend.xp.asarray(self.weights.astype(dtype))

    @functools.cached_property
    def tensor_core_weights(self) -> Any:
        """``W`` transposed, int8 ``(1, N, depth)``, zero-padded: the tensor-core product's operand."""
        K, N = self.weights.shape
        weights = numpy.zeros((1, N, gpu.tile_codes_depth(K)), dtype=numpy.int8)
        weights[0, :, :K] = self.weights.T
        return self.backend.xp.asarray(weights)

    @property
    def fits_int8(self) -> bool:
        """Whether the product can run as one int8 tensor-core product (on a backend with kernels)."""
        inputs, mapping = self.config.inputs, self.config.mapping
        return (inputs.max_input - inputs.min_input <= 255 and mapping.max_weight <= 127
                and self.weights.shape[0] * 128 * 127 < 2**31)

    def __call__(self, x: Any, backend: Backend) -> Any:
        """``x @ W`` (int64) for integer inputs ``x`` ``(B, K)`` on ``backend``."""
        xp = backend.xp
        K, N = self.weights.shape
        if backend.kernels is not None and self.fits_int8 and supports(backend.kernels, gpu.TILE_CODES_SOURCE):
            shift = self.config.inputs.min_input + 128
            weights_t = self.tensor_core_weights
            shifted = xp.zeros((1, x.shape[0], weights_t.shape[2]), dtype=numpy.int8)
            shifted[0, :, :K] = x - shift
            y = xp.empty((x.shape[0], N), dtype=numpy.int32)
            gpu.reram_tile_codes(shifted, weights_t, y, None, kernels=backend.kernels)
            y = y.astype(numpy.int64)
            if shift:
                y += xp.asarray(shift * self.column_sums)
            return y
        require_exact_float_products(backend)
        block, weights = self.float_operand
        x = x.astype(weights.dtype)
        if block >= K:
            return xp.matmul(x, weights).astype(numpy.int64)
        y = xp.zeros((x.shape[0], N), dtype=numpy.int64)
        for k0 in range(0, K, block):
            y += xp.matmul(x[:, k0:k0 + block], weights[k0:k0 + block]).astype(numpy.int64)
        return y
