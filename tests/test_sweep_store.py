"""The results database: standard JSON with non-finite floats round-tripped, one row per point,
atomic writes, attempts counted, and a file that is not a database refused."""

import json
import math
import sqlite3

import numpy
import pytest

from cim_emu.sweep import Store, load_spec, run_point
from cim_emu.sweep.store import decode, encode


def test_non_finite_floats_are_standard_json_and_come_back():
    value = {"a": math.inf, "b": [-math.inf, 1.5, {"c": math.nan}], "d": "text", "e": None}
    text = encode(value)
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    back = decode(text)
    assert back["a"] == math.inf and back["b"][0] == -math.inf and math.isnan(back["b"][2]["c"])
    assert back["b"][1] == 1.5 and back["d"] == "text" and back["e"] is None


def test_random_metrics_round_trip_bit_for_bit(tmp_path):
    rng = numpy.random.default_rng()
    values = rng.standard_normal(50) * 10.0 ** rng.integers(-300, 300, 50)
    metrics = {f"m{i}": float(v) for i, v in enumerate(values)}
    spec = load_spec({"study": "echo", "grid": {"value": [1.0]}})
    with Store(tmp_path / "s.sqlite") as store:
        store.write(spec.spec_hash, "echo", spec.points[0], {"status": "done", "metrics": metrics, "error": None,
                                                             "duration_s": 0.1})
        (row,) = store.rows()
    assert row["metrics"] == metrics and row["config"] == spec.points[0].config


def test_a_point_has_one_row_and_writing_it_again_counts_an_attempt(tmp_path):
    spec = load_spec({"study": "echo", "grid": {"value": [1.0, 2.0]}, "seeds": 2})
    with Store(tmp_path / "s.sqlite") as store:
        for point in spec.points:
            store.write(spec.spec_hash, spec.study, point, run_point("echo", point.config, point.seed))
        failed = {"status": "failed", "metrics": None, "error": "boom", "duration_s": 0.0}
        store.write(spec.spec_hash, spec.study, spec.points[1], failed)
        rows = list(store.rows(spec.spec_hash))
        assert [r["attempts"] for r in rows] == [1, 2, 1, 1]
        assert rows[1]["status"] == "failed" and rows[1]["metrics"] is None and rows[1]["error"] == "boom"
        assert store.statuses(spec.spec_hash) == {p.key: ("failed" if p.position == 1 else "done")
                                                  for p in spec.points}
        mode = store.connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_write_that_fails_leaves_no_row(tmp_path):
    spec = load_spec({"study": "echo", "grid": {"value": [1.0]}})
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(sqlite3.IntegrityError):  # status outside done/failed: the CHECK refuses it
            store.write(spec.spec_hash, "echo", spec.points[0], {"status": "maybe", "metrics": {}, "error": None,
                                                                 "duration_s": 0.0})
        assert list(store.rows()) == []
        assert not store.connection.in_transaction


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    (tmp_path / "x.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="is not a cim-emu sweep database"):
        Store(tmp_path / "x.sqlite")


def test_a_database_of_something_else_or_a_missing_folder_is_refused(tmp_path):
    with sqlite3.connect(tmp_path / "other.sqlite") as connection:
        connection.execute("CREATE TABLE points (name TEXT)")
    with pytest.raises(ValueError, match="its table 'points' lacks attempts, cim_emu_version"):
        Store(tmp_path / "other.sqlite")
    with pytest.raises(ValueError, match="cannot open .*nowhere.*as a database"):
        Store(tmp_path / "nowhere" / "s.sqlite")
