"""ReRAM analog crossbars: bit-exact integer matrix products with device non-idealities.

* :mod:`~cim_emu.reram.config` — the configuration, one frozen dataclass per hardware stage;
* :mod:`~cim_emu.reram.crossbar` — :class:`CrossbarArray`, the front: programs the crossbars
  and reads them (the exact product or the pipeline), host inputs through a device in passes;
* programming: :mod:`~cim_emu.reram.mapping` (weights to cell levels) and
  :mod:`~cim_emu.reram.devices` (non-idealities in fixed point, device presets) and
  :mod:`~cim_emu.reram.ir_drop` (wire resistance: each tile's effective conductances);
* the read stages, in pipeline order: :mod:`~cim_emu.reram.dac` (inputs to bit-serial
  chunks), :mod:`~cim_emu.reram.layout` (row tiles, column packing),
  :mod:`~cim_emu.reram.pipeline` (jobs over the host threads, read noise, corrections),
  :mod:`~cim_emu.reram.host_path` (products, ADC, shift-and-add with numpy),
  :mod:`~cim_emu.reram.adc` (the column ADC); on a backend with kernels
  :mod:`~cim_emu.reram.gpu_path` (tensor cores, epilogue) through :mod:`~cim_emu.reram.gpu`
  (launch wrappers); :mod:`~cim_emu.reram.exact` (the single exact product);
* :mod:`~cim_emu.reram.drift` — reading later: drift and global drift compensation;
* :mod:`~cim_emu.reram.quantize` — the float API and a layer-like object;
* :mod:`~cim_emu.reram.cost` — crossbars, conversions, cycles, latency and energy (ISAAC).

``cim_emu/reram/README.md`` walks through the modules; the specification is ``docs/spec/reram.md``.

Products against the exact integer product and the digits MLP (``cim-emu accuracy``) are in
:mod:`cim_emu.studies`; PyTorch layers on these crossbars in :mod:`cim_emu.nn`.
"""

from .config import AdcConfig, CrossbarGeometry, InputEncoding, ReramConfig, WeightMapping
from .cost import ReramCost, ReramCostModel
from .crossbar import CrossbarArray
from .devices import DeviceModel
from .ir_drop import WireModel
from .quantize import AnalogLayer, analog_matmul, quantize_inputs, quantize_weights

__all__ = [
    "AdcConfig", "AnalogLayer", "CrossbarArray", "CrossbarGeometry", "DeviceModel", "InputEncoding",
    "ReramConfig", "ReramCost", "ReramCostModel", "WeightMapping", "WireModel", "analog_matmul",
    "quantize_inputs", "quantize_weights",
]  # fmt: skip
