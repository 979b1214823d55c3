"""Accuracy checks of the ReRAM engine against the exact integer product (``cim-emu accuracy``).

:func:`check_exact`
    Lossless ADC and ideal devices must give exactly ``x @ W`` through the full pipeline, for
    every mapping (differential per polarity, differential subtracting, offset with digital
    correction, offset with reference columns) and for unsigned and signed inputs.
:func:`check_adc_sweep`
    Across ADC resolutions and device models, how far the product is from ``x @ W``: the
    largest absolute error, the relative error ``||y - x W|| / ||x W||`` and the signal-to-noise
    ratio ``20 log10(||x W|| / ||y - x W||)`` in dB. With ideal devices the largest error must
    stay within the ADC's bound (:meth:`CrossbarArray.adc_error_bound`); with device noise there
    is no bound to hold, and the figures are reported.

Operands are uniform random integers over the configured ranges from a numpy generator
seeded with ``seed``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy

from ..backend import BackendLike
from ..reram import AdcConfig, CrossbarArray, DeviceModel, InputEncoding, ReramConfig, WeightMapping

#: Mappings of the exactness check, by name.
MAPPINGS = {
    "differential": WeightMapping(8, 2, "differential", "per_polarity"),
    "differential-subtract": WeightMapping(8, 2, "differential", "subtract"),
    "offset-digital": WeightMapping(8, 2, "offset", offset_correction="digital"),
    "offset-reference": WeightMapping(8, 2, "offset", offset_correction="reference_column"),
}

#: Device models of the ADC sweep, by name.
DEVICES = {
    "ideal": DeviceModel(),
    "wan2022": DeviceModel.reram_wan2022(),
    "pcm-joshi2020": DeviceModel.pcm_joshi2020(),
}


@dataclasses.dataclass(frozen=True)
class ProductCheck:
    """One configuration's product against ``x @ W``."""

    mapping: str
    signed_inputs: bool
    adc_bits: int
    devices: str
    shape: tuple
    max_abs_error: float
    relative_error: float
    snr_db: float
    bound: Optional[float]

    @property
    def passed(self) -> bool:
        return self.bound is None or self.max_abs_error <= self.bound

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "shape": list(self.shape), "passed": self.passed}


def _measure(config: ReramConfig, name: str, devices: str, shape: tuple, seed: int,
             backend: BackendLike, bounded: bool) -> ProductCheck:
    batch, K, N = shape
    rng = numpy.random.default_rng(seed)
    weights = rng.integers(-config.mapping.max_weight, config.mapping.max_weight + 1, (K, N))
    x = rng.integers(config.inputs.min_input, config.inputs.max_input + 1, (batch, K))
    crossbars = CrossbarArray(weights, config, seed=seed, backend=backend)
    y = numpy.asarray(crossbars.matmul(x, method="pipeline"), dtype=numpy.float64)
    exact = (x @ weights).astype(numpy.float64)
    error = numpy.linalg.norm(y - exact)
    signal = numpy.linalg.norm(exact)
    return ProductCheck(
        mapping=name, signed_inputs=config.inputs.signed, adc_bits=config.adc_bits, devices=devices,
        shape=shape, max_abs_error=float(numpy.abs(y - exact).max()),
        relative_error=float(error / signal) if signal else 0.0,
        snr_db=math.inf if error == 0 else float(20 * math.log10(signal / error)),
        bound=crossbars.adc_error_bound() if bounded else None,
    )


def check_exact(*, seed: int = 0, backend: BackendLike = None, quick: bool = True) -> list:
    """Every mapping, unsigned and signed inputs, lossless and ideal: the error must be 0."""
    shape = (8, 300, 40) if quick else (64, 1500, 300)
    return [
        _measure(ReramConfig(mapping=mapping, inputs=InputEncoding(8, 1, signed)), name, "ideal", shape, seed,
                 backend, bounded=True)
        for name, mapping in MAPPINGS.items() for signed in (False, True)
    ]


def check_adc_sweep(adc_bits: tuple = (4, 6, 8), devices: tuple = ("ideal", "wan2022"), *, seed: int = 0,
                    backend: BackendLike = None, quick: bool = True) -> list:
    """The default crossbar with each ADC resolution and device model against ``x @ W``."""
    shape = (8, 256, 64) if quick else (64, 1024, 256)
    return [
        _measure(ReramConfig(adc=AdcConfig(bits=bits), devices=DEVICES[name]), "differential", name, shape,
                 seed, backend, bounded=DEVICES[name].ideal)
        for name in devices for bits in adc_bits
    ]
