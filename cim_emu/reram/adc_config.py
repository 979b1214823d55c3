"""The ADC's configuration (the ``adc`` section of a :class:`~cim_emu.reram.config.ReramConfig`):
resolution, one full scale or one per weight slice and input chunk, and per-ADC offset and gain
errors. What the ADC computes is :mod:`~cim_emu.reram.adc` and :mod:`~cim_emu.reram.adc_ranges`;
the specification is ``docs/spec/reram.md`` (*The ADC*, *ADC ranges and errors*).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from .._checks import finite_nonnegative, int_in_range, shown

__all__ = ["AdcConfig", "full_scale_grid"]


@dataclasses.dataclass(frozen=True)
class AdcConfig:
    """The per-column ADC.

    With ``Q = 2**bits - 1`` codes and full scale ``FS`` (``docs/spec/reram.md``): if ``FS <= Q`` the code
    is ``min(p, FS)`` (unit step: the ADC saturates at its full scale); otherwise
    ``min(floor((2 p Q + FS) / (2 FS)), Q)``, the round-half-up of ``p Q / FS`` in integers, with
    step ``FS / Q``. A signed ADC (the ``subtract`` readout) has ``Q = 2**(bits - 1) - 1`` codes
    per side and rounds ``|p|`` the same way, keeping the sign.
    """

    bits: Optional[int] = None
    """Resolution, 1..24 bits; ``None``: the fewest bits that make the ADC lossless."""

    full_scale: Optional[int] = None
    """Partial sum mapped to the top code, a positive integer; ``None``: the largest possible
    partial sum ``rows * (2**dac_bits - 1) * (2**bits_per_cell - 1)``. Smaller clips."""

    full_scales: Optional[tuple[tuple[int, ...], ...]] = None
    """Full scales per weight slice and input chunk, ``full_scales[s][c]`` (``slices`` rows of
    ``chunks`` positive integers; slice 0 and chunk 0 the least significant), in place of
    ``full_scale`` (give one or the other); each conversion of slice ``s`` and chunk ``c`` has its
    own step. ``CrossbarArray.largest_partial_sums`` calibrates them from data (as CrossSim
    calibrates its ADC ranges per slice). ``None``: one full scale for every conversion."""

    offset_error_lsb: float = 0.0
    """Standard deviation of each ADC's offset error, in LSB (codes), finite and >= 0: each
    column ADC of each crossbar draws its own offset once, seeded, and keeps it. 0: none."""

    gain_error_lsb: float = 0.0
    """Standard deviation of each ADC's gain error, in LSB at the top code (the datasheet unit:
    the transfer's slope is ``1 + gain / Q``), finite and >= 0, drawn per ADC like the offset."""

    def __post_init__(self) -> None:
        if self.bits is not None:
            object.__setattr__(self, "bits", int_in_range("bits", self.bits, 1, 24))
        if self.full_scale is not None:
            object.__setattr__(self, "full_scale", int_in_range("full_scale", self.full_scale, 1, 2**40))
        if self.full_scales is not None:
            if self.full_scale is not None:
                raise ValueError("give full_scale or full_scales, not both")
            object.__setattr__(self, "full_scales", full_scale_grid(self.full_scales))
        for name in ("offset_error_lsb", "gain_error_lsb"):
            value = finite_nonnegative(name, getattr(self, name))
            if value > 2**20:
                raise ValueError(f"{name} must be in [0, 2**20] LSB; got {value!r}")
            object.__setattr__(self, name, value)

    @property
    def has_errors(self) -> bool:
        """Whether the ADCs have offset or gain errors."""
        return bool(self.offset_error_lsb or self.gain_error_lsb)


def full_scale_grid(value: Any) -> tuple[tuple[int, ...], ...]:
    """``value`` as full scales per slice and chunk: a non-empty sequence of equally long,
    non-empty sequences of integers in ``[1, 2**40]``."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not len(value):
        raise ValueError(f"full_scales must be a non-empty list (one per weight slice) of lists (one full "
                         f"scale per input chunk); got {shown(value)}")
    def sized(row: Any) -> bool:
        return not isinstance(row, (str, bytes)) and hasattr(row, "__len__") and len(row) > 0

    width = len(value[0]) if sized(value[0]) else 1
    rows = []
    for s, row in enumerate(value):
        if not sized(row) or len(row) != width:
            raise ValueError(f"full_scales[{s}] must be a list of {width} full scale(s) (one per input chunk, "
                             f"as many in every slice); got {shown(row)}")
        rows.append(tuple(int_in_range(f"full_scales[{s}][{c}]", v, 1, 2**40) for c, v in enumerate(row)))
    return tuple(rows)
