"""Whole models: convert their layers to crossbar layers, calibrate them from data, set their read time.

:func:`convert` swaps a trained model's ``nn.Linear`` (and subclasses), ``nn.Conv1d``,
``nn.Conv2d`` and ``nn.MultiheadAttention`` layers for crossbar layers and attaches a
:class:`ConversionReport` saying, layer by layer, what was converted and what was left float
and why; :func:`calibrate` and :func:`calibrate_adc` run the model in float on sample data,
record the rows every crossbar layer receives, and set each layer's input scale and ADC full
scale from them; :func:`set_read_time` reads every crossbar layer at a time after programming
(drift); :func:`crossbar_layers` lists a model's crossbar layers.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import warnings
from typing import Any, Callable, Iterable, Optional, Protocol, Sequence, Union

import torch
from torch import nn

from .._memory import release_free_memory
from ..reram.config import ReramConfig
from .attention import PROJECTIONS, CrossbarMultiheadAttention
from .conv import CrossbarConv1d, CrossbarConv2d
from .layer import CrossbarLayer, _Calibration
from .linear import CrossbarLinear


class _CrossbarType(Protocol):
    """A crossbar layer class: ``from_float(module, config, **options)`` makes one of a float layer.

    The float layer's type is the :data:`CROSSBAR_TYPES` key the class sits under, which a type
    checker cannot tie to the parameter's type: hence ``Any`` for it and the other arguments.
    """

    def from_float(self, module: Any, /, *args: Any, **options: Any) -> nn.Module: ...


#: The float layers :func:`convert` replaces (and their subclasses), and the crossbar layer of each.
CROSSBAR_TYPES: dict[type[nn.Module], _CrossbarType] = {
    nn.Linear: CrossbarLinear, nn.Conv1d: CrossbarConv1d, nn.Conv2d: CrossbarConv2d,
    nn.MultiheadAttention: CrossbarMultiheadAttention}

#: Float layers with weights that have no crossbar layer: :func:`convert` leaves them float and
#: says so in its report (``strict=True`` raises when the patterns select one).
FLOAT_ONLY_TYPES: tuple = (nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Embedding,
                           nn.EmbeddingBag, nn.Bilinear, nn.RNNBase)

#: Crossbar layers already in a model (converting them again is a no-op, reported).
CONVERTED_TYPES = (CrossbarLayer, CrossbarMultiheadAttention)


@dataclasses.dataclass(frozen=True)
class LayerDecision:
    """What :func:`convert` did with one layer: ``crossbar_type`` is the crossbar layer's
    class name when converted, ``None`` when the layer stays float; ``reason`` says why."""

    name: str
    float_type: str
    crossbar_type: Optional[str]
    reason: str

    @property
    def converted(self) -> bool:
        return self.crossbar_type is not None


@dataclasses.dataclass(frozen=True)
class ConversionReport:
    """Every layer :func:`convert` considered (in ``named_modules`` order), and the ``include``
    and ``exclude`` patterns (and ``configs`` keys) that matched no layer. ``str(report)`` is a table."""

    layers: tuple
    unmatched_patterns: tuple = ()

    @property
    def converted(self) -> list:
        return [decision for decision in self.layers if decision.converted]

    @property
    def left_float(self) -> list:
        return [decision for decision in self.layers if not decision.converted]

    def problems(self) -> list:
        """What ``strict=True`` refuses: patterns matching nothing, selected layers left float."""
        found = [f"pattern {pattern!r} matched no layer" for pattern in self.unmatched_patterns]
        found += [f"{decision.name or '(model)'} ({decision.float_type}) left float: {decision.reason}"
                  for decision in self.left_float if decision.reason.startswith(_SELECTED_BUT)]
        return found

    def __str__(self) -> str:
        width = max([len(d.name or "(model)") for d in self.layers] + [5])
        lines = [f"{'layer':<{width}}  {'float type':<22}  result"]
        for d in self.layers:
            result = f"-> {d.crossbar_type}" if d.converted else f"float: {d.reason}"
            lines.append(f"{d.name or '(model)':<{width}}  {d.float_type:<22}  {result}")
        lines += [f"pattern {pattern!r} matched no layer" for pattern in self.unmatched_patterns]
        return "\n".join(lines)


#: The start of every reason that makes ``strict=True`` raise (the patterns chose the layer).
_SELECTED_BUT = "selected, but"


def _matches(name: str, patterns: Optional[Iterable[str]]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns or ())


def _crossbar_type(module: nn.Module) -> Optional[_CrossbarType]:
    for float_type, crossbar_type in CROSSBAR_TYPES.items():
        if isinstance(module, float_type):
            return crossbar_type
    return None


def _decisions(model: nn.Module, include: Optional[Sequence[str]], exclude: Optional[Sequence[str]]) -> list:
    """``[(name, module, crossbar type or None, reason)]`` for every layer worth reporting."""
    decisions: list[tuple[str, Any, Any, str]] = []
    attention_parents: dict[str, bool] = {}  # name -> converted
    for name, module in model.named_modules():
        parent = next((p for p in attention_parents if name.startswith(p + ".") or p == ""), None)
        selected = (include is None or _matches(name, include)) and not _matches(name, exclude)
        why_not = "not matched by include" if not (include is None or _matches(name, include)) else "excluded"
        if isinstance(module, CONVERTED_TYPES):
            decisions.append((name, module, None, "already a crossbar layer"))
        elif parent is not None:
            if _crossbar_type(module) is not None and not attention_parents[parent]:
                named = include is not None and _matches(name, include) and not _matches(name, exclude)
                where = f"part of the attention {parent or '(model)'!r}, which converts only as a whole"
                decisions.append((name, module, None, f"{_SELECTED_BUT} {where}" if named else where))
        elif _crossbar_type(module) is not None:
            crossbar_type = _crossbar_type(module)
            if isinstance(module, nn.MultiheadAttention):
                attention_parents[name] = selected
            if getattr(module, "has_uninitialized_params", lambda: False)():
                decisions.append((name, module, None, f"{_SELECTED_BUT} its lazy parameters are not initialized "
                                                      "(run one forward first)" if selected else why_not))
            else:
                decisions.append((name, module, crossbar_type if selected else None, "" if selected else why_not))
        elif isinstance(module, FLOAT_ONLY_TYPES):
            decisions.append((name, module, None, f"{_SELECTED_BUT} cim-emu has no crossbar {type(module).__name__}"
                              if selected else why_not))
    return decisions


def convert(model: nn.Module, config: Optional[ReramConfig] = None, include: Optional[Sequence[str]] = None,
            exclude: Optional[Sequence[str]] = None, *, inplace: bool = False,
            configs: Optional[dict] = None, seed: int = 0, strict: bool = False, **options: Any) -> nn.Module:
    """Replace ``model``'s ``nn.Linear`` (any subclass), ``nn.Conv1d``, ``nn.Conv2d`` (any
    groups, padding and padding mode) and ``nn.MultiheadAttention`` layers by crossbar layers,
    keeping their trained weights and biases (which stay digital). A bare layer converts to its
    crossbar layer.

    ``include``/``exclude`` are module names (as in ``model.named_modules()``) or ``fnmatch``
    patterns of them: a layer is converted when it matches ``include`` (default: every one)
    and not ``exclude``. ``configs`` maps names (or patterns) to a per-layer
    :class:`ReramConfig` in place of ``config``. Crossbar layer ``i`` (in ``named_modules``
    order; an attention holds four: q, k, v and output projections) gets device-noise seed
    ``seed + i``. Other ``options`` (``per_channel``, ``input_scale``, ``dynamic_scale``,
    ``weight_noise``) go to every layer. An ``nn.Linear`` subclass is converted as
    ``F.linear`` of its weight and bias (its own forward is not kept); the linear layers
    inside an ``nn.MultiheadAttention`` convert only with it (its forward does not call them).

    Returns a converted copy (``inplace=False``, the default) or ``model`` itself (the new
    layer for a bare layer), with a :class:`ConversionReport` as its ``conversion_report``
    attribute; a pattern of ``include``, ``exclude`` or ``configs`` that matches no layer is a
    warning. ``strict=True`` raises ``ValueError`` listing the problems when such a pattern
    matches no layer, or a layer the patterns select is left float (a
    type with no crossbar layer, such as ``nn.ConvTranspose2d``; an uninitialized lazy layer;
    a linear layer inside an attention that is not converted).
    """
    model = model if inplace else copy.deepcopy(model)
    decisions = _decisions(model, include, exclude)
    names = [name for name, *_ in decisions]
    unmatched = tuple(pattern for pattern in [*(include or ()), *(exclude or ()), *(configs or {})]
                      if not any(fnmatch.fnmatchcase(name, pattern) for name in names))
    report = ConversionReport(tuple(LayerDecision(name, type(module).__name__, None if kind is None else kind.__name__,
                                                  reason) for name, module, kind, reason in decisions), unmatched)
    if strict and report.problems():
        raise ValueError("convert(strict=True): " + "; ".join(report.problems()))
    if unmatched:
        warnings.warn(f"convert: pattern(s) {', '.join(map(repr, unmatched))} matched no layer", stacklevel=2)
    index = 0
    for name, module, crossbar_type, _ in decisions:
        if crossbar_type is None:
            continue
        layer_config = next((c for pattern, c in (configs or {}).items() if fnmatch.fnmatchcase(name, pattern)), config)
        layer = crossbar_type.from_float(module, layer_config, seed=(seed + index) % 2**64, **options)
        index += len(PROJECTIONS) if isinstance(layer, CrossbarMultiheadAttention) else 1
        layer.train(module.training)
        if not name:
            model = layer
            continue
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, layer)
    for name, layer in crossbar_layers(model):
        layer.layer_path = name
    model.conversion_report = report  # type: ignore[assignment]
    return model


def crossbar_layers(model: nn.Module) -> list:
    """``(name, layer)`` of every crossbar layer in ``model`` (an attention's four projections
    are four layers)."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, CrossbarLayer)]


def _recorded_rows(model: nn.Module, batches: Union[torch.Tensor, Iterable], forward: Optional[Callable]) -> list:
    """``[(name, layer, chunks)]``: the rows every crossbar layer receives while the model runs
    in float, one ``(rows, samples)`` per forward."""
    layers = crossbar_layers(model)
    for _, layer in layers:
        layer._calibration = _Calibration()
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
        if not recorded[name].chunks:
            raise ValueError(f"calibrate: layer {name!r} received no input")
        result.append((name, layer, recorded[name].chunks))
    return result


def calibrate(model: nn.Module, batches: Union[torch.Tensor, Iterable], method: str = "max",
              percentile: float = 99.99, forward: Optional[Callable] = None, *,
              adc: Optional[str] = None, adc_percentile: float = 99.99, adc_per_slice_and_chunk: bool = False) -> dict:
    """Fix every crossbar layer's input scale (and, with ``adc``, its ADC full scale) from data;
    returns ``{name: scale}``.

    ``batches`` is one input tensor or an iterable of them (or of tuples whose first item is
    the input; ``forward(model, batch)`` overrides how a batch is run). The model runs in
    float (each crossbar layer applies its float weights) while the rows every layer receives
    are recorded; then each layer's scale is :meth:`AnalogLayer.calibrate` over all its rows
    (``max|x|`` or a ``percentile`` of ``|x|``). ``adc="max"`` or ``"percentile"`` then also
    sets each layer's ADC full scale from the same rows, quantized with the new input scale
    (:meth:`CrossbarLinear.calibrate_adc`, with ``adc_percentile``); the full scales are
    readable as ``layer.config.adc.full_scale`` (``adc_per_slice_and_chunk=True``: one per weight
    slice and input chunk, ``layer.config.adc.full_scales``). A calibrated input scale is fixed, so the
    outputs no longer depend on the batch. Layers in eval mode are then programmed for their
    calibrated configuration (:meth:`CrossbarLayer.program`), so that the next forward only reads.
    """
    scales = {}
    for name, layer, chunks in _recorded_rows(model, batches, forward):
        scales[name] = layer.calibrate_inputs(torch.cat([rows for rows, _ in chunks]), method, percentile)
        if adc is not None:
            layer._calibrate_adc_chunks(chunks, adc, adc_percentile, adc_per_slice_and_chunk)
        if not layer.training:
            layer.program()
    release_free_memory()  # the recorded rows are gone: hand their pages back
    return scales


def calibrate_adc(model: nn.Module, batches: Union[torch.Tensor, Iterable], method: str = "max",
                  percentile: float = 99.99, forward: Optional[Callable] = None, *,
                  per_slice_and_chunk: bool = False) -> dict:
    """Set every crossbar layer's ADC full scale from data, keeping its input scale; returns
    ``{name: full_scale}``.

    The rows each layer receives (recorded as in :func:`calibrate`, model in float) are
    quantized as the forward quantizes them, with the layer's input scale (calibrate it first;
    a dynamic scale is taken per sample, token or batch of each recorded forward) and the full
    scale becomes the largest ideal partial sum over every conversion (``method="max"``) or
    the ``percentile`` of them (:meth:`cim_emu.reram.crossbar.CrossbarArray.largest_partial_sum`).
    A smaller full scale gives a finer ADC step (``full_scale / Q``); partial sums above it
    clip. Each layer is reprogrammed with ``dataclasses.replace(config,
    adc=dataclasses.replace(config.adc, full_scale=...))`` and the same seed (now in eval mode,
    else on its next forward). ``per_slice_and_chunk=True`` calibrates one full scale per weight
    slice and input chunk (``AdcConfig(full_scales=...)``,
    :meth:`~cim_emu.reram.crossbar.CrossbarArray.largest_partial_sums`), as CrossSim calibrates
    its ADC ranges per slice; the values are then ``full_scales[s][c]`` grids.
    """
    full_scales = {}
    for name, layer, chunks in _recorded_rows(model, batches, forward):
        full_scales[name] = layer._calibrate_adc_chunks(chunks, method, percentile, per_slice_and_chunk)
        if not layer.training:
            layer.program()
    release_free_memory()
    return full_scales


def set_read_time(model: nn.Module, t_seconds: Optional[float], drift_compensation: bool = False) -> None:
    """Read every crossbar layer of ``model`` ``t_seconds`` after programming (``None``: right
    after), with global drift compensation when ``drift_compensation``
    (:meth:`CrossbarLayer.set_read_time`); each is programmed again, with its seed, on its next
    forward."""
    for _, layer in crossbar_layers(model):
        layer.set_read_time(t_seconds, drift_compensation)
