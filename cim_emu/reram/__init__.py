"""ReRAM analog crossbars: bit-exact integer matrix products with device non-idealities.

* :mod:`~cim_emu.reram.config` — the configuration, one frozen dataclass per hardware stage;
* :mod:`~cim_emu.reram.mapping` — weights to cell levels (differential, offset);
* :mod:`~cim_emu.reram.devices` — non-idealities in fixed point, and device presets;
* :mod:`~cim_emu.reram.adc` — the column ADC;
* :mod:`~cim_emu.reram.crossbar` — programmed crossbars and the integer pipeline.
"""

from .config import AdcConfig, CrossbarGeometry, InputEncoding, ReramConfig, WeightMapping
from .crossbar import CrossbarArray
from .devices import DeviceModel

__all__ = ["AdcConfig", "CrossbarArray", "CrossbarGeometry", "DeviceModel", "InputEncoding", "ReramConfig",
           "WeightMapping"]
