"""Running sweeps: the serial run and a 2-worker LocalCluster agree point for point; a worker that
dies loses and duplicates nothing; a killed driver leaves a database that the next run completes
with only the missing points; failures are stored, skipped, and retried on request."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pytest

from cim_emu.sweep import Store, load_spec, run_point, run_sweep
from cim_emu.sweep.runner import QUIET_LOCAL_CLUSTER, local_cluster

TESTS = str(Path(__file__).resolve().parent)


# -- studies of these tests (imported by name, module "test_sweep_runner", on the workers too) ----

def die_once(config, seed):
    """Kills its own worker process the first time it runs the point ``value == victim``."""
    if config["value"] == config["victim"]:
        try:
            os.close(os.open(config["marker"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            pass
        else:
            os._exit(1)
    return {"square": config["value"] ** 2 + seed}


def slow_logged(config, seed):
    """Sleeps a little and appends ``TAG value seed`` to a log (TAG: the run, from the environment)."""
    time.sleep(config["sleep"])
    with open(config["log"], "a", encoding="utf-8") as log:
        log.write(f"{os.environ.get('SWEEP_TEST_TAG', '?')} {config['value']} {seed}\n")
    return {"value": config["value"], "seed": seed}


def fails_on_odd(config, seed):
    if config["value"] % 2 and not os.path.exists(config.get("healed", "/nonexistent")):
        raise RuntimeError(f"odd value {config['value']}")
    return {"value": config["value"]}


@pytest.fixture(scope="module")
def cluster():
    """A 2-worker LocalCluster that can import this module (PYTHONPATH), shut down after the module."""
    pytest.importorskip("distributed")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, old]))
    try:
        local = local_cluster(2)
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    yield local
    local.close()


def _stored(database, spec_hash=None):
    with Store(database) as store:
        return list(store.rows(spec_hash))


def test_a_two_worker_local_cluster_equals_the_serial_run_point_for_point(tmp_path):
    pytest.importorskip("distributed")
    rng = numpy.random.default_rng()
    seeds = sorted(set(int(s) for s in rng.integers(0, 2**63, 3)))
    spec = load_spec({"study": "reram-product", "seeds": seeds,
                      "grid": {"adc_bits": [int(rng.integers(3, 9)), "lossless"],
                               "devices": ["ideal", "reram_wan2022"], "drift_time": [None, 3600.0]},
                      "fixed": {"k": 128, "n": 32}})
    serial = run_sweep(spec, tmp_path / "serial.sqlite", mode="serial")
    local = run_sweep(spec, tmp_path / "local.sqlite", mode="local", workers=2)
    assert serial.done == local.done == len(spec.points) and local.workers == 2
    a, b = _stored(tmp_path / "serial.sqlite"), _stored(tmp_path / "local.sqlite")
    assert [(r["point_key"], r["config"], r["seed"], r["metrics"]) for r in a] == \
           [(r["point_key"], r["config"], r["seed"], r["metrics"]) for r in b]
    assert len({r["pid"] for r in b}) == 2  # both workers ran points
    assert {r["pid"] for r in a} == {os.getpid()}
    for point in spec.points[::5]:  # and each point alone gives the same metrics
        assert run_point(spec.study, point.config, point.seed)["metrics"] == b[point.position]["metrics"]


def _dask_settings():
    import dask  # noqa: PLC0415 - on a worker

    return {key: dask.config.get(key) for key in QUIET_LOCAL_CLUSTER}


def test_the_embedded_cluster_s_workers_run_with_the_quiet_settings(cluster):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(cluster) as client:
        on_workers = client.run(_dask_settings)
    assert len(on_workers) == 2
    for settings in on_workers.values():
        assert settings == QUIET_LOCAL_CLUSTER
    assert _dask_settings() != QUIET_LOCAL_CLUSTER  # set while the cluster started, not left behind


def test_float_studies_give_the_same_bits_on_workers_as_alone(tmp_path, cluster):
    pytest.importorskip("sklearn")
    spec = load_spec({"study": "digits-mlp", "seeds": [3],
                      "grid": {"adc_bits": [5, "lossless"], "devices": ["ideal", "reram_wan2022"],
                               "drift_time": [None, 1e5]}})
    assert run_sweep(spec, tmp_path / "s.sqlite", mode=cluster.scheduler_address).done == 8
    rows = _stored(tmp_path / "s.sqlite")
    assert [r["metrics"] for r in rows] == [run_point(spec.study, p.config, p.seed)["metrics"] for p in spec.points]


def test_the_same_bits_on_an_existing_cluster_for_applications(tmp_path, cluster):
    spec = load_spec({"study": "simdram-app", "seeds": [5, 6],
                      "grid": {"app": ["bitweaving-scan", "bnn-layer"], "flip_probability": [0.0, 0.02]}})
    run_sweep(spec, tmp_path / "serial.sqlite", mode="serial")
    run_sweep(spec, tmp_path / "cluster.sqlite", mode=cluster.scheduler_address)
    a, b = _stored(tmp_path / "serial.sqlite"), _stored(tmp_path / "cluster.sqlite")
    assert [r["metrics"] for r in a] == [r["metrics"] for r in b]
    assert any(r["metrics"]["wrong_fraction"] > 0 for r in a)  # the faults did something


def test_a_worker_that_dies_loses_nothing_and_duplicates_nothing(tmp_path, cluster):
    marker = tmp_path / "killed"
    values = list(range(12))
    spec = load_spec({"study": "test_sweep_runner:die_once", "seeds": [0, 1],
                      "grid": {"value": values}, "fixed": {"victim": 5, "marker": str(marker)}})
    summary = run_sweep(spec, tmp_path / "s.sqlite", mode=cluster.scheduler_address)
    assert marker.exists()  # a worker did die
    rows = _stored(tmp_path / "s.sqlite")
    assert summary.done == len(rows) == len(spec.points) and summary.failed == 0
    assert sorted((r["config"]["value"], r["seed"]) for r in rows) == sorted((v, s) for v in values for s in (0, 1))
    assert all(r["attempts"] == 1 and r["status"] == "done" for r in rows)
    assert all(r["metrics"] == {"square": r["config"]["value"] ** 2 + r["seed"]} for r in rows)


def _count_rows(database):
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.mark.parametrize("mode", ["serial", "local"])
def test_a_killed_driver_leaves_a_database_the_next_run_completes_with_only_the_missing_points(tmp_path, mode):
    if mode == "local":
        pytest.importorskip("distributed")
    log, database = tmp_path / "log.txt", tmp_path / "s.sqlite"
    spec_data = {"study": "test_sweep_runner:slow_logged", "seeds": [0, 1],
                 "grid": {"value": list(range(10))}, "fixed": {"sleep": 0.05, "log": str(log)}}
    script = ("from cim_emu.sweep import sweep; "
              f"sweep({spec_data!r}, {str(database)!r}, mode={mode!r}, workers={None if mode == 'serial' else 2})")

    def driver(tag):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")])),
               "SWEEP_TEST_TAG": tag}
        return subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)

    first = driver("first")
    deadline = time.monotonic() + 60
    while _count_rows(database) < 4 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)  # the driver and, with a cluster, its workers
    first.wait()
    before = {(r["config"]["value"], r["seed"]) for r in _stored(database)}
    assert 4 <= len(before) < 20
    assert driver("second").wait(timeout=120) == 0
    rows = _stored(database)
    assert len(rows) == 20 and all(r["attempts"] == 1 and r["status"] == "done" for r in rows)
    second = [tuple(map(int, line.split()[1:])) for line in log.read_text().splitlines() if line.startswith("second")]
    assert sorted(second) == sorted({(v, s) for v in range(10) for s in (0, 1)} - before)


def test_failures_are_stored_skipped_on_resume_and_run_again_with_retry_failed(tmp_path):
    spec = load_spec({"study": "test_sweep_runner:fails_on_odd", "grid": {"value": list(range(6))},
                      "fixed": {"healed": str(tmp_path / "healed")}})
    first = run_sweep(spec, tmp_path / "s.sqlite", mode="serial")
    assert (first.done, first.failed) == (3, 3)
    rows = _stored(tmp_path / "s.sqlite")
    assert all("RuntimeError: odd value" in r["error"] for r in rows if r["status"] == "failed")
    again = run_sweep(spec, tmp_path / "s.sqlite", mode="serial")
    assert (again.skipped, again.done, again.failed) == (6, 0, 0)
    (tmp_path / "healed").touch()
    retried = run_sweep(spec, tmp_path / "s.sqlite", mode="serial", retry_failed=True)
    assert (retried.skipped, retried.done, retried.failed) == (3, 3, 0)
    rows = _stored(tmp_path / "s.sqlite")
    assert len(rows) == 6 and all(r["status"] == "done" and r["error"] is None for r in rows)
    assert sorted(r["attempts"] for r in rows) == [1, 1, 1, 2, 2, 2]


def returns_a_list(config, seed):
    return [config["value"]]


def returns_an_object(config, seed):
    return {"thing": object()}


@pytest.mark.parametrize("function, message", [("returns_a_list", "must return a dict of metrics"),
                                               ("returns_an_object", "metrics.thing holds a object")])
def test_a_study_that_returns_no_dict_or_unjsonable_metrics_is_a_failed_point(tmp_path, function, message):
    spec = load_spec({"study": f"test_sweep_runner:{function}", "grid": {"value": [1]}})
    summary = run_sweep(spec, tmp_path / "s.sqlite", mode="serial")
    assert summary.failed == 1
    assert message in _stored(tmp_path / "s.sqlite")[0]["error"]


def test_without_dask_a_cluster_sweep_names_the_extra_and_serial_still_runs(tmp_path, monkeypatch):
    from cim_emu._optional import MissingDependencyError

    monkeypatch.setitem(sys.modules, "distributed", None)
    spec = load_spec({"study": "echo", "grid": {"value": [1.0, 2.0]}})
    with pytest.raises(MissingDependencyError, match=r"install cim-emu\[sweep\]"):
        run_sweep(spec, tmp_path / "s.sqlite", mode="local")
    assert run_sweep(spec, tmp_path / "s.sqlite", mode="serial").done == 2


def interrupt_at_three(config, seed):
    if config["value"] == 3 and not os.path.exists(config["resumed"]):
        raise KeyboardInterrupt
    return {"value": config["value"]}


def test_ctrl_c_leaves_the_points_before_it_and_the_next_run_does_the_rest(tmp_path):
    spec = load_spec({"study": "test_sweep_runner:interrupt_at_three", "grid": {"value": list(range(6))},
                      "fixed": {"resumed": str(tmp_path / "resumed")}})
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path / "s.sqlite", mode="serial")
    assert [r["config"]["value"] for r in _stored(tmp_path / "s.sqlite")] == [0, 1, 2]
    (tmp_path / "resumed").touch()
    summary = run_sweep(spec, tmp_path / "s.sqlite", mode="serial")
    assert (summary.skipped, summary.done) == (3, 3)
    assert [r["config"]["value"] for r in _stored(tmp_path / "s.sqlite")] == list(range(6))


def test_an_unreachable_scheduler_is_a_connection_error(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from cim_emu.sweep import runner

    monkeypatch.setattr(runner, "CONNECT_TIMEOUT_S", 1)
    spec = load_spec({"study": "echo", "grid": {"value": [1.0]}})
    with pytest.raises(ConnectionError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_sweep(spec, tmp_path / "s.sqlite", mode="tcp://127.0.0.1:9")


def test_a_second_driver_on_the_same_database_is_refused(tmp_path):
    import fcntl

    from cim_emu.sweep.runner import DatabaseBusyError

    spec = load_spec({"study": "echo", "grid": {"value": [1.0]}})
    with open(f"{tmp_path / 's.sqlite'}.lock", "a+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running driver holds it
        with pytest.raises(DatabaseBusyError, match="another cim-emu sweep is running into"):
            run_sweep(spec, tmp_path / "s.sqlite", mode="serial")
        fcntl.flock(other, fcntl.LOCK_UN)
    assert run_sweep(spec, tmp_path / "s.sqlite", mode="serial").done == 1


def test_progress_counts_done_failed_and_remaining(tmp_path):
    calls = []
    spec = load_spec({"study": "test_sweep_runner:fails_on_odd", "grid": {"value": list(range(5))}})
    run_sweep(spec, tmp_path / "s.sqlite", mode="serial", progress=lambda *counts: calls.append(counts))
    assert calls == [(1, 0, 4), (1, 1, 3), (2, 1, 2), (2, 2, 1), (3, 2, 0)]
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        run_sweep(spec, tmp_path / "s.sqlite", workers=0)
