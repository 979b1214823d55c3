"""The results database: SQLite (the standard library's ``sqlite3``), one file, one row per point.

Schema (``docs/sweep.md`` explains every column)::

    sweeps(spec_hash TEXT PRIMARY KEY, study TEXT, name TEXT, spec TEXT (JSON), points INTEGER,
           created_at TEXT, cim_emu_version TEXT)
    points(id INTEGER PRIMARY KEY, spec_hash TEXT, point_key TEXT, point_index INTEGER, study TEXT,
           config TEXT (JSON), seed INTEGER, status TEXT ('done' | 'failed'), metrics TEXT (JSON or NULL),
           error TEXT, duration_s REAL, attempts INTEGER, cim_emu_version TEXT, host TEXT, pid INTEGER,
           finished_at TEXT, UNIQUE (spec_hash, point_key))

The database is in WAL mode; every write is one transaction (a point's row lands whole or not
at all, whatever interrupts the driver), and only the driver writes (workers return their
results to it), so there is never a writer waiting on a lock. A point not yet run has no row;
a point run again (``--retry-failed``) replaces its row and counts one more attempt.

JSON columns are standard JSON: a non-finite float is written as the string ``"inf"``,
``"-inf"`` or ``"nan"`` and read back as the float (:func:`decode`).
"""

from __future__ import annotations

import datetime
import json
import math
import sqlite3
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from .._version import __version__

SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    spec_hash TEXT PRIMARY KEY,
    study TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    points INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    cim_emu_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY,
    spec_hash TEXT NOT NULL,
    point_key TEXT NOT NULL,
    point_index INTEGER NOT NULL,
    study TEXT NOT NULL,
    config TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    metrics TEXT,
    error TEXT,
    duration_s REAL,
    attempts INTEGER NOT NULL DEFAULT 1,
    cim_emu_version TEXT NOT NULL,
    host TEXT,
    pid INTEGER,
    finished_at TEXT NOT NULL,
    UNIQUE (spec_hash, point_key)
);
CREATE INDEX IF NOT EXISTS points_by_status ON points (spec_hash, status);
"""

#: The columns of the ``points`` table.
COLUMNS = ("id", "spec_hash", "point_key", "point_index", "study", "config", "seed", "status", "metrics", "error",
           "duration_s", "attempts", "cim_emu_version", "host", "pid", "finished_at")

#: Strings that stand for the non-finite floats in the JSON columns.
NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def encode(value: Any) -> str:
    """Standard JSON text of ``value``, non-finite floats as strings (see the module docstring)."""
    return json.dumps(_finite(value), sort_keys=True, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def decode(text: Optional[str]) -> Any:
    """Inverse of :func:`encode` (``None`` for SQL NULL)."""
    return None if text is None else _infinite(json.loads(text))


def _infinite(value: Any) -> Any:
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    if isinstance(value, dict):
        return {k: _infinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_infinite(v) for v in value]
    return value


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class Store:
    """One results database (created with its tables when missing). Use as a context manager."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        try:
            self.connection = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        except sqlite3.Error as exc:
            raise ValueError(f"cannot open {self.path} as a database: {exc}") from None
        try:
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")
            columns = {row[1] for row in self.connection.execute("PRAGMA table_info(points)")}
            missing = sorted(set(COLUMNS) - columns) if columns else []
            if not missing:
                self.connection.executescript(SCHEMA)
        except sqlite3.OperationalError as exc:
            self.connection.close()
            raise ValueError(f"cannot open {self.path} as a database: {exc}") from None
        except sqlite3.DatabaseError as exc:
            self.connection.close()
            raise ValueError(f"{self.path} is not a cim-emu sweep database: {exc}") from None
        if missing:
            self.connection.close()
            raise ValueError(f"{self.path} is not a cim-emu sweep database: its table 'points' lacks "
                             f"{', '.join(missing)}")
        self.connection.row_factory = sqlite3.Row

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def _transaction(self, sql: str, parameters: tuple) -> None:
        """One statement in its own transaction (committed, or rolled back on any error)."""
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(sql, parameters)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def register(self, spec_hash: str, study: str, name: str, spec: dict, points: int) -> None:
        """Record a sweep (once; running it again keeps the first record)."""
        self._transaction("INSERT OR IGNORE INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (spec_hash, study, name, encode(spec), points, _now(), __version__))

    def statuses(self, spec_hash: str) -> dict:
        """``point_key -> status`` of the points of a sweep that have a row."""
        rows = self.connection.execute("SELECT point_key, status FROM points WHERE spec_hash = ?", (spec_hash,))
        return {row["point_key"]: row["status"] for row in rows}

    def write(self, spec_hash: str, study: str, point: Any, result: dict) -> None:
        """Store one point's ``result`` (:func:`cim_emu.sweep.studies.run_point`), atomically;
        a row already there (a failure run again) is replaced, its ``attempts`` counted up."""
        self._transaction(
            "INSERT INTO points (spec_hash, point_key, point_index, study, config, seed, status, metrics, error, "
            "duration_s, attempts, cim_emu_version, host, pid, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?) "
            "ON CONFLICT (spec_hash, point_key) DO UPDATE SET status = excluded.status, "
            "metrics = excluded.metrics, error = excluded.error, duration_s = excluded.duration_s, "
            "attempts = points.attempts + 1, cim_emu_version = excluded.cim_emu_version, host = excluded.host, "
            "pid = excluded.pid, finished_at = excluded.finished_at",
            (spec_hash, point.key, point.position, study, encode(point.config), point.seed, result["status"],
             None if result["metrics"] is None else encode(result["metrics"]), result["error"],
             result["duration_s"], result.get("version", __version__), result.get("host"), result.get("pid"),
             _now()))

    def sweeps(self) -> list:
        """Every recorded sweep, as dicts (``spec`` decoded), oldest first."""
        rows = self.connection.execute("SELECT * FROM sweeps ORDER BY created_at")
        return [{**dict(row), "spec": decode(row["spec"])} for row in rows]

    def rows(self, spec_hash: Optional[str] = None) -> Iterator[dict]:
        """The points' rows (``config`` and ``metrics`` decoded), in sweep and point order."""
        where, parameters = ("WHERE spec_hash = ?", (spec_hash,)) if spec_hash else ("", ())
        for row in self.connection.execute(f"SELECT * FROM points {where} ORDER BY spec_hash, point_index",
                                           parameters):
            yield {**dict(row), "config": decode(row["config"]), "metrics": decode(row["metrics"])}
