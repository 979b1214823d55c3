"""ReRAM analog crossbars: bit-exact integer matrix products with device non-idealities.

* :mod:`~cim_emu.reram.config` — the configuration, one frozen dataclass per hardware stage;
* :mod:`~cim_emu.reram.mapping` — weights to cell levels (differential, offset);
* :mod:`~cim_emu.reram.devices` — non-idealities in fixed point, and device presets;
* :mod:`~cim_emu.reram.adc` — the column ADC;
* :mod:`~cim_emu.reram.crossbar` — programmed crossbars and the integer pipeline;
* :mod:`~cim_emu.reram.quantize` — the float API and a layer-like object;
* :mod:`~cim_emu.reram.cost` — crossbars, conversions, cycles, latency and energy (ISAAC);
* :mod:`~cim_emu.reram.accuracy` — products against the exact integer product (``cim-emu accuracy``);
* :mod:`~cim_emu.reram.digits` — a small MLP on scikit-learn's digits: float, 8-bit digital and on
  crossbars.
"""

from .config import AdcConfig, CrossbarGeometry, InputEncoding, ReramConfig, WeightMapping
from .cost import ReramCost, ReramCostModel
from .crossbar import CrossbarArray
from .devices import DeviceModel
from .quantize import AnalogLayer, analog_matmul, quantize_inputs, quantize_weights

__all__ = [
    "AdcConfig", "AnalogLayer", "CrossbarArray", "CrossbarGeometry", "DeviceModel", "InputEncoding",
    "ReramConfig", "ReramCost", "ReramCostModel", "WeightMapping", "analog_matmul", "quantize_inputs",
    "quantize_weights",
]  # fmt: skip
