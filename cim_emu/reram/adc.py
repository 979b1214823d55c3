"""Stage 4, the column ADCs: each partial sum digitised, exactly, in floating point.

With partial sums in fixed point (``p_fixed = p * 2**F``, ``F`` fractional bits; ``F = 0`` for
ideal devices), ``Q`` codes and full scale ``FS``:

* unit step (``FS <= Q``): ``code = clamp(floor((2 p_fixed + 2**F) / 2**(F + 1)), 0, FS)`` — with
  integer ``p`` this is ``min(p, FS)``; with noise it rounds ``p`` half up; the ADC saturates at
  its full scale (its top code is ``FS``, not ``Q``);
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

Fewer passes, the same codes (:meth:`Adc.convert`): a multiply and an add instead of the division
where the reduced divisor is a power of two (:attr:`Adc.dyadic`); ``trunc`` of ``scale * p +
copysign(bias, p)`` for a signed ADC instead of its sign and magnitude; and, for partial sums
known to be integers in a range (noiseless reads), ``rint(p * m)`` with a multiplier checked
against the integer rule over every integer of the range (:meth:`Adc.rounding_over`).

The full specification is ``docs/spec/reram.md`` (section *The ADC*).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Optional

import numpy

from .config import ReramConfig

__all__ = ["Adc"]


@dataclasses.dataclass(frozen=True)
class Adc:
    """The column ADCs of one configuration: ``code = clamp(floor((scale p + bias) / divisor), 0, levels)``."""

    levels: int
    """The top code (per side when ``signed``): ``Q``, or ``FS`` when ``FS <= Q`` (unit step)."""
    scale: int
    bias: int
    divisor: int
    """``(scale, bias, divisor)``: the transfer in integers (above)."""
    signed: bool
    """Whether codes keep the sign of ``p+ - p-`` (the ``subtract`` readout)."""
    dtype: Any
    """The float type the conversion computes in (float32 or float64; exact, see above)."""
    multiplier: Optional[float] = None
    """``m``: when set, :meth:`convert` computes ``rint(p * m)`` (then the clamp), which
    :meth:`rounding_over` found equal to the transfer for every integer in a range of partial sums."""

    @classmethod
    def from_config(cls, config: ReramConfig, fraction_bits: int = 0, dtype: Any = None) -> "Adc":
        """The ADC of ``config`` (its levels ``Q``, full scale ``FS`` and sign) for partial sums
        with ``fraction_bits`` fractional bits, computing in ``dtype`` (float32 or float64)."""
        return cls.build(config.adc_levels, config.full_scale, fraction_bits, config.signed_adc, dtype)

    @classmethod
    def build(cls, levels: int, full_scale: int, fraction_bits: int, signed: bool, dtype: Any) -> "Adc":
        """The ADC with ``levels`` codes (``Q``, per side when ``signed``) and full scale ``FS``.
        With ``FS <= Q`` (unit step) the top code is ``FS``: the ADC saturates at its full scale."""
        one = 2**fraction_bits
        if full_scale <= levels:
            return cls(full_scale, 2, one, 2 * one, signed, dtype)
        return cls(levels, 2 * levels, full_scale * one, 2 * full_scale * one, signed, dtype)

    def rounding_over(self, low: int, high: int, *, saturates: bool) -> "Adc":
        """This ADC with a :attr:`multiplier` for the integer partial sums ``low .. high``, or
        unchanged where none is found (or the range is over ``2**22`` values).

        Both rules are ``floor(p * a + 1/2)``, ``a = scale / divisor`` (``bias / divisor = 1/2``;
        ``sign(p) * floor(|p| a + 1/2)`` when signed), that is ``p * a`` rounded half away from
        zero. ``rint(p * m)``, with ``m`` a little above ``a`` in magnitude, rounds the ties away
        from zero and leaves every other value where it was, as long as ``m - a`` and the product's
        rounding stay below the distance of the other values from a tie. Whether they do is not
        argued but checked: over every integer ``p`` in the range, with the very operations
        :meth:`convert` runs (a product in :attr:`dtype`, ``rint``, the clamp), against the
        integer transfer. It saves the conversion all but two passes (one for the clamp).
        """
        if 2 * self.bias != self.divisor or not 0 <= high - low <= 2**22 or max(-low, high) >= 2**24:
            return self
        dtype = numpy.dtype(self.dtype or numpy.float64).type
        p = numpy.arange(low, high + 1, dtype=numpy.int64)
        magnitude = (self.scale * numpy.abs(p) + self.bias) // self.divisor
        expected = numpy.sign(p) * magnitude if self.signed else (self.scale * p + self.bias) // self.divisor
        low_code = -self.levels if self.signed else 0
        if saturates:
            expected = numpy.clip(expected, low_code, self.levels)
        exact = self.scale / self.divisor
        candidates = [float(numpy.nextafter(dtype(exact), dtype(numpy.inf)))]
        candidates += [float(dtype(exact * (1 + 2.0**-k))) for k in range(24, 7, -2)]
        values = p.astype(dtype)
        for multiplier in candidates:
            codes = numpy.rint(values * dtype(multiplier))
            if saturates:
                numpy.clip(codes, low_code, self.levels, out=codes)
            if numpy.array_equal(codes, expected):
                return dataclasses.replace(self, multiplier=multiplier)
        return self

    def bound(self, max_partial_sum: float) -> float:
        """Largest intermediate value for partial sums up to ``max_partial_sum``."""
        return self.scale * max_partial_sum + self.bias

    def reference(self, p_fixed: int) -> int:
        """The code of one partial sum, in Python integers (the definition, for tests)."""
        value = abs(p_fixed) if self.signed else p_fixed
        magnitude = min(max((self.scale * value + self.bias) // self.divisor, 0), self.levels)
        return -magnitude if (self.signed and p_fixed < 0) else magnitude

    @functools.cached_property
    def dyadic(self) -> Optional[tuple[float, float]]:
        """``(scale / divisor, bias / divisor)`` when both are dyadic rationals exact in ``dtype``
        (the divisor, reduced by the common factor of the three, a power of two), else ``None``.

        Then ``(scale p + bias) / divisor = p * (s' / 2**e) + b' / 2**e`` with ``s' = scale / g``
        and ``b' = bias / g``: the product and the sum are exact (integers below ``2**24`` or
        ``2**53`` scaled by ``2**-e``), and the conversion takes a multiply and an add instead
        of a multiply, an add and a division.
        """
        common = math.gcd(self.scale, self.bias, self.divisor)
        reduced = self.divisor // common
        if reduced & (reduced - 1) or self.bias >= self.divisor:
            return None
        multiplier, offset = self.scale / self.divisor, self.bias / self.divisor
        dtype = numpy.dtype(self.dtype or numpy.float64).type
        if float(dtype(multiplier)) != multiplier or float(dtype(offset)) != offset:
            return None
        return multiplier, offset

    def convert(self, partial_sums: Any, xp: Any, *, prescaled: bool = False, saturates: bool = True,
                units: Any = None) -> Any:
        """Codes of integer-valued partial sums (a float array, overwritten in place).

        ``units`` (with a :attr:`multiplier` only): the array holds ``p * units`` (powers of two,
        broadcast against it), converted as ``rint(values * (multiplier / units))``, the same
        product ``p * multiplier``, exactly, as scaling by a power of two is exact.

        ``prescaled``: the array already holds ``scale * p_fixed + bias`` (unsigned ADC only).
        ``saturates=False`` promises that no partial sum exceeds full scale or falls below
        zero (ideal devices, default full scale), which skips the clamp.

        A signed ADC computes ``trunc((scale p + copysign(bias, p)) / divisor)``: IEEE rounding
        is symmetric, so this is ``sign(p) * floor((scale |p| + bias) / divisor)`` (``bias <
        divisor``, so ``p = 0`` gives 0), without the passes for the sign and the magnitude.
        With :attr:`dyadic` the division becomes a multiply by ``scale / divisor`` and an add.
        """
        values, dyadic = partial_sums, self.dyadic
        if self.multiplier is not None and not prescaled:
            values *= self.multiplier if units is None else (self.multiplier / units).astype(values.dtype)
            xp.rint(values, out=values)
        elif units is not None:
            raise ValueError("units need the ADC's checked multiplier")
        elif prescaled:
            if not self.divisor & (self.divisor - 1):  # a power of two: the multiply is exact
                values *= 1.0 / self.divisor
            else:
                values /= self.divisor
            xp.floor(values, out=values)
        elif self.signed and self.bias < self.divisor:
            if dyadic is not None:
                values *= dyadic[0]
                values += xp.copysign(dyadic[1], values)
            else:
                offset = xp.copysign(self.bias, values)
                values *= self.scale
                values += offset
                values /= self.divisor
            xp.trunc(values, out=values)
        elif self.signed:  # (a hand-made ADC whose bias reaches the divisor)
            sign = xp.sign(values)
            xp.abs(values, out=values)
            values *= self.scale
            values += self.bias
            values /= self.divisor
            xp.floor(values, out=values)
            if saturates:
                xp.clip(values, 0, self.levels, out=values)
            values *= sign
            return values
        else:
            if dyadic is not None:
                values *= dyadic[0]
                values += dyadic[1]
            else:
                values *= self.scale
                values += self.bias
                values /= self.divisor
            xp.floor(values, out=values)
        if saturates:
            xp.clip(values, -self.levels if self.signed else 0, self.levels, out=values)
        return values
