"""Running a sweep: the points not yet in the database, serially or as Dask tasks, stored as they land.

Modes (``docs/sweep.md``):

``serial``
    In this process, one point after the other (for debugging: a breakpoint in a study stops
    there). BLAS, OpenMP and torch run on one thread meanwhile, as on the workers.
``local`` (the default)
    An embedded Dask ``LocalCluster`` (:func:`local_cluster`): ``workers`` worker processes
    (default: one per usable core), one thread each, its HTTP server (and dashboard, with bokeh)
    on a free port, Dask's own periodic work made quieter (:data:`QUIET_LOCAL_CLUSTER`).
a scheduler address
    An existing Dask cluster (``tcp://host:8786``; e.g. started by dask-jobqueue on Slurm). The
    workers must have cim-emu (and a user's study module) installed; the database stays on the
    driver's machine.

Every point is one task (:func:`cim_emu.sweep.studies.run_point`, keyed by the sweep and the
point), submitted in a window of a few tasks per worker thread (following the cluster's size as
it grows) and collected with ``as_completed``; the driver writes each result as it arrives (the
only writer of the file).
A worker that dies takes its tasks with it and Dask reschedules them on the others (up to
``distributed.scheduler.allowed-failures`` deaths per task, 3 by default, after which the point
is stored as failed with ``KilledWorker``); an exception raised on a worker outside the study
(``retries``) is retried by Dask. A study that raises is a failed point, not retried.

One driver at a time runs into a database (``DATABASE.lock``, :class:`DatabaseBusyError` for a
second). Resume: points whose row says ``done`` are skipped; ``failed`` ones too unless
``retry_failed``. Ctrl-C (``KeyboardInterrupt``) cancels the tasks in flight, closes the
cluster and re-raises: every row written is whole, and the next run does the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

from .._optional import require
from .spec import Point, Spec, load_spec
from .store import Store
from .studies import one_thread, run_point

#: Seconds between two looks at the cluster's size (the window of tasks in flight follows it).
WINDOW_REFRESH_S = 5.0

#: Seconds to wait for an existing cluster's scheduler to answer.
CONNECT_TIMEOUT_S = 20

#: Tasks in flight per worker thread (enough to keep every worker busy between two results).
WINDOW_PER_THREAD = 4

#: Dask configuration of the embedded ``LocalCluster`` (set while it starts; its processes keep
#: it). Dask's defaults serve an interactive dashboard: each worker samples its thread's stack
#: every 10 ms (``profile``), the scheduler checks its event loop every 20 ms (``tick``), every
#: process reads its CPU and memory every 0.5 s (``system-monitor``) and the memory limit is
#: checked every 0.1 s. Measured on the 2-core benchmark machine, an idle 2-worker cluster took
#: 14 % of a core that way, 1.6 to 1.7 % with these values - time the points' workers
#: share their cores with. The memory limit is then enforced within a second; the dashboard's
#: profile page stays empty. An existing cluster (a scheduler address) keeps its own settings.
QUIET_LOCAL_CLUSTER = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


@dataclasses.dataclass(frozen=True)
class SweepSummary:
    """What a run of :func:`run_sweep` did."""

    spec_hash: str
    database: str
    mode: str
    """``"serial"``, ``"local"`` or the scheduler's address."""
    workers: int
    """Worker threads that ran the points (1 in serial mode)."""
    total: int
    """Points of the spec."""
    skipped: int
    """Points already in the database and not run again."""
    done: int
    """Points run and stored as done by this run."""
    failed: int
    """Points run and stored as failed by this run."""
    seconds: float


#: ``progress(done, failed, remaining)`` after each stored point (this run's counts).
Progress = Callable[[int, int, int], None]


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def local_cluster(workers: Optional[int] = None, **options: Any) -> Any:
    """A started Dask ``LocalCluster`` as a sweep runs on by default: ``workers`` processes (one
    per usable core), one thread each, the dashboard on a free port, :data:`QUIET_LOCAL_CLUSTER`
    (``options``: more ``LocalCluster`` arguments, which take precedence)."""
    distributed = require("distributed", context="a sweep on Dask needs", extra="sweep")
    import dask  # noqa: PLC0415 - with distributed

    options = {"n_workers": workers or usable_cores(), "threads_per_worker": 1, "processes": True,
               "dashboard_address": ":0", **options}
    with dask.config.set(QUIET_LOCAL_CLUSTER):
        return distributed.LocalCluster(**options)


def pending_points(spec: Spec, store: Store, retry_failed: bool = False) -> tuple[list, int]:
    """The points to run (those without a row, and failed ones with ``retry_failed``) and how
    many are skipped."""
    statuses = store.statuses(spec.spec_hash)
    todo = [p for p in spec.points
            if p.key not in statuses or (retry_failed and statuses[p.key] == "failed")]
    return todo, len(spec.points) - len(todo)


def run_sweep(spec: Spec, database: Union[str, Path], *, mode: str = "local", workers: Optional[int] = None,
              retry_failed: bool = False, retries: int = 1, progress: Optional[Progress] = None,
              cluster_options: Optional[dict] = None) -> SweepSummary:
    """Run ``spec``'s missing points and store them in ``database`` (created when missing).

    ``mode`` is ``"serial"``, ``"local"`` or a Dask scheduler address; ``workers`` the local
    cluster's worker processes (default: one per usable core); ``cluster_options`` more
    ``LocalCluster`` arguments. Needs ``dask[distributed]`` unless serial (``pip install
    'cim-emu[sweep]'``)."""
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer; got {workers!r}")
    start = time.perf_counter()
    with _exclusive(database), Store(database) as store:
        store.register(spec.spec_hash, spec.study, spec.name, spec.as_dict(), len(spec.points))
        todo, skipped = pending_points(spec, store, retry_failed)
        counts = {"done": 0, "failed": 0}

        def stored(point: Point, result: dict) -> None:
            store.write(spec.spec_hash, spec.study, point, result)
            counts[result["status"]] += 1
            if progress is not None:
                progress(counts["done"], counts["failed"], len(todo) - counts["done"] - counts["failed"])

        if mode == "serial":
            threads = 1
            with one_thread():
                for point in todo:
                    stored(point, run_point(spec.study, point.config, point.seed, spec.backend, pin="none"))
        elif todo:
            threads = _run_on_dask(spec, todo, stored, mode, workers, retries, cluster_options or {})
        else:
            threads = 0
    return SweepSummary(spec.spec_hash, str(database), mode, threads, len(spec.points), skipped, counts["done"],
                        counts["failed"], time.perf_counter() - start)


class DatabaseBusyError(RuntimeError):
    """Another driver is running a sweep into the same database."""


@contextlib.contextmanager
def _exclusive(database: Union[str, Path]) -> Iterator[None]:
    """Hold ``DATABASE.lock`` (an advisory ``flock``, released however the process ends) while a
    sweep runs, so that two drivers never run the same points into one file. Where ``fcntl`` is
    missing (Windows) nothing is locked."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(f"{database}.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseBusyError(f"another cim-emu sweep is running into {database}; wait for it or use "
                                    f"another --db") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_on_dask(spec: Spec, todo: list, stored: Callable[[Point, dict], None], mode: str,
                 workers: Optional[int], retries: int, cluster_options: dict) -> int:
    """Run ``todo`` on a local cluster or the scheduler at ``mode``; returns the worker threads."""
    distributed = require("distributed", context="a sweep on Dask needs", extra="sweep")
    cluster = None
    if mode == "local":
        cluster = local_cluster(workers, **cluster_options)
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(mode, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"cannot reach the Dask scheduler at {mode}: {exc}") from None
    try:
        threads = max(1, sum(client.nthreads().values()))
        window = {"size": WINDOW_PER_THREAD * threads + 4, "checked": time.monotonic()}

        def window_size() -> int:
            """Tasks to keep in flight, from the cluster's threads (asked again at most every few
            seconds: an existing cluster may grow, e.g. dask-jobqueue's jobs starting)."""
            if time.monotonic() - window["checked"] > WINDOW_REFRESH_S:
                window["size"] = WINDOW_PER_THREAD * max(1, sum(client.nthreads().values())) + 4
                window["checked"] = time.monotonic()
            return window["size"]

        points = iter(todo)
        by_key: dict = {}
        in_flight: dict = {}
        completed = distributed.as_completed()

        def submit(point: Point) -> None:
            future = client.submit(run_point, spec.study, point.config, point.seed, spec.backend, "process",
                                   key=f"cim-emu-point-{spec.spec_hash[:16]}-{point.key}", retries=retries)
            by_key[future.key] = point
            in_flight[future.key] = future
            completed.add(future)

        for point in itertools.islice(points, window_size()):
            submit(point)
        try:
            for future in completed:
                point = by_key.pop(future.key)
                in_flight.pop(future.key)
                try:
                    result = future.result()
                except Exception as exc:  # KilledWorker, or an error outside the study after its retries
                    result = _lost(exc)
                future.release()
                stored(point, result)
                for following in itertools.islice(points, max(0, window_size() - len(in_flight))):
                    submit(following)
        finally:
            if in_flight:  # interrupted: drop the tasks in flight (their points have no row)
                client.cancel(list(in_flight.values()), force=True)
        return threads
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _lost(exc: BaseException) -> dict:
    """A failed point's result when its task, not its study, failed (e.g. its worker died too often)."""
    return {"status": "failed", "metrics": None, "error": f"{type(exc).__name__}: {exc}", "duration_s": None,
            "host": None, "pid": None}


def sweep(spec: Union[str, Path, dict, Spec], database: Union[str, Path], **options: Any) -> SweepSummary:
    """Load (when not already a :class:`Spec`) and run a spec: :func:`cim_emu.sweep.spec.load_spec`
    then :func:`run_sweep` with ``options``."""
    return run_sweep(spec if isinstance(spec, Spec) else load_spec(spec), database, **options)
