"""The inverse-CDF table behind every normal draw (see :mod:`cim_emu.rng`)."""

from __future__ import annotations

import functools
from statistics import NormalDist

import numpy

__all__ = ["NORMAL_BODY_BITS", "BODY_SIZE", "normal_table"]

NORMAL_BODY_BITS = 16
"""Bits of ``u`` that select a body level of the normal table (``2**16`` levels)."""

BODY_SIZE = 1 << NORMAL_BODY_BITS
"""Body entries of the table (65536), followed by as many tail entries."""


@functools.lru_cache(maxsize=None)
def normal_table() -> numpy.ndarray:
    """The inverse-CDF table of the normal draws: read-only float64, ``2**17`` entries.

    Entries ``0 .. 65535`` are ``BODY[h] = Phi^-1((h + 0.5) / 2**16)``; entries
    ``65536 .. 131071`` are ``TAIL[l] = Phi^-1((l + 0.5) / 2**32)`` (the lower tail). ``Phi^-1``
    is :meth:`statistics.NormalDist.inv_cdf` (Wichura's AS 241, relative accuracy about
    1e-16). The body is exactly antisymmetric, ``BODY[65535 - h] == -BODY[h]`` (``inv_cdf`` is,
    and the tests hold it): the kernels read only its lower half (``kernels/philox.cuh``,
    ``normal_from``). Computed once per process and cached; the same array is copied to the GPU. See
    :mod:`cim_emu.rng` for how a uint32 draw selects an entry.
    """
    inv_cdf = NormalDist().inv_cdf
    body = [inv_cdf((h + 0.5) / 2**NORMAL_BODY_BITS) for h in range(BODY_SIZE)]
    tail = [inv_cdf((low + 0.5) / 2**32) for low in range(BODY_SIZE)]
    table = numpy.array(body + tail, dtype=numpy.float64)
    table.setflags(write=False)
    return table
