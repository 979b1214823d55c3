"""``cim-emu accuracy``: the engines against exact references, with a verdict and exit status."""

from __future__ import annotations

from typing import Any, Callable, ContextManager, Iterable, NamedTuple, Optional, Sequence

import click

from ..backend import Backend
from ..studies import accuracy_sections
from ._options import backend_option, config_options, configuration_record, open_backend, resolve_config, seed_option
from ._output import Column, csv_option, format_table, json_option, progress, report
from ._plot import plot_accuracy, plot_option


class Section(NamedTuple):
    """One group of checks: its heading, the table printed for it, and its check records.

    A section is made by a function ``(quick, seed, backend) -> Section`` listed under its name
    in :data:`SECTIONS`. Every record has ``check`` (the section's name) and ``passed``; the records go to
    --json and --csv, the table (which may summarise them) to the terminal.
    """

    name: str
    heading: str
    table: str
    records: list
    skipped: Optional[str] = None
    """Why the section did not run (``None`` when it ran); its table then says so."""


def _checks(name: str, quick: bool, seed: int, backend: Backend) -> accuracy_sections.SectionChecks:
    """The checks of section ``name`` (:func:`cim_emu.studies.accuracy_sections.checks`), with a
    progress bar on standard error over its longer loops on a full run."""

    def bar(items: Sequence, label: str) -> ContextManager[Iterable]:
        return progress(items, label, show=not quick)

    return accuracy_sections.checks(name, quick, seed, backend, progress=bar)


def _records(name: str, records: list) -> list:
    """The records of section ``name`` for --json and --csv: each check's, with ``check`` naming the section."""
    return [{"check": name, **record} for record in records]


def _ambit_library(quick: bool, seed: int, backend: Backend) -> Section:
    records = _checks("ambit-library", quick, seed, backend).records
    by_op: dict = {}
    for record in records:
        row = by_op.setdefault(record["op"], {"op": record["op"], "passed": True})
        row[record["executor"]] = row.get(record["executor"], 0) + record["bit_errors"]
        row["passed"] &= record["passed"]
    executors = list(dict.fromkeys(record["executor"] for record in records))
    columns = [Column("op", "op"), *(Column(e, f"bit errors {e}") for e in executors),
               Column("passed", "passed")]
    heading = (f"Ambit library operations against numpy, row lengths "
               f"{', '.join(map(str, accuracy_sections.library_row_bits(quick)))} bits")
    return Section("ambit-library", heading, format_table(list(by_op.values()), columns),
                   _records("ambit-library", records))


FAULT_COLUMNS = [
    Column("op", "op"),
    Column("executor", "executor"),
    Column("row_bits", "row bits"),
    Column("flip_probability", "p", ".4f"),
    Column("flipped_bits", "flipped bits"),
    Column("measured_rate", "measured", ".5f"),
    Column("bound", "bound (5 sigma)", ".5f"),
    Column("passed", "passed"),
]


def _ambit_fault_rates(quick: bool, seed: int, backend: Backend) -> Section:
    records = _checks("ambit-fault-rate", quick, seed, backend).records
    heading = "Ambit TRA fault model: measured flip rate of maj against the configured p"
    return Section("ambit-fault-rate", heading, format_table(records, FAULT_COLUMNS),
                   _records("ambit-fault-rate", records))


REALCHIP_COLUMNS = [
    Column("op", "op"),
    Column("rows", "rows"),
    Column("operands", "X"),
    Column("pattern", "data"),
    Column("t1_ns", "t1 ns", "g"),
    Column("t2_ns", "t2 ns", "g"),
    Column("trials", "trials"),
    Column("measured", "measured", ".4f"),
    Column("published", "published", ".4f"),
    Column("bound", "bound", ".4f"),
    Column("passed", "passed"),
]


def _realchip(quick: bool, seed: int, backend: Backend) -> Section:
    records = _checks("realchip", quick, seed, backend).records
    heading = ("Real DDR4 chips (SiMRA, FCDRAM): share of an 8 KiB row's bits correct in every trial, against the "
               "published success (docs/spec/realchip.md)")
    return Section("realchip", heading, format_table(records, REALCHIP_COLUMNS), _records("realchip", records))


RERAM_COLUMNS = [
    Column("mapping", "mapping"),
    Column("signed_inputs", "signed x"),
    Column("adc_bits", "ADC bits"),
    Column("devices", "devices"),
    Column("max_abs_error", "max |error|", ".6g"),
    Column("relative_error", "relative error", ".4f"),
    Column("snr_db", "SNR dB", ".1f"),
    Column("bound", "bound", ".6g"),
    Column("passed", "passed"),
]


def _reram_exact(quick: bool, seed: int, backend: Backend) -> Section:
    records = _checks("reram-exact", quick, seed, backend).records
    heading = "ReRAM crossbars, lossless ADC and ideal devices, against the exact integer product"
    return Section("reram-exact", heading, format_table(records, RERAM_COLUMNS), _records("reram-exact", records))


def _reram_adc_sweep(quick: bool, seed: int, backend: Backend) -> Section:
    records = _checks("reram-adc-sweep", quick, seed, backend).records
    heading = ("ReRAM crossbars (8-bit x and W, 2-bit cells, 1-bit DAC) across ADC bits and device models; "
               "ideal devices must stay within the ADC error bound")
    return Section("reram-adc-sweep", heading, format_table(records, RERAM_COLUMNS),
                   _records("reram-adc-sweep", records))


DIGITS_COLUMNS = [
    Column("model", "model"),
    Column("devices", "devices"),
    Column("adc_bits", "ADC bits"),
    Column("adc_lossless", "lossless"),
    Column("accuracy", "accuracy", ".4f"),
    Column("accuracy_drop", "drop", "+.4f"),
    Column("max_logit_difference", "max |logit - digital|", ".4g"),
    Column("bound", "bound"),
    Column("passed", "passed"),
]


def _reram_digits(quick: bool, seed: int, backend: Backend) -> Section:
    from ..studies.digits_mlp import DatasetUnavailableError  # noqa: PLC0415

    name = "reram-digits"
    heading = ("Digits MLP 64-32-10 (scikit-learn's 8x8 digits, test set) in float, 8-bit digital and on "
               "crossbars (8-bit inputs and weights, 2-bit cells, 1-bit DAC) across ADC bits and device models")
    try:
        records = _checks(name, quick, seed, backend).records
    except DatasetUnavailableError as exc:
        return Section(name, heading, f"skipped: {exc}", [], skipped=str(exc))
    return Section(name, heading, format_table(records, DIGITS_COLUMNS), _records(name, records))


#: The digits MLP's columns with the ADC full scale (default or calibrated) in place of "lossless".
TORCH_DIGITS_COLUMNS = [Column("adc_full_scale", "ADC full scale") if c.key == "adc_lossless" else c
                        for c in DIGITS_COLUMNS]


def _torch_digits_cnn(quick: bool, seed: int, backend: Backend) -> Section:
    from ..studies.digits_cnn import TorchUnavailableError  # noqa: PLC0415
    from ..studies.digits_mlp import DatasetUnavailableError  # noqa: PLC0415

    name = "torch-digits-cnn"
    heading = ("Digits CNN (PyTorch, conv-conv-linear, scikit-learn's 8x8 digits, test set) in float, digital and "
               "converted to crossbars (cim_emu.nn; 8-bit inputs and weights, 2-bit cells, 1-bit DAC) across ADC "
               "bits, default and calibrated ADC full scale; always on the CPU")
    try:
        records = _checks(name, quick, seed, backend).records
    except (TorchUnavailableError, DatasetUnavailableError) as exc:
        return Section(name, heading, f"skipped: {exc}", [], skipped=str(exc))
    return Section(name, heading, format_table(records, TORCH_DIGITS_COLUMNS), _records(name, records))


#: The groups of checks by name, in the order they run and print.
SECTIONS: dict[str, Callable[[bool, int, Backend], Section]] = {
    "ambit-library": _ambit_library,
    "ambit-fault-rate": _ambit_fault_rates,
    "realchip": _realchip,
    "reram-exact": _reram_exact,
    "reram-adc-sweep": _reram_adc_sweep,
    "reram-digits": _reram_digits,
    "torch-digits-cnn": _torch_digits_cnn,
}

CONFIGURED_COLUMNS = [
    Column("kind", "kind"),
    Column("signed_inputs", "signed x"),
    Column("op", "op"),
    Column("adc_bits", "ADC bits"),
    Column("max_abs_error", "max |error|", ".6g"),
    Column("relative_error", "relative error", ".4f"),
    Column("snr_db", "SNR dB", ".1f"),
    Column("bit_error_rate", "bit error rate", ".5f"),
    Column("bound", "bound", ".6g"),
    Column("passed", "passed"),
]


def _configured(resolved: Any) -> Optional[Callable[[bool, int, Backend], Section]]:
    """The ``configured`` section of the --config or --preset configuration, or ``None``."""
    if resolved is None:
        return None
    from ..sweep import configured  # noqa: PLC0415 - keeps --help instant

    def section(quick: bool, seed: int, backend: Backend) -> Section:
        records = configured.checks(resolved, quick, seed, backend.name)
        heading = (f"The configuration of {resolved.source} ({resolved.kind}): "
                   f"{records[0]['configuration'] if records else ''}")
        return Section("configured", heading, format_table(records, CONFIGURED_COLUMNS),
                       [{"check": "configured", **r} for r in records])

    return section


#: The sections --plot draws.
PLOTTED_SECTIONS = ("reram-adc-sweep", "reram-digits")


def _verdict(sections: Sequence[Section]) -> tuple[bool, str]:
    """Whether every check passed, and a one-line verdict naming the failures and skipped sections."""
    counts = [(s.name, sum(not r["passed"] for r in s.records), len(s.records)) for s in sections if not s.skipped]
    failed = sum(f for _, f, _ in counts)
    total = sum(n for _, _, n in counts)
    parts = ", ".join([*(f"{name} {n - f}/{n}" for name, f, n in counts),
                       *(f"{s.name} skipped" for s in sections if s.skipped)])
    if failed:
        return False, f"FAIL: {failed} of {total} checks failed ({parts} passed)"
    return True, f"PASS: all {total} checks passed ({parts})"


@click.command()
@click.option("--quick", is_flag=True,
              help="Short rows and fewer configurations (seconds); a full run adds long rows, more ADC "
                   "resolutions and device models, and shows progress.")
@click.option("--check", "checks", type=click.Choice(list(SECTIONS)), multiple=True,
              help="Run only this group of checks (repeat for several). Default: all of them.")
@backend_option
@seed_option
@json_option
@csv_option
@plot_option("the ReRAM product's SNR and the digits model's accuracy against ADC bits, per device model")
@config_options(("reram", "ambit"), "check it in a 'configured' section; other sections run only when "
                "--check names them")
def accuracy(quick: bool, checks: Sequence[str], backend: Optional[str], seed: int, json_path: Optional[str],
             csv_path: Optional[str], plot_path: Optional[str], config_file: Optional[str] = None,
             preset: Optional[str] = None) -> None:
    """Check the emulator against exact references.

    Exit status 1 when a check fails.

    Ambit: every library operation, with both executors, on random rows of awkward lengths,
    must equal numpy's bitwise result exactly (zero bit errors, padding included); and the
    TRA fault model must flip maj's result at the configured rate, within a binomial 5-sigma
    bound, for p of Ambit Table 2 at +-10 % and +-25 % process variation.

    Real chips (cim_emu.ambit.realchip): SiMRA's and FCDRAM's methodology on the emulator; the
    share of an 8 KiB row's bits correct in every trial must match each published success rate
    (MAJX, Multi-RowCopy, NOT, N:N AND/OR/NAND/NOR) within its stated uncertainty plus sampling.

    ReRAM: with a lossless ADC and ideal devices every weight mapping, with unsigned and
    signed inputs, must give exactly x @ W through the full pipeline; across ADC resolutions
    (4, 6, 8 bits) and device models the largest error, relative error and SNR are reported,
    and with ideal devices the largest error must stay within the ADC's error bound.

    Digits (needs scikit-learn, the 'data' extra; skipped with a note without it): a 64-32-10
    MLP trained in numpy on scikit-learn's 8x8 digits, its test accuracy in float, 8-bit
    digital (exact integer products) and on crossbars across ADC bits and device models.
    Bounds: the float model reaches a floor; digital stays close to float; lossless ideal
    crossbars give the digital logits exactly; ideal crossbars with an 8-bit ADC stay within a
    stated drop of float (cim_emu.studies.digits_mlp sets them; each record's "bound" states its own).

    Digits CNN (needs PyTorch, the 'torch' extra, and scikit-learn; skipped with a note without
    them): a small CNN trained with torch, converted by cim_emu.nn, on the CPU whatever
    --backend says. Bounds: lossless ideal crossbars give the digital (exact integer product)
    logits exactly; ideal crossbars with an 8-bit ADC stay within a stated drop of float
    (cim_emu.studies.digits_cnn sets them). A 6-bit ADC is also run with its full scale calibrated
    per layer from the training set. Quick mode trains 3 epochs and runs ideal devices at 6, 8
    and lossless ADC bits (seconds); a full run trains 15 epochs and adds 5 and 7 bits and the
    wan2022 device model.

    Configured (--config FILE or --preset NAME): that ReRAM configuration's product against the
    exact integer product (exact when lossless with ideal cells, within the ADC's bound with
    ideal cells, reported otherwise), or that Ambit fault model's bit error rate on and, or, xor
    and maj; the other groups then run only when --check names them (docs/sweep.md).

    Prints a table per group of checks and a one-line verdict. JSON (--json) and CSV (--csv)
    hold one record per check, with "check" naming its group and "passed"; the JSON document
    adds "passed" for the whole run, "skipped" (section name -> reason, empty when every
    section ran) and, with --config or --preset, "configuration" (kind, preset, file and the
    parsed content). cim_emu/cli/README.md lists every record's fields.
    """
    resolved = resolve_config(config_file, preset, ("reram", "ambit"), "accuracy")
    configured = _configured(resolved)
    names = [name for name in SECTIONS if name in checks] if checks or configured else list(SECTIONS)
    if plot_path and not set(names) & set(PLOTTED_SECTIONS):
        raise click.UsageError(f"--plot draws the {' and '.join(PLOTTED_SECTIONS)} checks, and --check "
                               f"leaves neither to run")
    chosen = open_backend(backend)
    sections = [SECTIONS[name](quick, seed, chosen) for name in names]
    if configured is not None:
        sections.append(configured(quick, seed, chosen))
    passed, verdict = _verdict(sections)
    text = "\n\n".join([*(f"{s.heading} (backend {chosen.name}, seed {seed})\n{s.table}" for s in sections),
                        verdict])
    records = [record for section in sections for record in section.records]
    report(text, records, json_path=json_path, csv_path=csv_path, backend=chosen.name, seed=seed,
           passed=passed, skipped={s.name: s.skipped for s in sections if s.skipped},
           **({} if resolved is None else {"configuration": configuration_record(resolved, config_file, preset)}))
    if plot_path:
        plot_accuracy(records, plot_path)
    if not passed:
        click.get_current_context().exit(1)
