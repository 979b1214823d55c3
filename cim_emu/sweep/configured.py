"""A user's configuration checked the way ``cim-emu accuracy`` checks its own (``--config``, ``--preset``).

:func:`resolve` turns a configuration file or a preset name (:mod:`~cim_emu.sweep.presets`) into
one of two kinds, before any work:

``reram``
    A :class:`~cim_emu.reram.ReramConfig` (a ReRAM file, a crossbar preset such as ``isaac``,
    or a device preset such as ``reram_wan2022`` on the default crossbars).
``ambit``
    The fields of a :class:`~cim_emu.ambit.TraFaultModel` (an Ambit file or a fault preset
    such as ``ambit_spice_10``); the model is seeded with the run's seed.

:func:`checks` measures it: a ReRAM configuration by its product against the exact integer
product (:func:`~cim_emu.sweep.engines.product_error`; bound: exact when lossless with ideal
cells, the ADC's error bound with ideal cells, none otherwise), with unsigned and signed inputs;
an Ambit fault model by the bit errors of ``and``, ``or``, ``xor`` and ``maj`` on random rows
(reported, no bound).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Optional

from ..ambit import TraFaultModel
from ..reram import InputEncoding, ReramConfig
from .engines import ambit_faults, product_error
from .params import SpecError
from .presets import AMBIT_FAULT_PRESETS, DEVICE_PRESETS, PRESET_KINDS, RERAM_PRESETS, load_config_file

#: Shapes ``(batch, K, N)`` of the product, quick and full (those of the ADC sweep).
SHAPE_QUICK = (8, 256, 64)
SHAPE_FULL = (64, 1024, 256)
#: Ambit operations measured, and their row length, quick and full.
AMBIT_OPS = ("and", "or", "xor", "maj")
ROW_BITS_QUICK = 2**16
ROW_BITS_FULL = 2**22


class Configured(NamedTuple):
    """A resolved configuration: its kind, the configuration, and where it came from."""

    kind: str
    """``"reram"`` or ``"ambit"``."""
    config: Any
    """A :class:`ReramConfig`, or the fault model's fields (a dict)."""
    source: str
    """``"--config FILE"`` or ``"--preset NAME"``."""


def resolve(config_file: Optional[str], preset: Optional[str]) -> Configured:
    """The configuration of ``config_file`` or ``preset`` (exactly one); :class:`SpecError` otherwise."""
    if (config_file is None) == (preset is None):
        raise SpecError("give either a configuration file or a preset name, not both")
    if config_file is not None:
        kind, config = load_config_file(config_file)
        return Configured(kind, config, f"--config {config_file}")
    assert preset is not None
    preset_kind = PRESET_KINDS.get(preset)
    if preset_kind is None:
        raise SpecError(f"unknown preset {preset!r}; presets: {', '.join(PRESET_KINDS)}")
    if preset_kind == "reram":
        return Configured("reram", RERAM_PRESETS[preset](), f"--preset {preset}")
    if preset_kind == "devices":
        return Configured("reram", ReramConfig(devices=DEVICE_PRESETS[preset]()), f"--preset {preset}")
    model = AMBIT_FAULT_PRESETS[preset](0)
    fields = {f.name: getattr(model, f.name) for f in dataclasses.fields(TraFaultModel) if f.name != "seed"}
    return Configured("ambit", fields, f"--preset {preset}")


def checks(configured: Configured, quick: bool, seed: int, backend: str) -> list:
    """The records of the ``configured`` section of ``cim-emu accuracy`` (see the module docstring)."""
    if configured.kind == "reram":
        config: ReramConfig = configured.config
        shape = SHAPE_QUICK if quick else SHAPE_FULL
        records = []
        for signed in (False, True):
            chosen = dataclasses.replace(config, inputs=InputEncoding(config.inputs.input_bits,
                                                                      config.inputs.dac_bits, signed))
            found = product_error(chosen, shape, seed, backend)
            bound = found["error_bound"]
            records.append({"kind": "reram", "source": configured.source, "configuration": str(chosen),
                            "signed_inputs": signed, "shape": list(shape), "adc_bits": found["adc_bits"],
                            "max_abs_error": found["max_abs_error"], "relative_error": found["relative_error"],
                            "snr_db": found["snr_db"], "bound": bound,
                            "passed": bound is None or found["max_abs_error"] <= bound})
        return records
    row_bits = ROW_BITS_QUICK if quick else ROW_BITS_FULL
    model = TraFaultModel(**configured.config, seed=seed)
    records = []
    for op in AMBIT_OPS:
        point = {"op": op, "row_bits": row_bits, "executor": "fast", "fault_preset": "none", "config_file": "",
                 "flip_probability": None, "only_when_inputs_disagree": None, "weak_column_fraction": None,
                 "weak_column_flip_probability": None, **configured.config}
        found = ambit_faults(point, seed, backend)
        records.append({"kind": "ambit", "source": configured.source, "configuration": str(model), "op": op,
                        "row_bits": row_bits, "bit_errors": found["bit_errors"],
                        "bit_error_rate": found["bit_error_rate"], "bound": None, "passed": True})
    return records
