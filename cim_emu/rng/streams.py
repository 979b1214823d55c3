"""The registry of random streams: every stream the package draws from, in one place.

A stream identifier is the high byte of the 64-bit stream number (``id << 56``); the low 56
bits are free for the caller (e.g. the TRA ordinal of a fault draw, or the read index of a read
noise draw: ``Stream.READ | read_index``). Distinct streams never share a Philox counter, so
the noise sources are independent. Ambit faults use the ``0xA_`` identifiers, ReRAM devices
the ``0xB_`` ones. Data streams of examples, tests and benchmarks (small integers, e.g.
:func:`cim_emu.bits.random_row`) lie below ``2**56`` and never meet these.
"""

from __future__ import annotations

import enum

__all__ = ["Stream"]


class Stream(enum.IntEnum):
    """The stream numbers of every noise and fault source (documented in ``docs/spec/generator.md``)."""

    TRA_FLIP = 0xA1 << 56
    """Ambit: the random flip of a bit by one TRA (``| tra_index``); :mod:`cim_emu.ambit.faults`."""
    WEAK_MAP = 0xA2 << 56
    """Ambit: the fixed map of weak columns (one draw per column)."""
    WEAK_FLIP = 0xA3 << 56
    """Ambit: the flip of a weak column's bit by one TRA (``| tra_index``)."""
    REALCHIP_CAPABLE = 0xA4 << 56
    """Real-chip Ambit: the uniform draw behind the capable mask of a row group (``| group key``);
    :mod:`cim_emu.ambit.realchip.errors`."""
    REALCHIP_FLIP = 0xA5 << 56
    """Real-chip Ambit: the flip of a non-capable bit by one APA (``| APA ordinal``)."""
    REALCHIP_TIE = 0xA6 << 56
    """Real-chip Ambit: the sensed value of a bit whose charge-sharing vote ties (``| APA ordinal``)."""
    PROGRAMMING = 0xB1 << 56
    """ReRAM: programming noise of every cell; :mod:`cim_emu.reram.devices`."""
    STUCK = 0xB2 << 56
    """ReRAM: which cells are stuck, and at which level."""
    DRIFT = 0xB3 << 56
    """ReRAM: the drift exponent (or the drifted conductance noise) of every cell."""
    READ = 0xB4 << 56
    """ReRAM: read noise of every conversion (``| read_index``); :mod:`cim_emu.reram.pipeline`."""
    READ_1F = 0xB5 << 56
    """ReRAM: the 1/f read noise of the PCM preset, at programming time."""
    ADC_ERROR = 0xB6 << 56
    """ReRAM: the offset (``2 i``) and gain error (``2 i + 1``) of ADC ``i``; :mod:`cim_emu.reram.adc_ranges`."""
