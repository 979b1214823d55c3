"""``cim-emu bench``: emulator throughput against the native baseline, beside the modelled hardware."""

from __future__ import annotations

import itertools
from typing import Any, Callable, Optional, Sequence

import click

from ..backend import Backend
from ._options import backend_option, open_backend, seed_option
from ._output import Column, csv_option, format_table, json_option, progress, report
from ._plot import plot_option, plot_throughput

#: --engine: which engines to measure.
ENGINES = ("all", "ambit", "reram")

#: The sizes a run sweeps unless told otherwise: Ambit row MiB, ReRAM batch, k and n.
FULL_SIZES = {"row_mib": (1, 4, 16, 64), "batch": (16, 64, 256), "k": (1024,), "n": (1024,)}
QUICK_SIZES = {"row_mib": (1,), "batch": (16,), "k": (256,), "n": (256,)}

#: Timed runs per measurement (the shortest counts), full and quick.
FULL_REPEATS = 5
QUICK_REPEATS = 2


def _sizes_text(name: str) -> str:
    return (f"Default: {', '.join(map(str, FULL_SIZES[name]))}; "
            f"with --quick {', '.join(map(str, QUICK_SIZES[name]))}. Repeat the option for a sweep.")


def _size_option(name: str, metavar: str, what: str) -> Callable[[Callable], Callable]:
    flag = "--" + name.replace("_", "-")
    return click.option(flag, name, metavar=metavar, type=click.IntRange(min=1), multiple=True,
                        help=f"{what}. {_sizes_text(name)}")


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
]


def _display(record: dict) -> dict:
    """A record with its rates and costs in the table's units (GB/s or GMAC/s, us, uJ)."""
    rate = "gb" if record["unit"] == "B" else "gmac"
    return {**record, f"emulator_{rate}_per_s": record["emulator_per_s"] / 1e9,
            f"baseline_{rate}_per_s": record["baseline_per_s"] / 1e9,
            f"modelled_{rate}_per_s": record["modelled_per_s"] / 1e9,
            "modelled_latency_us": record["modelled_latency_ns"] / 1e3,
            "modelled_energy_uj": record["modelled_energy_nj"] / 1e3}


def _cases(engine: str, sizes: dict) -> list[tuple[str, str, Any]]:
    """``(engine, case, size)`` triples in the order they run: Ambit rows, then ReRAM shapes."""
    from ..studies import benchmarks  # noqa: PLC0415

    cases: list[tuple[str, str, Any]] = []
    if engine in ("all", "ambit"):
        cases += [("ambit", op, mib) for mib in sizes["row_mib"] for op in benchmarks.AMBIT_OPS]
    if engine in ("all", "reram"):
        shapes = itertools.product(sizes["batch"], sizes["k"], sizes["n"])
        cases += [("reram", path, shape) for shape in shapes for path in benchmarks.RERAM_PATHS]
    return cases


def _measure(engine: str, case: str, size: Any, seed: int, backend: Backend, repeats: int) -> Any:
    """One measurement; sizes the machine cannot hold are a usage error naming their options."""
    from ..studies import benchmarks  # noqa: PLC0415

    try:
        if engine == "ambit":
            return benchmarks.ambit_throughput(case, size * 2**20, seed=seed, backend=backend, repeats=repeats)
        return benchmarks.reram_throughput(case, *size, seed=seed, backend=backend, repeats=repeats)
    except (MemoryError, ValueError) as exc:  # ValueError: e.g. numpy refusing an array that large
        hint = "'--row-mib'" if engine == "ambit" else "'--batch', '--k', '--n'"
        shown = f"{size} MiB rows" if engine == "ambit" else "x".join(map(str, size))
        problem = "does not fit in memory" if isinstance(exc, MemoryError) else "is impossible"
        raise click.BadParameter(f"{shown} {problem}: {exc}", param_hint=hint) from None


@click.command()
@click.option("--engine", type=click.Choice(ENGINES), default="all", show_default=True,
              help="Which engine to measure: Ambit bulk bitwise ops, ReRAM crossbar products, or both.")
@click.option("--quick", is_flag=True,
              help="Small sizes and few repeats (seconds); a full run shows progress.")
@_size_option("row_mib", "MiB", "Ambit row size in MiB")
@_size_option("batch", "B", "ReRAM input vectors per product")
@_size_option("k", "K", "ReRAM inputs per vector (weight rows)")
@_size_option("n", "N", "ReRAM outputs (weight columns)")
@backend_option
@seed_option
@json_option
@csv_option
@plot_option("throughput against size (log-log, one panel per engine)")
def bench(engine: str, quick: bool, row_mib: Sequence[int], batch: Sequence[int], k: Sequence[int],
          n: Sequence[int], backend: Optional[str], seed: int, json_path: Optional[str],
          csv_path: Optional[str], plot_path: Optional[str]) -> None:
    """Measure emulator throughput against the native baseline.

    Each emulator run is timed beside the backend's native operation in the same run,
    next to what the modelled hardware would take. Exit status 1 when a result is wrong.

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
    lossy). Beside it the ISAAC cost model: latency, energy, MAC/s and energy per MAC.

    Sizes sweep every value given; ReRAM shapes are every batch x k x n combination.

    JSON (--json) and CSV (--csv): one record per measurement with engine, case, size,
    work and unit ("B": bytes of result, "MAC"), emulator_s, baseline, baseline_s, correct,
    modelled_latency_ns, modelled_energy_nj, ratio_to_baseline, emulator_per_s,
    baseline_per_s, modelled_per_s, modelled_energy_pj_per_unit; Ambit adds row_bytes,
    baseline_in_place_s, ratio_to_baseline_in_place, modelled_peak_per_s; ReRAM adds batch,
    k, n, adc_bits, inherent_products, ratio_to_inherent, crossbars, conversions. The JSON
    document adds "sizes" (the sweep), "repeats", "machine" (platform, processor, cpu_count,
    python, numpy, backend, device) and "correct" (every result right).
    """
    from ..studies.benchmarks import machine_info  # noqa: PLC0415

    chosen = open_backend(backend)
    defaults = QUICK_SIZES if quick else FULL_SIZES
    given = {"row_mib": row_mib, "batch": batch, "k": k, "n": n}
    sizes = {name: tuple(values) or defaults[name] for name, values in given.items()}
    repeats = QUICK_REPEATS if quick else FULL_REPEATS
    with progress(_cases(engine, sizes), "bench", show=not quick) as cases:
        results = [_measure(case_engine, case, size, seed, chosen, repeats) for case_engine, case, size in cases]
    records = [result.as_dict() for result in results]
    wrong = sum(not record["correct"] for record in records)

    sections = []
    for name, columns, heading in (
            ("ambit", AMBIT_COLUMNS, "Ambit fast executor against the native bitwise call (DDR3-1600 model)"),
            ("reram", RERAM_COLUMNS, "ReRAM crossbar products against float32 matmul (ISAAC model)")):
        rows = [_display(record) for record in records if record["engine"] == name]
        if rows:
            sections.append(f"{heading} (backend {chosen.name}, best of {repeats})\n{format_table(rows, columns)}")
    verdict = f"FAIL: {wrong} of {len(records)} results wrong" if wrong else f"all {len(records)} results correct"

    report("\n\n".join([*sections, verdict]), records, json_path=json_path, csv_path=csv_path, backend=chosen.name,
           seed=seed, sizes={name: list(values) for name, values in sizes.items()}, repeats=repeats,
           machine=machine_info(chosen), correct=not wrong)
    if plot_path:
        plot_throughput(records, plot_path)
    if wrong:
        click.get_current_context().exit(1)
