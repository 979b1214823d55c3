"""Reading a results database back: export (JSON-ready and flat CSV rows), summaries and the plot.

* :func:`export_records`: one record per row, ``config`` and ``metrics`` as nested objects,
  non-finite floats as the strings ``"inf"``, ``"-inf"``, ``"nan"`` (standard JSON);
* :func:`flat_records`: the same flattened for CSV: ``config.NAME`` and ``metrics.NAME`` columns;
* :func:`summarize`: a metric against a parameter (optionally per value of a second, ``group``),
  over the seeds and any other parameters: count, median, min, max and quartiles of the done points;
* :func:`plot_summary`: the median against the parameter with a band from min to max (or the
  interquartile range), one line per group (matplotlib, the ``plot`` extra).
"""

from __future__ import annotations

import json
import math
from typing import Any, Optional, Sequence

import numpy

from .._optional import require
from .params import SpecError
from .store import Store, encode

#: Columns of a row besides ``config`` and ``metrics``, in the order exports write them.
ROW_COLUMNS = ("spec_hash", "point_key", "point_index", "study", "seed", "status", "error", "duration_s", "attempts",
               "cim_emu_version", "host", "pid", "finished_at")


def choose_sweep(store: Store, prefix: Optional[str]) -> dict:
    """The sweep whose spec hash starts with ``prefix`` (``None``: the database's only sweep)."""
    sweeps = store.sweeps()
    chosen = [s for s in sweeps if prefix is None or s["spec_hash"].startswith(prefix)]
    if len(chosen) == 1:
        return chosen[0]
    known = ", ".join(f"{s['spec_hash'][:12]} ({s['study']}{', ' + s['name'] if s['name'] else ''})" for s in sweeps)
    if not chosen:
        raise SpecError(f"no sweep {'starts with ' + repr(prefix) if prefix else 'in ' + str(store.path)}; "
                        f"sweeps: {known or 'none'}")
    raise SpecError(f"{len(chosen)} sweeps match; choose one by its hash (--sweep): {known}")


def sweep_counts(store: Store) -> list:
    """Per sweep: hash, study, name, points, done, failed, missing."""
    counts = []
    for sweep in store.sweeps():
        statuses = list(store.statuses(sweep["spec_hash"]).values())
        done, failed = statuses.count("done"), statuses.count("failed")
        counts.append({"spec_hash": sweep["spec_hash"], "study": sweep["study"], "name": sweep["name"],
                       "points": sweep["points"], "done": done, "failed": failed,
                       "missing": sweep["points"] - done - failed})
    return counts


def export_records(store: Store, spec_hash: Optional[str] = None) -> list:
    """Every row (of one sweep, or all), JSON-ready: see the module docstring."""
    return [decode_finite({**{k: row[k] for k in ROW_COLUMNS}, "config": row["config"], "metrics": row["metrics"]})
            for row in store.rows(spec_hash)]


def decode_finite(record: dict) -> Any:
    """``record`` with non-finite floats replaced by their strings (standard JSON)."""
    return json.loads(encode(record))


def flat_records(store: Store, spec_hash: Optional[str] = None) -> list:
    """The rows flattened for CSV: ``config.NAME`` and ``metrics.NAME`` columns beside the others."""
    flat = []
    for record in export_records(store, spec_hash):
        row = {k: record[k] for k in ROW_COLUMNS}
        row.update({f"config.{k}": _cell(v) for k, v in (record["config"] or {}).items()})
        row.update({f"metrics.{k}": _cell(v) for k, v in (record["metrics"] or {}).items()})
        flat.append(row)
    return flat


def _cell(value: Any) -> Any:
    return encode(value) if isinstance(value, (list, dict)) else value


def _sort_key(value: Any) -> tuple:
    """Numbers first (by value), then the rest by their text; ``None`` first of all."""
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, float(value), "")
    return (2, 0.0, str(value))


def summarize(store: Store, spec_hash: str, metric: str, param: str, group: Optional[str] = None) -> list:
    """Per value of ``param`` (and of ``group``): ``n``, ``median``, ``min``, ``max``, ``q1``,
    ``q3`` of ``metric`` over the done points (seeds, and every other parameter pooled).

    :class:`SpecError` names the parameter or metric when the sweep has none by that name."""
    rows = [r for r in store.rows(spec_hash) if r["status"] == "done"]
    if not rows:
        raise SpecError("the sweep has no done points to summarize")
    for name in (param, group):
        if name is not None and name not in rows[0]["config"]:
            raise SpecError(f"the sweep has no parameter {name!r}; parameters: {', '.join(rows[0]['config'])}")
    metrics = sorted({k for r in rows for k in (r["metrics"] or {})})
    if metric not in metrics:
        raise SpecError(f"the sweep has no metric {metric!r}; metrics: {', '.join(metrics)}")
    values: dict = {}
    for row in rows:
        value = row["metrics"].get(metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        where = (row["config"][group] if group else None, row["config"][param])
        values.setdefault(tuple(tuple(v) if isinstance(v, list) else v for v in where), []).append(float(value))
    summary = []
    for (group_value, param_value), found in sorted(values.items(), key=lambda kv: (_sort_key(kv[0][0]),
                                                                                   _sort_key(kv[0][1]))):
        array = numpy.array(found)
        finite = array[numpy.isfinite(array)]
        quartiles = numpy.percentile(finite, [25, 50, 75]) if finite.size else [math.nan] * 3
        record = {param: param_value, "n": len(found), "median": float(numpy.median(array)),
                  "min": float(array.min()), "max": float(array.max()),
                  "q1": float(quartiles[0]), "q3": float(quartiles[2])}
        summary.append({group: group_value, **record} if group else record)
    return summary


def plot_summary(summary: Sequence[dict], metric: str, param: str, group: Optional[str], path: str,
                 band: str = "minmax", title: str = "") -> None:
    """Draw the median of ``metric`` against ``param`` with a ``band`` (``"minmax"`` or ``"iqr"``)
    over seeds, one line per ``group`` value, and save it to ``path`` (matplotlib's Agg canvas).
    A parameter whose values are not all numbers is drawn on categorical positions."""
    if band not in ("minmax", "iqr"):
        raise ValueError(f"band must be 'minmax' or 'iqr'; got {band!r}")
    figure_module = require("matplotlib.figure", context="the sweep plot needs")
    xs = list(dict.fromkeys(r[param] for r in summary))
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    positions = {x: (float(x) if numeric else i) for i, x in enumerate(sorted(xs, key=_sort_key))}
    low, high = ("min", "max") if band == "minmax" else ("q1", "q3")
    figure = figure_module.Figure(figsize=(6.4, 4.2))
    axes = figure.add_subplot()
    for group_value in dict.fromkeys(r.get(group) if group else None for r in summary):
        part = [r for r in summary if not group or r[group] == group_value]
        x = [positions[r[param]] for r in part]
        label = f"{group} = {group_value}" if group else metric
        line, = axes.plot(x, [r["median"] for r in part], marker="o", label=label)
        axes.fill_between(x, [r[low] for r in part], [r[high] for r in part], alpha=0.2, color=line.get_color())
    if not numeric:
        axes.set_xticks(list(positions.values()), [str(x) for x in positions])
    elif len(xs) > 2 and min(xs) > 0 and max(xs) / min(xs) > 100:
        axes.set_xscale("log")
    axes.set_xlabel(param)
    axes.set_ylabel(f"{metric} (median; band: {'min-max' if band == 'minmax' else 'interquartile range'})")
    axes.set_title(title or f"{metric} against {param}")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
