"""What every crossbar layer shares: :class:`CrossbarLayer`.

A crossbar layer is a torch layer (``nn.Linear``, ``nn.Conv1d``, ``nn.Conv2d``) whose weight
matrix ``(N, K)`` is programmed into emulated crossbars (one
:class:`~cim_emu.reram.quantize.AnalogLayer` per group of a grouped convolution, one otherwise),
cached until the weights, the configuration or the read time change, and reprogrammed every
training step when noisy. This module holds that programming, the input scales (fixed,
calibrated, or dynamic per sample, per token or per batch), the straight-through product of
``(R, K)`` rows, the calibration of one layer, the layer's state (``state_dict`` extra state,
pickling) and the errors that name the layer. What the layers compute: see :mod:`cim_emu.nn`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Iterator, Optional

import torch
import torch.nn.functional as F

from .._checks import nonnegative_number
from .._memory import release_free_memory
from ..reram.config import ReramConfig
from ..reram.quantize import AnalogLayer, input_levels, quantize_inputs
from . import compiled
from .functions import crossbar_product, dequantized, engine_device, to_array
from .state import LayerState, check_dynamic_scale

#: Input dtypes a crossbar layer accepts: float32 and float64 are computed as they are (the
#: engine quantizes in float64, exact from both); float16 and bfloat16 are computed as float32
#: (exact) and the output returned in the input's dtype.
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

#: Seed stride between the groups of a grouped convolution: group ``g``'s crossbars take seed
#: ``seed + g * GROUP_SEED_STRIDE`` (mod ``2**64``), far from the ``seed + i`` that
#: :func:`~cim_emu.nn.conversion.convert` gives the model's layers; group 0 keeps ``seed``.
GROUP_SEED_STRIDE = 2**32


class LayerValueError(ValueError):
    """A ``ValueError`` raised in a crossbar layer's forward, its message led by the layer's path."""


class LayerTypeError(TypeError):
    """A ``TypeError`` raised in a crossbar layer's forward, its message led by the layer's path."""


_NAMED_ERRORS: dict[type, type] = {ValueError: LayerValueError, TypeError: LayerTypeError}


@dataclasses.dataclass
class _Calibration:
    """The rows a layer received while its model ran in float (see :mod:`cim_emu.nn.conversion`):
    one ``(rows float64 on the CPU, samples)`` per forward."""

    chunks: list = dataclasses.field(default_factory=list)

    def record(self, rows: torch.Tensor, samples: int) -> None:
        self.chunks.append((rows.detach().to(torch.float64).cpu(), samples))


class CrossbarLayer(LayerState):
    """The base of :class:`CrossbarLinear`, :class:`CrossbarConv1d` and :class:`CrossbarConv2d`
    (a mixin beside the torch layer they subclass).

    Subclasses give ``_weight_matrix()`` ``(N, K / groups)`` and ``_bias_vector()``, turn
    their input into ``(R, K)`` rows (``samples`` samples of ``R / samples`` rows each) and the
    ``(R, N)`` result back. Attributes: ``config``, ``per_channel``, ``input_scale`` (``None``:
    dynamic), ``dynamic_scale``, ``seed``, ``weight_noise``, ``read_time`` and
    ``drift_compensation`` (:meth:`set_read_time`), ``training_steps``, and ``layer_path`` (the
    layer's name in its model, which every error raised in its forward starts with).
    """

    # nn.Module's mode flag, declared for the type checker (an annotation without a value
    # leaves nn.Module's attribute in place).
    training: bool
    groups: int

    def _setup_crossbars(self, config: Optional[ReramConfig], per_channel: bool, input_scale: Optional[float],
                         seed: int, weight_noise: float, dynamic_scale: str) -> None:
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
        self.dynamic_scale = check_dynamic_scale(dynamic_scale)
        self.seed = int(seed)
        self.weight_noise = float(weight_noise)
        self.read_time: Optional[float] = None
        self.drift_compensation = False
        self.training_steps = 0
        self.layer_path = ""
        self._programmed: Optional[tuple] = None
        self._restored_reads: Optional[list] = None
        self._calibration: Optional[_Calibration] = None
        self.op_handle = compiled.register(self)

    def _weight_matrix(self) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def _bias_vector(self) -> Optional[torch.Tensor]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def output_shape(self, shape: tuple) -> tuple:  # pragma: no cover - overridden
        """The output's shape for an input of ``shape``."""
        raise NotImplementedError

    def float_op(self, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        """The layer's float op with the given weight (the torch layer's shape) and bias."""
        raise NotImplementedError  # pragma: no cover - overridden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer on ``x``; while ``torch.compile`` traces it, through the custom operator
        ``cim_emu::crossbar_layer`` (:mod:`cim_emu.nn.compiled`), with the same bits."""
        if torch.compiler.is_compiling():
            return compiled.compiled_forward(self, x)
        return self.eager_forward(x, training_step=self.training and torch.is_grad_enabled())

    def eager_forward(self, x: torch.Tensor, training_step: bool = False) -> torch.Tensor:
        """The forward, its errors naming the layer; a ``training_step`` is counted (training
        mode with autograd: noisy crossbars are programmed with a fresh seed per step)."""
        with self._errors_named(), engine_device(self._weight_matrix().device):
            y = self._forward(x)
        if training_step:  # not trimmed: the step's next layers and its backward reuse the pages at once
            self.training_steps += 1
        else:
            release_free_memory()
        return y

    @property
    def crossbar_groups(self) -> int:
        """Independent weight blocks, each its own crossbars (a convolution's ``groups``)."""
        return getattr(self, "groups", 1)

    def crossbar_extra_repr(self) -> str:
        scale = f"dynamic {self.dynamic_scale}" if self.input_scale is None else f"{self.input_scale:.4g}"
        weights = "per_channel" if self.per_channel else "per_tensor"
        time = "" if self.read_time is None else f", read_time={self.read_time:g}"
        return (f"{weights}, input_scale={scale}, weight_noise={self.weight_noise}{time}, "
                f"config=({self.config})")

    # -- programming ---------------------------------------------------------------------------
    def _blocks(self, weight: Optional[torch.Tensor] = None) -> list:
        """``[(weight (N_g, K_g), bias or None)]``, one per group: views of ``weight`` (default:
        the layer's weight matrix) and of the bias."""
        weight = self._weight_matrix() if weight is None else weight
        bias, groups = self._bias_vector(), self.crossbar_groups
        n = weight.shape[0] // groups
        return [(weight[g * n:(g + 1) * n], None if bias is None else bias[g * n:(g + 1) * n]) for g in range(groups)]

    def analog_layers(self) -> list:
        """One :class:`AnalogLayer` per group holding the programmed crossbars of the current
        weights (eval mode: programmed once per weight version with ``seed``, group ``g`` with
        ``seed + g * GROUP_SEED_STRIDE``; training mode: reprogrammed every step with seed
        ``seed + step`` and, if set, multiplicative weight noise), read at ``read_time``."""
        weight, bias = self._weight_matrix(), self._bias_vector()
        noisy = self.training and (self.weight_noise > 0 or not self.config.devices.ideal)
        key = (weight._version, weight.data_ptr(), None if bias is None else bias._version, self.config,
               self.per_channel, self.seed, noisy, self.read_time, self.drift_compensation)
        if noisy or self._programmed is None or self._programmed[0] != key:
            seed = (self.seed + self.training_steps) % 2**64 if noisy else self.seed
            matrix = weight.detach()
            if matrix.dtype not in (torch.float32, torch.float64):
                matrix = matrix.to(torch.float32)
            if self.training and self.weight_noise > 0:
                generator = torch.Generator(device=matrix.device).manual_seed(seed)
                z = torch.randn(matrix.shape, generator=generator, device=matrix.device, dtype=matrix.dtype)
                matrix = matrix * (1 + self.weight_noise * z)
            analogs = [self._program(block, block_bias, (seed + g * GROUP_SEED_STRIDE) % 2**64)
                       for g, (block, block_bias) in enumerate(self._blocks(matrix))]
            if self._restored_reads is not None and len(self._restored_reads) == len(analogs):
                for analog, reads in zip(analogs, self._restored_reads):
                    analog.crossbars.reads = int(reads)
            self._restored_reads = None
            self._programmed = (key, analogs)
            if not noisy:  # programmed once: hand back the pages its temporaries left in the C heap
                release_free_memory()
        analogs = self._programmed[1]
        for analog in analogs:
            analog.input_scale = self.input_scale
        return analogs

    def program(self) -> None:
        """Program the crossbars of the current weights and configuration now, not on the next
        forward (:meth:`analog_layers`); :func:`~cim_emu.nn.calibrate` does it for every layer
        in eval mode."""
        with engine_device(self._weight_matrix().device):
            self.analog_layers()

    def _program(self, matrix: torch.Tensor, bias: Optional[torch.Tensor], seed: int) -> AnalogLayer:
        if bias is not None and bias.dtype not in (torch.float32, torch.float64):
            bias = bias.to(torch.float32)
        read_time = self.read_time
        compensated = read_time is not None and self.drift_compensation
        analog = AnalogLayer(to_array(matrix.t()), self.config, bias=None if bias is None else to_array(bias),
                             per_channel=self.per_channel, seed=seed, backend="auto",
                             read_time=None if compensated else read_time)
        if read_time is not None and compensated:
            analog.crossbars = analog.crossbars.at_time(read_time, drift_compensation=True)
        return analog

    def analog_layer(self) -> AnalogLayer:
        """The single :class:`AnalogLayer` of an ungrouped layer (see :meth:`analog_layers`)."""
        if self.crossbar_groups != 1:
            raise ValueError(f"{self._where()} has {self.crossbar_groups} groups, each its own crossbars: "
                             "use analog_layers()")
        return self.analog_layers()[0]

    def dequantized_weight(self) -> torch.Tensor:
        """``W_q * s_w`` in torch layout ``(N, K / groups)``: the weights the crossbars hold, as floats."""
        return torch.cat([self.dequantized_of(analog) for analog in self.analog_layers()])

    def dequantized_of(self, analog: AnalogLayer) -> torch.Tensor:
        """One group's ``W_q * s_w``, ``(N / groups, K / groups)``, in the weights' dtype and device."""
        return dequantized(analog, self._weight_matrix())

    def set_read_time(self, t_seconds: Optional[float], drift_compensation: bool = False) -> None:
        """Read the crossbars ``t_seconds`` after programming (drift and the device preset's time
        model; ``None``: right after programming), with aihwkit-style global drift compensation
        when ``drift_compensation`` (:meth:`cim_emu.reram.crossbar.CrossbarArray.at_time`). The
        crossbars are programmed again (same seed) on the next forward."""
        if t_seconds is not None:
            t_seconds = nonnegative_number("t_seconds", t_seconds)
        self.read_time = t_seconds
        self.drift_compensation = bool(drift_compensation)

    # -- the forward -----------------------------------------------------------------------------
    def _where(self) -> str:
        """``layer 'path'`` (its name in the model, set by ``convert``), or the class name."""
        return f"layer {self.layer_path!r}" if self.layer_path else type(self).__name__

    @contextlib.contextmanager
    def _errors_named(self) -> Iterator[None]:
        """Re-raise a ``ValueError`` or ``TypeError`` from the forward as a
        :class:`LayerValueError` or :class:`LayerTypeError` whose message starts with the layer."""
        try:
            yield
        except (ValueError, TypeError) as error:
            if type(error) not in _NAMED_ERRORS:  # a subclass (already named by an inner layer, or numpy's)
                raise
            raise _NAMED_ERRORS[type(error)](f"{self._where()}: {error}") from error

    def _compute_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` checked (dtype, device), as the dtype it is computed in (float16/bfloat16 -> float32)."""
        weight = self._weight_matrix()
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{type(self).__name__} takes float16, bfloat16, float32 or float64 inputs; "
                            f"got {x.dtype}")
        if x.device != weight.device:
            raise ValueError(f"input on {x.device} but weights on {weight.device}; move the model or the input")
        return x if x.dtype in (torch.float32, torch.float64) else x.to(torch.float32)

    def _sample_scales(self, values: torch.Tensor, samples: int) -> torch.Tensor:
        """``(samples,)`` float64 dynamic scales: ``max|v| / levels`` over each of ``samples``
        equal parts of ``values`` (1 where that maximum is 0), as the engine's dynamic scale."""
        if samples == 0:
            return torch.zeros(0, dtype=torch.float64, device=values.device)
        maximum = values.detach().reshape(samples, -1).abs().amax(1).to(torch.float64)
        return torch.where(maximum > 0, maximum / input_levels(self.config), torch.ones_like(maximum))

    def _row_scales(self, rows: torch.Tensor, samples: int) -> Any:
        """The scale the rows ``(R, K)`` are quantized with: the fixed one, ``None`` (dynamic
        over the batch), or an array ``(R, 1)`` (per sample or per token)."""
        if self.input_scale is not None:
            return self.input_scale
        if self.dynamic_scale == "per_batch":  # one scale over all the rows (all groups of a convolution)
            return float(self._sample_scales(rows, 1)[0]) if rows.numel() else None
        groups = rows.shape[0] if self.dynamic_scale == "per_token" else samples
        scales = self._sample_scales(rows, groups)
        if groups and groups != rows.shape[0]:
            scales = scales.repeat_interleave(rows.shape[0] // groups)
        return to_array(scales[:, None])

    def _recording(self, rows: torch.Tensor, samples: int) -> bool:
        """While calibrating, record the rows and say so (the caller then runs in float)."""
        if self._calibration is None:
            return False
        self._calibration.record(rows, samples)
        return True

    def _product(self, rows: torch.Tensor, samples: int) -> torch.Tensor:
        """``(R, K)`` rows of ``samples`` samples through the crossbars, ``(R, N)`` out (each
        group's columns of the rows through its own crossbars, the outputs side by side)."""
        analogs = self.analog_layers()
        scale = self._row_scales(rows, samples)
        outputs = []
        width = rows.shape[1] // len(analogs)
        for g, (analog, (weight, bias)) in enumerate(zip(analogs, self._blocks())):
            block = rows if len(analogs) == 1 else rows[:, g * width:(g + 1) * width]
            outputs.append(crossbar_product(block, weight.to(rows.dtype), None if bias is None else bias.to(rows.dtype),
                                            analog, scale))
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)

    # -- calibration of one layer ----------------------------------------------------------------
    def calibrate_inputs(self, rows: Any, method: str = "max", percentile: float = 99.99) -> float:
        """Fix the input scale from sample input rows ``(R, K)`` (a tensor or an array) by
        :meth:`AnalogLayer.calibrate`: ``max|x|`` or a ``percentile`` of ``|x|``, over the
        levels of the configured input encoding. Returns the scale."""
        if isinstance(rows, torch.Tensor):
            rows = to_array(rows.to(torch.float64))
        with engine_device(self._weight_matrix().device):
            self.input_scale = self.analog_layers()[0].calibrate(rows, method, percentile)
        return self.input_scale

    def calibrate_adc(self, rows: Any, method: str = "max", percentile: float = 99.99, *,
                      samples: Optional[int] = None, per_slice_and_chunk: bool = False) -> Any:
        """Set the ADC full scale from sample input rows ``(R, K)`` (a tensor or an array).

        The rows are quantized as the forward quantizes them (with the layer's input scale; a
        dynamic one is taken over ``samples`` equal parts of the rows, default one per row,
        or over all of them with ``dynamic_scale="per_batch"``), and the full scale becomes the
        largest ideal partial sum they produce over every conversion (``method="max"``) or that
        ``percentile`` of them (``"percentile"``): :meth:`CrossbarArray.largest_partial_sum`; a
        grouped convolution takes the largest of its groups' values. Partial sums above it clip
        (to the code ``full_scale`` itself when it is at most ``Q``, with a unit step; else to
        ``Q``, with the step ``full_scale / Q``). The layer's config
        becomes ``dataclasses.replace(config, adc=dataclasses.replace(config.adc,
        full_scale=...))``, so its crossbars are reprogrammed (same seed) on the next forward.
        Returns the full scale. ``per_slice_and_chunk=True`` sets one full scale per weight
        slice and input chunk instead (``AdcConfig(full_scales=...)``, from
        :meth:`CrossbarArray.largest_partial_sums`) and returns them.
        """
        rows = rows if isinstance(rows, torch.Tensor) else torch.as_tensor(rows)
        return self._calibrate_adc_chunks([(rows.to(torch.float64), rows.shape[0] if samples is None else samples)],
                                          method, percentile, per_slice_and_chunk)

    def _calibrate_adc_chunks(self, chunks: list, method: str, percentile: float,
                              per_slice_and_chunk: bool = False) -> Any:
        if method not in ("max", "percentile"):
            raise ValueError(f"method must be 'max' or 'percentile'; got {method!r}")
        with engine_device(self._weight_matrix().device):
            return self._largest_partial_sums(chunks, method, percentile, per_slice_and_chunk)

    def _largest_partial_sums(self, chunks: list, method: str, percentile: float, per_slice_and_chunk: bool) -> Any:
        analogs = self.analog_layers()
        xp = analogs[0].backend.xp
        quantized = []
        for rows, samples in chunks:
            scale = self._row_scales(rows, samples)
            x_q, _ = quantize_inputs(analogs[0].backend.asarray(to_array(rows)), self.config, scale, xp=xp)
            quantized.append(x_q)
        x_q = xp.concatenate(quantized)
        width = x_q.shape[1] // len(analogs)
        level = percentile if method == "percentile" else None
        if per_slice_and_chunk:  # a grouped convolution: the largest of its groups', entry by entry
            grids = [analog.crossbars.largest_partial_sums(x_q[:, g * width:(g + 1) * width], percentile=level)
                     for g, analog in enumerate(analogs)]
            full_scales = tuple(tuple(max(values) for values in zip(*rows)) for rows in zip(*grids))
            adc = dataclasses.replace(self.config.adc, full_scale=None, full_scales=full_scales)
            self.config = dataclasses.replace(self.config, adc=adc)
            return full_scales
        full_scale = max(analog.crossbars.largest_partial_sum(x_q[:, g * width:(g + 1) * width], percentile=level)
                         for g, analog in enumerate(analogs))
        adc = dataclasses.replace(self.config.adc, full_scale=full_scale, full_scales=None)
        self.config = dataclasses.replace(self.config, adc=adc)
        return full_scale

    def _float_rows_product(self, rows: torch.Tensor) -> torch.Tensor:
        """The float product of an ungrouped layer's rows (what a model computes while calibrating)."""
        bias = self._bias_vector()
        return F.linear(rows, self._weight_matrix().to(rows.dtype), None if bias is None else bias.to(rows.dtype))
