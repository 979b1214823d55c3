"""Argument checks shared by every module: each raises :class:`ValueError` naming the
parameter and its allowed range, and returns the value in its plain Python type.

Messages show the value through :func:`shown`, which cuts it to :data:`SHOWN_CHARACTERS`
characters, so that a huge input (a 10 MB token, an integer of a million digits) is not echoed
whole.
"""

from __future__ import annotations

import math
from typing import Any

import numpy

#: Characters of a value an error message shows; a longer one is cut and ends in ``...``.
SHOWN_CHARACTERS = 40

#: Integers longer than this (in bits) are described by their size, not printed: printing one
#: costs time quadratic in its length.
_PRINTED_INT_BITS = 4096


def shown(value: Any) -> str:
    """``repr(value)`` for an error message: its first :data:`SHOWN_CHARACTERS` characters and
    ``...`` when it is longer (a string is cut before ``repr``, so a 10 MB token costs nothing)."""
    if isinstance(value, str) and len(value) > SHOWN_CHARACTERS:
        return f"{value[:SHOWN_CHARACTERS]!r}..."
    if isinstance(value, int) and value.bit_length() > _PRINTED_INT_BITS:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else f"{text[:SHOWN_CHARACTERS]}..."


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, numpy.integer)) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A real number (Python or numpy; not a bool)."""
    return isinstance(value, (int, float, numpy.integer, numpy.floating)) and not isinstance(value, bool)


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {shown(value)}")
    return int(value)


def int_in_range(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``."""
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}]; got {shown(value)}")
    return int(value)


def int_below(name: str, value: Any, limit: int, limit_text: str) -> int:
    """``value`` as an int in ``[0, limit)`` (``limit_text`` spells the limit, e.g. ``2**64``)."""
    if not _is_int(value) or not 0 <= value < limit:
        raise ValueError(f"{name} must be an integer in [0, {limit_text}); got {shown(value)}")
    return int(value)


def positive_number(name: str, value: Any) -> float:
    """``value`` as a float > 0 (NaN refused)."""
    if not is_real(value) or not value > 0:
        raise ValueError(f"{name} must be a positive number; got {shown(value)}")
    return float(value)


def nonnegative_number(name: str, value: Any) -> float:
    """``value`` as a float >= 0 (NaN refused)."""
    if not is_real(value) or not value >= 0 or math.isnan(value):
        raise ValueError(f"{name} must be a number >= 0; got {shown(value)}")
    return float(value)


def finite_nonnegative(name: str, value: Any) -> float:
    """``value`` as a finite float >= 0 (NaN and infinity refused)."""
    if not is_real(value) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite number >= 0; got {shown(value)}")
    return float(value)


def finite_positive(name: str, value: Any) -> float:
    """``value`` as a finite float > 0 (NaN and infinity refused)."""
    if not is_real(value) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number > 0; got {shown(value)}")
    return float(value)


def probability(name: str, value: Any) -> float:
    """``value`` as a float in ``[0, 1]``."""
    if not is_real(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1]; got {shown(value)}")
    return float(value)
