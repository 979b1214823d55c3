"""Whole models: convert their layers to crossbar layers and calibrate them from data.

:func:`convert` swaps a trained model's ``nn.Linear`` and ``nn.Conv2d`` layers for
:class:`~cim_emu.nn.modules.CrossbarLinear` and :class:`~cim_emu.nn.modules.CrossbarConv2d`;
:func:`calibrate` and :func:`calibrate_adc` run the model in float on sample data, record the
rows every crossbar layer receives, and set each layer's input scale and ADC full scale from
them; :func:`crossbar_layers` lists a model's crossbar layers.
"""

from __future__ import annotations

import copy
import fnmatch
from typing import Any, Callable, Iterable, Optional, Protocol, Sequence, Union

import torch
from torch import nn

from ..reram.config import ReramConfig
from .modules import CrossbarConv2d, CrossbarLinear, _Calibration, _CrossbarMixin


class _CrossbarType(Protocol):
    """A crossbar layer class: ``from_float(module, config, **options)`` makes one of a float layer.

    The float layer's type is the :data:`CROSSBAR_TYPES` key the class sits under, which a type
    checker cannot tie to the parameter's type: hence ``Any`` for it and the other arguments.
    """

    def from_float(self, module: Any, /, *args: Any, **options: Any) -> nn.Module: ...


#: The float layers :func:`convert` replaces, and the crossbar layer class of each.
CROSSBAR_TYPES: dict[type[nn.Module], _CrossbarType] = {nn.Linear: CrossbarLinear, nn.Conv2d: CrossbarConv2d}


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
