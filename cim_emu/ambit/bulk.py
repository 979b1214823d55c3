"""Bulk bitwise operations on bit vectors, computed by Ambit programs, with their cost.

:func:`bulk_op` writes the operands into a fresh :class:`~cim_emu.ambit.subarray.Subarray` and
runs the paper's program there. Host (numpy) operands on a device backend stay on the host
(``host_rows=True``): :meth:`Subarray.run <cim_emu.ambit.subarray.Subarray.run>` passes them
through the device, a slice of words at a time when they exceed its share of free memory
(:mod:`cim_emu.ambit.streaming`), with the bits of one pass.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy

from .. import backend as backends
from .._checks import int_in_range, shown
from ..bits import as_bit_vector, unpack_bits
from .cost import AmbitCostModel, ProgramCost
from .faults import TraFaultModel
from .library import OPERATIONS, program_for
from .program import Program
from .subarray import Subarray


@dataclasses.dataclass(frozen=True)
class BulkResult:
    """The result of :func:`bulk_op`: the output bits (or words), the program and its cost."""

    value: Any
    program: Program
    cost: ProgramCost
    cpu_energy_nj: Optional[float]
    """Energy of moving the same data over DDR3 to the CPU and back (Ambit Table 3), when
    published for this number of inputs; compare with ``cost.energy_nj``."""


def _bits_or_words(index: int, array: Any) -> Any:
    """Operand ``index`` as packed words (``uint64``) or a bool bit vector; a clear error otherwise."""
    if array.dtype == numpy.uint64:
        return array
    if array.dtype != bool and not numpy.issubdtype(array.dtype, numpy.integer):
        raise TypeError(f"operands must be bit vectors (bool or integers 0/1) or uint64 packed words; "
                        f"operand {index} has dtype {array.dtype}")
    return as_bit_vector(f"operand {index}", array)


def bulk_op(op: str, *operands: Any, n_bits: Optional[int] = None, faults: Optional[TraFaultModel] = None,
            cost_model: Optional[AmbitCostModel] = None, executor: str = "fast",
            backend: backends.BackendLike = None) -> BulkResult:
    """Apply library operation ``op`` (see :data:`~cim_emu.ambit.library.OPERATIONS`) to bit vectors.

    Operands are either all 1-D bit vectors of equal length (bool arrays, or integer arrays of
    any dtype but ``uint64`` that hold only 0 and 1; the result is a bool array) or all 1-D
    ``uint64`` arrays of packed words in the layout of :mod:`cim_emu.bits` (the result is packed
    words; ``n_bits``, a Python or numpy integer, gives the row length, default ``64 * len``).
    The operands are stored in data rows ``D0`` .. of a fresh subarray, the paper's program runs
    with its scratch rows dropped, and the output row is returned, as an array of the operands'
    kind (numpy or CuPy). Any other operand or ``n_bits`` is a ``ValueError`` or ``TypeError``
    naming it.

    >>> import numpy as np
    >>> a = np.array([1, 1, 0, 0], bool); b = np.array([1, 0, 1, 0], bool)
    >>> bulk_op("xor", a, b).value
    array([False,  True,  True, False])
    """
    if op not in OPERATIONS:
        raise ValueError(f"op must be one of {', '.join(OPERATIONS)}; got {op!r}")
    arity = OPERATIONS[op][0]
    if len(operands) != arity:
        raise ValueError(f"{op} takes {arity} operand(s); got {len(operands)}")
    chosen, on_gpu = backends.resolve(backend, *operands)
    host_operands = not on_gpu and chosen.on_device  # host operands on a device backend
    arrays = [_bits_or_words(index, numpy.asarray(x) if host_operands else chosen.asarray(x))
              for index, x in enumerate(operands)]
    shapes, dtypes = {a.shape for a in arrays}, {a.dtype for a in arrays}
    if len(shapes) != 1 or len(dtypes) != 1 or arrays[0].ndim != 1:
        raise ValueError(f"operands must be 1-D arrays of one shape and dtype; got shapes {sorted(shapes)} "
                         f"and dtypes {sorted(map(str, dtypes))}")
    dtype, length = arrays[0].dtype, arrays[0].shape[0]
    if length < 1:
        raise ValueError("operands must hold at least one bit")
    packed = dtype == numpy.uint64
    if packed:
        row_bits = 64 * length if n_bits is None else int_in_range("n_bits", n_bits, 64 * length - 63, 64 * length)
    else:
        row_bits = length
        if n_bits is not None and (isinstance(n_bits, bool) or not isinstance(n_bits, (int, numpy.integer))
                                  or n_bits != length):
            raise ValueError(f"n_bits must equal the length of the bit vectors ({length}); got {shown(n_bits)}")
    if faults is not None and not isinstance(faults, TraFaultModel):
        raise TypeError(f"faults must be a TraFaultModel; got {type(faults).__name__}")
    program = program_for(op, [f"D{i}" for i in range(arity)], f"D{arity}")
    cost_model = cost_model or AmbitCostModel()
    subarray = Subarray(row_bits, data_rows=arity + 1, faults=faults, cost_model=cost_model, backend=chosen,
                        host_rows=host_operands)
    for index, array in enumerate(arrays):
        (subarray.write_words if packed else subarray.write_bits)(index, array)
    cost = subarray.run(program, executor=executor, scratch="drop")
    words = subarray.take_words(arity)
    value = words if packed else unpack_bits(words, row_bits, xp=subarray.xp)
    energy = cost_model.energy.cpu_nj_per_kib(arity)
    cpu_energy = None if energy is None else energy * row_bits / 8 / 1024
    return BulkResult(chosen.to_kind_of(value, on_gpu), program, cost, cpu_energy)
