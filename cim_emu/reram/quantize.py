"""Float API for quantization research: quantize, run on emulated crossbars, dequantize.

Quantization is symmetric and linear, with round-half-to-even (``numpy.rint``):

* weights (``K x N``): scale ``s_w = max|W| / (2**(weight_bits-1) - 1)``, per tensor or per
  output channel (column ``n``); ``W_q = clip(rint(W / s_w), -M, M)``, ``M = 2**(weight_bits-1) - 1``;
* inputs: unsigned encodings take ``x >= 0`` with ``s_x = max(x) / (2**input_bits - 1)``; signed
  encodings take ``s_x = max|x| / (2**(input_bits-1) - 1)`` and ``x_q`` in
  ``[-(2**(input_bits-1) - 1), 2**(input_bits-1) - 1]`` (symmetric); ``x_q = clip(rint(x / s_x))``.
  The input scale is dynamic (from each batch's maximum), fixed, or calibrated once from data
  (``max`` or a ``percentile`` of ``|x|``), see :meth:`AnalogLayer.calibrate`;
* outputs: ``y = y_q * (s_x * s_w)`` in float64 (the two scales multiplied first), plus the
  bias, which stays digital (as in real designs).

A zero tensor (or channel) gets scale 1. Non-finite floats raise :class:`ValueError`.

The full specification is ``docs/spec/reram.md`` (section *Float API*).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Union

import numpy

from .. import backend as backends
from .._checks import positive_number
from ..parallel import default_threads, run_jobs
from .config import ReramConfig
from .crossbar import CrossbarArray
from .mapping import narrowest_signed


def _real(name: str, array: Any, xp: Any) -> Any:
    """``array`` as an array, refusing complex values (converting them would drop the imaginary part)."""
    array = xp.asarray(array)
    if numpy.iscomplexobj(array):
        raise TypeError(f"{name} must be real; got complex values (dtype {array.dtype})")
    return array


def _finite_float(name: str, array: Any, xp: Any) -> Any:
    array = xp.asarray(_real(name, array, xp), dtype=numpy.float64)
    if not bool(xp.isfinite(array).all()):
        raise ValueError(f"{name} must be finite; it holds NaN or infinity")
    return array


def _scale(maximum: Any, levels: int, xp: Any) -> Any:
    return xp.where(maximum > 0, maximum / levels, 1.0)


def quantize_weights(weights: Any, config: ReramConfig, *, per_channel: bool = True,
                     xp: Any = numpy, dtype: Any = numpy.int64) -> tuple[Any, Any]:
    """``(W_q, s_w)``: integer weights (int64, or ``dtype``: a type that holds ``+-max_weight``)
    and their scale (a scalar, or one per column)."""
    weights = _finite_float("weights", weights, xp)
    if weights.ndim != 2 or 0 in weights.shape:
        raise ValueError(f"weights must be a non-empty 2-D (K, N) matrix; got shape {tuple(weights.shape)}")
    levels = config.mapping.max_weight
    maximum = xp.abs(weights).max(axis=0) if per_channel else xp.abs(weights).max()
    scale = _scale(maximum, levels, xp)
    return xp.clip(xp.rint(weights / scale), -levels, levels).astype(dtype), scale


#: The fewest inputs worth a host thread of their own in :func:`quantize_inputs`.
QUANTIZE_BLOCK = 2**18


def input_levels(config: ReramConfig) -> int:
    """Largest quantized input magnitude: ``2**ib - 1`` unsigned, ``2**(ib-1) - 1`` signed."""
    inputs = config.inputs
    return 2 ** (inputs.input_bits - 1) - 1 if inputs.signed else 2**inputs.input_bits - 1


def _scale_array(scale: Any, shape: tuple, xp: Any) -> Any:
    """An array of input scales (one per sample, token or row) checked positive, finite and
    broadcastable to the inputs' ``shape``, as float64."""
    scale = xp.asarray(scale, dtype=numpy.float64)
    try:
        broadcast = numpy.broadcast_shapes(scale.shape, tuple(shape))
    except ValueError:
        broadcast = None
    if broadcast != tuple(shape):
        raise ValueError(f"input scales of shape {scale.shape} do not broadcast to the inputs' shape {tuple(shape)}")
    if scale.size and not bool(((scale > 0) & (scale < math.inf)).all()):
        raise ValueError("input scales must be positive finite numbers")
    return scale


def quantize_inputs(x: Any, config: ReramConfig, scale: Any = None, *, xp: Any = numpy) -> tuple[Any, Any]:
    """``(x_q, s_x)``: integer inputs and their scale, dynamic (one for the whole ``x``) when
    ``scale`` is None; a fixed ``scale`` is one positive number or an array of them that
    broadcasts to ``x`` (one per sample or row: ``(B, 1)`` for rows ``(B, K)``).

    In float64, as ``x`` converted to float64 (exact from float32); the checks and the dynamic
    scale come from ``min(x)`` and ``max(x)`` (which are NaN or infinite when any value is), so
    a float32 ``x`` is read twice before the one float64 quotient."""
    x = _real("x", x, xp)
    if not numpy.issubdtype(x.dtype, numpy.floating) or x.dtype.itemsize > 8:
        x = xp.asarray(x, dtype=numpy.float64)
    low_value, high_value = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if not (math.isfinite(low_value) and math.isfinite(high_value)):
        raise ValueError("x must be finite; it holds NaN or infinity")
    levels = input_levels(config)
    if not config.inputs.signed and low_value < 0:
        raise ValueError("x has negative values but the configuration's inputs are unsigned "
                         "(set inputs.signed=True, or apply the layer after a ReLU)")
    if scale is None:
        scale = _scale(xp.asarray(max(-low_value, high_value), dtype=numpy.float64), levels, xp)
    elif numpy.ndim(scale) == 0:
        positive_number("input scale", scale)
    else:
        scale = _scale_array(scale, x.shape, xp)
    low = -levels if config.inputs.signed else 0
    scales = scale if numpy.ndim(scale) == 0 else xp.broadcast_to(scale, x.shape)
    x_q = xp.empty(x.shape, dtype=numpy.int64)

    def quantize(rows: Any) -> None:
        quotient = xp.divide(x[rows], scales if numpy.ndim(scales) == 0 else scales[rows], dtype=numpy.float64)
        xp.rint(quotient, out=quotient)
        xp.clip(quotient, low, levels, out=quotient)
        x_q[rows] = quotient  # exact: integers within the levels

    # On the host, blocks of rows over the shared threads: element by element, the same bits.
    blocks = min(4 * default_threads(), x.size // QUANTIZE_BLOCK) if xp is numpy and x.ndim else 1
    if blocks > 1:
        step = -(-len(x) // blocks)
        run_jobs(quantize, [slice(a, a + step) for a in range(0, len(x), step)], default_threads())
    else:
        quantize(...)
    return x_q, scale


class AnalogLayer:
    """A float linear layer ``y = x @ W + bias`` whose product runs on emulated crossbars.

    The weights (``K x N``, float) are quantized once (per output channel by default) and
    programmed once (to be read ``read_time`` seconds after programming when given: drift);
    every call quantizes its inputs, runs the integer pipeline, dequantizes and adds the bias.
    ``input_scale`` is ``None`` (dynamic: each batch's maximum) until set or calibrated.
    """

    def __init__(self, weights: Any, config: Optional[ReramConfig] = None, *, bias: Any = None,
                 per_channel: bool = True, input_scale: Optional[float] = None, seed: int = 0,
                 backend: backends.BackendLike = None, read_time: Optional[float] = None) -> None:
        self.config = ReramConfig() if config is None else config
        if not isinstance(self.config, ReramConfig):
            raise TypeError(f"config must be a ReramConfig (ReramConfig.from_dict builds one from a dict); "
                            f"got {type(config).__name__}")
        chosen, _ = backends.resolve(backend, weights)
        self.backend = chosen
        xp = chosen.xp
        # on the host, straight into the crossbars' compact type (no int64 copy to page in)
        quantized, self.weight_scale = quantize_weights(
            chosen.asarray(weights), self.config, per_channel=per_channel, xp=xp,
            dtype=narrowest_signed(self.config.mapping.max_weight) if xp is numpy else numpy.int64)
        self._device_weights = None if xp is numpy else quantized
        self.bias = None if bias is None else _finite_float("bias", chosen.asarray(bias), xp)
        if self.bias is not None and self.bias.shape != (quantized.shape[1],):
            raise ValueError(f"bias must have shape ({quantized.shape[1]},); got {self.bias.shape}")
        self.input_scale = input_scale
        self.crossbars = CrossbarArray(quantized, self.config, seed=seed, backend=chosen, read_time=read_time)

    @property
    def quantized_weights(self) -> Any:
        """The integer weights ``(K, N)``, int64: on a device the array quantized there; on the host
        a copy of the crossbars' (which keep the only host copy, in the narrowest integer type)."""
        return self.crossbars.weights if self._device_weights is None else self._device_weights

    def dequantized_weights(self) -> Any:
        """``W_q * s_w`` ``(K, N)``, float64, on the layer's backend: the weights the crossbars
        hold, as floats (on the host from the crossbars' compact integers, with no int64 copy)."""
        if self._device_weights is None:
            return self.crossbars.scaled_weights(self.weight_scale)
        return self._device_weights * self.weight_scale

    def calibrate(self, x: Any, method: str = "max", percentile: float = 99.99) -> float:
        """Fix the input scale from sample inputs: ``max|x|`` or a ``percentile`` of ``|x|``."""
        xp = self.backend.xp
        magnitude = xp.abs(_finite_float("x", self.backend.asarray(x), xp))
        if magnitude.size == 0:
            raise ValueError("x must hold at least one value to calibrate the input scale from; got an empty array")
        if method == "max":
            value = float(magnitude.max())
        elif method == "percentile":
            if not 0 < percentile <= 100:
                raise ValueError(f"percentile must be in (0, 100]; got {percentile!r}")
            value = float(xp.percentile(magnitude, percentile))
        else:
            raise ValueError(f"method must be 'max' or 'percentile'; got {method!r}")
        self.input_scale = value / input_levels(self.config) if value > 0 else 1.0
        return self.input_scale

    def __call__(self, x: Any, **matmul_options: Any) -> Any:
        """``x @ W + bias`` for float inputs ``(K,)`` or ``(B, K)``; same array kind as ``x``."""
        chosen, _ = backends.resolve(self.backend, x)
        x_q, x_scale = quantize_inputs(chosen.asarray(x), self.config, self.input_scale, xp=chosen.xp)
        return self.quantized_product(x_q, x_scale, like=x, **matmul_options)

    def quantized_product(self, x_q: Any, x_scale: Any, *, like: Any = None, **matmul_options: Any) -> Any:
        """``y_q * (s_x * s_w) + bias`` (float64) for inputs already quantized, ``x_q`` with
        scale ``s_x`` (as :func:`quantize_inputs` gives them), in the array kind of ``like``
        (default: of ``x_q``)."""
        chosen, on_gpu = backends.resolve(self.backend, x_q if like is None else like)
        y = self.crossbars.matmul(chosen.asarray(x_q), **matmul_options).astype(numpy.float64)
        y = y * (x_scale * self.weight_scale)
        if self.bias is not None:
            y = y + self.bias
        return chosen.to_kind_of(y, on_gpu)

    def quantized_product_in_blocks(self, blocks: Iterable[tuple[Any, Any]], *, like: Any = None) -> list:
        """:meth:`quantized_product` of consecutive row blocks ``(x_q, x_scale)`` as *one* read:
        one read index for all blocks, each keyed by its global rows (``row_offset``), so the
        outputs are the row blocks of one call on all the rows, bit for bit; the crossbars count
        one read. For callers that build large inputs block by block (a convolution's unfolded
        rows), so that only one block's inputs exist at a time."""
        read_index, offset, outputs = self.crossbars.reads, 0, []
        for x_q, x_scale in blocks:
            outputs.append(self.quantized_product(x_q, x_scale, like=like, read_index=read_index, row_offset=offset))
            offset += x_q.shape[0]
        self.crossbars.reads = read_index + 1
        return outputs


def analog_matmul(x: Any, weights: Any, config: Optional[ReramConfig] = None, *,
                  per_channel: bool = True, input_scale: Union[None, float] = None, seed: int = 0,
                  backend: backends.BackendLike = None) -> Any:
    """One-shot float product ``x @ weights`` on emulated crossbars (see :class:`AnalogLayer`)."""
    chosen, _ = backends.resolve(backend, x, weights)
    return AnalogLayer(weights, config, per_channel=per_channel, input_scale=input_scale, seed=seed,
                       backend=chosen)(x)
