"""SIMDRAM-style bit-serial arithmetic on Ambit DRAM, and the applications that use it.

SIMDRAM (Hajinazar et al., "SIMDRAM: A Framework for Bit-Serial SIMD Processing Using DRAM",
ASPLOS 2021) stores integers vertically — bit ``i`` of every element in row ``i`` — and builds
every operation from triple-row activation (majority) and dual-contact-cell NOT, as Ambit
programs of AAP/AP commands (Seshadri et al., MICRO 2017). Here every operation is such a
program, run by :class:`cim_emu.ambit.Subarray` bit by bit; nothing is computed outside the
emulated DRAM but the transposition in and out.

Modules, one idea each:

* :mod:`~.layout` — integer arrays to bit planes and back (vectorised transposition);
* :mod:`~.allocator` — data-row allocation, :class:`OutOfRowsError` when the subarray is full;
* :mod:`~.builder` — writing programs: commands with comments, operands as row tuples;
* :mod:`~.adder` — the 7-command full-adder bit behind add, sub, mult, div and bit count;
* :mod:`~.bitwise` — masking by and selection on a one-bit row;
* :mod:`~.arithmetic`, :mod:`~.comparison`, :mod:`~.reduction` — the operations;
* :mod:`~.operations` — the registry: numpy definition and builder of each operation;
* :mod:`~.api` — :func:`simdram_op`: arrays in, result and modelled cost out;
* :mod:`~.applications` — bitmap index, BitWeaving column scan, binary neural network layer.

See ``docs/simdram.md`` for command counts against the published ones and a worked example.
"""

from .allocator import OutOfRowsError, RowAllocator
from .api import SimdramResult, modelled_cost, run_program, simdram_op
from .builder import ProgramBuilder
from .layout import from_vertical, to_vertical
from .operations import OPERATIONS, BuiltOperation, build_operation

__all__ = [
    "OPERATIONS", "BuiltOperation", "OutOfRowsError", "ProgramBuilder", "RowAllocator", "SimdramResult",
    "build_operation", "from_vertical", "modelled_cost", "run_program", "simdram_op", "to_vertical",
]  # fmt: skip
