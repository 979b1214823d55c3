"""Host threads shared by the engines: how many, one long-lived pool per count, and BLAS held
to one thread while the pool's threads run their own products (no oversubscription)."""

from __future__ import annotations

import concurrent.futures
import functools
import os
import threading
from typing import Any, Callable, ContextManager, Sequence

__all__ = ["default_threads", "thread_pool", "in_shared_pool", "run_jobs", "single_threaded_blas"]

#: The name prefix of the shared pools' threads (how :func:`in_shared_pool` knows them).
THREAD_NAME_PREFIX = "cim-emu"


def default_threads() -> int:
    """Host threads for the engines: ``CIM_EMU_THREADS`` or the usable cores (at most 8)."""
    env = os.environ.get("CIM_EMU_THREADS")
    if env:
        return max(1, int(env))
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, usable))


@functools.lru_cache(maxsize=None)
def thread_pool(n_threads: int) -> concurrent.futures.ThreadPoolExecutor:
    """One long-lived pool per thread count (starting threads per call would cost more than
    a small program takes)."""
    return concurrent.futures.ThreadPoolExecutor(n_threads, thread_name_prefix=THREAD_NAME_PREFIX)


def in_shared_pool() -> bool:
    """Whether this thread is one of the shared pools' (:func:`thread_pool`)."""
    return threading.current_thread().name.startswith(THREAD_NAME_PREFIX)


def run_jobs(job: Callable[[Any], Any], items: Sequence[Any], threads: int) -> None:
    """``job(item)`` for every item: over the shared pool of ``threads`` threads, or in order on
    this thread when there is one thread or one item, or when this thread is one of a shared
    pool's (its caller already keeps the others busy, and waiting on the pool from inside it
    could deadlock)."""
    if threads > 1 and len(items) > 1 and not in_shared_pool():
        list(thread_pool(threads).map(job, items))
    else:
        for item in items:
            job(item)


@functools.lru_cache(maxsize=None)
def _blas_controller() -> Any:
    import threadpoolctl  # noqa: PLC0415 - after numpy, so that its BLAS is found

    return threadpoolctl.ThreadpoolController()


def single_threaded_blas() -> ContextManager[Any]:
    """A context in which BLAS uses one thread (threadpoolctl)."""
    return _blas_controller().limit(limits=1, user_api="blas")
