"""Programming crossbars in one pass: fixed-point cells and read-noise deviations, block by block.

:func:`program_fixed` gives what ``to_fixed(model.program(levels, ...))`` and
``read_sigma_fixed(model, model.program(levels, ...))`` give (:mod:`~cim_emu.reram.devices`) - the
same bits - without their three full-size float64 arrays (24 bytes a cell): each block of
``PROGRAM_BLOCK`` cells is programmed into a buffer that stays in cache, its read-noise deviations
taken from it, then rounded to fixed point and stored, one block a job of the host threads.

* The cells come out as int16 wherever every programmed value fits (``G_CLIP * L * 2**F <
  2**15``: up to 63 levels a cell; 2 bytes a cell), else as float64 integers as before.
* Read noise that does not depend on the conductance (``sigma_read(g) = a``,
  :attr:`~cim_emu.reram.devices.DeviceModel.shared_read_sigma`) comes out as its one fixed-point
  value broadcast to the cells' shape (read only, no memory); state-dependent read noise as
  float64 per cell.

A training step reprograms every layer (programming noise is drawn afresh for the new weights),
so this pass runs once a step for the whole model. IR drop needs every conductance of a tile at
once (:mod:`~cim_emu.reram.ir_drop`); crossbars with resistive wires are programmed as before.

The full specification is ``docs/spec/reram.md`` (section *Non-idealities*).
"""

from __future__ import annotations

from typing import Optional

import numpy

from .. import parallel
from . import devices
from .devices import FRACTION_BITS, G_CLIP, DeviceModel, fixed_point

__all__ = ["program_fixed"]


def program_fixed(model: DeviceModel, levels: numpy.ndarray, max_level: int, seed: int,
                  t_seconds: Optional[float] = None) -> tuple[numpy.ndarray, Optional[numpy.ndarray]]:
    """The fixed-point conductances and read-noise deviations ``(fixed, sigma)`` of cells
    programmed to ``levels`` (any shape; ``sigma`` ``None`` without read noise), read
    ``t_seconds`` after programming: the bits of :func:`~cim_emu.reram.devices.to_fixed` and
    :func:`~cim_emu.reram.devices.read_sigma_fixed` of :meth:`DeviceModel.program`, in one pass."""
    flat = numpy.ascontiguousarray(levels).reshape(-1)
    n = flat.size
    compact = G_CLIP * max_level * 2**FRACTION_BITS < 2**15
    fixed = numpy.empty(n, dtype=numpy.int16 if compact else numpy.float64)
    shared = model.shared_read_sigma if model.has_read_noise else None
    sigma = numpy.empty(n) if model.has_read_noise and shared is None else None
    block_cells = devices.PROGRAM_BLOCK  # the blocks of DeviceModel.program: the same numpy vector lanes

    def block(a: int) -> None:
        b = min(n, a + block_cells)
        g = numpy.empty(b - a)
        model.program_into(flat[a:b], a, max_level, seed, t_seconds, g)
        if sigma is not None:
            fixed_point(model.read_sigma(g), max_level, sigma[a:b])
        fixed_point(g, max_level, g)
        fixed[a:b] = g  # exact: integers, below 2**15 where int16

    parallel.run_jobs(block, range(0, n, block_cells), parallel.default_threads())
    if shared is not None:
        value = numpy.empty(1)
        fixed_point(numpy.full(1, shared), max_level, value)
        return fixed.reshape(levels.shape), numpy.broadcast_to(value[0], levels.shape)
    return fixed.reshape(levels.shape), None if sigma is None else sigma.reshape(levels.shape)
