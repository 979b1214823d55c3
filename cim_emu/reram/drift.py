"""Reading programmed crossbars later: drift, and global drift compensation.

The programmed state at ``t`` seconds after programming is the devices' (drift, and a preset's
own time model, :mod:`cim_emu.reram.devices`): the same weights, configuration and seed
programmed again with ``read_time = t``, so that the programming noise and stuck cells are the
ones of the fresh crossbars and only the time evolution is added.

Global drift compensation (IBM aihwkit's ``GlobalDriftCompensation``): a reference read right
after programming (read index ``2**55``) and again at ``t`` (read index ``2**55 + 1``, both
outside the user's read indices), each summarised as ``mean(|y_analog|)`` over the columns of
the all-ones input at the largest input value (aihwkit's documentation's reference; its code
reads the identity matrix, which here would put single cells through the ADC, where rounding
dominates). The analog part of every later output (``acc * Delta``, before the exact digital
corrections) is multiplied by

    alpha = reference_at_programming / reference_at_t        (one float64 multiply)

which the drifted crossbars keep as their ``output_scale``.

The full specification is ``docs/spec/reram.md`` (sections *Non-idealities* and *Global drift
compensation*).
"""

from __future__ import annotations

import math
from typing import Any

import numpy

from .._checks import is_real

__all__ = ["REFERENCE_READ_INDEX", "at_time", "reference_read"]

#: The read index of the reference read right after programming; ``+ 1`` for the one at ``t``.
REFERENCE_READ_INDEX = 2**55


def at_time(crossbars: Any, t_seconds: float, *, drift_compensation: bool = False) -> Any:
    """The crossbars (a :class:`~cim_emu.reram.crossbar.CrossbarArray`) read ``t_seconds``
    after programming, with ``output_scale = alpha`` when ``drift_compensation``."""
    if not (is_real(t_seconds) and 0 <= t_seconds < math.inf):
        raise ValueError(f"t_seconds must be a finite number of seconds >= 0; got {t_seconds!r}")
    programmed = type(crossbars)
    drifted = programmed(crossbars.weights, crossbars.config, seed=crossbars.seed, backend=crossbars.backend,
                         read_time=float(t_seconds))
    if drift_compensation:
        fresh = crossbars if crossbars.read_time is None else programmed(
            crossbars.weights, crossbars.config, seed=crossbars.seed, backend=crossbars.backend)
        alpha = reference_read(fresh, REFERENCE_READ_INDEX) / reference_read(drifted, REFERENCE_READ_INDEX + 1)
        drifted.output_scale = alpha
    return drifted


def reference_read(crossbars: Any, read_index: int) -> float:
    """``mean(|analog output|)`` of the all-ones input at the largest input value (at least ``1e-12``)."""
    backend = crossbars.backend
    xp = backend.xp
    probe = xp.full((1, crossbars.shape[0]), crossbars.config.inputs.max_input, dtype=numpy.int64)
    y = crossbars.pipeline.read(probe, read_index, 0, None, backend, output_scale=crossbars.output_scale,
                                digital_corrections=False)
    return max(float(xp.abs(y.astype(numpy.float64)).mean()), 1e-12)
