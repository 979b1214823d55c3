"""Bulk bitwise operations on bit vectors, computed by Ambit programs, with their cost.

On the CuPy backend, host (numpy) operands too large for :data:`DEVICE_MEMORY_SHARE` of the
GPU's free memory pass through it a slice of words at a time (:func:`run_in_passes`); the fault
draws are keyed by the global column, so the bits are those of one pass.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy

from .. import backend as backends
from ..bits import n_words, pack_bits, unpack_bits
from .compiler import compile_program
from .cost import AmbitCostModel, ProgramCost
from .fast import evaluate
from .faults import NO_FAULTS, TraFaultModel
from .library import OPERATIONS, program_for
from .program import Program
from .subarray import Subarray

#: Share of the GPU's free memory one pass of host operands may take (operand and result slices).
DEVICE_MEMORY_SHARE = 0.25


@dataclasses.dataclass(frozen=True)
class BulkResult:
    """The result of :func:`bulk_op`: the output bits (or words), the program and its cost."""

    value: Any
    program: Program
    cost: ProgramCost
    cpu_energy_nj: Optional[float]
    """Energy of moving the same data over DDR3 to the CPU and back (Ambit Table 3), when
    published for this number of inputs; compare with ``cost.energy_nj``."""


def bulk_op(op: str, *operands: Any, n_bits: Optional[int] = None, faults: Optional[TraFaultModel] = None,
            cost_model: Optional[AmbitCostModel] = None, executor: str = "fast",
            backend: Optional[str] = None) -> BulkResult:
    """Apply library operation ``op`` (see :data:`~cim_emu.ambit.library.OPERATIONS`) to bit vectors.

    Operands are either all 1-D bool arrays of equal length (bit vectors; the result is a
    bool array) or all 1-D ``uint64`` arrays of packed words in the layout of
    :mod:`cim_emu.bits` (the result is packed words; ``n_bits`` gives the row length,
    default ``64 * len``). The operands are stored in data rows ``D0`` .. of a fresh
    subarray, the paper's program runs with its scratch rows dropped, and the output row is
    returned, as an array of the operands' kind (numpy or CuPy).

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
    arrays = [chosen.asarray(x) if on_gpu or chosen.xp is numpy else numpy.asarray(x) for x in operands]
    shapes, dtypes = {a.shape for a in arrays}, {a.dtype for a in arrays}
    if len(shapes) != 1 or len(dtypes) != 1 or arrays[0].ndim != 1:
        raise ValueError(f"operands must be 1-D arrays of one shape and dtype; got shapes {sorted(shapes)} "
                         f"and dtypes {sorted(map(str, dtypes))}")
    dtype, length = arrays[0].dtype, arrays[0].shape[0]
    if dtype == bool:
        packed = False
        row_bits = length
        if n_bits is not None and n_bits != length:
            raise ValueError(f"n_bits must equal the length of bool operands ({length}); got {n_bits}")
    elif dtype == numpy.uint64:
        packed = True
        row_bits = 64 * length if n_bits is None else n_bits
        if not isinstance(row_bits, int) or not 64 * (length - 1) < row_bits <= 64 * length:
            raise ValueError(f"n_bits must be an integer in ({64 * (length - 1)}, {64 * length}] for "
                             f"{length} words; got {n_bits!r}")
    else:
        raise TypeError(f"operands must be bool bit vectors or uint64 packed words; got dtype {dtype}")
    if row_bits < 1:
        raise ValueError("operands must hold at least one bit")
    if faults is not None and not isinstance(faults, TraFaultModel):
        raise TypeError(f"faults must be a TraFaultModel; got {type(faults).__name__}")
    program = program_for(op, [f"D{i}" for i in range(arity)], f"D{arity}")
    cost_model = cost_model or AmbitCostModel()
    pass_words = _words_per_device_pass(chosen, on_gpu, arity + 1, row_bits) if executor == "fast" else None
    if pass_words is not None:  # host operands larger than the GPU takes at once
        words = run_in_passes(program, [a if packed else pack_bits(a) for a in arrays], row_bits,
                              faults or NO_FAULTS, chosen.xp, pass_words)
        value = words if packed else unpack_bits(words, row_bits)
        return _result(value, program, cost_model.program_cost(program, row_bits), cost_model, arity, row_bits)
    arrays = [chosen.asarray(a) for a in arrays]
    subarray = Subarray(row_bits, data_rows=arity + 1, faults=faults, cost_model=cost_model,
                        backend=chosen.name)
    for index, array in enumerate(arrays):
        (subarray.write_words if packed else subarray.write_bits)(index, array)
    cost = subarray.run(program, executor=executor, scratch="drop")
    words = subarray.take_words(arity)
    value = words if packed else unpack_bits(words, row_bits, xp=chosen.xp)
    return _result(chosen.to_kind_of(value, on_gpu), program, cost, cost_model, arity, row_bits)


def _result(value: Any, program: Program, cost: ProgramCost, cost_model: AmbitCostModel, arity: int,
            row_bits: int) -> BulkResult:
    energy = cost_model.energy.cpu_nj_per_kib(arity)
    cpu_energy = None if energy is None else energy * row_bits / 8 / 1024
    return BulkResult(value, program, cost, cpu_energy)


def _words_per_device_pass(chosen: backends.Backend, on_gpu: bool, n_rows: int, row_bits: int) -> Optional[int]:
    """Words per pass of host operands through the GPU, or ``None`` when they go in one (or the
    backend is numpy): ``n_rows`` slices (operands and result) must fit in
    :data:`DEVICE_MEMORY_SHARE` of its free memory."""
    if on_gpu or chosen.xp is numpy:
        return None
    budget = DEVICE_MEMORY_SHARE * backends.device_free_bytes(chosen.xp)
    per_word = 8 * n_rows
    return None if per_word * n_words(row_bits) <= budget else max(1, int(budget // per_word))


def run_in_passes(program: Program, operands: list, row_bits: int, faults: TraFaultModel, xp: Any,
                  pass_words: int) -> numpy.ndarray:
    """Run ``program`` on a fresh subarray whose rows ``D0`` .. hold the packed host ``operands``
    and return row ``D<len(operands)>``, ``pass_words`` words at a time on ``xp``'s device: each
    slice is copied in, evaluated by the fast executor with its global word offset (the fault
    draws' key), and copied back into the host result. The bits equal one pass's. Rows the
    program reads besides the operands hold zeros, as in a fresh subarray; the TRA counter
    starts at 0, as there."""
    compiled = compile_program(program.instructions, len(operands) + 1, faults.enabled)
    destination = f"D{len(operands)}"
    if destination not in compiled.outputs:
        raise ValueError(f"the program does not write {destination}")
    root = compiled.outputs[destination]
    total = n_words(row_bits)
    rows = {f"D{i}": words for i, words in enumerate(operands)}
    result = numpy.empty(total, dtype=numpy.uint64)
    for w0 in range(0, total, pass_words):
        w1 = min(total, w0 + pass_words)
        inputs = {row: xp.asarray(rows[row][w0:w1]) if row in rows else xp.zeros(w1 - w0, dtype=numpy.uint64)
                  for row in compiled.reads}
        values = evaluate(compiled, {root}, inputs, row_bits, xp=xp, faults=faults, tra_base=0, word_offset=w0,
                          word_count=w1 - w0)
        slice_ = values[root]
        result[w0:w1] = slice_.get() if hasattr(slice_, "get") else slice_
    return result
