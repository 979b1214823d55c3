"""Host threads shared by the engines: how many, one long-lived pool per count, and BLAS held
to one thread while the pool's threads run their own products (no oversubscription)."""

from __future__ import annotations

import concurrent.futures
import functools
import os
from typing import Any, ContextManager

__all__ = ["default_threads", "thread_pool", "single_threaded_blas"]


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
    return concurrent.futures.ThreadPoolExecutor(n_threads, thread_name_prefix="cim-emu")


@functools.lru_cache(maxsize=None)
def _blas_controller() -> Any:
    import threadpoolctl  # noqa: PLC0415 - after numpy, so that its BLAS is found

    return threadpoolctl.ThreadpoolController()


def single_threaded_blas() -> ContextManager[Any]:
    """A context in which BLAS uses one thread (threadpoolctl)."""
    return _blas_controller().limit(limits=1, user_api="blas")
