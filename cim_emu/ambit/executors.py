"""Executors of Ambit programs: one interface, four implementations, one place that chooses.

An executor takes a :class:`ProgramRun` - a compiled program (:mod:`cim_emu.ambit.compiler`),
the packed words of the rows it reads, the rows whose final words are wanted, the fault model
and the TRA counter - and returns those final words from its one method, :meth:`Executor.run`.
All four give the same bits, faults included:

* :class:`ReferenceExecutor` (``executor="reference"``) carries out every ACTIVATE and
  PRECHARGE on the data, command by command, through
  :class:`~cim_emu.ambit.semantics.BankInterpreter` and :class:`PackedRowAlgebra`;
* :class:`ArrayExecutor` (``executor="fast"``) evaluates the compiled expressions in one pass
  over memory with array operations (:mod:`cim_emu.ambit.fast`): numpy on the host, in chunks
  over threads, or the device's arrays;
* :class:`KernelExecutor` (``executor="fast"`` on a backend with kernels) runs the fused kernel
  ``kernels/ambit_program.cu`` (:mod:`cim_emu.ambit.program_encoding`) on the backend's
  :class:`~cim_emu.gpu.provider.KernelProvider`;
* :class:`~cim_emu.ambit.streaming.StreamedExecutor` passes host rows through a device a slice of
  words at a time, each slice run by one of the two above.

:meth:`Subarray.run <cim_emu.ambit.subarray.Subarray.run>` is the only place that chooses one:
from ``executor=``, whether the subarray's backend has kernels (``backend.kernels is not None``),
and whether its rows are held on the host while the backend computes on a device.

The kernel keeps a program's live values in shared memory. Whether they fit on the provider's
device is decided before anything is launched (:func:`~cim_emu.ambit.program_encoding.fits_shared_memory`):
:class:`KernelExecutor` evaluates a program that does not fit with array operations on the same
backend - the same bits, by an explicit choice rather than a caught error.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Protocol, Sequence

from ..backend import Backend
from ..bits import constant_row, n_words, tail_mask
from .compiler import CompiledProgram
from .fast import allocate_results, check_tuning, evaluate, read_only, seal, slice_words
from .faults import TraFaultModel
from .program_encoding import encode_program, fits_shared_memory, run_program_kernel
from .semantics import BankInterpreter

__all__ = ["ArrayExecutor", "Executor", "KernelExecutor", "PackedRowAlgebra", "ProgramRun", "ReferenceExecutor"]


@dataclasses.dataclass(frozen=True)
class ProgramRun:
    """One run of a compiled program over a subarray's rows, or over one slice of their words.

    ``inputs`` maps every row the program reads (``compiled.reads``) to its packed words:
    whole rows of ``row_bits`` bits, or the words ``word_offset .. word_offset + word_count - 1``
    of each. ``outputs`` maps each row whose final words are wanted to its node in
    ``compiled``. TRA fault keys are ``tra_base + ordinal``. ``spare`` are buffers of whole rows
    that nothing else uses any more; an executor may write results into them.
    """

    compiled: CompiledProgram
    inputs: Mapping[str, Any]
    outputs: Mapping[str, int]
    row_bits: int
    faults: TraFaultModel
    tra_base: int = 0
    word_offset: int = 0
    word_count: Optional[int] = None
    spare: Sequence[Any] = ()

    @property
    def roots(self) -> set[int]:
        """The nodes whose values are wanted."""
        return set(self.outputs.values())

    @property
    def whole_rows(self) -> bool:
        """Whether the run covers every word of the rows (not one slice)."""
        return self.word_offset == 0 and self.word_count in (None, n_words(self.row_bits))

    def computed_nodes(self) -> set[int]:
        """The wanted nodes that must be computed (not an input row or a constant)."""
        return {node for node in self.roots if self.compiled.nodes[node].op not in ("row", "const")}

    def by_row(self, values: Mapping[int, Any]) -> dict[str, Any]:
        """The value of each output row, from the value of each node."""
        return {row: values[node] for row, node in self.outputs.items()}


class Executor(Protocol):
    """What :meth:`Subarray.run <cim_emu.ambit.subarray.Subarray.run>` asks of an executor."""

    def run(self, job: ProgramRun) -> dict[str, Any]:
        """The final packed words of every row of ``job.outputs``, over the words ``job.inputs``
        cover. Values may share buffers with the inputs and with each other (rows that end
        equal share one buffer); host buffers come back read-only."""


class PackedRowAlgebra:
    """Row values as packed words of ``backend``: the reference's arithmetic, one whole row at a time."""

    def __init__(self, row_bits: int, backend: Backend, faults: TraFaultModel) -> None:
        self.row_bits, self.backend, self.xp, self.faults = row_bits, backend, backend.xp, faults
        self._constants = {bit: read_only(constant_row(bit, row_bits, xp=self.xp)) for bit in (0, 1)}

    def constant(self, bit: int) -> Any:
        return self._constants[bit]

    def invert(self, value: Any) -> Any:
        out = self.xp.invert(value)
        out[-1] &= tail_mask(self.row_bits)
        return read_only(out)

    def majority(self, a: Any, b: Any, c: Any, tra_index: int) -> Any:
        out = (a & b) | (b & c) | (a & c)
        if self.faults.enabled:
            out ^= self.faults.flip_words(tra_index, a, b, c, 0, self.row_bits, backend=self.backend)
        return read_only(out)


class ReferenceExecutor:
    """Every command on the data, one after the other, through the command semantics written
    once (:class:`~cim_emu.ambit.semantics.BankInterpreter`), on whole rows of ``algebra``'s
    backend. The rows of the subarray are not touched: the interpreter works on a copy of the
    mapping of input rows."""

    def __init__(self, algebra: PackedRowAlgebra, data_rows: int) -> None:
        self.algebra, self.data_rows = algebra, data_rows

    def run(self, job: ProgramRun) -> dict[str, Any]:
        if not job.whole_rows:
            raise ValueError("the reference executor runs programs over whole rows, not slices of them")
        interpreter = BankInterpreter(self.algebra, dict(job.inputs), self.data_rows, tra_count=job.tra_base)
        for command in job.compiled.instructions:
            interpreter.execute(command)
        return {row: interpreter.rows[row] for row in job.outputs}


class ArrayExecutor:
    """The compiled expressions evaluated with array operations on ``backend`` (:func:`cim_emu.ambit.fast.evaluate`):
    on the host in chunks of ``chunk_words`` words over ``threads`` threads, on a device the
    whole slice at once."""

    def __init__(self, backend: Backend, *, chunk_words: Optional[int] = None, threads: Optional[int] = None) -> None:
        check_tuning(chunk_words, threads)
        self.backend, self.chunk_words, self.threads = backend, chunk_words, threads

    def run(self, job: ProgramRun) -> dict[str, Any]:
        values = evaluate(job.compiled, job.roots, job.inputs, job.row_bits, backend=self.backend, faults=job.faults,
                          tra_base=job.tra_base, word_offset=job.word_offset, word_count=job.word_count,
                          chunk_words=self.chunk_words, threads=self.threads, spare=job.spare)
        return job.by_row(values)


class KernelExecutor:
    """The fused kernel of ``kernels/ambit_program.cu`` on ``backend``'s kernel provider (CuPy's
    on a GPU, the CPU shim's on the host), each thread computing every result for its words.

    A program whose live values do not fit in the shared memory of one block on that provider
    (:meth:`fits`) - and one with nothing to compute - is run by :class:`ArrayExecutor` on the
    same backend, tuned by ``chunk_words`` and ``threads``.
    """

    def __init__(self, backend: Backend, *, chunk_words: Optional[int] = None, threads: Optional[int] = None) -> None:
        if backend.kernels is None:
            raise ValueError(f"the kernel executor needs a backend with kernels; {backend.name!r} has none")
        self.backend, self.kernels = backend, backend.kernels
        self.arrays = ArrayExecutor(backend, chunk_words=chunk_words, threads=threads)

    def fits(self, job: ProgramRun) -> bool:
        """Whether the kernel runs ``job``: it computes something, and the value slots of its
        encoding fit in the provider's shared memory
        (:func:`~cim_emu.ambit.program_encoding.fits_shared_memory`)."""
        computed = job.computed_nodes()
        return bool(computed) and fits_shared_memory(encode_program(job.compiled, computed), self.kernels)

    def run(self, job: ProgramRun) -> dict[str, Any]:
        if not self.fits(job):
            return self.arrays.run(job)
        words = slice_words(job.row_bits, job.word_offset, job.word_count)
        results, computed = allocate_results(job.compiled, job.roots, job.inputs, job.row_bits, xp=self.backend.xp,
                                             word_offset=job.word_offset, words=words, spare=job.spare)
        run_program_kernel(job.compiled, computed, job.inputs, results, job.row_bits, faults=job.faults,
                           tra_base=job.tra_base, word_offset=job.word_offset, kernels=self.kernels)
        return job.by_row(seal(results, self.backend))
