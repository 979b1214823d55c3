"""How much host data passes through a GPU at once.

cim-emu streams host inputs larger than a share of the GPU's free memory through it in passes
(ReRAM batches by rows, Ambit and SIMDRAM rows by column words); each pass is keyed by its
global position, so the bits are those of one pass.
"""

from __future__ import annotations

from typing import Optional

__all__ = ["DEVICE_MEMORY_SHARE", "units_per_pass"]

#: Share of a GPU's free memory one pass of host data may take.
DEVICE_MEMORY_SHARE = 0.25


def units_per_pass(free_bytes: Optional[int], unit_bytes: int, units: int) -> Optional[int]:
    """Units of host data (batch rows, row words) per pass through a device with ``free_bytes``
    free: ``None`` when all ``units`` of ``unit_bytes`` each fit in :data:`DEVICE_MEMORY_SHARE`
    of it (and always for host memory, ``free_bytes=None``), else as many as fit, at least 1."""
    if free_bytes is None:
        return None
    budget = DEVICE_MEMORY_SHARE * free_bytes
    return None if unit_bytes * units <= budget else max(1, int(budget // unit_bytes))
