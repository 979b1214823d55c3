"""Run SIMDRAM operations on arrays: layout in, program on the emulated subarray, layout out.

:func:`simdram_op` is the one call: it checks the operands, transposes them into bit planes
(:mod:`.layout`), writes them into the data rows of a :class:`~cim_emu.ambit.Subarray` as long
as the arrays (one element per column: a row of ``N`` bits stands for the ``ceil(N / 65536)``
8-KiB DRAM rows that run the program in lockstep), runs the operation's AAP/AP program
(:mod:`.operations`), and transposes the result rows back. It returns the result with the
program and its modelled cost (commands, latency, energy: :mod:`cim_emu.ambit.cost`). The
transpositions are not part of the modelled cost: SIMDRAM keeps data vertical in memory and
gives transposition to a unit in the memory controller (ASPLOS 2021, Section 4.2).

:func:`run_program` is the part that the applications share: given operands already in
vertical form and a program, it writes them into a subarray, runs the program there and returns
the requested rows. The rows stay where the operands are: host (numpy) planes on a device
backend are held on the host (``Subarray(host_rows=True)``), and
:meth:`Subarray.run <cim_emu.ambit.subarray.Subarray.run>` passes them through the device, a
slice of columns at a time when they exceed its share of free memory
(:mod:`cim_emu.ambit.streaming`), with the same bits.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy

from .. import backend as backends
from .._checks import positive_int
from ..ambit.addresses import AMBIT_DATA_ROWS
from ..ambit.cost import AmbitCostModel, ProgramCost
from ..ambit.faults import TraFaultModel
from ..ambit.program import Program
from ..ambit.subarray import Subarray
from ..bits import as_bit_vector
from .layout import check_bits, from_vertical, to_vertical
from .operations import build_operation, get_operation, operand_widths


@dataclasses.dataclass(frozen=True)
class SimdramResult:
    """Result of :func:`simdram_op`."""

    value: Any
    """The result array (numpy or CuPy, like the operands); a tuple ``(quotient, remainder)``
    for ``div``."""

    program: Program
    cost: ProgramCost
    """Modelled cost of one run of the program over all the elements (:mod:`cim_emu.ambit.cost`)."""

    rows_used: int
    """Data rows the operation occupies (operands, results, temporaries)."""

    @property
    def commands(self) -> int:
        return len(self.program)

    @property
    def elements_per_second(self) -> float:
        """Modelled DRAM throughput: elements over the program's latency."""
        return self.cost.row_bits / (self.cost.latency_ns * 1e-9)


def run_program(program: Program, planes: dict, outputs: Sequence[Sequence[str]], count: int, *,
                data_rows: int = AMBIT_DATA_ROWS, executor: str = "fast", backend: backends.BackendLike = None,
                faults: Optional[TraFaultModel] = None, cost_model: Optional[AmbitCostModel] = None,
                pass_words: Optional[int] = None) -> tuple[list, ProgramCost]:
    """Run ``program`` on a subarray of ``count``-bit rows whose rows ``planes`` gives.

    ``planes`` maps a tuple of row names to the bit planes (``(len(rows), n_words)`` uint64) to
    store there. Returns the planes of each tuple of ``outputs`` and the program's cost. Host
    planes on a device backend stay on the host and pass through the device (the planes come
    back on the host); ``pass_words`` sets the words of host planes per pass (see
    :meth:`Subarray.run <cim_emu.ambit.subarray.Subarray.run>`: the same bits).
    """
    chosen = backends.get_backend(backend)
    host_rows = not any(chosen.owns(words) for words in planes.values())
    subarray = Subarray(count, data_rows, faults=faults, cost_model=cost_model, backend=chosen, host_rows=host_rows)
    for rows, words in planes.items():
        for row, plane in zip(rows, words):
            subarray.write_words(row, plane)
    cost = subarray.run(program, executor=executor, scratch="drop", pass_words=pass_words)
    xp = subarray.xp
    results = [xp.stack([subarray.take_words(row) if row not in ("C0", "C1") else subarray.read_words(row)
                         for row in rows]) for rows in outputs]
    return results, cost


def simdram_op(op: str, *operands: Any, bits: int, signed: bool = False, executor: str = "fast",
               backend: backends.BackendLike = None, faults: Optional[TraFaultModel] = None,
               cost_model: Optional[AmbitCostModel] = None, data_rows: int = AMBIT_DATA_ROWS) -> SimdramResult:
    """Apply SIMDRAM operation ``op`` (see :data:`~cim_emu.simdram.operations.OPERATIONS`).

    Operands are 1-D integer arrays of one length whose values fit in ``bits`` bits (signed or
    unsigned as ``signed`` says); the condition of ``if_else`` is a bool array or an integer
    array holding only 0 and 1 (any other value, or a float array, is a ``ValueError``). The
    result has the narrowest integer dtype of its width and signedness, or bool. ``data_rows`` is
    at most :data:`~cim_emu.ambit.addresses.MAX_DATA_ROWS`.

    >>> import numpy as np
    >>> r = simdram_op("add", np.array([250, 3], np.uint8), np.array([10, 4], np.uint8), bits=8)
    >>> r.value, r.commands
    (array([4, 7], dtype=uint8), 58)
    """
    operation = get_operation(op)
    bits = check_bits(bits)
    if len(operands) != operation.arity:
        raise ValueError(f"{op} takes {operation.arity} operand(s); got {len(operands)}")
    chosen, on_gpu = backends.resolve(backend, *operands)
    host_operands = not on_gpu and chosen.on_device  # host operands on a device backend: they stay there
    arrays = [numpy.asarray(x) if host_operands else chosen.asarray(x) for x in operands]
    lengths = {tuple(a.shape) for a in arrays}
    if len(lengths) != 1 or arrays[0].ndim != 1:
        raise ValueError(f"operands must be 1-D arrays of one length; got shapes {sorted(lengths)}")
    count = int(arrays[0].shape[0])
    built = build_operation(op, bits, bool(signed), data_rows)
    widths = operand_widths(operation, bits)
    planes = {}
    for index, (array, width, rows) in enumerate(zip(arrays, widths, built.inputs)):
        is_condition = operation.condition_first and index == 0
        try:
            value = as_bit_vector("the condition", array) if is_condition else array
            planes[rows] = to_vertical(value, width, signed and not is_condition)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"operand {index} of {op}: {exc}") from None
    results, cost = run_program(built.program, planes, built.outputs, count, data_rows=data_rows,
                                executor=executor, backend=chosen, faults=faults, cost_model=cost_model)
    values = []
    for kind, result in zip(operation.results, results):
        if kind == "bool":
            value = from_vertical(result, count, dtype=bool)
        else:
            value = from_vertical(result, count, signed=signed and kind == "value")
        values.append(chosen.to_kind_of(value, on_gpu))
    return SimdramResult(tuple(values) if len(values) > 1 else values[0], built.program, cost, built.rows_used)


def modelled_cost(op: str, bits: int, elements: int, *, signed: bool = False,
                  cost_model: Optional[AmbitCostModel] = None) -> ProgramCost:
    """The modelled cost of ``op`` on ``elements`` elements, without running it."""
    positive_int("elements", elements)
    program = build_operation(op, check_bits(bits), bool(signed)).program
    return (cost_model or AmbitCostModel()).program_cost(program, int(elements))
