"""ADCs that differ from one another: full scales per weight slice and input chunk, and per-ADC
offset and gain errors (``AdcConfig.full_scales``, ``offset_error_lsb``, ``gain_error_lsb``).

**Full scales per slice and chunk.** The conversions of weight slice ``s`` and input chunk ``c``
use the ADC of :mod:`~cim_emu.reram.adc` with full scale ``FS[s][c]`` (same ``Q``): their
``(scale, bias, divisor, top)`` and their step ``Delta[s][c]`` (1 when ``FS[s][c] <= Q``, else
``FS[s][c] / Q``). Shift-and-add weighs each code by its own step: with ``D[s][c] = Q *
Delta[s][c]`` (``Q`` or ``FS[s][c]``, integers) and ``g = gcd(D)``, the accumulator
``acc = sum sign * code * (D[s][c] / g) * 2**(c * dac + s * bpc)`` is an exact integer and the
result is ``acc * (g / Q)`` (times ``output_scale``), one float64 multiply: with one full scale
everywhere this is ``acc * Delta``, the bits of the pipeline without ranges.

**Offset and gain errors.** Every column ADC of every crossbar - index ``i = ((pol * S + s) * T +
t) * N' + n`` (polarity, slice, row tile, column; one polarity for a signed ADC, which converts
``p+ - p-``) - draws, once and seeded, ``z_o = normal(seed, Stream.ADC_ERROR, 2 i)`` and ``z_g =
normal(.., 2 i + 1)``: its offset ``o = offset_error_lsb * z_o`` (LSB) and gain error ``e =
gain_error_lsb * z_g`` (LSB at the top code ``Q``). The ADC converts ``v = p a (1 + e / Q) + o``
(``p a`` the ideal ``p Q / FS``, or ``p`` for a unit step) instead of ``p a``, rounded as the ideal
one rounds (half up; half away from zero for a signed ADC) and clamped. In integers, with
``G = ERROR_FRACTION_BITS`` fractional bits, ``m = max(0, rint((1 + e / Q) 2**G))`` and ``q =
rint(o 2**G)``::

    unsigned:  code = clamp(floor((scale p m + bias 2**G + q divisor) / (divisor 2**G)), 0, top)
    signed:    V = scale p m + q divisor,
               code = sign(V) * clamp(floor((|V| + bias 2**G) / (divisor 2**G)), 0, top)

(with no errors, ``m = 1``, ``q = 0`` and ``G = 0``: the ideal rule). Every operand is an integer
below ``2**53``, checked when the crossbars are programmed, so float64 computes it exactly and
numpy and CuPy agree to the bit. The errors are properties of the ADCs, so they stay the same
through drift (:meth:`~cim_emu.reram.crossbar.CrossbarArray.at_time`) and reprogramming with the
same seed.

The readout (:class:`RangedReadout`) computes every partial sum unpacked, per tile, in the
array library of the backend (numpy or CuPy; no kernel), adds the read noise, converts and sums
the weighted codes. The full specification is ``docs/spec/reram.md`` (*ADC ranges and errors*).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import numpy

from .. import rng
from ..rng import Stream
from .adc import Adc
from .config import ReramConfig
from .dac import Dac

__all__ = ["ERROR_FRACTION_BITS", "RangedAdc", "RangedReadout"]

#: ``G``: the fractional bits of the gain factor and the offset (resolution ``2**-16``: the gain
#: in steps of 1.5e-5, the offset in 1.5e-5 LSB).
ERROR_FRACTION_BITS = 16


@dataclasses.dataclass(frozen=True, eq=False)
class RangedAdc:
    """The conversions of every (slice, chunk) and every ADC, as integer-valued float64 arrays:
    ``code = clamp(floor((multiplier p + offset) / divisor), 0, top)`` (unsigned; the signed form
    in the module docstring), the per-(slice, chunk) terms ``(C, S)``, the per-ADC ones
    ``(P', S, T, N')`` (``None`` without errors)."""

    scale: numpy.ndarray
    """``scale[c, s]`` of the ideal rule."""
    bias: numpy.ndarray
    """``bias[c, s] * 2**G``."""
    divisor: numpy.ndarray
    """``divisor[c, s] * 2**G``."""
    offset_unit: numpy.ndarray
    """``divisor[c, s]``: what an offset ``q`` is multiplied by."""
    top: numpy.ndarray
    """The top code ``top[c, s]``: ``FS[s][c]`` when it is at most ``Q``, else ``Q``."""
    code_weights: numpy.ndarray
    """``(D[s][c] / g) * 2**(c * dac + s * bpc)``, ``(C, S)`` int64: what each code counts in ``acc``."""
    step: float
    """``g / Q``, or ``Delta`` with one full scale: the partial-sum units of one unit of ``acc``."""
    gain: Optional[numpy.ndarray]
    """``m`` per ADC ``(P', S, T, N')``, or ``None`` (no errors)."""
    offset: Optional[numpy.ndarray]
    """``q`` per ADC ``(P', S, T, N')``, or ``None``."""
    signed: bool

    @classmethod
    def build(cls, config: ReramConfig, fraction_bits: int, *, tiles: int, columns: int, seed: int,
              max_sum: float) -> "RangedAdc":
        """The ADCs of ``config`` for crossbars of ``tiles`` row tiles and ``columns`` columns
        (``N'``), keyed by ``seed``, reading partial sums of magnitude at most ``max_sum`` (fixed
        point, ``fraction_bits``); raises :class:`ValueError` when an operand could reach ``2**53``."""
        mapping, inputs, adc_config = config.mapping, config.inputs, config.adc
        S, C, Q, signed = mapping.slices, inputs.chunks, config.adc_levels, config.signed_adc
        adcs = [[Adc.build(Q, config.full_scales[s][c], fraction_bits, signed, numpy.float64) for s in range(S)]
                for c in range(C)]
        steps = numpy.array([[round(Q * config.step_of(config.full_scales[s][c])) for s in range(S)]
                             for c in range(C)], dtype=numpy.int64)  # D = Q * Delta: Q, or FS (exact)
        common = math.gcd(*steps.ravel().tolist())
        place = (2 ** (numpy.arange(C, dtype=numpy.int64) * inputs.dac_bits))[:, None] * \
            (2 ** (numpy.arange(S, dtype=numpy.int64) * mapping.bits_per_cell))[None, :]
        polarities = 1 if signed else mapping.polarities
        code_bound = tiles * polarities * float(((steps // common) * place).sum()) * Q
        if code_bound >= 2**62:
            raise ValueError(f"the ADC codes summed with their steps reach {code_bound:.3g}, past int64; use fewer "
                             "rows, bits or full scales of fewer distinct sizes")
        field = numpy.array([[[a.scale, a.bias, a.divisor, a.levels] for a in row] for row in adcs],
                            dtype=numpy.float64)
        gain = offset = None
        one = 1
        if adc_config.has_errors:
            one = 2**ERROR_FRACTION_BITS
            shape = (polarities, S, tiles, columns)
            z = rng.normal(seed, Stream.ADC_ERROR, 0, 2 * math.prod(shape)).reshape(shape + (2,))
            gain = numpy.maximum(0.0, numpy.rint((1 + adc_config.gain_error_lsb * z[..., 1] / Q) * one))
            offset = numpy.rint(adc_config.offset_error_lsb * z[..., 0] * one)
            largest = (field[..., 0].max() * max_sum * gain.max(initial=one) + field[..., 1].max() * one
                       + numpy.abs(offset).max(initial=0) * field[..., 2].max())
            if largest >= 2**53:
                raise ValueError(f"with ADC offset and gain errors the conversions reach {largest:.3g}, past float64's "
                                 "exact range (2**53); use fewer rows per crossbar or fewer bits")
        return cls(scale=field[..., 0], bias=field[..., 1] * one, divisor=field[..., 2] * one,
                   offset_unit=field[..., 2], top=field[..., 3],
                   code_weights=(steps // common) * place, step=float(common) / Q if common != Q else 1.0,
                   gain=gain, offset=offset, signed=signed)

    def convert(self, sums: Any, t: int, n0: int, n1: int, xp: Any, out: Any) -> Any:
        """Codes of tile ``t``'s partial sums ``(C, b, n, P', S)`` (integer-valued, columns ``n0 ..
        n1 - 1``; ``P' = 1`` for a signed ADC, which takes ``p+ - p-``), as float64, into ``out``
        (float64, the shape of ``sums``)."""
        def per_conversion(values: numpy.ndarray) -> Any:  # (C, S) -> broadcast over (C, b, n, P', S)
            return xp.asarray(values[:, None, None, None, :])

        def per_adc(values: numpy.ndarray) -> Any:  # (P', S, T, N') -> (n, P', S) of tile t
            return xp.asarray(numpy.ascontiguousarray(values[:, :, t, n0:n1].transpose(2, 0, 1)))

        scale, bias, divisor = per_conversion(self.scale), per_conversion(self.bias), per_conversion(self.divisor)
        sums = xp.multiply(sums, scale, out=out, dtype=numpy.float64)  # exact: integers
        if self.gain is not None and self.offset is not None:
            sums *= per_adc(self.gain)
            sums += per_adc(self.offset) * per_conversion(self.offset_unit)
        if self.signed:
            sign = xp.sign(sums)
            xp.abs(sums, out=sums)
        sums += bias
        sums /= divisor
        xp.floor(sums, out=sums)
        xp.minimum(xp.maximum(sums, 0, out=sums), per_conversion(self.top), out=sums)
        if self.signed:
            sums *= sign
        return sums


@dataclasses.dataclass(frozen=True, eq=False)
class RangedReadout:
    """Stages 2 to 5 of one job with :class:`RangedAdc`, for the unpacked operand ``(T, rows, N'
    * P * S)`` (both polarities' cells; each weight column's ``P * S`` cells side by side)."""

    operand: Any
    adc: RangedAdc
    dac: Dac
    polarities: int
    slices: int
    last_rows: int
    """Word lines of the last row tile that hold inputs (the rest are zero padding)."""

    def accumulate(self, tiles: Any, n0: int, n1: int, noise: Optional[Any], xp: Any) -> Any:
        """``acc`` ``(b, n1 - n0)`` (int64, in units of :attr:`RangedAdc.step`) of weight columns
        ``n0 .. n1 - 1`` from the input tiles ``(T, C*b, rows)`` and the read noise ``(T, C*b, n,
        P*S)`` (or ``None``)."""
        T, Cb = tiles.shape[:2]
        C, P, S, n = self.dac.chunks, self.polarities, self.slices, n1 - n0
        width = P * S
        code_sums = xp.zeros((C, Cb // C, n, S), dtype=numpy.float64)
        codes = xp.empty((C, Cb // C, n, 1 if self.adc.signed else P, S), dtype=numpy.float64)
        for t in range(T):
            depth = self.last_rows if t == T - 1 else tiles.shape[2]
            sums = xp.matmul(tiles[t][:, :depth], self.operand[t][:depth, n0 * width:n1 * width]).reshape(Cb, n, width)
            if noise is not None:  # summed in float64: exact, as both are integers
                sums = xp.add(sums, noise[t], dtype=numpy.float64)
            sums = sums.reshape(C, Cb // C, n, P, S)
            if self.adc.signed:  # p+ - p-, exact
                sums = xp.subtract(sums[:, :, :, :1], sums[:, :, :, 1:], dtype=numpy.float64)
            self.adc.convert(sums, t, n0, n1, xp, out=codes)
            code_sums += codes[:, :, :, 0]
            if P == 2 and not self.adc.signed:  # W- codes count negatively
                code_sums -= codes[:, :, :, 1]
        weights = xp.asarray(self.adc.code_weights)  # (C, S)
        acc = xp.einsum("cbns,cs->bn", code_sums.astype(numpy.int64), weights)
        return acc
