"""Stage 4, the column ADCs: each partial sum digitised, exactly, in floating point.

With partial sums in fixed point (``p_fixed = p * 2**F``, ``F`` fractional bits; ``F = 0`` for
ideal devices), ``Q`` codes and full scale ``FS``:

* unit step (``FS <= Q``): ``code = clamp(floor((2 p_fixed + 2**F) / 2**(F + 1)), 0, Q)`` — with
  integer ``p`` this is ``min(p, Q)``; with noise it rounds ``p`` half up;
* otherwise: ``code = clamp(floor((2 p_fixed Q + FS 2**F) / (2 FS 2**F)), 0, Q)`` — the
  round-half-up of ``p Q / FS``, in integers.

Both are ``clamp(floor((scale * p_fixed + bias) / divisor), 0, Q)`` with
``(scale, bias, divisor) = (2, 2**F, 2**(F+1))`` or ``(2 Q, FS 2**F, 2 FS 2**F)``. A signed ADC
(differential currents subtracted first) applies the same rounding to ``|p|`` and keeps the
sign, with ``Q`` codes per side.

Exactness: every operand is an integer below ``2**24`` (float32) or ``2**53`` (float64), so the
product and the sum are exact, and ``floor(u / v)`` of two such integers is exact too — the
quotient's rounding error (under half an ulp, ``< u / v * 2**-24``) is smaller than its distance
``>= 1 / v`` to the next integer whenever ``u < 2**24``. IEEE division and floor are correctly
rounded on every backend, so numpy and CUDA agree to the bit.

The unsigned ADC can take *prescaled* sums, ``scale * p_fixed + bias``, produced directly by the
crossbar matrix product (the weights multiplied by ``scale`` and a bias row added), which saves
two passes over the largest array of the pipeline.

The full specification is ``docs/spec/reram.md`` (section *The ADC*).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .config import ReramConfig

__all__ = ["Adc"]


@dataclasses.dataclass(frozen=True)
class Adc:
    """The column ADCs of one configuration: ``code = clamp(floor((scale p + bias) / divisor), 0, levels)``."""

    levels: int
    """``Q``: the top code (per side when ``signed``)."""
    scale: int
    bias: int
    divisor: int
    """``(scale, bias, divisor)``: the transfer in integers (above)."""
    signed: bool
    """Whether codes keep the sign of ``p+ - p-`` (the ``subtract`` readout)."""
    dtype: Any
    """The float type the conversion computes in (float32 or float64; exact, see above)."""

    @classmethod
    def from_config(cls, config: ReramConfig, fraction_bits: int = 0, dtype: Any = None) -> "Adc":
        """The ADC of ``config`` (its levels ``Q``, full scale ``FS`` and sign) for partial sums
        with ``fraction_bits`` fractional bits, computing in ``dtype`` (float32 or float64)."""
        return cls.build(config.adc_levels, config.full_scale, fraction_bits, config.signed_adc, dtype)

    @classmethod
    def build(cls, levels: int, full_scale: int, fraction_bits: int, signed: bool, dtype: Any) -> "Adc":
        """The ADC with ``levels`` codes (``Q``, per side when ``signed``) and full scale ``FS``."""
        one = 2**fraction_bits
        if full_scale <= levels:
            return cls(levels, 2, one, 2 * one, signed, dtype)
        return cls(levels, 2 * levels, full_scale * one, 2 * full_scale * one, signed, dtype)

    def bound(self, max_partial_sum: float) -> float:
        """Largest intermediate value for partial sums up to ``max_partial_sum``."""
        return self.scale * max_partial_sum + self.bias

    def reference(self, p_fixed: int) -> int:
        """The code of one partial sum, in Python integers (the definition, for tests)."""
        value = abs(p_fixed) if self.signed else p_fixed
        magnitude = min(max((self.scale * value + self.bias) // self.divisor, 0), self.levels)
        return -magnitude if (self.signed and p_fixed < 0) else magnitude

    def convert(self, partial_sums: Any, xp: Any, *, prescaled: bool = False, saturates: bool = True) -> Any:
        """Codes of integer-valued partial sums (a float array, overwritten in place).

        ``prescaled``: the array already holds ``scale * p_fixed + bias`` (unsigned ADC only).
        ``saturates=False`` promises that no partial sum exceeds full scale or falls below
        zero (ideal devices, default full scale), which skips the clamp.
        """
        values = partial_sums
        if self.signed:
            sign = xp.sign(values)
            values = xp.abs(values)
        if not prescaled:
            values *= self.scale
            values += self.bias
        values /= self.divisor
        xp.floor(values, out=values)
        if saturates:
            xp.clip(values, 0, self.levels, out=values)
        if self.signed:
            values *= sign
        return values
