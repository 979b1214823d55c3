"""Crossbar layers: :class:`CrossbarLinear` and :class:`CrossbarConv2d`, and their shared base.

:class:`_CrossbarMixin` programs the crossbars (an :class:`~cim_emu.reram.quantize.AnalogLayer`
of the layer's weight matrix, cached until the weights change, reprogrammed every training
step when noisy), runs rows through them (:func:`~cim_emu.nn.functions.crossbar_product`),
holds the input scale and calibrates one layer's input scale and ADC full scale. The two
layers only turn their inputs into ``(B, K)`` rows and the ``(B, N)`` result back; without
autograd a convolution quantizes its input before unfolding it
(:meth:`CrossbarConv2d._quantized_forward`, the same bits). What they compute: see
:mod:`cim_emu.nn`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..reram.config import ReramConfig
from ..reram.quantize import AnalogLayer, quantize_inputs
from .functions import crossbar_product, dequantized, needs_grad, to_array, to_tensor

#: Float dtypes a crossbar layer accepts (the engine quantizes float64; both convert exactly).
FLOAT_DTYPES = (torch.float32, torch.float64)


@dataclasses.dataclass
class _Calibration:
    """Input matrices recorded while calibrating (see :func:`cim_emu.nn.conversion.calibrate`)."""

    method: str
    percentile: float
    inputs: list = dataclasses.field(default_factory=list)


class _CrossbarMixin:
    """What :class:`CrossbarLinear` and :class:`CrossbarConv2d` share: programming the crossbars
    (an :class:`AnalogLayer` of the weight matrix, cached until the weights change), the
    straight-through product and the input scale. Subclasses give ``_weight_matrix`` ``(N, K)``
    and turn their input into ``(B, K)`` rows and the ``(B, N)`` result back."""

    # nn.Module's mode flag, declared for the type checker (an annotation without a value
    # leaves nn.Module's attribute in place); the bias comes through _bias_vector, as nn.Linear
    # and nn.Conv2d type their bias differently.
    training: bool

    def _setup_crossbars(self, config: Optional[ReramConfig], per_channel: bool,
                         input_scale: Optional[float], seed: int, weight_noise: float) -> None:
        config = config or ReramConfig()
        if not isinstance(config, ReramConfig):
            raise TypeError(f"config must be a ReramConfig; got {type(config).__name__}")
        if not (isinstance(weight_noise, (int, float)) and weight_noise >= 0):
            raise ValueError(f"weight_noise must be a non-negative number; got {weight_noise!r}")
        if input_scale is not None and not (isinstance(input_scale, (int, float)) and input_scale > 0):
            raise ValueError(f"input_scale must be None (dynamic) or a positive number; got {input_scale!r}")
        self.config = config
        self.per_channel = bool(per_channel)
        self.input_scale = None if input_scale is None else float(input_scale)
        self.seed = int(seed)
        self.weight_noise = float(weight_noise)
        self.training_steps = 0
        self._programmed: Optional[tuple] = None
        self._calibration: Optional[_Calibration] = None

    def _weight_matrix(self) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def _bias_vector(self) -> Optional[torch.Tensor]:  # pragma: no cover - overridden
        raise NotImplementedError

    def crossbar_extra_repr(self) -> str:
        scale = "dynamic" if self.input_scale is None else f"{self.input_scale:.4g}"
        weights = "per_channel" if self.per_channel else "per_tensor"
        return f"{weights}, input_scale={scale}, weight_noise={self.weight_noise}, config=({self.config})"

    def analog_layer(self) -> AnalogLayer:
        """The :class:`AnalogLayer` holding the programmed crossbars of the current weights
        (eval mode: programmed once per weight version with ``seed``; training mode: reprogrammed
        every step with seed ``seed + step`` and, if set, multiplicative weight noise)."""
        weight = self._weight_matrix()
        bias = self._bias_vector()
        noisy = self.training and (self.weight_noise > 0 or not self.config.devices.ideal)
        key = (weight._version, weight.data_ptr(), None if bias is None else bias._version,
               self.config, self.per_channel, self.seed, noisy)
        if noisy or self._programmed is None or self._programmed[0] != key:
            seed = (self.seed + self.training_steps) % 2**64 if noisy else self.seed
            matrix = weight.detach()
            if self.training and self.weight_noise > 0:
                generator = torch.Generator(device=matrix.device).manual_seed(seed)
                z = torch.randn(matrix.shape, generator=generator, device=matrix.device, dtype=matrix.dtype)
                matrix = matrix * (1 + self.weight_noise * z)
            matrix = to_array(matrix.t())
            analog = AnalogLayer(matrix, self.config, bias=None if bias is None else to_array(bias),
                                 per_channel=self.per_channel, seed=seed, backend="auto")
            self._programmed = (key, analog)
        analog = self._programmed[1]
        analog.input_scale = self.input_scale
        return analog

    def dequantized_weight(self) -> torch.Tensor:
        """``W_q * s_w`` in torch layout ``(N, K)``: the weights the crossbars hold, as floats."""
        return dequantized(self.analog_layer(), self._weight_matrix())

    def _check_input(self, x: torch.Tensor) -> None:
        weight = self._weight_matrix()
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{type(self).__name__} takes float32 or float64 inputs; got {x.dtype}")
        if x.device != weight.device:
            raise ValueError(f"{type(self).__name__}: input on {x.device} but weights on {weight.device}; "
                             "move the model or the input")

    def _product(self, rows: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` rows through the crossbars (or recorded, while calibrating), ``(B, N)`` out."""
        weight, bias = self._weight_matrix(), self._bias_vector()
        self._check_input(rows)
        if self._calibration is not None:
            self._calibration.inputs.append(rows.detach().to(torch.float64).cpu())
            return F.linear(rows, weight.to(rows.dtype), None if bias is None else bias.to(rows.dtype))
        y = crossbar_product(rows, weight, bias, self.analog_layer())
        if self.training and torch.is_grad_enabled():
            self.training_steps += 1
        return y

    def calibrate_inputs(self, rows: Any, method: str = "max", percentile: float = 99.99) -> float:
        """Fix the input scale from sample input rows ``(B, K)`` (a tensor or an array) by
        :meth:`AnalogLayer.calibrate`: ``max|x|`` or a ``percentile`` of ``|x|``, over the
        levels of the configured input encoding. Returns the scale."""
        if isinstance(rows, torch.Tensor):
            rows = to_array(rows.to(torch.float64))
        self.input_scale = self.analog_layer().calibrate(rows, method, percentile)
        return self.input_scale

    def calibrate_adc(self, rows: Any, method: str = "max", percentile: float = 99.99) -> int:
        """Set the ADC full scale from sample input rows ``(B, K)`` (a tensor or an array).

        The rows are quantized as the forward quantizes them (with the layer's input scale; a
        dynamic one takes the rows' maximum), and the full scale becomes the largest ideal
        partial sum they produce over every conversion (``method="max"``) or that
        ``percentile`` of them (``"percentile"``): :meth:`CrossbarArray.largest_partial_sum`.
        Partial sums above it clip to the top code; below it the ADC step shrinks to
        ``full_scale / Q``. The layer's config becomes ``dataclasses.replace(config,
        adc=dataclasses.replace(config.adc, full_scale=...))``, so its crossbars are
        reprogrammed (same seed) on the next forward. Returns the full scale.
        """
        if method not in ("max", "percentile"):
            raise ValueError(f"method must be 'max' or 'percentile'; got {method!r}")
        if isinstance(rows, torch.Tensor):
            rows = to_array(rows.to(torch.float64))
        analog = self.analog_layer()
        x_q, _ = quantize_inputs(analog.backend.asarray(rows), self.config, self.input_scale, xp=analog.backend.xp)
        full_scale = analog.crossbars.largest_partial_sum(x_q,
                                                          percentile=percentile if method == "percentile" else None)
        self.config = dataclasses.replace(self.config, adc=dataclasses.replace(self.config.adc, full_scale=full_scale))
        return full_scale


class CrossbarLinear(_CrossbarMixin, nn.Linear):
    """``nn.Linear`` whose product ``x @ W.T`` runs on emulated ReRAM crossbars.

    ``y = (x_q @ W_q) * (s_x * s_w) + bias`` exactly as :class:`AnalogLayer` computes it for
    the weights ``W.T`` (see the module docstring); the bias and the scales stay digital.
    Inputs ``(..., in_features)`` of dtype float32 or float64, on the weights' device.

    Parameters beyond ``nn.Linear``'s: ``config`` (the :class:`ReramConfig`), ``per_channel``
    (weight scale per output feature, else per tensor), ``input_scale`` (``None``: dynamic, or a
    fixed positive number; see :meth:`calibrate_inputs`), ``seed`` (device noise), and
    ``weight_noise`` (relative std of multiplicative Gaussian weight noise in training).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 config: Optional[ReramConfig] = None, per_channel: bool = True,
                 input_scale: Optional[float] = None, seed: int = 0, weight_noise: float = 0.0,
                 device: Any = None, dtype: Any = None) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias, device=device, dtype=dtype)
        self._setup_crossbars(config, per_channel, input_scale, seed, weight_noise)

    @classmethod
    def from_float(cls, linear: nn.Linear, config: Optional[ReramConfig] = None, **options: Any) -> "CrossbarLinear":
        """A crossbar layer with ``linear``'s trained weights and bias (copied)."""
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, config=config,
                    device=linear.weight.device, dtype=linear.weight.dtype, **options)
        _copy_parameters(linear, layer)
        return layer

    def _weight_matrix(self) -> torch.Tensor:
        return self.weight

    def _bias_vector(self) -> Optional[torch.Tensor]:
        return self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim < 1 or x.shape[-1] != self.in_features:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"CrossbarLinear expects a tensor (..., {self.in_features}); got {shape}")
        y = self._product(x.reshape(-1, self.in_features))
        return y.reshape(x.shape[:-1] + (self.out_features,))

    def extra_repr(self) -> str:
        return f"{nn.Linear.extra_repr(self)}, {self.crossbar_extra_repr()}"


class CrossbarConv2d(_CrossbarMixin, nn.Conv2d):
    """``nn.Conv2d`` (``groups=1``, zero padding) as im2col onto emulated ReRAM crossbars.

    The input ``(B, C, H, W)`` is unfolded into rows of ``C * kh * kw`` values, one per output
    position (any stride, padding, dilation), multiplied by the kernel as a ``(C*kh*kw, out)``
    matrix exactly as :class:`AnalogLayer` computes it, and folded back to ``(B, out, H', W')``.
    The bias and the scales stay digital. Other parameters: see :class:`CrossbarLinear`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", *, config: Optional[ReramConfig] = None, per_channel: bool = True,
                 input_scale: Optional[float] = None, seed: int = 0, weight_noise: float = 0.0,
                 device: Any = None, dtype: Any = None) -> None:
        if groups != 1:
            raise ValueError(f"CrossbarConv2d supports groups=1 only (one dense crossbar product); got groups={groups}")
        if padding_mode != "zeros":
            raise ValueError(f"CrossbarConv2d supports padding_mode='zeros' only; got {padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"CrossbarConv2d takes integer padding; got padding={padding!r}")
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                           "zeros", device=device, dtype=dtype)
        self._setup_crossbars(config, per_channel, input_scale, seed, weight_noise)

    @classmethod
    def from_float(cls, conv: nn.Conv2d, config: Optional[ReramConfig] = None, **options: Any) -> "CrossbarConv2d":
        """A crossbar layer with ``conv``'s geometry, trained weights and bias (copied)."""
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode, config=config,
                    device=conv.weight.device, dtype=conv.weight.dtype, **options)
        _copy_parameters(conv, layer)
        return layer

    def _weight_matrix(self) -> torch.Tensor:
        return self.weight.reshape(self.out_channels, -1)

    def _bias_vector(self) -> Optional[torch.Tensor]:
        return self.bias

    @property
    def _integer_padding(self) -> tuple[int, ...]:
        """``padding`` as integers (``__init__`` refuses the strings ``nn.Conv2d`` also takes)."""
        if isinstance(self.padding, str):
            raise ValueError(f"CrossbarConv2d takes integer padding; got padding={self.padding!r}")
        return self.padding

    def output_size(self, height: int, width: int) -> tuple:
        """``(H', W')``: ``floor((size + 2 p - d (k - 1) - 1) / s) + 1`` per dimension."""
        return tuple((size + 2 * p - d * (k - 1) - 1) // s + 1 for size, p, d, k, s in
                     zip((height, width), self._integer_padding, self.dilation, self.kernel_size, self.stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"CrossbarConv2d expects a tensor (B, {self.in_channels}, H, W); got {shape}")
        self._check_input(x)
        batch = x.shape[0]
        out_h, out_w = self.output_size(x.shape[2], x.shape[3])
        if out_h < 1 or out_w < 1:
            raise ValueError(f"input {tuple(x.shape)} is smaller than the kernel's receptive field")
        if self._calibration is None and not needs_grad(x, self.weight, self.bias):
            y = self._quantized_forward(x)
        else:
            columns = F.unfold(x, self.kernel_size, self.dilation, self._integer_padding, self.stride)  # (B, K, L)
            y = self._product(columns.transpose(1, 2).reshape(-1, columns.shape[1]))  # (B * L, out)
        return y.reshape(batch, out_h * out_w, self.out_channels).transpose(1, 2).reshape(
            batch, self.out_channels, out_h, out_w)

    def _quantized_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The forward without autograd: the input quantized once per value, then unfolded.

        Quantizing is element-wise, with one scale: the rows of ``F.unfold`` hold the values the
        kernel covers (each up to ``kh * kw`` times) and padding zeros, which quantize to 0 and
        add nothing to ``max|x|``. So the input, its uncovered values set to 0 (a stride past
        the kernel skips some), gives the same checks, scale and integers as its rows, from up to
        ``kh * kw`` times fewer values; the integer rows are then unfolded. Same bits as
        :meth:`_product` on the float rows.
        """
        analog = self.analog_layer()
        xp = analog.backend.xp
        covered = self._covered(x.shape[2], x.shape[3], x.device)
        values = x if covered is None else x.masked_fill(~covered, 0)
        x_q, x_scale = quantize_inputs(analog.backend.asarray(to_array(values)), self.config, analog.input_scale, xp=xp)
        return to_tensor(analog.quantized_product(self._unfolded(x_q, xp), x_scale), x)

    def _unfolded(self, x: Any, xp: Any) -> Any:
        """The rows ``(B * H' * W', C * kh * kw)`` of an array ``x`` ``(B, C, H, W)``, as
        ``F.unfold(x).transpose(1, 2)`` orders them: a strided view of the zero-padded array,
        copied once."""
        B, C, H, W = x.shape
        (ph, pw), (dh, dw), (sh, sw), (kh, kw) = self._integer_padding, self.dilation, self.stride, self.kernel_size
        if ph or pw:
            padded = xp.zeros((B, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
            padded[:, :, ph:ph + H, pw:pw + W] = x
            x = padded
        out_h, out_w = self.output_size(H, W)
        sB, sC, sH, sW = x.strides
        windows = xp.lib.stride_tricks.as_strided(x, (B, out_h, out_w, C, kh, kw),
                                                  (sB, sH * sh, sW * sw, sC, sH * dh, sW * dw))
        return windows.reshape(B * out_h * out_w, C * kh * kw)

    def _covered(self, height: int, width: int, device: Any) -> Optional[torch.Tensor]:
        """``(H, W)`` mask of the input positions some output's receptive field covers, or
        ``None`` when it covers them all."""
        masks = []
        for size, out, k, s, p, d in zip((height, width), self.output_size(height, width), self.kernel_size,
                                         self.stride, self._integer_padding, self.dilation):
            positions = (torch.arange(out)[:, None] * s + torch.arange(k)[None] * d - p).reshape(-1)
            mask = torch.zeros(size, dtype=torch.bool)
            mask[positions[(positions >= 0) & (positions < size)]] = True
            masks.append(mask)
        if bool(masks[0].all()) and bool(masks[1].all()):
            return None
        return (masks[0][:, None] & masks[1][None, :]).to(device)

    def extra_repr(self) -> str:
        return f"{nn.Conv2d.extra_repr(self)}, {self.crossbar_extra_repr()}"


def _copy_parameters(source: Union[nn.Linear, nn.Conv2d], target: Union[CrossbarLinear, CrossbarConv2d]) -> None:
    """Copy the weight and the bias (``target`` was made with a bias when ``source`` has one)."""
    with torch.no_grad():
        target.weight.copy_(source.weight)
        if source.bias is not None and target.bias is not None:
            target.bias.copy_(source.bias)
