"""A compiled Ambit program as the data of the fused kernel ``kernels/ambit_program.cu``.

:func:`encode_program` turns a :class:`~cim_emu.ambit.compiler.CompiledProgram` and the nodes
to materialise into an instruction array: one row of :data:`INSTRUCTION_FIELDS` (int32) per
computed node, in the evaluation order and with the scratch slots of the fast executor's
register allocation (:func:`cim_emu.ambit.schedule.schedule`), so the kernel keeps exactly as many
values live as the numpy executor keeps buffers. Value slots (see the kernel's header):

====================  ==============================================
slot                  holds
====================  ==============================================
0, 1                  the constant rows C0 (zeros) and C1 (ones)
2 .. 2 + I - 1        the I input rows, loaded once per word
then R slots          the results, each also stored to its output row
then S slots          scratch values, recycled after their last use
====================  ==============================================

:func:`run_program_kernel` launches the kernel on a kernel provider
(CuPy, or the CPU shim in the tests) with the fault model's thresholds; it computes what
:func:`cim_emu.ambit.fast.evaluate` computes for the same nodes, bit for bit.
:func:`fits_shared_memory` says beforehand whether an encoded program's value slots fit in the
shared memory of the provider's device (the GPU executor,
:class:`cim_emu.ambit.executors.KernelExecutor`, evaluates a program that does not with array
operations).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

import numpy

from ..gpu.provider import KernelProvider
from ..rng import bernoulli_threshold
from .compiler import CompiledProgram
from .faults import TraFaultModel
from .gpu import ambit_program_fits, run_ambit_program
from .schedule import schedule

__all__ = ["OPCODES", "INSTRUCTION_FIELDS", "EncodedProgram", "encode_program", "fault_thresholds",
           "fits_shared_memory", "run_program_kernel"]

OPCODES = {"not": 0, "and": 1, "or": 2, "xor": 3, "maj": 4}
"""Opcode of each compiled node kind (``AmbitOp`` in the kernel)."""

INSTRUCTION_FIELDS = ("op", "a", "b", "c", "out", "store", "tra", "reserved")
"""Columns of the instruction array (``AmbitInstruction`` in the kernel): opcode, operand slots,
result slot, output row (or -1), TRA ordinal for fault keys (or -1), padding to 32 bytes."""

SLOT_ZEROS, SLOT_ONES, FIRST_INPUT_SLOT = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class EncodedProgram:
    """The kernel's view of a compiled program restricted to some computed nodes."""

    instructions: numpy.ndarray
    """``(n, 8)`` int32, columns :data:`INSTRUCTION_FIELDS`, in evaluation order (read-only)."""
    input_rows: tuple[str, ...]
    """The rows the instructions read, in the kernel's input order."""
    output_nodes: tuple[int, ...]
    """The materialised nodes, in the kernel's output order."""
    n_slots: int
    """Value slots per thread: constants, inputs, results and scratch."""


def encode_program(compiled: CompiledProgram, roots: Iterable[int]) -> EncodedProgram:
    """Encode the evaluation of the computed nodes ``roots`` (no row or constant leaves: those
    need no computation and share their buffers, as in :func:`~cim_emu.ambit.fast.evaluate`).
    Encoded once per program and set of roots: the encoding is kept with the compiled program
    (its instruction array is read-only), so a program run again costs no encoding."""
    key = ("encoded", frozenset(roots))
    if key not in compiled.schedules:
        compiled.schedules[key] = _encode(compiled, set(key[1]))
    return compiled.schedules[key]


def _encode(compiled: CompiledProgram, roots: set[int]) -> EncodedProgram:
    leaves = sorted(r for r in roots if compiled.nodes[r].op in ("row", "const"))
    if leaves:
        raise ValueError(f"roots must be computed nodes; nodes {leaves} are rows or constants")
    steps, n_scratch = schedule(compiled, roots)
    live_rows = sorted({compiled.nodes[arg].param for step in steps for arg in step.args
                        if compiled.nodes[arg].op == "row"})
    output_nodes = tuple(step.node for step in steps if step.slot < 0)
    first_result = FIRST_INPUT_SLOT + len(live_rows)
    first_scratch = first_result + len(output_nodes)
    slot_of_row = {row: FIRST_INPUT_SLOT + i for i, row in enumerate(live_rows)}
    output_of = {node: i for i, node in enumerate(output_nodes)}
    slot_of_node: dict[int, int] = {}

    def slot(node_id: int) -> int:
        node = compiled.nodes[node_id]
        if node.op == "row":
            return slot_of_row[node.param]
        if node.op == "const":
            return SLOT_ONES if node.param else SLOT_ZEROS
        return slot_of_node[node_id]

    instructions = numpy.zeros((len(steps), len(INSTRUCTION_FIELDS)), dtype=numpy.int32)
    for position, step in enumerate(steps):
        out = first_result + output_of[step.node] if step.slot < 0 else first_scratch + step.slot
        operands = [slot(arg) for arg in step.args]
        tra = step.param if step.op == "maj" and step.param is not None else -1
        instructions[position] = (OPCODES[step.op], *(operands + [SLOT_ZEROS] * (3 - len(operands))), out,
                                  output_of.get(step.node, -1), tra, 0)
        slot_of_node[step.node] = out
    instructions.setflags(write=False)
    return EncodedProgram(instructions, tuple(live_rows), output_nodes, first_scratch + n_scratch)


def fits_shared_memory(encoded: EncodedProgram, kernels: KernelProvider) -> bool:
    """Whether the fused kernel can run ``encoded`` on ``kernels``' device: its ``n_slots`` value
    slots per thread fit in the shared memory one block may have
    (:func:`cim_emu.ambit.gpu.ambit_program_fits`). A program that keeps more values live than
    that must be evaluated another way; :func:`run_program_kernel` raises :class:`ValueError`."""
    return ambit_program_fits(encoded.n_slots, kernels)


def fault_thresholds(faults: TraFaultModel) -> dict[str, Any]:
    """The kernel's fault arguments: the seed, the Bernoulli thresholds of the random flips
    (``R``), of the weak-cell map (``W``) and of a weak cell's flips (``Q``), 0 where a draw
    is off, and the disagreement rule."""
    weak = faults.weak_column_fraction > 0 and faults.weak_column_flip_probability > 0
    return {
        "seed": faults.seed,
        "flip_threshold": bernoulli_threshold(faults.flip_probability),
        "weak_threshold": bernoulli_threshold(faults.weak_column_fraction) if weak else 0,
        "weak_flip_threshold": bernoulli_threshold(faults.weak_column_flip_probability) if weak else 0,
        "only_when_inputs_disagree": faults.only_when_inputs_disagree,
    }


def run_program_kernel(compiled: CompiledProgram, roots: Iterable[int], inputs: Mapping[str, Any], outputs: dict,
                       row_bits: int, *, faults: TraFaultModel, tra_base: int, word_offset: int = 0,
                       kernels: KernelProvider, **launch: Any) -> None:
    """Compute the nodes ``roots`` into ``outputs[node]`` (packed rows the caller allocated, of
    the provider's array kind; padding bits come out zero) from ``inputs`` (row name -> packed
    row, or the same slice of every row, from word ``word_offset``), with TRA fault keys
    ``tra_base + ordinal``. ``launch`` passes ``lanes``, ``block`` or ``grid`` through to
    :func:`cim_emu.ambit.gpu.run_ambit_program` (for tests)."""
    encoded = encode_program(compiled, roots)
    arguments = fault_thresholds(faults) if faults.enabled else {}
    run_ambit_program(
        encoded.instructions, encoded.n_slots, [inputs[row] for row in encoded.input_rows],
        [outputs[node] for node in encoded.output_nodes], row_bits, word_offset=word_offset, tra_base=tra_base,
        kernels=kernels, **arguments, **launch)
