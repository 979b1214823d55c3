"""Named configurations: ReRAM crossbars, device models and Ambit TRA fault models, and config files.

The names a sweep spec's ``preset``, ``devices`` and ``fault_preset`` parameters and the
``--preset`` option of ``cim-emu accuracy``, ``bench`` and ``ambit run`` take. A configuration
file (``config_file``, ``--config FILE``) is a JSON object, read as

* a ReRAM configuration (:meth:`cim_emu.reram.ReramConfig.from_dict`) when its keys are
  sections of one (``crossbar``, ``mapping``, ``inputs``, ``adc``, ``devices``, ...);
* an Ambit TRA fault model (:class:`cim_emu.ambit.TraFaultModel`'s fields:
  ``flip_probability``, ``only_when_inputs_disagree``, ``weak_column_fraction``,
  ``weak_column_flip_probability``; ``seed`` is not allowed, the point's seed is used)
  when its keys are those fields (a file naming some of them and other keys is an error naming
  the others).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, Callable, Union

from ..ambit import TraFaultModel
from ..reram import DeviceModel, ReramConfig
from .params import SpecError

#: ReRAM crossbar configurations by name.
RERAM_PRESETS: dict[str, Callable[[], ReramConfig]] = {
    "default": ReramConfig, "isaac": ReramConfig.isaac, "prime": ReramConfig.prime,
}

#: Device models by name (the classmethods of :class:`~cim_emu.reram.DeviceModel`).
DEVICE_PRESETS: dict[str, Callable[[], DeviceModel]] = {
    "ideal": DeviceModel, "reram_wan2022": DeviceModel.reram_wan2022, "pcm_joshi2020": DeviceModel.pcm_joshi2020,
    "stuck_cells_chen2015": DeviceModel.stuck_cells_chen2015, "generic_reram": DeviceModel.generic_reram,
}

def _ambit_spice(variation_percent: int, seed: int) -> TraFaultModel:
    return TraFaultModel.ambit_spice(variation_percent, seed)


#: Ambit TRA fault models by name, as functions of the seed: none, Ambit Table 2 at +-10..25 %
#: process variation, and SiMRA's DDR4 MAJ3 weak cells.
AMBIT_FAULT_PRESETS: dict[str, Callable[[int], TraFaultModel]] = {
    "none": lambda seed: TraFaultModel(seed=seed),
    **{f"ambit_spice_{v}": functools.partial(_ambit_spice, v) for v in (10, 15, 20, 25)},
    "simra_ddr4_maj3": TraFaultModel.simra_ddr4_maj3,
}

#: Every name ``--preset`` accepts (``cim-emu accuracy``; ``bench`` and ``ambit run`` take those of their kind), and
#: what kind of configuration it is.
PRESET_KINDS = {**{n: "reram" for n in RERAM_PRESETS}, **{n: "devices" for n in DEVICE_PRESETS},
                **{n: "ambit" for n in AMBIT_FAULT_PRESETS}}

RERAM_SECTIONS = tuple(f.name for f in dataclasses.fields(ReramConfig))
FAULT_FIELDS = ("flip_probability", "only_when_inputs_disagree", "weak_column_fraction",
                "weak_column_flip_probability")


def load_config_file(path: Union[str, Path]) -> tuple[str, Any]:
    """``("reram", ReramConfig)`` or ``("ambit", {fault fields})`` from a JSON file (see the module
    docstring); :class:`SpecError` naming the file and the bad key otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"cannot read configuration {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"configuration {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise SpecError(f"configuration {path} must be a non-empty JSON object")
    if set(data) & set(FAULT_FIELDS) and not set(data) <= set(FAULT_FIELDS):
        unknown = ", ".join(sorted(map(str, set(data) - set(FAULT_FIELDS))))
        raise SpecError(f"configuration {path}: unknown field(s) of an Ambit fault model: {unknown}; fields: "
                        f"{', '.join(FAULT_FIELDS)} (no seed: the run's seed is used)")
    if set(data) <= set(FAULT_FIELDS):
        try:
            TraFaultModel(**data)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"configuration {path}: {exc}") from None
        return "ambit", dict(data)
    try:
        return "reram", ReramConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"configuration {path}: {exc} (a ReRAM configuration has sections "
                        f"{', '.join(RERAM_SECTIONS)}; an Ambit fault model has fields "
                        f"{', '.join(FAULT_FIELDS)})") from None


def reram_config(preset: str, config_file: str) -> ReramConfig:
    """The base ReRAM configuration: ``config_file`` when given, else the named preset."""
    if not config_file:
        return RERAM_PRESETS[preset]()
    kind, config = load_config_file(config_file)
    if kind != "reram":
        raise SpecError(f"config_file {config_file} holds an Ambit fault model, not a ReRAM configuration")
    return config


def fault_model(preset: str, config_file: str, seed: int, **overrides: Any) -> TraFaultModel:
    """The TRA fault model of a point: ``config_file`` or the named preset, seeded with ``seed``,
    with any of its fields replaced by ``overrides`` that are not ``None``."""
    if config_file:
        kind, fields = load_config_file(config_file)
        if kind != "ambit":
            raise SpecError(f"config_file {config_file} holds a ReRAM configuration, not an Ambit fault model")
        model = TraFaultModel(**fields, seed=seed)
    else:
        model = AMBIT_FAULT_PRESETS[preset](seed)
    return dataclasses.replace(model, **{k: v for k, v in overrides.items() if v is not None})
