"""Configuration of an emulated ReRAM crossbar accelerator, one frozen dataclass per stage.

The stages follow the hardware (ISAAC and PRIME, ISCA 2016): the crossbar array
(:class:`CrossbarGeometry`), how weights become cell levels (:class:`WeightMapping`), how
inputs are streamed through the DACs (:class:`InputEncoding`), the ADC that digitises each
column's partial sum (:class:`AdcConfig`), and the device non-idealities
(:class:`~cim_emu.reram.devices.DeviceModel`), and the wires' resistance, IR drop
(:class:`~cim_emu.reram.ir_drop.WireModel`). :class:`ReramConfig` holds one of each.

Every field has a docstring (meaning, unit, range, source); invalid values raise
:class:`ValueError` naming the field and its allowed range. Derived quantities are properties.
Configurations save to and load from JSON (:meth:`ReramConfig.to_json`,
:meth:`ReramConfig.from_json`); enumerations are written by name. ``str(config)`` lists only
the fields that differ from the defaults.

Defaults model ISAAC: 128x128 crossbars, 8-bit weights in 2-bit cells, 8-bit inputs through
1-bit DACs, and an ADC just wide enough to be lossless (9 bits for a partial sum of at most
128 * 1 * 3 = 384; ISAAC itself uses an 8-bit ADC with a weight-flipping encoding that
saves one bit, which this model does not emulate).

The full specification is ``docs/spec/reram.md`` (section *Configuration*).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from .._checks import int_in_range
from .adc_config import AdcConfig
from .devices import DeviceModel
from .ir_drop import WireModel


def _check_int(owner: Any, name: str, low: int, high: int) -> None:
    """Check an integer field and store it as a Python int (a numpy integer is accepted)."""
    object.__setattr__(owner, name, int_in_range(name, getattr(owner, name), low, high))


def _check_choice(owner: Any, name: str, choices: tuple) -> None:
    value = getattr(owner, name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


@dataclasses.dataclass(frozen=True)
class CrossbarGeometry:
    """Size of one crossbar array."""

    rows: int = 128
    """Word lines (inputs) per crossbar: the row-tile size over K. ISAAC 128, PRIME 256."""

    cols: int = 128
    """Bit lines (outputs) per crossbar: the column-tile size over N (cost model only)."""

    def __post_init__(self) -> None:
        _check_int(self, "rows", 1, 65536)
        _check_int(self, "cols", 1, 65536)


@dataclasses.dataclass(frozen=True)
class WeightMapping:
    """How a signed integer weight becomes cell levels.

    ``differential`` (``docs/spec/reram.md``, exactly): ``W+ = max(W, 0)`` and ``W- = max(-W, 0)`` go to
    two arrays, each magnitude split into ``S = ceil((weight_bits - 1) / bits_per_cell)``
    slices of ``bits_per_cell`` bits, least significant first. ``offset`` (ISAAC): the
    biased weight ``W + B`` with ``B = 2**(weight_bits - 1) - 1`` (in ``[0, 2**weight_bits - 2]``)
    is stored in one array of ``ceil(weight_bits / bits_per_cell)`` slices, and
    ``B * sum(x)`` is subtracted, digitally or through a reference column.
    """

    weight_bits: int = 8
    """Bits of a signed weight, 2..32: ``|W| <= 2**(weight_bits - 1) - 1``."""

    bits_per_cell: int = 2
    """Bits stored per cell (multi-level cell), 1..8: cell levels ``0 .. 2**bits_per_cell - 1``."""

    scheme: str = "differential"
    """``"differential"`` (positive and negative arrays) or ``"offset"`` (biased weights)."""

    differential_readout: str = "per_polarity"
    """Differential scheme only: ``"per_polarity"`` digitises each array's column current
    (PRIME), ``"subtract"`` subtracts the two currents and digitises once with a signed ADC."""

    offset_correction: str = "digital"
    """Offset scheme only: ``"digital"`` subtracts ``B * sum(x)`` exactly; ``"reference_column"``
    reads a column holding ``B`` in every row through the same ADCs and subtracts it."""

    def __post_init__(self) -> None:
        _check_int(self, "weight_bits", 2, 32)
        _check_int(self, "bits_per_cell", 1, 8)
        _check_choice(self, "scheme", ("differential", "offset"))
        _check_choice(self, "differential_readout", ("per_polarity", "subtract"))
        _check_choice(self, "offset_correction", ("digital", "reference_column"))

    @property
    def max_weight(self) -> int:
        """Largest weight magnitude, ``2**(weight_bits - 1) - 1``."""
        return 2 ** (self.weight_bits - 1) - 1

    @property
    def max_level(self) -> int:
        """Highest cell level, ``2**bits_per_cell - 1``."""
        return 2**self.bits_per_cell - 1

    @property
    def stored_bits(self) -> int:
        """Bits of the stored magnitude: ``weight_bits - 1`` (differential) or ``weight_bits`` (offset)."""
        return self.weight_bits - 1 if self.scheme == "differential" else self.weight_bits

    @property
    def slices(self) -> int:
        """Cells per weight and polarity, ``S = ceil(stored_bits / bits_per_cell)``."""
        return -(-self.stored_bits // self.bits_per_cell)

    @property
    def polarities(self) -> int:
        """Arrays per weight matrix: 2 (differential) or 1 (offset)."""
        return 2 if self.scheme == "differential" else 1

    @property
    def offset(self) -> int:
        """The bias ``B`` of the offset scheme (0 for differential)."""
        return self.max_weight if self.scheme == "offset" else 0

    @property
    def uses_reference_columns(self) -> bool:
        """True when the offset scheme's ``B * sum(x)`` is read through a reference column."""
        return self.scheme == "offset" and self.offset_correction == "reference_column"


@dataclasses.dataclass(frozen=True)
class InputEncoding:
    """How integer inputs are streamed into the word lines."""

    input_bits: int = 8
    """Bits of an input, 1..32: unsigned ``0 .. 2**input_bits - 1``, or signed (below)."""

    dac_bits: int = 1
    """DAC resolution, 1..min(16, input_bits) (a DAC wider than the inputs would widen every
    chunk, and the ADC's full scale with it, for nothing): inputs are streamed in
    ``C = ceil(input_bits / dac_bits)`` chunks, least significant first. ISAAC 1, PRIME 3."""

    signed: bool = False
    """Signed inputs ``-2**(input_bits-1) .. 2**(input_bits-1) - 1`` use offset encoding:
    ``x + 2**(input_bits - 1)`` is streamed and ``2**(input_bits - 1) * sum_k W[k, n]`` is
    subtracted digitally, exactly."""

    def __post_init__(self) -> None:
        _check_int(self, "input_bits", 1, 32)
        _check_int(self, "dac_bits", 1, min(16, self.input_bits))
        if not isinstance(self.signed, bool):
            raise ValueError(f"signed must be True or False; got {self.signed!r}")

    @property
    def chunks(self) -> int:
        """Input chunks streamed per product, ``C = ceil(input_bits / dac_bits)``."""
        return -(-self.input_bits // self.dac_bits)

    @property
    def min_input(self) -> int:
        return -(2 ** (self.input_bits - 1)) if self.signed else 0

    @property
    def max_input(self) -> int:
        return 2 ** (self.input_bits - 1) - 1 if self.signed else 2**self.input_bits - 1

    @property
    def input_offset(self) -> int:
        """What is added before streaming: ``2**(input_bits - 1)`` when signed, else 0."""
        return 2 ** (self.input_bits - 1) if self.signed else 0

    @property
    def max_chunk(self) -> int:
        """Largest chunk value, ``2**dac_bits - 1``."""
        return 2**self.dac_bits - 1


@dataclasses.dataclass(frozen=True)
class ReramConfig:
    """A complete crossbar accelerator configuration (defaults: ISAAC-like, lossless ADC)."""

    crossbar: CrossbarGeometry = CrossbarGeometry()
    mapping: WeightMapping = WeightMapping()
    inputs: InputEncoding = InputEncoding()
    adc: AdcConfig = AdcConfig()
    devices: DeviceModel = DeviceModel()
    wires: WireModel = WireModel()

    def __post_init__(self) -> None:
        for name, kind in (("crossbar", CrossbarGeometry), ("mapping", WeightMapping), ("inputs", InputEncoding),
                           ("adc", AdcConfig), ("devices", DeviceModel), ("wires", WireModel)):
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"{name} must be a {kind.__name__}; got {type(getattr(self, name)).__name__}")
        grid = self.adc.full_scales
        if grid is not None and (len(grid), len(grid[0])) != (self.mapping.slices, self.inputs.chunks):
            raise ValueError(f"adc.full_scales must have one row per weight slice ({self.mapping.slices}) of one "
                             f"full scale per input chunk ({self.inputs.chunks}); got {len(grid)} x {len(grid[0])}")

    # -- derived quantities ------------------------------------------------------------------
    @property
    def max_partial_sum(self) -> int:
        """Largest ideal partial sum of one conversion, ``rows * max_chunk * max_level``."""
        return self.crossbar.rows * self.inputs.max_chunk * self.mapping.max_level

    @property
    def signed_adc(self) -> bool:
        """True when the differential currents are subtracted before one signed ADC."""
        return self.mapping.scheme == "differential" and self.mapping.differential_readout == "subtract"

    @property
    def full_scale(self) -> int:
        """``FS``: the configured full scale, or the largest partial sum (with full scales per
        slice and chunk, the largest of them)."""
        if self.adc.full_scales is not None:
            return max(max(row) for row in self.adc.full_scales)
        return self.adc.full_scale or self.max_partial_sum

    @property
    def full_scales(self) -> tuple[tuple[int, ...], ...]:
        """``FS[s][c]``, the full scale of every (weight slice, input chunk): the configured grid,
        or ``FS`` in every entry."""
        if self.adc.full_scales is not None:
            return self.adc.full_scales
        return ((self.full_scale,) * self.inputs.chunks,) * self.mapping.slices

    @property
    def adc_ranged(self) -> bool:
        """Whether the conversions differ from ADC to ADC: full scales per slice and chunk, or
        offset and gain errors (read by :mod:`~cim_emu.reram.adc_ranges`)."""
        return self.adc.full_scales is not None or self.adc.has_errors

    @property
    def adc_bits(self) -> int:
        """ADC resolution: configured, or the fewest bits for which ``FS <= Q``."""
        if self.adc.bits is not None:
            return self.adc.bits
        return max(1, math.ceil(math.log2(self.full_scale + 1))) + (1 if self.signed_adc else 0)

    @property
    def adc_levels(self) -> int:
        """``Q``: the top code (per side for a signed ADC)."""
        return 2 ** (self.adc_bits - 1) - 1 if self.signed_adc else 2**self.adc_bits - 1

    @property
    def adc_lossless(self) -> bool:
        """True when every ideal partial sum converts exactly (no rounding, no clipping):
        ``max_partial_sum <= FS <= Q`` for every full scale, and no offset or gain error."""
        return (not self.adc.has_errors and self.full_scale <= self.adc_levels
                and self.max_partial_sum <= min(min(row) for row in self.full_scales))

    def step_of(self, full_scale: int) -> float:
        """``Delta`` of an ADC of full scale ``full_scale``: 1 when it is at most ``Q``, else ``FS / Q``."""
        return 1.0 if full_scale <= self.adc_levels else full_scale / self.adc_levels

    @property
    def adc_step(self) -> float:
        """``Delta``: partial-sum units per code (:meth:`step_of` ``FS``; with full scales per slice
        and chunk, the largest step)."""
        return self.step_of(self.full_scale)

    @property
    def ideal_cells(self) -> bool:
        """True when the programmed cells are exactly their levels: ideal devices, no IR drop."""
        return self.devices.ideal and self.wires.ideal

    @property
    def exact(self) -> bool:
        """True when products equal the exact integer product (lossless ADC, ideal devices, no IR drop)."""
        return self.adc_lossless and self.ideal_cells

    # -- presets ------------------------------------------------------------------------------
    @classmethod
    def isaac(cls, **changes: Any) -> "ReramConfig":
        """ISAAC (Shafiee et al., ISCA 2016): 128x128 crossbars, 2-bit cells, 1-bit DACs,
        8-bit inputs, 16-bit weights as 8 slices, offset (biased) weights, and an ADC
        just wide enough to be lossless for a 128-row partial sum (9 bits; ISAAC reaches 8
        bits by flipping weights so that column sums stay below half scale)."""
        config = cls(CrossbarGeometry(128, 128), WeightMapping(16, 2, "offset"), InputEncoding(16, 1))
        return dataclasses.replace(config, **changes)

    @classmethod
    def prime(cls, **changes: Any) -> "ReramConfig":
        """PRIME (Chi et al., ISCA 2016): 256x256 crossbars, 4-bit cells, 3-bit input slices
        (two per 6-bit input), 8-bit weights in positive and negative arrays digitised
        separately, 6-bit sense-amplifier ADC (lossy at this partial-sum range)."""
        config = cls(CrossbarGeometry(256, 256), WeightMapping(8, 4, "differential", "per_polarity"),
                     InputEncoding(6, 3), AdcConfig(bits=6))
        return dataclasses.replace(config, **changes)

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain data (nested dicts of numbers and names)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ReramConfig":
        """Inverse of :meth:`to_dict`. Missing sections and fields take their defaults; an
        unknown section or field, a section that is not a dictionary, or a bad value raises
        :class:`ValueError` or :class:`TypeError` naming the section (``"adc.bits must be ..."``)."""
        stages = {"crossbar": CrossbarGeometry, "mapping": WeightMapping, "inputs": InputEncoding,
                  "adc": AdcConfig, "devices": DeviceModel, "wires": WireModel}
        if not isinstance(data, dict):
            raise TypeError(f"a configuration must be a dict (a JSON object) of sections; got {type(data).__name__}")
        unknown = set(data) - set(stages)
        if unknown:
            raise ValueError(f"unknown configuration section(s): {', '.join(sorted(map(str, unknown)))}; "
                             f"sections: {', '.join(stages)}")
        parts = {}
        for name, kind in stages.items():
            fields = data.get(name, {})
            if not isinstance(fields, dict):
                raise TypeError(f"configuration section {name!r} must be a dict (a JSON object) of fields; "
                                f"got {type(fields).__name__}")
            extra = set(fields) - {f.name for f in dataclasses.fields(kind)}
            if extra:
                raise ValueError(f"unknown field(s) in {name}: {', '.join(sorted(map(str, extra)))}")
            try:
                parts[name] = kind(**fields)
            except (TypeError, ValueError) as error:
                raise type(error)(f"{name}.{error}") from None
        return cls(**parts)

    def to_json(self, path: Any = None, *, indent: int = 2) -> str:
        """The JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent) + "\n"
        if path is not None:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        return text

    @classmethod
    def from_json(cls, source: Any) -> "ReramConfig":
        """Load from JSON text (anything starting with ``{`` or ``[``) or a path to a JSON file;
        the text must hold one object of sections (:meth:`from_dict`)."""
        text = str(source)
        if not text.lstrip().startswith(("{", "[")):
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"configuration is not valid JSON: {error}") from None
        return cls.from_dict(data)

    def __str__(self) -> str:
        changed = []
        for stage in dataclasses.fields(self):
            value, default = getattr(self, stage.name), stage.default
            for field in dataclasses.fields(value):
                if getattr(value, field.name) != getattr(default, field.name):
                    changed.append(f"{stage.name}.{field.name}={getattr(value, field.name)!r}")
        return f"ReramConfig({', '.join(changed)})"
