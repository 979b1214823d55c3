"""A DRAM subarray with Ambit's row groups: its state, its commands, and where its programs run.

A :class:`Subarray` holds the data rows ``D0`` .. ``D(n-1)``, the designated rows
``T0`` .. ``T3`` and the dual-contact rows ``DCC0``, ``DCC1``; the constant rows ``C0`` and
``C1`` are implied. A row may be any number of bits long: a logical row longer than one
physical DRAM row stands for the many subarrays (and banks) that execute the same command in
lockstep, and the cost model counts the physical rows.

Storage: each row is a bit-packed array of 64-bit words in the layout of
:mod:`cim_emu.bits` (bit ``j`` is bit ``j % 64`` of word ``j // 64``; padding bits zero).
Stored buffers are immutable; rows that hold the same value may share one buffer (a
RowClone copy is modelled as sharing), so writing a row never changes another. A fresh
subarray holds zeros everywhere.

With ``host_rows=True`` on a device backend the rows stay in host memory (numpy) while
programs compute on the device: :func:`~cim_emu.ambit.bulk_op` and
:func:`~cim_emu.simdram.simdram_op` keep host operands there, so that rows larger than the
device's memory pass through it in slices.

Programs (:meth:`Subarray.run`) are compiled (:mod:`cim_emu.ambit.compiler`) and checked in full,
then one executor of :mod:`cim_emu.ambit.executors` computes the final words of the rows they
write. :meth:`Subarray.run` is the one place that chooses it:

* ``executor="reference"``: :class:`~cim_emu.ambit.executors.ReferenceExecutor`, each
  ACTIVATE and PRECHARGE on the data, command by command, where the rows are stored, through
  :class:`~cim_emu.ambit.semantics.BankInterpreter`; the same interpreter backs
  :meth:`Subarray.activate`, :meth:`precharge`, :meth:`aap` and :meth:`ap`;
* ``executor="fast"`` on a backend with kernels (``backend.kernels``: CuPy's, the CPU shim's):
  :class:`~cim_emu.ambit.executors.KernelExecutor`, the fused kernel of
  ``kernels/ambit_program.cu`` (or the array path, for a program whose live values do not fit
  the kernel's shared memory);
* ``executor="fast"`` otherwise: :class:`~cim_emu.ambit.executors.ArrayExecutor`, the
  compiled expressions evaluated in one pass over memory (:mod:`cim_emu.ambit.fast`);
* the fast executor on host rows of a device backend: one of the two above inside
  :class:`~cim_emu.ambit.streaming.StreamedExecutor`, which passes the rows through the device
  a slice of words at a time when they exceed its share of free memory.

All leave identical final states and TRA counters, faults included.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy

from .._checks import positive_int, shown
from .._memory import require_bytes
from ..backend import NUMPY_BACKEND, BackendLike, get_backend
from ..bits import as_bit_vector, n_words, pack_bits, tail_mask, unpack_bits
from .addresses import AMBIT_DATA_ROWS, DESIGNATED_ROWS, MAX_DATA_ROWS, Address, AddressLike, check_data_rows
from .compiler import compile_program
from .cost import AmbitCostModel, ProgramCost
from .executors import ArrayExecutor, Executor, KernelExecutor, PackedRowAlgebra, ProgramRun, ReferenceExecutor
from .fast import read_only, writable
from .faults import NO_FAULTS, TraFaultModel
from .program import AAP, AP, Command, Program, as_program
from .semantics import AmbitCommandError, BankInterpreter, row_names
from .streaming import StreamedExecutor, pass_words_for

RowLike = Union[int, str, Address]
EXECUTORS = ("fast", "reference")
SCRATCH_POLICIES = ("keep", "drop")


class Subarray:
    """An Ambit subarray (or a bank of subarrays in lockstep) of ``row_bits``-bit rows.

    Parameters
    ----------
    row_bits:
        Length of every row in bits (any positive integer).
    data_rows:
        Number of data rows ``D0`` .. ``D(data_rows-1)``; 1006 in the paper's 1024-wordline
        subarray, and at most ``max_data_rows``.
    faults:
        The TRA fault model (default: error-free).
    cost_model:
        The cost model used by :meth:`run` (default: the paper's DDR3-1600 system).
    backend:
        ``"numpy"``, ``"cupy"``, ``"auto"`` or a :class:`~cim_emu.backend.Backend` (see
        :mod:`cim_emu.backend`): where programs compute; rows are stored and returned as arrays
        of this backend unless ``host_rows``.
    host_rows:
        On a device backend, keep the rows in host memory (numpy arrays) while programs
        compute on the device: :meth:`run` passes them through it, a slice of words at a time
        when they exceed its share of free memory. No effect on a host backend.
    max_data_rows:
        The model limit on ``data_rows``: :data:`~cim_emu.ambit.addresses.MAX_DATA_ROWS` (1006,
        the paper's subarray) unless raised, for a larger subarray, up to
        :data:`~cim_emu.ambit.addresses.ROW_ADDRESSES`.

    Rows are checked against the memory where they are stored before they are allocated
    (:meth:`require_rows`): rows too long for it raise
    :class:`~cim_emu._memory.InsufficientMemoryError`, a ``ValueError`` naming ``row_bits``.
    """

    def __init__(self, row_bits: int, data_rows: int = AMBIT_DATA_ROWS, *,
                 faults: Optional[TraFaultModel] = None, cost_model: Optional[AmbitCostModel] = None,
                 backend: BackendLike = None, host_rows: bool = False, max_data_rows: int = MAX_DATA_ROWS) -> None:
        row_bits, data_rows = positive_int("row_bits", row_bits), check_data_rows(data_rows, max_data_rows)
        if faults is not None and not isinstance(faults, TraFaultModel):
            raise TypeError(f"faults must be a TraFaultModel; got {type(faults).__name__}")
        self.row_bits, self.data_rows = row_bits, data_rows
        self.backend = get_backend(backend)
        self.host_rows = bool(host_rows) and self.backend.on_device
        self._storage = NUMPY_BACKEND if self.host_rows else self.backend  # where the rows live
        self.require_rows(2)  # the constant rows C0 and C1
        self.faults = faults or NO_FAULTS
        self.cost_model = cost_model or AmbitCostModel()
        self._algebra = PackedRowAlgebra(self.row_bits, self._storage, self.faults)
        zeros = self._algebra.constant(0)
        self._rows: dict[str, Any] = dict.fromkeys(row_names(self.data_rows), zeros)
        self._interpreter = BankInterpreter(self._algebra, self._rows, self.data_rows)

    # -- properties -------------------------------------------------------------------------
    @property
    def xp(self) -> Any:
        """The array namespace of the stored rows (numpy with ``host_rows``, else the backend's)."""
        return self._storage.xp

    @property
    def n_words(self) -> int:
        """Words of one packed row."""
        return n_words(self.row_bits)

    @property
    def tra_count(self) -> int:
        """Triple-row activations executed so far (the fault draws are keyed by it)."""
        return self._interpreter.tra_count

    @property
    def is_open(self) -> bool:
        """True between an ACTIVATE and the PRECHARGE that closes it."""
        return self._interpreter.is_open

    def require_rows(self, count: int) -> None:
        """Check, before allocating them, that ``count`` more rows fit in the memory where rows are
        stored (host or device); raises :class:`~cim_emu._memory.InsufficientMemoryError` (a
        ``ValueError``) naming ``row_bits`` when they do not."""
        device_memory = self._storage.free_bytes if self._storage.on_device else None  # None: the host's
        require_bytes(count * 8 * self.n_words, parameter="row_bits", what=f"{count} row(s) of {self.row_bits} bits",
                      available=device_memory)

    def __repr__(self) -> str:
        host_rows = "host_rows=True, " if self.host_rows else ""
        return (f"Subarray(row_bits={self.row_bits}, data_rows={self.data_rows}, "
                f"backend={self.backend.name!r}, {host_rows}faults={self.faults})")

    # -- reading and writing rows -----------------------------------------------------------
    def _row_name(self, row: RowLike, *, for_write: bool) -> str:
        if isinstance(row, (int, numpy.integer)) and not isinstance(row, bool):
            if not 0 <= row < self.data_rows:
                raise AmbitCommandError(f"row index {shown(row)} is out of range: this subarray has data rows "
                                        f"D0..D{self.data_rows - 1}")
            name = f"D{int(row)}"
        elif isinstance(row, Address):
            name = str(row)
        elif isinstance(row, str):
            name = row.strip().upper()
        else:
            raise TypeError(f"row must be a data row index, a row name or an Address; got {shown(row)}")
        if name in ("C0", "C1"):
            if for_write:
                raise AmbitCommandError(f"cannot write constant row {name}: C0 and C1 are read-only")
            return name
        if name in self._rows:
            return name
        if name.startswith("D") and name[1:].isdigit():
            raise AmbitCommandError(f"row {shown(name)} is out of range: this subarray has data rows "
                                    f"D0..D{self.data_rows - 1}")
        raise ValueError(f"unknown row {shown(row)}: expected D0..D{self.data_rows - 1}, "
                         f"{', '.join(DESIGNATED_ROWS)}, C0 or C1")

    def _stored(self, row: RowLike) -> Any:
        name = self._row_name(row, for_write=False)
        value = self._algebra.constant(int(name[1])) if name in ("C0", "C1") else self._rows[name]
        if value is None:
            raise AmbitCommandError(f"row {name} holds no value: it was dropped as scratch by a program")
        return value

    def read_words(self, row: RowLike) -> Any:
        """A copy of the packed words of ``row``."""
        return self._stored(row).copy()

    def take_words(self, row: RowLike) -> Any:
        """The packed words of ``row`` without a copy, leaving the row without a value.

        For a caller that is done with the subarray (e.g. :func:`~cim_emu.ambit.bulk.bulk_op`):
        the row must be written again before it is read.
        """
        name = self._row_name(row, for_write=True)
        value = self._stored(name)
        self._rows[name] = None
        shared = any(buffer is value for buffer in self._rows.values())
        if shared or any(value is self._algebra.constant(bit) for bit in (0, 1)):
            return value.copy()
        return writable(value)

    def read_bits(self, row: RowLike) -> Any:
        """The bits of ``row`` as a bool array of length ``row_bits``."""
        return unpack_bits(self._stored(row), self.row_bits, xp=self.xp)

    def write_words(self, row: RowLike, words: Any) -> None:
        """Store packed words (``uint64``, ``n_words`` long) in ``row``; padding bits are cleared."""
        name = self._row_name(row, for_write=True)
        words = self._storage.asarray(words)
        if words.dtype != numpy.uint64 or words.shape != (self.n_words,):
            raise ValueError(
                f"words must be a uint64 array of shape ({self.n_words},) for {self.row_bits}-bit rows; "
                f"got dtype {words.dtype} and shape {tuple(words.shape)}"
            )
        stored = words.copy()
        stored[-1] &= tail_mask(self.row_bits)
        self._rows[name] = read_only(stored)

    def write_bits(self, row: RowLike, bits: Any) -> None:
        """Store a bit vector (bool or 0/1 integers, ``row_bits`` long) in ``row``."""
        name = self._row_name(row, for_write=True)
        bits = self._storage.asarray(bits)
        if bits.shape != (self.row_bits,):
            raise ValueError(f"bits must have shape ({self.row_bits},); got {tuple(bits.shape)}")
        self._rows[name] = read_only(pack_bits(as_bit_vector("bits", bits), xp=self.xp))

    def state(self) -> dict[str, Any]:
        """A copy of every stored row (data and designated) by name; ``None`` for a dropped row."""
        return {row: None if value is None else value.copy() for row, value in self._rows.items()}

    # -- single commands (the reference semantics) ------------------------------------------
    def activate(self, address: AddressLike) -> None:
        """ACTIVATE ``address`` (see :mod:`cim_emu.ambit.semantics`)."""
        self._interpreter.activate(address)

    def precharge(self) -> None:
        """PRECHARGE: close the bank."""
        self._interpreter.precharge()

    def aap(self, first: AddressLike, second: AddressLike) -> None:
        """ACTIVATE ``first``, ACTIVATE ``second``, PRECHARGE (all or nothing: see :meth:`execute`)."""
        self.execute(AAP(first, second))

    def ap(self, address: AddressLike) -> None:
        """ACTIVATE ``address``, PRECHARGE (all or nothing: see :meth:`execute`)."""
        self.execute(AP(address))

    def execute(self, command: Command) -> None:
        """Carry out one AAP or AP on the stored rows, all or nothing: a command that breaks a
        rule raises :class:`AmbitCommandError` and leaves the rows, the bank and the TRA count as
        they were, so the next command or :meth:`run` works."""
        if not isinstance(command, Command):
            raise TypeError(f"command must be a Command (AAP or AP); got {type(command).__name__}")
        with self._interpreter.all_or_nothing():
            self._interpreter.execute(command)

    # -- programs ---------------------------------------------------------------------------
    def run(self, program: Union[Program, str], *, executor: str = "fast", scratch: str = "keep",
            chunk_words: Optional[int] = None, threads: Optional[int] = None,
            pass_words: Optional[int] = None) -> ProgramCost:
        """Run ``program`` (a :class:`Program`, its text or an iterable of commands) and return its
        modelled cost.

        ``scratch="drop"`` leaves the designated rows the program changes without a value
        (reading them raises an error until they are written again), so that the fast
        executor materialises only the data rows it writes. The program is checked in full
        before any row changes: an illegal command leaves the state as it was.
        ``chunk_words`` and ``threads`` tune the array path on the host (see
        :mod:`cim_emu.ambit.fast`); ``pass_words`` sets how many words of host rows the fast
        executor passes through the backend at a time (default: as the device's memory share
        allows; on a host backend, whole rows). None of them changes the bits. The executor
        is chosen here (see the module docstring). The rows the program writes are checked
        against the memory left before any is allocated (:meth:`require_rows`).
        """
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {executor!r}")
        if scratch not in SCRATCH_POLICIES:
            raise ValueError(f"scratch must be one of {', '.join(SCRATCH_POLICIES)}; got {scratch!r}")
        if pass_words is not None and (executor != "fast" or self._storage.on_device):
            raise ValueError("pass_words applies to the fast executor on rows held on the host")
        program = as_program(program)
        self._interpreter.require_precharged()
        compiled = compile_program(program.instructions, self.data_rows, self.faults.enabled)
        self.require_rows(len(compiled.outputs))
        for row in sorted(compiled.reads):
            if self._rows[row] is None:
                raise AmbitCommandError(
                    f"row {row} holds no value: it was dropped as scratch by an earlier program; "
                    "write the row before reading it"
                )
        dropped = [row for row in compiled.outputs if scratch == "drop" and row in DESIGNATED_ROWS]
        kept = {row: node for row, node in compiled.outputs.items() if row not in dropped}
        spare = self._spare_buffers(compiled.reads, compiled.outputs) if executor == "fast" else ()
        job = ProgramRun(compiled, {row: self._rows[row] for row in compiled.reads}, kept, self.row_bits, self.faults,
                         self.tra_count, spare=spare)
        self._rows.update(self._executor(executor, job, chunk_words, threads, pass_words).run(job))
        for row in dropped:
            self._rows[row] = None
        self._interpreter.tra_count += compiled.tra_count
        return self.cost_model.program_cost(program, self.row_bits)

    def _executor(self, executor: str, job: ProgramRun, chunk_words: Optional[int], threads: Optional[int],
                  pass_words: Optional[int]) -> Executor:
        """The executor of one run (see the module docstring); nothing else chooses one."""
        if executor == "reference":
            return ReferenceExecutor(self._algebra, self.data_rows)
        on_backend: Executor
        if self.backend.kernels is not None:
            on_backend = KernelExecutor(self.backend, chunk_words=chunk_words, threads=threads)
        else:
            on_backend = ArrayExecutor(self.backend, chunk_words=chunk_words, threads=threads)
        if not self.host_rows and pass_words is None:
            return on_backend
        if pass_words is None:
            pass_words = pass_words_for(job, self.backend)
        return StreamedExecutor(on_backend, self.backend, pass_words)

    def _spare_buffers(self, reads: frozenset, overwritten: dict) -> list:
        """Buffers that the rows being overwritten release and nothing else uses.

        The fast executor writes its results into them instead of fresh memory, so a program
        run again and again on the same subarray allocates nothing. A buffer is spare when no
        row that keeps its value shares it, the program does not read it, and it is not a
        constant row. Stored buffers are never handed out (:meth:`read_words` and :meth:`state`
        return copies), so nothing outside the subarray can see them change.
        """
        in_use = {id(self._algebra.constant(0)), id(self._algebra.constant(1))}
        in_use.update(id(self._rows[row]) for row in reads)
        in_use.update(id(buf) for row, buf in self._rows.items() if row not in overwritten)
        spare = {}
        for row in overwritten:
            buffer = self._rows[row]
            if buffer is not None and id(buffer) not in in_use:
                spare[id(buffer)] = buffer
        return list(spare.values())
