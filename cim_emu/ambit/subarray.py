"""A DRAM subarray with Ambit's row groups, its state, and the reference executor.

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

Two executors run programs and leave identical final states:

* ``executor="reference"`` carries out each ACTIVATE and PRECHARGE on the data, command by
  command, through :class:`~cim_emu.ambit.semantics.BankInterpreter`; the same interpreter
  backs :meth:`Subarray.activate`, :meth:`precharge`, :meth:`aap` and :meth:`ap`;
* ``executor="fast"`` compiles the program into one expression per written row and
  evaluates them in one pass over memory (:mod:`cim_emu.ambit.fast`).
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy

from .._checks import positive_int
from ..backend import get_backend
from ..bits import constant_row, n_words, pack_bits, tail_mask, unpack_bits
from .addresses import AMBIT_DATA_ROWS, DESIGNATED_ROWS, Address, AddressLike
from .compiler import compile_program
from .cost import AmbitCostModel, ProgramCost
from .fast import evaluate
from .faults import NO_FAULTS, TraFaultModel
from .program import Command, Program, as_program
from .semantics import AmbitCommandError, BankInterpreter, row_names

RowLike = Union[int, str, Address]
EXECUTORS = ("fast", "reference")
SCRATCH_POLICIES = ("keep", "drop")


class _PackedRowAlgebra:
    """Row values as packed words: the reference's arithmetic, one whole row at a time."""

    def __init__(self, row_bits: int, xp: Any, faults: TraFaultModel) -> None:
        self.row_bits, self.xp, self.faults = row_bits, xp, faults
        self._constants = {bit: _frozen(constant_row(bit, row_bits, xp=xp)) for bit in (0, 1)}

    def constant(self, bit: int) -> Any:
        return self._constants[bit]

    def invert(self, value: Any) -> Any:
        out = self.xp.invert(value)
        out[-1] &= tail_mask(self.row_bits)
        return _frozen(out)

    def majority(self, a: Any, b: Any, c: Any, tra_index: int) -> Any:
        out = (a & b) | (b & c) | (a & c)
        if self.faults.enabled:
            out ^= self.faults.flip_words(tra_index, a, b, c, 0, self.row_bits, xp=self.xp)
        return _frozen(out)


def _frozen(array: Any) -> Any:
    if isinstance(array, numpy.ndarray):
        array.flags.writeable = False
    return array


class Subarray:
    """An Ambit subarray (or a bank of subarrays in lockstep) of ``row_bits``-bit rows.

    Parameters
    ----------
    row_bits:
        Length of every row in bits (any positive integer).
    data_rows:
        Number of data rows ``D0`` .. ``D(data_rows-1)``; 1006 in the paper's 1024-wordline
        subarray.
    faults:
        The TRA fault model (default: error-free).
    cost_model:
        The cost model used by :meth:`run` (default: the paper's DDR3-1600 system).
    backend:
        ``"numpy"``, ``"cupy"`` or ``"auto"`` (see :mod:`cim_emu.backend`); rows are stored and
        returned as arrays of this backend.
    """

    def __init__(self, row_bits: int, data_rows: int = AMBIT_DATA_ROWS, *,
                 faults: Optional[TraFaultModel] = None, cost_model: Optional[AmbitCostModel] = None,
                 backend: Optional[str] = None) -> None:
        row_bits, data_rows = positive_int("row_bits", row_bits), positive_int("data_rows", data_rows)
        if faults is not None and not isinstance(faults, TraFaultModel):
            raise TypeError(f"faults must be a TraFaultModel; got {type(faults).__name__}")
        self.row_bits, self.data_rows = row_bits, data_rows
        self.backend = get_backend(backend)
        self.faults = faults or NO_FAULTS
        self.cost_model = cost_model or AmbitCostModel()
        self._algebra = _PackedRowAlgebra(self.row_bits, self.xp, self.faults)
        zeros = self._algebra.constant(0)
        self._rows: dict[str, Any] = dict.fromkeys(row_names(self.data_rows), zeros)
        self._interpreter = BankInterpreter(self._algebra, self._rows, self.data_rows)

    # -- properties -------------------------------------------------------------------------
    @property
    def xp(self) -> Any:
        """The array namespace of this subarray (numpy or cupy)."""
        return self.backend.xp

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

    def __repr__(self) -> str:
        return (f"Subarray(row_bits={self.row_bits}, data_rows={self.data_rows}, "
                f"backend={self.backend.name!r}, faults={self.faults})")

    # -- reading and writing rows -----------------------------------------------------------
    def _row_name(self, row: RowLike, *, for_write: bool) -> str:
        if isinstance(row, (int, numpy.integer)) and not isinstance(row, bool):
            name = f"D{int(row)}"
        elif isinstance(row, Address):
            name = str(row)
        elif isinstance(row, str):
            name = row.strip().upper()
        else:
            raise TypeError(f"row must be a data row index, a row name or an Address; got {row!r}")
        if name in ("C0", "C1"):
            if for_write:
                raise AmbitCommandError(f"cannot write constant row {name}: C0 and C1 are read-only")
            return name
        if name in self._rows:
            return name
        if name.startswith("D") and name[1:].isdigit():
            raise AmbitCommandError(
                f"row {name} is out of range: this subarray has data rows D0..D{self.data_rows - 1}"
            )
        raise ValueError(f"unknown row {row!r}: expected D0..D{self.data_rows - 1}, "
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
        if isinstance(value, numpy.ndarray):
            value.flags.writeable = True
        return value

    def read_bits(self, row: RowLike) -> Any:
        """The bits of ``row`` as a bool array of length ``row_bits``."""
        return unpack_bits(self._stored(row), self.row_bits, xp=self.xp)

    def write_words(self, row: RowLike, words: Any) -> None:
        """Store packed words (``uint64``, ``n_words`` long) in ``row``; padding bits are cleared."""
        name = self._row_name(row, for_write=True)
        words = self.backend.asarray(words)
        if words.dtype != numpy.uint64 or words.shape != (self.n_words,):
            raise ValueError(
                f"words must be a uint64 array of shape ({self.n_words},) for {self.row_bits}-bit rows; "
                f"got dtype {words.dtype} and shape {tuple(words.shape)}"
            )
        stored = words.copy()
        stored[-1] &= tail_mask(self.row_bits)
        self._rows[name] = _frozen(stored)

    def write_bits(self, row: RowLike, bits: Any) -> None:
        """Store a bit vector (bool or 0/1 integers, ``row_bits`` long) in ``row``."""
        name = self._row_name(row, for_write=True)
        bits = self.backend.asarray(bits)
        if bits.shape != (self.row_bits,):
            raise ValueError(f"bits must have shape ({self.row_bits},); got {tuple(bits.shape)}")
        if bits.dtype != bool and not (numpy.issubdtype(bits.dtype, numpy.integer)
                                       and bool(((bits == 0) | (bits == 1)).all())):
            raise ValueError(f"bits must be bool or integers 0/1; got dtype {bits.dtype} with other values")
        self._rows[name] = _frozen(pack_bits(bits, xp=self.xp))

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
        """ACTIVATE ``first``, ACTIVATE ``second``, PRECHARGE."""
        self.activate(first)
        self.activate(second)
        self.precharge()

    def ap(self, address: AddressLike) -> None:
        """ACTIVATE ``address``, PRECHARGE."""
        self.activate(address)
        self.precharge()

    # -- programs ---------------------------------------------------------------------------
    def run(self, program: Union[Program, str], *, executor: str = "fast", scratch: str = "keep",
            chunk_words: Optional[int] = None, threads: Optional[int] = None) -> ProgramCost:
        """Run ``program`` (a :class:`Program` or its text) and return its modelled cost.

        ``scratch="drop"`` leaves the designated rows the program changes without a value
        (reading them raises an error until they are written again), so that the fast
        executor materialises only the data rows it writes. The program is checked in full
        before any row changes: an illegal command leaves the state as it was.
        ``chunk_words`` and ``threads`` tune the fast executor (see :mod:`cim_emu.ambit.fast`).
        """
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {executor!r}")
        if scratch not in SCRATCH_POLICIES:
            raise ValueError(f"scratch must be one of {', '.join(SCRATCH_POLICIES)}; got {scratch!r}")
        program = as_program(program)
        self._interpreter.require_precharged()
        instructions = program.instructions
        compiled = compile_program(instructions, self.data_rows, self.faults.enabled)
        for row in sorted(compiled.reads):
            if self._rows[row] is None:
                raise AmbitCommandError(
                    f"row {row} holds no value: it was dropped as scratch by an earlier program; "
                    "write the row before reading it"
                )
        dropped = [row for row in compiled.outputs if scratch == "drop" and row in DESIGNATED_ROWS]
        if executor == "reference":
            self._run_reference(instructions)
        else:
            kept = {row: node for row, node in compiled.outputs.items() if row not in dropped}
            values = evaluate(compiled, set(kept.values()), {row: self._rows[row] for row in compiled.reads},
                              self.row_bits, xp=self.xp, faults=self.faults, tra_base=self.tra_count,
                              chunk_words=chunk_words, threads=threads,
                              spare=self._spare_buffers(compiled.reads, compiled.outputs))
            for row, node in kept.items():
                self._rows[row] = values[node]
            self._interpreter.tra_count += compiled.tra_count
        for row in dropped:
            self._rows[row] = None
        return self.cost_model.program_cost(program, self.row_bits)

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

    def _run_reference(self, instructions: tuple[Command, ...]) -> None:
        for command in instructions:
            self._interpreter.execute(command)
