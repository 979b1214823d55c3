"""PyTorch layers whose products run on emulated ReRAM crossbars (``pip install 'cim-emu[torch]'``).

:class:`CrossbarLinear` and :class:`CrossbarConv2d` are drop-in replacements for
``nn.Linear`` and ``nn.Conv2d`` (``groups=1``); :func:`convert` swaps them into a trained
model, :func:`calibrate` fixes their input scales (and, with ``adc=``, their ADC full scales)
from data, :func:`calibrate_adc` their ADC full scales alone. Each layer's forward is exactly
:class:`cim_emu.reram.quantize.AnalogLayer` (the ReRAM float API) on the layer's
:class:`~cim_emu.reram.config.ReramConfig`, so the bits are the engine's:

* weights: ``W_q = clip(rint(W / s_w), -M, M)``, ``M = 2**(weight_bits-1) - 1``, with
  ``s_w = max|W| / M`` per output channel (default) or per tensor;
* inputs: ``x_q = clip(rint(x / s_x))`` (round-half-to-even), ``s_x`` dynamic (each batch's
  maximum), fixed, or calibrated from data (``max`` or a ``percentile`` of ``|x|``);
* ``y_q = x_q @ W_q`` through the crossbar pipeline (DAC chunks, ADC per column and tile,
  device noise, shift-and-add: :class:`~cim_emu.reram.crossbar.CrossbarArray`);
* ``y = y_q * (s_x * s_w) + bias`` in float64, returned in the input's dtype. **The bias and
  the scales stay digital**, as in real designs: only ``x_q @ W_q`` is analog.

A convolution is the same product on its im2col matrix: every output position's receptive
field (``C * kh * kw`` values, ``torch.nn.functional.unfold`` order) is one row of ``x``, the
kernel reshaped to ``(out_channels, C * kh * kw)`` and transposed is ``W``; any stride,
padding and dilation, ``groups=1`` only.

Training (hardware-aware, straight-through): the forward runs the emulated pipeline; the
backward is the gradient of the matching float op with the same quantized weights,
``y = x @ (W_q * s_w) + bias`` (:class:`_CrossbarProduct`), so that a model can be fine-tuned
to tolerate ADC quantization and device noise. In training mode a layer can also multiply its
weights by ``1 + weight_noise * z`` (``z`` standard normal, fresh per step, seeded) before
quantizing, and its crossbars are programmed with a fresh seed per step, so every step sees a
new draw of the device noise.

Tensors cross to the engine by DLPack without copies (a CPU tensor becomes a numpy array, a
CUDA tensor a CuPy array; a non-contiguous one is made contiguous first) and the result comes
back as a tensor on the input's device.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
from typing import Any, Callable, Iterable, Optional, Sequence, Union

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(f"cim_emu.torch needs PyTorch: pip install 'cim-emu[torch]' ({exc})") from None

import numpy

from .reram.config import ReramConfig
from .reram.quantize import AnalogLayer, quantize_inputs

__all__ = ["CrossbarLinear", "CrossbarConv2d", "convert", "calibrate", "calibrate_adc", "crossbar_layers", "to_array", "to_tensor"]

#: Float dtypes a crossbar layer accepts (the engine quantizes float64; both convert exactly).
FLOAT_DTYPES = (torch.float32, torch.float64)


def to_array(tensor: torch.Tensor) -> Any:
    """The tensor's data as a numpy array (CPU) or CuPy array (CUDA), shared through DLPack.

    Detached first; a non-contiguous tensor is made contiguous (the only copy)."""
    tensor = tensor.detach()
    if not tensor.is_contiguous():
        tensor = tensor.contiguous()
    if tensor.device.type == "cpu":
        return numpy.from_dlpack(tensor)
    if tensor.device.type == "cuda":
        import cupy  # noqa: PLC0415 - the GPU path needs CuPy ('cim-emu[gpu]')

        return cupy.from_dlpack(tensor)
    raise ValueError(f"crossbar layers run on CPU or CUDA tensors; got a tensor on {tensor.device}")


def to_tensor(array: Any, like: torch.Tensor) -> torch.Tensor:
    """A numpy or CuPy array back as a tensor (through DLPack), with ``like``'s dtype and device."""
    return torch.from_dlpack(array).to(device=like.device, dtype=like.dtype)


class _CrossbarProduct(torch.autograd.Function):
    """``y = layer(x)`` on the crossbars; backward: the float op ``x @ w_deq.T + bias``'s gradient.

    ``x`` is ``(B, K)``, ``weight`` ``(N, K)`` (torch layout), ``w_deq`` ``(N, K)`` the
    dequantized weights ``W_q * s_w`` (the straight-through surrogate) and ``analog`` the
    programmed :class:`AnalogLayer`. Gradients: ``dx = dy @ w_deq``, ``dweight = dy.T @ x``
    (passed straight through the quantizer to the float weights), ``dbias = dy.sum(0)``.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                w_deq: torch.Tensor, analog: AnalogLayer) -> torch.Tensor:
        ctx.save_for_backward(x, w_deq)
        ctx.has_bias = bias is not None
        return to_tensor(analog(to_array(x)), x)

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple:
        x, w_deq = ctx.saved_tensors
        grad_x = grad_y @ w_deq if ctx.needs_input_grad[0] else None
        grad_weight = grad_y.t() @ x if ctx.needs_input_grad[1] else None
        grad_bias = grad_y.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias, None, None


def _dequantized(analog: AnalogLayer, like: torch.Tensor) -> torch.Tensor:
    """``(W_q * s_w).T``, ``(N, K)``, in ``like``'s dtype and device."""
    return to_tensor(analog.quantized_weights * analog.weight_scale, like).t()


@dataclasses.dataclass
class _Calibration:
    """Input matrices recorded while calibrating (see :func:`calibrate`)."""

    method: str
    percentile: float
    inputs: list = dataclasses.field(default_factory=list)


class _CrossbarMixin:
    """What :class:`CrossbarLinear` and :class:`CrossbarConv2d` share: programming the crossbars
    (an :class:`AnalogLayer` of the weight matrix, cached until the weights change), the
    straight-through product and the input scale. Subclasses give ``_weight_matrix`` ``(N, K)``
    and turn their input into ``(B, K)`` rows and the ``(B, N)`` result back."""

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

    def crossbar_extra_repr(self) -> str:
        scale = "dynamic" if self.input_scale is None else f"{self.input_scale:.4g}"
        weights = "per_channel" if self.per_channel else "per_tensor"
        return f"{weights}, input_scale={scale}, weight_noise={self.weight_noise}, config=({self.config})"

    def analog_layer(self) -> AnalogLayer:
        """The :class:`AnalogLayer` holding the programmed crossbars of the current weights
        (eval mode: programmed once per weight version with ``seed``; training mode: reprogrammed
        every step with seed ``seed + step`` and, if set, multiplicative weight noise)."""
        weight = self._weight_matrix()
        bias = self.bias
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
        return _dequantized(self.analog_layer(), self._weight_matrix())

    def _product(self, rows: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` rows through the crossbars (or recorded, while calibrating), ``(B, N)`` out."""
        weight = self._weight_matrix()
        if rows.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{type(self).__name__} takes float32 or float64 inputs; got {rows.dtype}")
        if rows.device != weight.device:
            raise ValueError(f"{type(self).__name__}: input on {rows.device} but weights on {weight.device}; "
                             "move the model or the input")
        if self._calibration is not None:
            self._calibration.inputs.append(rows.detach().to(torch.float64).cpu())
            return F.linear(rows, weight.to(rows.dtype), None if self.bias is None else self.bias.to(rows.dtype))
        analog = self.analog_layer()
        w_deq = _dequantized(analog, rows)
        y = _CrossbarProduct.apply(rows, weight, self.bias, w_deq, analog)
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
        full_scale = analog.crossbars.largest_partial_sum(x_q, percentile=percentile if method == "percentile" else None)
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
                           padding_mode, device=device, dtype=dtype)
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

    def output_size(self, height: int, width: int) -> tuple:
        """``(H', W')``: ``floor((size + 2 p - d (k - 1) - 1) / s) + 1`` per dimension."""
        return tuple((size + 2 * p - d * (k - 1) - 1) // s + 1 for size, p, d, k, s in
                     zip((height, width), self.padding, self.dilation, self.kernel_size, self.stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"CrossbarConv2d expects a tensor (B, {self.in_channels}, H, W); got {shape}")
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"CrossbarConv2d takes float32 or float64 inputs; got {x.dtype}")
        batch = x.shape[0]
        out_h, out_w = self.output_size(x.shape[2], x.shape[3])
        if out_h < 1 or out_w < 1:
            raise ValueError(f"input {tuple(x.shape)} is smaller than the kernel's receptive field")
        columns = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)  # (B, K, L)
        rows = columns.transpose(1, 2).reshape(-1, columns.shape[1])
        y = self._product(rows)  # (B * L, out)
        return y.reshape(batch, out_h * out_w, self.out_channels).transpose(1, 2).reshape(
            batch, self.out_channels, out_h, out_w)

    def extra_repr(self) -> str:
        return f"{nn.Conv2d.extra_repr(self)}, {self.crossbar_extra_repr()}"


def _copy_parameters(source: nn.Module, target: nn.Module) -> None:
    with torch.no_grad():
        target.weight.copy_(source.weight)
        if source.bias is not None:
            target.bias.copy_(source.bias)


CROSSBAR_TYPES = {nn.Linear: CrossbarLinear, nn.Conv2d: CrossbarConv2d}


def _matches(name: str, patterns: Optional[Iterable[str]]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns or ())


def convert(model: nn.Module, config: Optional[ReramConfig] = None, include: Optional[Sequence[str]] = None,
            exclude: Optional[Sequence[str]] = None, *, inplace: bool = False,
            configs: Optional[dict] = None, seed: int = 0, **options: Any) -> nn.Module:
    """Replace ``model``'s ``nn.Linear`` and ``nn.Conv2d`` layers by crossbar layers, keeping
    their trained weights and biases (which stay digital).

    ``include``/``exclude`` are module names (as in ``model.named_modules()``) or ``fnmatch``
    patterns of them: a layer is converted when it matches ``include`` (default: every one)
    and not ``exclude``. ``configs`` maps names (or patterns) to a per-layer
    :class:`ReramConfig` in place of ``config``. Layer ``i`` (in ``named_modules`` order) gets
    device-noise seed ``seed + i``. Other ``options`` (``per_channel``, ``input_scale``,
    ``weight_noise``) go to every layer. Returns a converted copy (``inplace=False``, the
    default) or ``model`` itself. A ``Conv2d`` with ``groups != 1`` raises ``ValueError``
    unless excluded.
    """
    model = model if inplace else copy.deepcopy(model)
    chosen = [(name, module) for name, module in model.named_modules()
              if type(module) in CROSSBAR_TYPES and (include is None or _matches(name, include))
              and not _matches(name, exclude)]
    for index, (name, module) in enumerate(chosen):
        layer_config = next((c for pattern, c in (configs or {}).items() if fnmatch.fnmatchcase(name, pattern)), config)
        layer = CROSSBAR_TYPES[type(module)].from_float(module, layer_config, seed=(seed + index) % 2**64, **options)
        layer.train(module.training)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, layer)
    return model


def crossbar_layers(model: nn.Module) -> list:
    """``(name, layer)`` of every crossbar layer in ``model``."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, _CrossbarMixin)]


def _recorded_rows(model: nn.Module, batches: Union[torch.Tensor, Iterable], forward: Optional[Callable]) -> list:
    """``[(name, layer, rows)]``: the rows every crossbar layer receives while the model runs in float."""
    layers = crossbar_layers(model)
    for _, layer in layers:
        layer._calibration = _Calibration("max", 100.0)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in [batches] if isinstance(batches, torch.Tensor) else batches:
                if forward is not None:
                    forward(model, batch)
                else:
                    model(batch[0] if isinstance(batch, (tuple, list)) else batch)
        recorded = {name: layer._calibration for name, layer in layers}
    finally:
        for _, layer in layers:
            layer._calibration = None
        model.train(was_training)
    result = []
    for name, layer in layers:
        if not recorded[name].inputs:
            raise ValueError(f"calibrate: layer {name!r} received no input")
        result.append((name, layer, torch.cat(recorded[name].inputs)))
    return result


def calibrate(model: nn.Module, batches: Union[torch.Tensor, Iterable], method: str = "max",
              percentile: float = 99.99, forward: Optional[Callable] = None, *,
              adc: Optional[str] = None, adc_percentile: float = 99.99) -> dict:
    """Fix every crossbar layer's input scale (and, with ``adc``, its ADC full scale) from data;
    returns ``{name: scale}``.

    ``batches`` is one input tensor or an iterable of them (or of tuples whose first item is
    the input; ``forward(model, batch)`` overrides how a batch is run). The model runs in
    float (each crossbar layer applies its float weights) while the rows every layer receives
    are recorded; then each layer's scale is :meth:`AnalogLayer.calibrate` over all its rows
    (``max|x|`` or a ``percentile`` of ``|x|``). ``adc="max"`` or ``"percentile"`` then also
    sets each layer's ADC full scale from the same rows, quantized with the new input scale
    (:meth:`CrossbarLinear.calibrate_adc`, with ``adc_percentile``); the full scales are
    readable as ``layer.config.adc.full_scale``.
    """
    scales = {}
    for name, layer, rows in _recorded_rows(model, batches, forward):
        scales[name] = layer.calibrate_inputs(rows, method, percentile)
        if adc is not None:
            layer.calibrate_adc(rows, adc, adc_percentile)
    return scales


def calibrate_adc(model: nn.Module, batches: Union[torch.Tensor, Iterable], method: str = "max",
                  percentile: float = 99.99, forward: Optional[Callable] = None) -> dict:
    """Set every crossbar layer's ADC full scale from data, keeping its input scale; returns
    ``{name: full_scale}``.

    The rows each layer receives (recorded as in :func:`calibrate`, model in float) are
    quantized with the layer's input scale (calibrate it first: a dynamic scale takes the
    rows' maximum) and the full scale becomes the largest ideal partial sum over every
    conversion (``method="max"``) or the ``percentile`` of them
    (:meth:`cim_emu.reram.crossbar.CrossbarArray.largest_partial_sum`). A smaller full scale
    gives a finer ADC step (``full_scale / Q``); partial sums above it clip. Each layer is
    reprogrammed with ``dataclasses.replace(config, adc=dataclasses.replace(config.adc,
    full_scale=...))`` and the same seed.
    """
    return {name: layer.calibrate_adc(rows, method, percentile)
            for name, layer, rows in _recorded_rows(model, batches, forward)}
