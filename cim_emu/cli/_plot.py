"""Plots of the command line (``--plot PATH``), drawn with matplotlib, an optional extra.

Figures are drawn on matplotlib's Agg canvas through :class:`matplotlib.figure.Figure`, never
through ``pyplot``: no display, no global figure state. The file format follows PATH's suffix
(``.png``, ``.svg``, ``.pdf``, ...). The ``--plot`` option checks that matplotlib imports and
that it can write PATH's format before any work starts, so a missing extra costs nothing.
"""

from __future__ import annotations

import math
import pathlib
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import click

from .._optional import require

#: What to install when matplotlib is missing.
PLOT_EXTRA = "cim-emu[plot]"


def _matplotlib() -> Any:
    """The matplotlib module; a usage error naming the extra when it does not import."""
    matplotlib = require("matplotlib", context="--plot needs", error=click.UsageError)
    require("matplotlib.figure", context="--plot needs", error=click.UsageError)  # the part the plots use
    return matplotlib


def _check_plot_path(context: click.Context, parameter: click.Parameter, value: Optional[str]) -> Optional[str]:
    """``--plot``'s callback: matplotlib must import and PATH's suffix must name a format it writes."""
    if value is None:
        return None
    _matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase  # noqa: PLC0415

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = pathlib.Path(value).suffix.lstrip(".").lower()
    if suffix not in formats:
        raise click.BadParameter(
            f"{value!r} does not end in a suffix matplotlib writes ({', '.join('.' + f for f in sorted(formats))})",
            context, parameter)
    return value


def plot_option(what: str) -> Callable[[Callable], Callable]:
    """``--plot PATH``: draw ``what`` into an image file (needs matplotlib)."""
    def decorate(command: Callable) -> Callable:
        return click.option(
            "--plot", "plot_path", metavar="PATH.png", type=click.Path(dir_okay=False),
            callback=_check_plot_path,
            help=f"Also draw {what} into PATH (PNG, or any format matplotlib writes, from the suffix). "
                 f"Needs matplotlib: install {PLOT_EXTRA}.",
        )(command)
    return decorate


def _figure(panels: int, height: float = 4.6) -> tuple[Any, list]:
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(6.0 * panels, height), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    return figure, list(axes)


def _save(figure: Any, path: str) -> None:
    try:
        figure.savefig(path, dpi=120)
    except OSError as exc:
        raise click.FileError(path, hint=exc.strerror or str(exc)) from None


def _series(records: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Any],
            x: str, y: str) -> dict:
    """``{key(record): (xs, ys)}`` with the points of each series sorted by x."""
    points: dict = {}
    for record in records:
        points.setdefault(key(record), []).append((record[x], record[y]))
    return {name: tuple(zip(*sorted(pairs))) for name, pairs in points.items()}


# -- cim-emu accuracy ----------------------------------------------------------------------------


def plot_accuracy(records: Sequence[Mapping[str, Any]], path: str) -> None:
    """A panel per section that ran: the ReRAM product's SNR against ADC bits per device model
    (the ADC sweep), and the digits model's test accuracy against ADC bits per device model,
    with the float and 8-bit digital accuracies as reference lines."""
    sweep = [r for r in records if r["check"] == "reram-adc-sweep" and math.isfinite(r["snr_db"])]
    digits = [r for r in records if r["check"] == "reram-digits"]
    panels = [(draw, chosen) for draw, chosen in ((_plot_snr, sweep), (_plot_digits, digits)) if chosen]
    figure, axes = _figure(max(1, len(panels)))
    for (draw, chosen), panel in zip(panels, axes):
        draw(panel, chosen)
    _save(figure, path)


def _plot_snr(axes: Any, records: Sequence[Mapping[str, Any]]) -> None:
    for devices, (bits, values) in _series(records, lambda r: r["devices"], "adc_bits", "snr_db").items():
        axes.plot(bits, values, marker="o", label=devices)
    axes.set(xlabel="ADC bits", ylabel="SNR of x @ W (dB)",
             title="ReRAM crossbar product: SNR against ADC resolution")
    _finish_adc_axes(axes, records)


def _finish_adc_axes(axes: Any, records: Sequence[Mapping[str, Any]]) -> None:
    """Integer ADC-bit ticks (a lossless ADC marked as such), a grid and the legend."""
    lossless = {r["adc_bits"] for r in records if r.get("adc_lossless")}
    ticks = sorted({r["adc_bits"] for r in records})
    axes.set_xticks(ticks, [f"{b}\nlossless" if b in lossless else str(b) for b in ticks])
    axes.grid(True, alpha=0.3)
    axes.legend(title="devices")


def _plot_digits(axes: Any, records: Sequence[Mapping[str, Any]]) -> None:
    analog = [r for r in records if r["model"] == "analog"]
    for devices, (bits, values) in _series(analog, lambda r: r["devices"], "adc_bits", "accuracy").items():
        axes.plot(bits, values, marker="o", label=devices)
    for model, style in (("float", "--"), ("digital", ":")):
        for record in (r for r in records if r["model"] == model):
            axes.axhline(record["accuracy"], color="black", linestyle=style, linewidth=1,
                         label=f"{'float' if model == 'float' else '8-bit digital'} {record['accuracy']:.3f}")
    axes.axhline(0.1, color="grey", linestyle="-.", linewidth=1, label="chance 0.1")
    axes.set(xlabel="ADC bits", ylabel="test accuracy", ylim=(0, 1.02),
             title="Digits MLP (64-32-10) on emulated crossbars")
    _finish_adc_axes(axes, analog)


# -- cim-emu bench -------------------------------------------------------------------------------

#: Axis labels and title of the throughput panels, per engine.
_THROUGHPUT_AXES = {
    "ambit": ("row size (log scale)", "bytes of result per second", "Ambit bulk bitwise ops"),
    "reram": ("product size, batch x k x n (log scale of MACs)", "multiply-accumulates per second",
              "ReRAM crossbar products"),
}


def plot_throughput(records: Sequence[Mapping[str, Any]], path: str) -> None:
    """Throughput against size, one panel per engine (log-log): the emulator per case (solid),
    the native baseline (dashed, hollow squares) and the modelled hardware (dotted)."""
    engines = list(dict.fromkeys(r["engine"] for r in records))
    figure, axes = _figure(len(engines), height=6.0)  # room for the legends below
    for engine, panel in zip(engines, axes):
        mine = [r for r in records if r["engine"] == engine]
        colours = iter(f"C{i}" for i in range(10))
        for baseline, (work, rate) in _series(mine, lambda r: r["baseline"], "work", "baseline_per_s").items():
            panel.plot(*_fastest(work, rate), marker="s", markersize=9, markerfacecolor="none", linestyle="--",
                       color=next(colours), label=baseline)
        for case, (work, rate) in _series(mine, lambda r: r["case"], "work", "emulator_per_s").items():
            panel.plot(work, rate, marker="o", color=next(colours), label=f"emulator {case}")
        for cases, (work, rate) in _modelled_series(mine).items():
            panel.plot(work, rate, marker="^", linestyle=":", color=next(colours),
                       label=f"modelled hardware {cases}")
        xlabel, ylabel, title = _THROUGHPUT_AXES[engine]
        panel.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel,
                  title=f"{title} ({mine[0]['baseline'].split('.')[0]} backend)")
        _size_ticks(panel, mine)
        panel.grid(True, which="both", alpha=0.3)
        # below the axes: curves span the whole width and heights, so no corner is free
        panel.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    _save(figure, path)


def _size_ticks(axes: Any, records: Sequence[Mapping[str, Any]]) -> None:
    """x ticks at the measured sizes, labelled as the records name them (no minor labels)."""
    from matplotlib.ticker import NullLocator  # noqa: PLC0415

    sizes = dict(sorted({r["work"]: r["size"] for r in records}.items()))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xticks(list(sizes), list(sizes.values()), rotation=20 if len(sizes) > 3 else 0)
    if len(sizes) == 1:  # a log axis around one point: widen it so the point sits in the middle
        (work,) = sizes
        axes.set_xlim(work / 2, work * 2)


def _fastest(work: Sequence[float], rate: Sequence[float]) -> tuple[list, list]:
    """One point per size: the best rate measured there (a baseline timed beside several cases)."""
    best: dict = {}
    for w, r in zip(work, rate):
        best[w] = max(r, best.get(w, 0.0))
    return list(best), list(best.values())


def _modelled_series(records: Sequence[Mapping[str, Any]]) -> dict:
    """The modelled throughput per case, cases with the same curve merged under one label."""
    curves: dict = {}
    for case, series in _series(records, lambda r: r["case"], "work", "modelled_per_s").items():
        curves.setdefault(series, []).append(case)
    return {", ".join(cases): series for series, cases in curves.items()}
