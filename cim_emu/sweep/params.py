"""The parameters a study declares: type, default, allowed values, and the check of one value.

A :class:`Param` checks the value a sweep spec gives (:meth:`Param.check`) and raises
:class:`SpecError` (a ``ValueError``) naming the spec key and the allowed values. Types are the
four a TOML or JSON file can hold as a scalar: ``int``, ``float`` (an integer is accepted and
stored as a float), ``bool`` and ``str``. ``also`` lists extra string values a number parameter
accepts (``adc_bits = "lossless"``); ``nullable`` lets a JSON spec give ``null`` (TOML has no
null: leave the key out to get the default).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

from .._checks import shown

#: The names of the scalar types a parameter may have, as a spec's error messages spell them.
KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


class SpecError(ValueError):
    """A sweep spec that cannot run: the message names the key (``grid.adc_bits``) and what is allowed."""


@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter of a study."""

    kind: type
    """``int``, ``float``, ``bool`` or ``str``."""

    default: Any
    """The value a point takes when the spec does not set it."""

    doc: str
    """What it means, in a few words (``cim-emu sweep studies`` prints it)."""

    choices: Optional[tuple] = None
    """The allowed values (``None``: any value of the type within ``low``..``high``)."""

    low: Optional[float] = None
    """Smallest allowed value of a number (inclusive)."""

    high: Optional[float] = None
    """Largest allowed value of a number (inclusive)."""

    also: tuple = ()
    """Strings a number parameter accepts besides numbers (e.g. ``"lossless"``)."""

    nullable: bool = False
    """Whether ``null`` (JSON) is allowed; it means what the default ``None`` means."""

    def allowed(self) -> str:
        """The allowed values in words, for error messages and ``cim-emu sweep studies``."""
        if self.choices is not None:
            text = "one of " + ", ".join(map(repr, self.choices))
        else:
            text = KINDS[self.kind]
            if self.low is not None and self.high is not None:
                text += f" in [{self.low}, {self.high}]"
            elif self.low is not None:
                text += f" >= {self.low}"
            elif self.high is not None:
                text += f" <= {self.high}"
        extras = [repr(a) for a in self.also] + (["null"] if self.nullable else [])
        return text + (f" (or {', '.join(extras)})" if extras else "")

    def check(self, key: str, value: Any) -> Any:
        """``value`` in its plain Python type, or :class:`SpecError` naming ``key``."""
        if value is None and (self.nullable or self.default is None):
            return None
        if isinstance(value, str) and value in self.also:
            return value
        checked = _typed(self.kind, value)
        bad = checked is None
        if not bad and self.choices is not None:
            bad = checked not in self.choices
        if not bad and self.kind in (int, float):
            bad = ((self.low is not None and checked < self.low) or (self.high is not None and checked > self.high)
                   or (self.kind is float and not math.isfinite(checked)))
        if bad:
            raise SpecError(f"{key} must be {self.allowed()}; got {shown(value)}")
        return checked


def _typed(kind: type, value: Any) -> Any:
    """``value`` as ``kind`` when it is one (an int for a float), else ``None``."""
    if isinstance(value, bool):
        return value if kind is bool else None
    if kind is int:
        return value if isinstance(value, int) else None
    if kind is float:
        return float(value) if isinstance(value, (int, float)) else None
    return value if isinstance(value, kind) else None


def free_value(key: str, value: Any) -> Any:
    """A value of a user's own study (no declared parameters): a JSON scalar or a list of them."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list) and all(not isinstance(v, (list, dict)) for v in value):
        return [free_value(key, v) for v in value]
    raise SpecError(f"{key} must be a string, a number, true/false, null or a list of them; got {shown(value)}")
