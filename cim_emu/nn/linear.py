""":class:`CrossbarLinear`: ``nn.Linear`` on emulated ReRAM crossbars."""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..reram.config import ReramConfig
from .layer import CrossbarLayer


class CrossbarLinear(CrossbarLayer, nn.Linear):
    """``nn.Linear`` whose product ``x @ W.T`` runs on emulated ReRAM crossbars.

    ``y = (x_q @ W_q) * (s_x * s_w) + bias`` exactly as :class:`AnalogLayer` computes it for
    the weights ``W.T`` (see :mod:`cim_emu.nn`); the bias and the scales stay digital. Inputs
    ``(..., in_features)`` of dtype float16, bfloat16, float32 or float64, on the weights'
    device; a dynamic input scale is taken per sample (the first dimension), per token (each
    row of ``in_features`` values) or per batch (``dynamic_scale``).

    Parameters beyond ``nn.Linear``'s: ``config`` (the :class:`ReramConfig`), ``per_channel``
    (weight scale per output feature, else per tensor), ``input_scale`` (``None``: dynamic, or a
    fixed positive number; see :meth:`calibrate_inputs`), ``dynamic_scale``, ``seed`` (device
    noise), and ``weight_noise`` (relative std of multiplicative Gaussian weight noise in training).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 config: Optional[ReramConfig] = None, per_channel: bool = True,
                 input_scale: Optional[float] = None, dynamic_scale: str = "per_sample", seed: int = 0,
                 weight_noise: float = 0.0, device: Any = None, dtype: Any = None) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias, device=device, dtype=dtype)
        self._setup_crossbars(config, per_channel, input_scale, seed, weight_noise, dynamic_scale)

    @classmethod
    def from_float(cls, linear: nn.Linear, config: Optional[ReramConfig] = None, **options: Any) -> "CrossbarLinear":
        """A crossbar layer with ``linear``'s trained weights and bias (copied); ``linear`` may
        be any ``nn.Linear`` subclass whose forward is ``F.linear`` (its extra behaviour is not
        carried over)."""
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, config=config,
                    device=linear.weight.device, dtype=linear.weight.dtype, **options)
        copy_parameters(linear, layer)
        return layer

    def _weight_matrix(self) -> torch.Tensor:
        return self.weight

    def _bias_vector(self) -> Optional[torch.Tensor]:
        return self.bias

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim < 1 or x.shape[-1] != self.in_features:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"CrossbarLinear expects a tensor (..., {self.in_features}); got {shape}")
        values = self._compute_input(x)
        rows = values.reshape(-1, self.in_features)
        samples = x.shape[0] if x.ndim > 1 else 1
        y = self._float_rows_product(rows) if self._recording(rows, samples) else self._product(rows, samples)
        return y.reshape(x.shape[:-1] + (self.out_features,)).to(x.dtype)

    def output_shape(self, shape: tuple) -> tuple:
        return shape[:-1] + (self.out_features,)

    def float_op(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        return F.linear(x, weight, bias)

    def extra_repr(self) -> str:
        return f"{nn.Linear.extra_repr(self)}, {self.crossbar_extra_repr()}"


def copy_parameters(source: Any, target: Any) -> None:
    """Copy the weight and the bias (``target`` was made with a bias when ``source`` has one)."""
    with torch.no_grad():
        target.weight.copy_(source.weight)
        if getattr(source, "bias", None) is not None and target.bias is not None:
            target.bias.copy_(source.bias)
