"""``cim-emu ambit``: run Ambit programs; tabulate the operation library and its cost."""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
from typing import Any, Optional

import click

from .._memory import InsufficientMemoryError
from ._options import (
    backend_option,
    config_options,
    configuration_record,
    open_backend,
    reject_with_config,
    resolve_config,
    seed_option,
)
from ._output import Column, csv_option, format_fields, format_table, json_option, report
from ._program_file import PROGRAM_HINT, read_program

#: The executors of :meth:`cim_emu.ambit.Subarray.run` (named here so that --help need not
#: import the engine; a test keeps the two lists equal).
EXECUTORS = ("fast", "reference")

#: --faults: none, Ambit Table 2 at +-10..25 % process variation, or SiMRA's DDR4 weak cells.
FAULT_PRESETS = ("none", "ambit-pv10", "ambit-pv15", "ambit-pv20", "ambit-pv25", "simra")

#: --dram: the cost model presets of :class:`cim_emu.ambit.cost.AmbitCostModel`.
DRAM_PRESETS = ("ddr3-1600", "ddr4-2400")

#: One physical row of the Ambit paper's DRAM (8 KiB), in bits.
PAPER_ROW_BITS = 8192 * 8

#: The model limit on data rows per subarray, :data:`cim_emu.ambit.addresses.MAX_DATA_ROWS`, and
#: the physically meaningful organisations of :mod:`cim_emu.ambit.cost` (named here so that
#: --help need not import the engine; a test keeps them equal).
MAX_DATA_ROWS = 1006
ROW_BYTES_RANGE = (512, 65536)
BANKS_RANGE = (1, 4096)


@click.group()
def ambit() -> None:
    """Ambit bulk bitwise logic in DRAM (MICRO 2017).

    Ambit (Seshadri et al., MICRO 2017) computes by triple-row activation inside DRAM
    subarrays. Programs are AAP/AP command sequences over the data rows D<n>, the B-group addresses
    B0..B15 and the constant rows C0, C1 (Ambit Table 1).
    """


# -- ambit run ------------------------------------------------------------------------------


def _rows_named(program: Any) -> int:
    """Data rows just enough for the highest data row ``program`` names (at least one), up to the
    model limit: a row beyond it is then reported with its line, as an illegal command."""
    indices = (a.index for command in program for a in command.addresses if a.group == "D")
    return min(max(indices, default=0) + 1, MAX_DATA_ROWS)


def _illegal_line(program: Any, data_rows: int) -> int:
    """The line of the first illegal command, found by replaying on a one-bit subarray."""
    from ..ambit import AmbitCommandError, Command, Subarray  # noqa: PLC0415

    subarray = Subarray(1, data_rows, backend="numpy")
    for number, line in enumerate(program.lines, start=1):
        if isinstance(line, Command):
            try:
                getattr(subarray, line.op.lower())(*line.addresses)
            except AmbitCommandError:
                return number
    raise AssertionError("the one-bit replay found no illegal command")


def _fault_model(preset: str, seed: int) -> Any:
    """The :class:`~cim_emu.ambit.TraFaultModel` of a --faults preset (``None``: error-free)."""
    from ..ambit import TraFaultModel  # noqa: PLC0415

    if preset == "none":
        return None
    if preset == "simra":
        return TraFaultModel.simra_ddr4_maj3(seed=seed)
    return TraFaultModel.ambit_spice(int(preset[len("ambit-pv"):]), seed=seed)


def _row_record(row: str, words: Any) -> dict:
    """A row's SHA-256 (of its words as little-endian bytes) and popcount."""
    import numpy  # noqa: PLC0415

    from ..backend import NUMPY_BACKEND  # noqa: PLC0415

    host = numpy.ascontiguousarray(NUMPY_BACKEND.asarray(words), dtype="<u8")
    return {"row": row, "sha256": hashlib.sha256(host.tobytes()).hexdigest(),
            "popcount": int(numpy.unpackbits(host.view(numpy.uint8)).sum())}


def _run_on_random_rows(subarray: Any, program: Any, program_file: pathlib.Path, seed: int,
                        executor: str) -> tuple[dict, Any, list]:
    """Fill the rows ``program`` reads with random rows, run it, and digest the rows it changes.

    Returns the stream of every random row, the program's cost and the digest records.
    """
    from ..ambit import AmbitCommandError, compile_program  # noqa: PLC0415
    from ..ambit.semantics import row_names  # noqa: PLC0415
    from ..bits import random_row  # noqa: PLC0415

    try:
        compiled = compile_program(program.instructions, subarray.data_rows, subarray.faults.enabled)
    except AmbitCommandError as exc:
        line = _illegal_line(program, subarray.data_rows)
        raise click.BadParameter(f"{program_file}, line {line}: {exc}", param_hint=PROGRAM_HINT) from None
    subarray.require_rows(len(compiled.reads) + len(compiled.outputs) + 1)  # and a random row being drawn
    order = row_names(subarray.data_rows)
    position = {row: index for index, row in enumerate(order)}
    streams = {row: position[row] for row in sorted(compiled.reads, key=position.__getitem__)}
    for row, stream in streams.items():
        subarray.write_words(row, random_row(seed, stream, subarray.row_bits, backend=subarray.backend))
    cost = subarray.run(program, executor=executor)
    records = [_row_record(row, subarray.read_words(row)) for row in order if row in compiled.outputs]
    return streams, cost, records


@click.command()
@click.argument("program_file", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@click.option("--row-bits", metavar="N", type=click.IntRange(min=1), default=PAPER_ROW_BITS,
              show_default=True,
              help="Bits of every row; a row longer than one physical DRAM row stands for many "
                   "rows in lockstep, and the cost model counts them. The rows must fit in memory.")
@click.option("--data-rows", metavar="N", type=click.IntRange(1, MAX_DATA_ROWS), default=None,
              help=f"Data rows D0..D(N-1) of the subarray, at most {MAX_DATA_ROWS} (the Ambit paper's "
                   "subarray). Default: just enough for the highest data row the program names.")
@seed_option
@click.option("--executor", type=click.Choice(EXECUTORS), default="fast", show_default=True,
              help="fast: compile the program and evaluate it in one pass over memory; "
                   "reference: carry out every command on the data. Both give the same bits.")
@click.option("--faults", "fault_preset", type=click.Choice(FAULT_PRESETS), default="none",
              show_default=True,
              help="TRA fault model: none; ambit-pvX: Ambit Table 2's SPICE failure rate at "
                   "+-X % process variation; simra: SiMRA's DDR4 weak cells (1 % of columns). "
                   "--preset and --config name a fault model too; not with them.")
@config_options(("ambit",), "run with it, seeded with SEED, in place of --faults")
@backend_option
@json_option
def run(program_file: pathlib.Path, row_bits: int, data_rows: Optional[int], seed: int,
        executor: str, fault_preset: str, backend: Optional[str], json_path: Optional[str],
        config_file: Optional[str] = None, preset: Optional[str] = None) -> None:
    """Run an Ambit program file on random rows.

    Reports the rows the program in PROGRAM_FILE wrote and what it cost.

    PROGRAM_FILE holds one command a line, 'AAP a b' or 'AP a' ('#' starts a comment), e.g.
    'AAP D0 B0', in UTF-8 (a byte order mark at the start is dropped). A syntax error or an
    illegal command, such as a data row beyond the subarray's, is reported with its line number.

    Every row the program reads before writing it starts random: the row at position i of
    the subarray's row order D0, D1, ..., D(N-1), T0, T1, T2, T3, DCC0, DCC1 holds
    cim_emu.bits.random_row(SEED, stream=i, ROW_BITS); so D5 is stream 5 and T0 is stream N.
    Faults are drawn with SEED too, in streams of their own.

    For every row the program changes it prints the SHA-256 of the row's packed 64-bit words
    (as little-endian bytes) and its popcount: equal digests mean equal bits, whatever the
    executor or backend. Then the commands, the modelled latency, energy and throughput
    (the Ambit paper's DDR3-1600 system).

    The fault model is --faults, or --preset NAME (an Ambit fault preset: ambit_spice_10 is
    --faults ambit-pv10, simra_ddr4_maj3 is --faults simra) or --config FILE (a JSON object of
    TraFaultModel fields), seeded with SEED.

    JSON (--json): "results" holds {row, sha256, popcount} per changed row; the document
    adds "program" (the file), "parameters" (row_bits, data_rows, executor, faults,
    random_rows: row -> stream), "cost" (commands, physical_rows, commands_issued,
    latency_ns, energy_nj, throughput_bytes_per_s, peak_throughput_bytes_per_s) and, with
    --preset or --config, "configuration" (kind, preset, file and the parsed fault model).
    """
    from ..ambit import Subarray, TraFaultModel  # noqa: PLC0415

    resolved = resolve_config(config_file, preset, ("ambit",), "ambit run")
    if click.get_current_context().get_parameter_source("fault_preset") != click.core.ParameterSource.DEFAULT:
        reject_with_config("--faults", config_file, preset, "both name the fault model; give one")
    if resolved is not None:
        faults = TraFaultModel(**resolved.config, seed=seed)
        fault_name = preset if preset is not None else str(config_file)
    else:
        faults, fault_name = _fault_model(fault_preset, seed), fault_preset
    program = read_program(program_file)
    data_rows = data_rows or _rows_named(program)
    chosen = open_backend(backend)
    try:
        subarray = Subarray(row_bits, data_rows, faults=faults, backend=chosen)
        streams, cost, records = _run_on_random_rows(subarray, program, program_file, seed, executor)
    except InsufficientMemoryError as exc:  # checked before allocating
        raise click.BadParameter(f"rows of {row_bits} bits do not fit in memory: {exc.reason}",
                                 param_hint="'--row-bits'") from None
    except MemoryError as exc:  # an allocation failed all the same (its message may be empty)
        reason = str(exc) or "an allocation failed"
        raise click.BadParameter(f"rows of {row_bits} bits do not fit in memory: {reason}",
                                 param_hint="'--row-bits'") from None

    peak = subarray.cost_model.peak_throughput_bytes_per_s(program)
    configuration: dict[str, Any] = ({} if resolved is None else
                                     {"configuration": configuration_record(resolved, config_file, preset)})
    counts = ", ".join(f"{n} {op}" for op, n in cost.commands.items())
    text = "\n\n".join([
        format_fields({
            "program": f"{program_file}: {len(program)} command(s) ({counts})",
            "subarray": f"{data_rows} data rows of {row_bits} bits; backend {chosen.name}, "
                        f"executor {executor}, faults {fault_name}, seed {seed}",
            "random rows": ", ".join(f"{row} (stream {s})" for row, s in streams.items()) or "none",
        }),
        format_table(records, [Column("row", "row"), Column("sha256", "sha256"),
                               Column("popcount", "popcount")]) if records else "no row changed",
        format_fields({
            "commands": f"{counts}; {cost.commands_issued} issued over {cost.physical_rows} "
                        f"physical row(s)",
            "latency": f"{cost.latency_ns:.2f} ns",
            "energy": f"{cost.energy_nj:.2f} nJ",
            "throughput": f"{cost.throughput_bytes_per_s / 1e9:.2f} GB/s at this row length; "
                          f"peak {peak / 1e9:.2f} GB/s with every bank busy",
        }),
    ])
    report(text, records, json_path=json_path, backend=chosen.name, seed=seed,
           program=str(program_file),
           parameters={"row_bits": row_bits, "data_rows": data_rows, "executor": executor,
                       "faults": fault_name, "random_rows": streams},
           cost={**cost.as_dict(), "peak_throughput_bytes_per_s": peak},
           **configuration)


# -- ambit ops ------------------------------------------------------------------------------


def _cost_model(dram: str, banks: Optional[int], row_bytes: Optional[int]) -> Any:
    """The --dram preset with the organisation options that were given applied."""
    from ..ambit import AmbitCostModel  # noqa: PLC0415

    model = {"ddr3-1600": AmbitCostModel.ddr3_1600, "ddr4-2400": AmbitCostModel.ddr4_2400}[dram]()
    given = {"banks": banks, "row_bytes": row_bytes}
    changes = {name: value for name, value in given.items() if value is not None}
    return dataclasses.replace(model, organization=dataclasses.replace(model.organization, **changes))


OPS_COLUMNS = [
    Column("op", "op"),
    Column("inputs", "inputs"),
    Column("aap", "AAP"),
    Column("ap", "AP"),
    Column("latency_ns", "latency ns", ".2f"),
    Column("peak_gb_per_s", "peak GB/s", ".1f"),
    Column("energy_nj_per_kib", "Ambit nJ/KiB", ".2f"),
    Column("cpu_ddr3_nj_per_kib", "CPU DDR3 nJ/KiB", ".1f"),
]


@click.command()
@click.option("--dram", type=click.Choice(DRAM_PRESETS), default="ddr3-1600", show_default=True,
              help="Timing preset: DDR3-1600 (the Ambit paper's system) or DDR4-2400 (JEDEC).")
@click.option("--banks", metavar="N", type=click.IntRange(*BANKS_RANGE), default=None,
              help=f"Banks operating in parallel, {BANKS_RANGE[0]} to {BANKS_RANGE[1]} (default: the "
                   "preset's).")
@click.option("--row-bytes", metavar="N", type=click.IntRange(*ROW_BYTES_RANGE), default=None,
              help=f"Bytes of one physical row, {ROW_BYTES_RANGE[0]} to {ROW_BYTES_RANGE[1]} (default: "
                   "the preset's).")
@json_option
@csv_option
def ops(dram: str, banks: Optional[int], row_bytes: Optional[int], json_path: Optional[str],
        csv_path: Optional[str]) -> None:
    """The operation library and its modelled cost.

    For every library operation (Ambit Figure 8): its inputs and commands, the latency of one
    run of its program, the peak throughput with every bank busy (bytes of result per
    second, GB = 10^9 bytes; with the defaults this is Ambit Figure 9), and the energy per
    KiB of result beside the energy of moving the same data over DDR3 to the CPU and back
    (Ambit Table 3; '-' where the paper gives none).

    JSON (--json) adds "dram": the preset, the AAP and AP latencies (ns), banks and row_bytes.
    """
    from ..ambit import OPERATIONS, program_for  # noqa: PLC0415

    model = _cost_model(dram, banks, row_bytes)
    records = []
    for op, (arity, _) in OPERATIONS.items():
        program = program_for(op, [f"D{i}" for i in range(arity)], f"D{arity}")
        counts = program.counts()
        records.append({
            "op": op, "inputs": arity, "aap": counts["AAP"], "ap": counts["AP"],
            "latency_ns": model.program_latency_ns(program),
            "peak_gb_per_s": model.peak_throughput_bytes_per_s(program) / 1e9,
            "energy_nj_per_kib": model.energy_nj_per_kib(program),
            "cpu_ddr3_nj_per_kib": model.energy.cpu_nj_per_kib(arity),
        })
    org = model.organization
    dram_record = {"preset": dram, "aap_ns": model.timing.aap_ns, "ap_ns": model.timing.ap_ns,
                   "banks": org.banks, "row_bytes": org.row_bytes}
    heading = (f"{dram.upper()}: AAP {model.timing.aap_ns:.2f} ns, AP {model.timing.ap_ns:.2f} ns; "
               f"{org.banks} banks x {org.row_bytes}-byte rows in parallel")
    report(f"{heading}\n\n{format_table(records, OPS_COLUMNS)}", records, json_path=json_path,
           csv_path=csv_path, backend=None, seed=None, dram=dram_record)
