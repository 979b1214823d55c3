"""``cim-emu bench``: emulator throughput against the native baseline, beside the modelled hardware;
whole models on crossbars against the float model (``--engine models``)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, Optional, Sequence

import click

from ..backend import Backend
from ._options import (
    backend_option,
    config_options,
    configuration_record,
    open_backend,
    reject_with_config,
    resolve_config,
    seed_option,
)
from ._output import Column, csv_option, format_table, json_option, progress, report
from ._plot import plot_option, plot_throughput

#: --engine: which engines to measure ("all": Ambit and ReRAM; the models run only when asked).
ENGINES = ("all", "ambit", "reram", "models")

#: The sizes a run sweeps unless told otherwise: Ambit row MiB, ReRAM batch, k and n.
FULL_SIZES = {"row_mib": (1, 4, 16, 64), "batch": (16, 64, 256), "k": (1024,), "n": (1024,)}
QUICK_SIZES = {"row_mib": (1,), "batch": (16,), "k": (256,), "n": (256,)}

#: Interleaved rounds per measurement (the median counts), full and quick.
FULL_ROUNDS = 7
QUICK_ROUNDS = 2


def _model_case_names() -> tuple:
    """The model cases' names (importing no torch)."""
    from ..studies.model_benchmarks import CASE_NAMES  # noqa: PLC0415

    return CASE_NAMES


def _train_batch() -> int:
    from ..studies.model_benchmarks import TRAIN_BATCH  # noqa: PLC0415

    return TRAIN_BATCH


def _sizes_text(name: str) -> str:
    return (f"Default: {', '.join(map(str, FULL_SIZES[name]))}; "
            f"with --quick {', '.join(map(str, QUICK_SIZES[name]))}. Repeat the option for a sweep.")


def _size_option(name: str, metavar: str, what: str) -> Callable[[Callable], Callable]:
    flag = "--" + name.replace("_", "-")
    return click.option(flag, name, metavar=metavar, type=click.IntRange(min=1), multiple=True,
                        help=f"{what}. {_sizes_text(name)}")


#: Whether the ratios held against their floor (else they are left out: see the footnotes).
_PLAUSIBLE = Column("plausible", "plausible")

#: The modelled hardware's latency and energy, in the units of :func:`_display`.
_MODEL_COLUMNS = [Column("modelled_latency_us", "model us", ".1f"), Column("modelled_energy_uj", "model uJ", ".2f")]

AMBIT_COLUMNS = [
    Column("case", "op"),
    Column("size", "row"),
    Column("emulator_gb_per_s", "emulator GB/s", ".2f"),
    Column("baseline_gb_per_s", "native GB/s", ".2f"),
    Column("ratio_to_baseline", "ratio", ".2f"),
    Column("ratio_to_baseline_in_place", "ratio in place", ".2f"),
    *_MODEL_COLUMNS,
    Column("modelled_gb_per_s", "model GB/s", ".1f"),
    Column("correct", "correct"),
    _PLAUSIBLE,
]

RERAM_COLUMNS = [
    Column("case", "path"),
    Column("size", "batch x k x n"),
    Column("adc_bits", "ADC bits"),
    Column("emulator_gmac_per_s", "emulator GMAC/s", ".3f"),
    Column("baseline_gmac_per_s", "matmul GMAC/s", ".2f"),
    Column("ratio_to_baseline", "ratio", ".1f"),
    Column("ratio_to_inherent", "ratio to inherent", ".2f"),
    *_MODEL_COLUMNS,
    Column("modelled_gmac_per_s", "model GMAC/s", ".0f"),
    Column("modelled_energy_pj_per_unit", "model pJ/MAC", ".3f"),
    Column("correct", "correct"),
    _PLAUSIBLE,
]

#: The models' table: (key, heading, format) per column.
MODEL_COLUMNS = [Column(*spec) for spec in (
    ("case", "case"), ("batch", "batch"), ("adc_bits", "ADC bits"), ("baseline_ms", "float ms", ".1f"),
    ("emulator_s", "emulator s", ".2f"), ("ratio_to_baseline", "ratio", ".0f"),
    ("emulator_cores_busy", "cores busy", ".2f"), ("baseline_peak_mib", "float MiB", ".0f"),
    ("emulator_peak_mib", "emulator MiB", ".0f"), ("relative_error", "rel. error", ".3g"),
    ("top1_agreement", "top-1 agree", ".2f"), ("rounds", "rounds"))] + [_PLAUSIBLE]

#: Ratios left out of the table where a record is implausible (its footnote says why).
_RATIO_KEYS = ("ratio_to_baseline", "ratio_to_baseline_in_place", "ratio_to_inherent")


def _display(record: dict) -> dict:
    """A record with its rates and costs in the table's units (GB/s or GMAC/s, us, uJ; models: ms,
    MiB), its ratios left out when it is implausible."""
    shown = dict(record)
    if not record.get("plausible", True):
        shown.update({key: None for key in _RATIO_KEYS})
    if record["engine"] == "models":
        return {**shown, "baseline_ms": record["baseline_s"] * 1e3,
                **{f"{side}_peak_mib": record.get(f"{side}_peak_rss_bytes", 0) / 2**20 or None
                   for side in ("baseline", "emulator")}}
    rate = "gb" if record["unit"] == "B" else "gmac"
    return {**shown, f"emulator_{rate}_per_s": record["emulator_per_s"] / 1e9,
            f"baseline_{rate}_per_s": record["baseline_per_s"] / 1e9,
            f"modelled_{rate}_per_s": record["modelled_per_s"] / 1e9,
            "modelled_latency_us": record["modelled_latency_ns"] / 1e3,
            "modelled_energy_uj": record["modelled_energy_nj"] / 1e3}


def _footnotes(records: Sequence[dict]) -> list:
    """One line per implausible record: which, and why."""
    return [f"implausible: {record['engine']} {record['case']} {record.get('size', '')}".rstrip()
            + f": {record['implausible_reason']}" for record in records if not record.get("plausible", True)]


def _cases(engine: str, sizes: dict, configured: bool = False) -> list[tuple[str, str, Any]]:
    """``(engine, case, size)`` triples in the order they run: Ambit rows, then ReRAM shapes (the
    ``configured`` case alone when --config or --preset gave the ReRAM configuration)."""
    from ..studies import benchmarks  # noqa: PLC0415

    cases: list[tuple[str, str, Any]] = []
    if engine in ("all", "ambit"):
        cases += [("ambit", op, mib) for mib in sizes["row_mib"] for op in benchmarks.AMBIT_OPS]
    if engine in ("all", "reram"):
        shapes = itertools.product(sizes["batch"], sizes["k"], sizes["n"])
        paths = ("configured",) if configured else benchmarks.RERAM_PATHS
        cases += [("reram", path, shape) for shape in shapes for path in paths]
    return cases


def _measure(engine: str, case: str, size: Any, seed: int, backend: Backend, rounds: int,
             threads: Optional[int], config: Any = None) -> Any:
    """One measurement (``config``: the ReRAM configuration of the ``configured`` case); sizes the
    machine cannot hold are a usage error naming their options."""
    from ..studies import benchmarks  # noqa: PLC0415

    options: dict[str, Any] = {"seed": seed, "backend": backend, "rounds": rounds, "threads": threads}
    try:
        if engine == "ambit":
            return benchmarks.ambit_throughput(case, size * 2**20, **options)
        return benchmarks.reram_throughput(case, *size, config=config, **options)
    except (MemoryError, ValueError) as exc:  # ValueError: e.g. numpy refusing an array that large
        hint = "'--row-mib'" if engine == "ambit" else "'--batch', '--k', '--n'"
        shown = f"{size} MiB rows" if engine == "ambit" else "x".join(map(str, size))
        problem = "does not fit in memory" if isinstance(exc, MemoryError) else "is impossible"
        raise click.BadParameter(f"{shown} {problem}: {exc}", param_hint=hint) from None


def _model_benchmarks() -> Any:
    """:mod:`cim_emu.studies.model_benchmarks` with torch loaded (so that pinning the threads
    pins torch's too); without torch a usage error naming the extra."""
    from .._optional import MissingDependencyError  # noqa: PLC0415
    from ..studies import model_benchmarks  # noqa: PLC0415

    try:
        model_benchmarks.require_torch()
    except MissingDependencyError as exc:
        raise click.BadParameter(str(exc), param_hint="'--engine'") from None
    return model_benchmarks


def _model_records(names: Sequence[str], quick: bool, train_batch: int, seed: int, backend: Backend, rounds: int,
                   threads: Optional[int], memory: bool, config: Any = None) -> list:
    """The model cases named (all when none), each :func:`model_benchmark`'s record; with a ReRAM
    ``config``, each distinct model and mode of those cases once, on crossbars of ``config``."""
    model_benchmarks = _model_benchmarks()
    cases = [case for case in model_benchmarks.default_cases(quick, train_batch) if not names or case.name in names]
    if config is not None:
        configured: dict = {}
        for case in cases:
            case = dataclasses.replace(case, config=config.to_dict())
            configured.setdefault(case.name, case)
        cases = list(configured.values())
    device = "cuda" if backend.on_device else "cpu"
    with progress(cases, "bench models", show=not quick) as chosen:
        return [model_benchmarks.model_benchmark(case, seed=seed, rounds=rounds, threads=threads, memory=memory,
                                                 device=device) for case in chosen]


@click.command()
@click.option("--engine", type=click.Choice(ENGINES), default="all", show_default=True,
              help="What to measure: Ambit bulk bitwise ops, ReRAM crossbar products, both ('all'), or whole "
                   "models on crossbars against the float model ('models': minutes to hours; needs torch).")
@click.option("--quick", is_flag=True,
              help="Small sizes and 2 rounds (seconds; models: batch 2); a full run shows progress.")
@_size_option("row_mib", "MiB", "Ambit row size in MiB")
@_size_option("batch", "B", "ReRAM input vectors per product")
@_size_option("k", "K", "ReRAM inputs per vector (weight rows)")
@_size_option("n", "N", "ReRAM outputs (weight columns)")
@click.option("--rounds", metavar="R", type=click.IntRange(min=1), default=None,
              help=f"Interleaved rounds per measurement (the median counts). Default: {FULL_ROUNDS}; "
                   f"with --quick {QUICK_ROUNDS}.")
@click.option("--threads", metavar="T", type=click.IntRange(min=1), default=None,
              help="Threads of both sides (BLAS, OpenMP, torch, CIM_EMU_THREADS). Default: every usable core.")
@click.option("--model-case", "model_cases", metavar="CASE", multiple=True,
              type=click.Choice(_model_case_names()),
              help="With --engine models: the case to run (repeat for several). Default: all.")
@click.option("--train-batch", metavar="B", type=click.IntRange(min=1), default=_train_batch(), show_default=True,
              help="With --engine models: batch of the training step (full runs).")
@click.option("--memory/--no-memory", default=True, show_default=True,
              help="With --engine models: measure each side's peak memory in a fresh process.")
@backend_option
@seed_option
@json_option
@csv_option
@plot_option("throughput against size (log-log, one panel per engine)")
@config_options(("reram",), "measure its crossbar products (case 'configured') in place of the lossy and "
                            "lossless cases; with --engine reram or all")
def bench(engine: str, quick: bool, row_mib: Sequence[int], batch: Sequence[int], k: Sequence[int],
          n: Sequence[int], rounds: Optional[int], threads: Optional[int], model_cases: Sequence[str],
          train_batch: int, memory: bool, backend: Optional[str], seed: int, json_path: Optional[str],
          csv_path: Optional[str], plot_path: Optional[str], config_file: Optional[str] = None,
          preset: Optional[str] = None) -> None:
    """Measure emulator throughput against the native baseline.

    Each emulator run is timed beside the backend's native operation in the same run,
    next to what the modelled hardware would take. Exit status 1 when a result is wrong.

    Method: the baseline(s) and the emulator run interleaved, round by round, after a
    warm-up round; times are medians of the rounds (wall clock; CPU time too); both sides
    run on the same pinned thread count, stated in the JSON. Each ratio has a floor, the
    least its work can take; a ratio below 0.8 of it means the baseline was slowed (load
    on the machine) and is shown as implausible, not as a result (its ratio columns blank,
    a footnote giving the reason).

    Ambit: the fast executor runs the paper's AND and XOR programs on two random rows
    (only the destination row materialised) against numpy's (or CuPy's) bitwise_and /
    bitwise_xor on the same rows; the ratio is emulator time / native time ('in place':
    the native call writing into a preallocated array, the memory floor). Beside it the
    cost model of the Ambit paper's DDR3-1600 system: latency, energy and throughput for
    that row length (GB = 10^9 bytes of result).

    ReRAM: products of 8-bit inputs (batch x k) and 8-bit weights (k x n) on 128x128
    crossbars of 2-bit cells with 1-bit DACs, lossy (6-bit ADC: the full pipeline) and
    lossless (one exact integer product), against a float32 matmul of the same shape;
    'ratio to inherent' divides by the binary products the pipeline cannot avoid (64 when
    lossy; the floor counts them as the pipeline packs them, 32). Beside it the ISAAC cost
    model: latency, energy, MAC/s and energy per MAC.

    Models: a CIFAR-style ResNet-18 (eval at batch 32, ideal and reram_wan2022 devices; a
    training step with reram_wan2022) and a transformer block (batch 8 x 128 x 256, ideal
    and reram_wan2022) converted with an 8-bit ADC, calibrated, against the float model
    (floor: the float model); relative output error and peak memory beside the times.

    Configured (--config FILE or --preset NAME, a ReRAM configuration or device preset): the
    ReRAM products are measured through crossbars of that configuration (case 'configured',
    random integers over its input and weight ranges) in place of the lossy and lossless
    cases, as they are; 'correct' holds the largest error to the ADC's bound where one holds
    (ideal cells). With --engine models, each model and mode of the chosen cases runs once on
    crossbars of that configuration (cases '<model>-<mode>-configured'). Not with --engine
    ambit.

    Sizes sweep every value given; ReRAM shapes are every batch x k x n combination.

    JSON (--json) and CSV (--csv): the records' keys are listed in cim_emu/cli/README.md.
    The JSON document adds "sizes" (the sweep), "repeats" and "rounds" (rounds per
    measurement), "threads" (the pinned count and each library's threads), "machine"
    (platform, processor, cpu_count, python, numpy, backend, device), "correct" (every
    result right), "plausible" (every ratio plausible) and, with --config or --preset,
    "configuration" (kind, preset, file and the parsed content).
    """
    from ..studies.benchmarks import machine_info  # noqa: PLC0415
    from ..studies.timing import pinned_threads  # noqa: PLC0415

    resolved = resolve_config(config_file, preset, ("reram",), "bench")
    if engine == "ambit":
        reject_with_config("--engine ambit", config_file, preset, "a ReRAM configuration applies to --engine reram, "
                           "models or all")
    chosen = open_backend(backend)
    if plot_path and engine == "models":
        raise click.BadParameter("--plot draws the Ambit and ReRAM sweeps, not the models", param_hint="'--plot'")
    defaults = QUICK_SIZES if quick else FULL_SIZES
    given = {"row_mib": row_mib, "batch": batch, "k": k, "n": n}
    sizes = {name: tuple(values) or defaults[name] for name, values in given.items()}
    rounds = rounds or (QUICK_ROUNDS if quick else FULL_ROUNDS)
    if engine == "models":
        _model_benchmarks()  # torch loaded first: its threads are pinned too
    with pinned_threads(threads) as pinned:
        if engine == "models":
            records = _model_records(model_cases, quick, train_batch, seed, chosen, rounds, pinned["threads"], memory,
                                     None if resolved is None else resolved.config)
        else:
            config = None if resolved is None else resolved.config
            with progress(_cases(engine, sizes, config is not None), "bench", show=not quick) as cases:
                records = [_measure(case_engine, case, size, seed, chosen, rounds, pinned["threads"], config).as_dict()
                           for case_engine, case, size in cases]
    wrong = sum(not record.get("correct", True) for record in records)
    implausible = sum(not record["plausible"] for record in records)

    sections = []
    method = f"backend {chosen.name}, median of {rounds} interleaved rounds, {pinned['threads']} threads"
    for name, columns, heading in (
            ("ambit", AMBIT_COLUMNS, "Ambit fast executor against the native bitwise call (DDR3-1600 model)"),
            ("reram", RERAM_COLUMNS, "ReRAM crossbar products against float32 matmul (ISAAC model"
                                     + ("" if resolved is None else f"; {resolved.source}") + ")"),
            ("models", MODEL_COLUMNS, "Models on crossbars (8-bit ADC, calibrated) against the float model")):
        rows = [_display(record) for record in records if record["engine"] == name]
        if rows:
            sections.append(f"{heading} ({method})\n{format_table(rows, columns)}")
    verdict = f"FAIL: {wrong} of {len(records)} results wrong" if wrong else f"all {len(records)} results correct"
    if implausible:
        verdict += f"; {implausible} implausible (see above)"

    report("\n\n".join([*sections, *_footnotes(records), verdict]), records, json_path=json_path,
           csv_path=csv_path, backend=chosen.name, seed=seed,
           sizes={name: list(values) for name, values in sizes.items()}, repeats=rounds, rounds=rounds,
           threads=pinned, machine=machine_info(chosen), correct=not wrong, plausible=not implausible,
           **({} if resolved is None else {"configuration": configuration_record(resolved, config_file, preset)}))
    if plot_path:
        plot_throughput(records, plot_path)
    if wrong:
        click.get_current_context().exit(1)
