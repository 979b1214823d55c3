"""``cim-emu sweep``: a study over a grid or random sample of parameters and seeds, into SQLite.

``cim-emu sweep SPEC`` is ``cim-emu sweep run SPEC`` (a spec file named like a subcommand needs
the ``run``); ``cim-emu sweep report DB`` exports and plots; ``cim-emu sweep studies`` lists
the studies and their parameters. ``docs/sweep.md`` is the full description.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import click

from .._optional import require
from ._output import Column, csv_option, format_table, json_option, report, write_csv, write_json
from ._plot import plot_option


class _SweepGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, is the spec of ``run``."""

    def parse_args(self, ctx: click.Context, args: list) -> list:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_SweepGroup)
def sweep() -> None:
    """Run a study over many configurations and seeds, on Dask, into an SQLite database.

    cim-emu sweep SPEC runs the spec (cim-emu sweep run SPEC); cim-emu sweep report DB exports
    and plots the results; cim-emu sweep studies lists the studies and their parameters.
    """


def _spec_error(exc: Exception, hint: str) -> click.UsageError:
    return click.BadParameter(str(exc), param_hint=hint)


@sweep.command("run", short_help="Run the points of SPEC not yet stored (also: cim-emu sweep SPEC).")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--db", "database", metavar="PATH", type=click.Path(dir_okay=False),
              help="The results database (SQLite). Default: SPEC with the suffix .sqlite.")
@click.option("--serial", is_flag=True, help="Run the points one after the other in this process (debugging).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on an existing Dask cluster (e.g. tcp://host:8786; dask-jobqueue on Slurm).")
@click.option("--workers", type=click.IntRange(1, 4096), default=None,
              help="Worker processes of the embedded LocalCluster. Default: one per usable core.")
@click.option("--retry-failed", is_flag=True, help="Run again the points stored as failed.")
@click.option("--retries", type=click.IntRange(0, 100), default=1, show_default=True,
              help="Dask retries of a task that fails outside its study.")
@click.option("--dry-run", is_flag=True, help="Check the spec and count the points to run; run nothing.")
@click.option("--no-progress", is_flag=True, help="No progress bar on standard error.")
@json_option
def run(spec_path: str, database: Optional[str], serial: bool, scheduler: Optional[str], workers: Optional[int],
        retry_failed: bool, retries: int, dry_run: bool, no_progress: bool, json_path: Optional[str]) -> None:
    """Run the points of SPEC (TOML or JSON) that are not yet in the database.

    Exit status 0 when every point of the spec is done, 1 when some are stored as failed, 2 for
    a bad spec (nothing runs), 130 when interrupted (the points stored stay; run again to
    finish). --json writes a summary (the database holds the results: cim-emu sweep report).
    """
    from ..sweep import SpecError, Store, load_spec, run_sweep  # noqa: PLC0415 - keeps --help instant
    from ..sweep.runner import DatabaseBusyError, pending_points, usable_cores  # noqa: PLC0415

    if serial and scheduler:
        raise click.UsageError("--serial and --scheduler exclude each other")
    if (serial or scheduler) and workers:
        raise click.UsageError("--workers sets the embedded LocalCluster's size; not with --serial or --scheduler")
    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        raise _spec_error(exc, "'SPEC'") from None
    database = database or str(Path(spec_path).with_suffix(".sqlite"))
    mode = "serial" if serial else (scheduler or "local")
    if not serial:
        require("distributed", context="a sweep on Dask needs", extra="sweep", error=click.UsageError)
    try:
        if dry_run and not Path(database).exists():  # a dry run creates nothing
            todo, skipped = list(spec.points), 0
        else:
            with Store(database) as store:
                todo, skipped = pending_points(spec, store, retry_failed)
    except ValueError as exc:
        raise _spec_error(exc, "'--db'") from None
    head = (f"sweep {spec.spec_hash[:12]} ({spec.study}{', ' + spec.name if spec.name else ''}): "
            f"{len(spec.points)} points, {skipped} already stored, {len(todo)} to run "
            f"({'serial' if serial else scheduler or f'LocalCluster of {workers or usable_cores()} workers'})")
    if dry_run:
        report(head, [], json_path=json_path, backend=spec.backend, seed=None, spec_hash=spec.spec_hash,
               database=database, points=len(spec.points), to_run=len(todo), skipped=skipped)
        return
    bar: dict = {}

    def progress(done: int, failed: int, remaining: int) -> None:
        if no_progress:
            return
        if "bar" not in bar:
            bar["bar"] = click.progressbar(length=done + failed + remaining, label="sweep", file=sys.stderr,
                                           show_pos=True, item_show_func=lambda text: text)
            bar["bar"].__enter__()
        bar["bar"].update(1, f"done {done}, failed {failed}, remaining {remaining}")

    try:
        summary = run_sweep(spec, database, mode=mode, workers=workers, retry_failed=retry_failed,
                            retries=retries, progress=progress)
    except ConnectionError as exc:
        raise click.BadParameter(str(exc), param_hint="'--scheduler'") from None
    except DatabaseBusyError as exc:
        raise click.BadParameter(str(exc), param_hint="'--db'") from None
    except KeyboardInterrupt:
        click.echo("\ninterrupted: the points stored stay in the database; run the same command again to "
                   "finish", err=True)
        sys.exit(130)
    finally:
        if "bar" in bar:
            bar["bar"].__exit__(None, None, None)
    with Store(database) as store:
        statuses = list(store.statuses(spec.spec_hash).values())
    failed_total = statuses.count("failed")
    text = "\n".join([head, f"ran {summary.done + summary.failed} points in {summary.seconds:.1f} s: "
                            f"{summary.done} done, {summary.failed} failed; database {database}: "
                            f"{statuses.count('done')} done, {failed_total} failed of {len(spec.points)}"])
    report(text, [], json_path=json_path, backend=spec.backend, seed=None, spec_hash=spec.spec_hash,
           database=database, mode=summary.mode, workers=summary.workers, points=summary.total,
           skipped=summary.skipped, done=summary.done, failed=summary.failed, seconds=summary.seconds,
           stored_done=statuses.count("done"), stored_failed=failed_total)
    if failed_total:
        click.get_current_context().exit(1)


SUMMARY_COLUMNS = [Column("n", "seeds"), Column("median", "median", ".6g"), Column("min", "min", ".6g"),
                   Column("max", "max", ".6g"), Column("q1", "q1", ".6g"), Column("q3", "q3", ".6g")]
SWEEP_COLUMNS = [Column("spec_hash", "sweep"), Column("study", "study"), Column("name", "name"),
                 Column("points", "points"), Column("done", "done"), Column("failed", "failed"),
                 Column("missing", "missing")]


@sweep.command("report", short_help="List, export, summarize and plot a results database.")
@click.argument("database", metavar="DB", type=click.Path(exists=True, dir_okay=False))
@click.option("--sweep", "prefix", metavar="HASH", help="The sweep (a prefix of its hash). Default: the only one.")
@click.option("--metric", metavar="NAME", help="Summarize this metric against --param.")
@click.option("--param", metavar="NAME", help="The parameter on the x axis.")
@click.option("--group", metavar="NAME", help="One line per value of this parameter.")
@click.option("--band", type=click.Choice(["minmax", "iqr"]), default="minmax", show_default=True,
              help="The band around the median: min to max, or the interquartile range.")
@json_option
@csv_option
@plot_option("the median of --metric against --param with a band over seeds (one line per --group value)")
def report_command(database: str, prefix: Optional[str], metric: Optional[str], param: Optional[str],
                   group: Optional[str], band: str, json_path: Optional[str], csv_path: Optional[str],
                   plot_path: Optional[str]) -> None:
    """The sweeps of DB and their counts; with --metric and --param, the metric's median, min, max
    and quartiles over seeds per parameter value. --json and --csv export every row of the
    sweep (all sweeps when the database holds several and --sweep is not given), or the summary
    with --metric; non-finite numbers are written as "inf", "-inf", "nan"."""
    from ..sweep import SpecError, Store  # noqa: PLC0415 - keeps --help instant
    from ..sweep import report as sweep_report  # noqa: PLC0415

    if (metric is None) != (param is None):
        raise click.UsageError("--metric and --param go together")
    if plot_path and metric is None:
        raise click.UsageError("--plot draws --metric against --param; give both")
    if group and metric is None:
        raise click.UsageError("--group needs --metric and --param")
    try:
        store = Store(database)
    except ValueError as exc:
        raise _spec_error(exc, "'DB'") from None
    with store:
        try:
            if metric is None:
                spec_hash = sweep_report.choose_sweep(store, prefix)["spec_hash"] if prefix else None
                counts = sweep_report.sweep_counts(store)
                text = format_table([{**c, "spec_hash": c["spec_hash"][:12]} for c in counts], SWEEP_COLUMNS)
                _export(text, json_path, csv_path, lambda: sweep_report.export_records(store, spec_hash),
                        lambda: sweep_report.flat_records(store, spec_hash), sweeps=counts)
                return
            chosen = sweep_report.choose_sweep(store, prefix)
            assert param is not None
            summary = sweep_report.summarize(store, chosen["spec_hash"], metric, param, group)
        except SpecError as exc:
            raise click.UsageError(str(exc)) from None
    columns = [*([Column(group, group)] if group else []), Column(param, param), *SUMMARY_COLUMNS]
    text = (f"{metric} against {param} (sweep {chosen['spec_hash'][:12]}, {chosen['study']}; over seeds and "
            f"other parameters, done points)\n{format_table(summary, columns)}")
    finite = sweep_report.decode_finite({"rows": summary})["rows"]
    _export(text, json_path, csv_path, lambda: finite, lambda: finite, spec_hash=chosen["spec_hash"],
            metric=metric, param=param, group=group)
    if plot_path:  # --plot's callback has checked that matplotlib imports
        sweep_report.plot_summary(summary, metric, param, group, plot_path, band=band,
                                  title=f"{chosen['study']}: {metric} against {param}")


def _export(text: str, json_path: Optional[str], csv_path: Optional[str], json_records: Any, csv_records: Any,
            **extra: Any) -> None:
    if json_path == "-" and csv_path == "-":
        raise click.UsageError("--json and --csv cannot both write to standard output ('-')")
    if "-" not in (json_path, csv_path):
        click.echo(text)
    if json_path:
        write_json(json_path, json_records(), backend=None, seed=None, **extra)
    if csv_path:
        write_csv(csv_path, csv_records())


@sweep.command("studies", short_help="List the studies, their parameters and metrics.")
def studies() -> None:
    """List the registered studies, their parameters (default, allowed values) and metrics."""
    from ..sweep import STUDIES  # noqa: PLC0415 - keeps --help instant

    blocks = []
    for study in STUDIES.values():
        lines = [f"{study.name}: {study.doc}", f"  metrics: {', '.join(study.metrics)}"]
        for name, param in (study.params or {}).items():
            lines.append(f"  {name} = {param.default!r}: {param.doc}; {param.allowed()}")
        blocks.append("\n".join(lines))
    blocks.append("module:function: a function of your own, (config, seed) -> dict of metrics; "
                  "parameters are not checked")
    click.echo("\n\n".join(blocks))
