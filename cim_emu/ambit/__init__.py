"""Ambit-style processing-using-DRAM: bulk bitwise logic by triple-row activation.

Modules, one idea each:

* :mod:`~cim_emu.ambit.addresses` — row addresses, the B-group wordline table and the model
  limit on data rows (:data:`MAX_DATA_ROWS`);
* :mod:`~cim_emu.ambit.program` — programs (AAP/AP) as data, with a text form;
* :mod:`~cim_emu.ambit.semantics` — ACTIVATE/PRECHARGE semantics, written once;
* :mod:`~cim_emu.ambit.subarray` — row state, single commands, and :meth:`Subarray.run`, the one
  place that chooses how a program runs;
* :mod:`~cim_emu.ambit.compiler` — a program as one expression per written row;
* :mod:`~cim_emu.ambit.executors` — the executor interface and the reference, array and kernel
  executors; :mod:`~cim_emu.ambit.streaming` — the streamed executor (host rows through a device);
* :mod:`~cim_emu.ambit.fast` — the array path; :mod:`~cim_emu.ambit.schedule` — its evaluation
  order and register allocation, shared with :mod:`~cim_emu.ambit.program_encoding` (the fused
  kernel's instructions) and :mod:`~cim_emu.ambit.gpu` (its launch wrappers);
* :mod:`~cim_emu.ambit.faults` — the seeded TRA fault model;
* :mod:`~cim_emu.ambit.cost` — commands, latency, energy, throughput;
* :mod:`~cim_emu.ambit.library` — the paper's sequences; :mod:`~cim_emu.ambit.bulk` — bulk ops.

Checks of the library against numpy and of the fault rate: :mod:`cim_emu.studies.ambit_accuracy`.

Real DDR4 chips (SiMRA, PULSAR, FCDRAM), an optional mode beside this ideal subarray: the
subpackage :mod:`cim_emu.ambit.realchip` (``docs/spec/realchip.md``).
"""

from .addresses import AMBIT_DATA_ROWS, B_GROUP, DESIGNATED_ROWS, MAX_DATA_ROWS, ROW_ADDRESSES, Address, Wordline
from .bulk import BulkResult, bulk_op
from .compiler import CompiledProgram, compile_program
from .cost import AmbitCostModel, DramEnergy, DramOrganization, DramTiming, ProgramCost
from .faults import TraFaultModel
from .library import OPERATIONS, program_for
from .program import AAP, AP, Command, Comment, Program, ProgramSyntaxError
from .semantics import AmbitCommandError
from .subarray import Subarray

__all__ = [
    "AAP", "AMBIT_DATA_ROWS", "AP", "Address", "AmbitCommandError", "AmbitCostModel", "B_GROUP",
    "BulkResult", "Command", "Comment", "CompiledProgram", "DESIGNATED_ROWS", "DramEnergy",
    "DramOrganization", "DramTiming", "MAX_DATA_ROWS", "OPERATIONS", "Program", "ProgramCost", "ProgramSyntaxError",
    "ROW_ADDRESSES",
    "Subarray", "TraFaultModel", "Wordline", "bulk_op", "compile_program", "program_for",
]  # fmt: skip
