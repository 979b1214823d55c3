"""Cost model of crossbar products: crossbars, ADC conversions, cycles, latency, energy.

Component figures from ISAAC (Shafiee et al., ISCA 2016, Table I, 32 nm, one IMA = 8
crossbars of 128x128 2-bit cells with 8 ADCs): ADC 8 bits, 1.2 GS/s, 8 per IMA, 16 mW;
DACs 1 bit, 8x128 per IMA, 4 mW; sample-and-hold 8x128, 10 uW; memristor arrays 8 per IMA,
2.4 mW; shift-and-add 4 per IMA, 0.2 mW; one crossbar read cycle 100 ns (128 columns digitised
by one ADC at 1.28 GS/s). Derived energies per event (as in the Accelergy/hwcomponents ISAAC
library): ADC conversion 16 mW / (8 x 1.2 GS/s) = 1.667 pJ; crossbar read 2.4 mW / 8 x 100 ns =
30 pJ; DAC drive 4 mW / 1024 x 100 ns = 0.39 pJ per row and cycle; sample-and-hold
10 uW / 1024 x 100 ns = 0.001 pJ per column and cycle; shift-and-add 0.021 pJ per code.

ADC energy at other resolutions scales with the number of levels (a constant Walden figure of
merit, energy per conversion step): ``E(b) = E(8) * 2**(b - 8)`` — our assumption, stated so
it can be changed (``adc_energy_doubling_per_bit``).

Counting, for a product of ``B`` input vectors on a ``K x N`` weight matrix:

* crossbars = row tiles x column tiles x slices x polarities (+ reference columns' share);
* every input vector needs ``C`` read cycles (one per input chunk) of every crossbar, all
  crossbars working in parallel (weights stationary), so ``cycles = B * C`` and
  ``latency = cycles * cycle_ns``;
* conversions = ``B * C`` x row tiles x slices x polarities x used columns (one ADC
  conversion and one shift-and-add per column and cycle); a signed (subtracting) readout
  converts each differential pair once.

The full specification is ``docs/spec/reram.md`` (section *Cost model*).
"""

from __future__ import annotations

import dataclasses

from .._checks import positive_int, positive_number
from .crossbar import CrossbarArray


@dataclasses.dataclass(frozen=True)
class ReramCostModel:
    """Per-event latency and energy (defaults: ISAAC, ISCA 2016, Table I)."""

    cycle_ns: float = 100.0
    """One crossbar read: apply an input chunk and digitise every column (ns)."""

    adc_energy_pj: float = 16e-3 / (8 * 1.2e9) * 1e12
    """Energy of one conversion of an 8-bit ADC (pJ): 16 mW for 8 ADCs at 1.2 GS/s."""

    adc_energy_doubling_per_bit: float = 2.0
    """Factor per ADC bit away from 8 bits (2: constant energy per conversion step)."""

    crossbar_read_energy_pj: float = 2.4e-3 / 8 * 100e-9 * 1e12
    """Energy of one read cycle of one 128x128 crossbar (pJ): 2.4 mW per 8 arrays over 100 ns."""

    dac_energy_pj: float = 4e-3 / 1024 * 100e-9 * 1e12
    """Energy of one DAC driving one row for one cycle (pJ): 4 mW per 8x128 DACs."""

    sample_hold_energy_pj: float = 10e-6 / 1024 * 100e-9 * 1e12
    """Energy of one sample-and-hold per column and cycle (pJ): 10 uW per 8x128."""

    shift_add_energy_pj: float = 0.2e-3 / (8 * 1.2e9) * 1e12
    """Energy of one shift-and-add of an ADC code (pJ): 0.2 mW at the ADCs' rate."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            positive_number(field.name, getattr(self, field.name))

    def adc_energy_at(self, bits: int) -> float:
        """Energy of one conversion at ``bits`` of resolution (pJ)."""
        return self.adc_energy_pj * self.adc_energy_doubling_per_bit ** (bits - 8)

    def product_cost(self, crossbars: CrossbarArray, batch: int) -> "ReramCost":
        """Cost of ``batch`` input vectors through ``crossbars``."""
        positive_int("batch", batch)
        config = crossbars.config
        K, N = crossbars.shape
        columns = N + (crossbars.n_col_tiles if crossbars.uses_reference_columns else 0)
        T, S, P = crossbars.n_row_tiles, config.mapping.slices, config.mapping.polarities
        col_tiles = -(-columns // config.crossbar.cols)
        arrays = T * col_tiles * S * P
        cycles = batch * config.inputs.chunks
        converted_polarities = 1 if config.signed_adc else P
        conversions = cycles * T * S * converted_polarities * columns
        row_drives = cycles * K * col_tiles * S * P
        samples = cycles * T * S * P * columns
        energy = {
            "adc": conversions * self.adc_energy_at(config.adc_bits),
            "crossbar": cycles * arrays * self.crossbar_read_energy_pj,
            "dac": row_drives * self.dac_energy_pj,
            "sample_hold": samples * self.sample_hold_energy_pj,
            "shift_add": conversions * self.shift_add_energy_pj,
        }
        return ReramCost(crossbars=arrays, read_cycles=cycles, conversions=conversions,
                         latency_ns=cycles * self.cycle_ns, energy_pj=energy,
                         macs=batch * K * N)


@dataclasses.dataclass(frozen=True)
class ReramCost:
    """Counts, latency and energy (pJ, by component) of one product."""

    crossbars: int
    read_cycles: int
    conversions: int
    latency_ns: float
    energy_pj: dict
    macs: int

    @property
    def total_energy_pj(self) -> float:
        return sum(self.energy_pj.values())

    @property
    def energy_per_mac_pj(self) -> float:
        return self.total_energy_pj / self.macs

    @property
    def macs_per_s(self) -> float:
        return self.macs / (self.latency_ns * 1e-9)
