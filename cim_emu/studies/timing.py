"""How every benchmark is timed: interleaved rounds, medians, pinned threads, plausibility.

A machine shared with other work slows whatever runs while the load is there; timing a
baseline and then the emulator, each as the best of a few runs, lets a burst of load land on
one side only and makes their ratio wrong by any factor (``cim-emu bench`` once printed
"ratio to inherent" values of 0.01-0.6 under load). So every benchmark of cim-emu:

* **interleaves**: each round runs every side once (the baselines, then the emulator), after
  one untimed warm-up round; a slow phase of the machine lands on both sides;
* takes the **median** of at least :data:`ROUNDS` rounds per side (wall clock by
  ``time.perf_counter`` and CPU time of the whole process by ``time.process_time``, so that
  ``cpu_s / wall_s`` tells how many cores were busy), a ``synchronize()`` ending each run on a
  device, ``gc.collect()`` before each (outside the timing);
* **pins the threads** of both sides to the same count (:func:`pinned_threads`: BLAS and
  OpenMP through threadpoolctl, ``CIM_EMU_THREADS`` for cim-emu's own thread pool, and
  ``torch.set_num_threads`` where torch is loaded) and states it (:func:`thread_settings`);
* **flags an implausible ratio**: every measurement names its floor (:func:`plausibility`),
  the least the emulator's work can take in units of the baseline's time (e.g. the products
  it cannot avoid, or the memory traffic of the in-place native call); a ratio below
  :data:`PLAUSIBLE_FRACTION` of it means the baseline was slowed (load, a thread pool waking)
  and the record says ``"plausible": false`` with the reason instead of passing it as a result.

``driver=`` hands the rounds to a benchmark harness: ``driver(run, before, rounds)`` calls
``before()`` then ``run()`` ``rounds`` times (pytest-benchmark's ``benchmark.pedantic(run,
setup=before, rounds=rounds)``: it times the emulator for its own statistics, while every side
is also timed here, so the figures are the same with and without it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import statistics
import sys
import time
from typing import Any, Callable, Iterator, Mapping, Optional

from .._checks import positive_int

#: Timed rounds per measurement (the median counts), after one warm-up round.
ROUNDS = 7

#: A ratio below this fraction of its floor is implausible (within it: measurement noise).
PLAUSIBLE_FRACTION = 0.8

#: ``driver(run, before, rounds)``: calls ``before()`` then ``run()``, ``rounds`` times (see the module docstring).
Driver = Callable[[Callable[[], Any], Callable[[], Any], int], Any]


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_settings() -> dict:
    """What the timed code runs on: ``CIM_EMU_THREADS``, torch's intra-op threads (``None``
    when torch is not loaded), and every BLAS and OpenMP library threadpoolctl finds."""
    import threadpoolctl  # noqa: PLC0415 - after numpy, so that its BLAS is found

    torch = sys.modules.get("torch")
    libraries = [{"api": info["internal_api"], "library": os.path.basename(info["filepath"]),
                  "threads": info["num_threads"]} for info in threadpoolctl.threadpool_info()]
    return {"cim_emu_threads": os.environ.get("CIM_EMU_THREADS"),
            "torch_threads": None if torch is None else torch.get_num_threads(), "libraries": libraries}


@contextlib.contextmanager
def pinned_threads(threads: Optional[int] = None) -> Iterator[dict]:
    """Pin BLAS, OpenMP, cim-emu's thread pool and torch (if loaded) to ``threads`` (default:
    :func:`usable_cores`) for the body; yields ``{"threads": n, **thread_settings()}``."""
    import threadpoolctl  # noqa: PLC0415 - after numpy, so that its BLAS is found

    count = usable_cores() if threads is None else positive_int("threads", threads)
    previous = os.environ.get("CIM_EMU_THREADS")
    torch = sys.modules.get("torch")
    torch_threads = None if torch is None else torch.get_num_threads()
    os.environ["CIM_EMU_THREADS"] = str(count)
    try:
        with threadpoolctl.threadpool_limits(limits=count):
            if torch is not None:
                torch.set_num_threads(count)
            yield {"threads": count, **thread_settings()}
    finally:
        if torch is not None and torch_threads is not None:
            torch.set_num_threads(torch_threads)
        if previous is None:
            os.environ.pop("CIM_EMU_THREADS", None)
        else:
            os.environ["CIM_EMU_THREADS"] = previous


@dataclasses.dataclass(frozen=True)
class Timings:
    """Per-round wall and CPU seconds of each side of one measurement (rounds in order)."""

    wall_s: Mapping[str, list]
    cpu_s: Mapping[str, list]

    @property
    def rounds(self) -> int:
        return min(len(times) for times in self.wall_s.values())

    def wall(self, side: str) -> float:
        """Median wall-clock seconds of one run of ``side``."""
        return statistics.median(self.wall_s[side])

    def cpu(self, side: str) -> float:
        """Median CPU seconds (all threads of the process) of one run of ``side``."""
        return statistics.median(self.cpu_s[side])

    def round_ratios(self, side: str, baseline: str) -> list:
        """``side``'s time over ``baseline``'s, round by round."""
        return [a / b for a, b in zip(self.wall_s[side], self.wall_s[baseline])]

    def record(self, side: str = "emulator", baseline: str = "baseline") -> dict:
        """The keys every benchmark record shares: ``rounds``, ``emulator_s`` and ``baseline_s``
        (medians), ``emulator_cpu_s`` and ``baseline_cpu_s`` (medians), ``ratio_to_baseline``
        (the medians' ratio), ``ratio_rounds_min`` and ``ratio_rounds_max`` (the spread of the
        round-by-round ratios)."""
        ratios = self.round_ratios(side, baseline)
        return {"rounds": self.rounds, "emulator_s": self.wall(side), "baseline_s": self.wall(baseline),
                "emulator_cpu_s": self.cpu(side), "baseline_cpu_s": self.cpu(baseline),
                "ratio_to_baseline": self.wall(side) / self.wall(baseline),
                "ratio_rounds_min": min(ratios), "ratio_rounds_max": max(ratios)}


def interleaved(sides: Mapping[str, Callable[[], Any]], rounds: int = ROUNDS, *, driven: str = "emulator",
                synchronize: Callable[[], None] = lambda: None, driver: Optional[Driver] = None,
                warmup: bool = True) -> Timings:
    """Time every side of ``sides`` (name -> run) round by round: each round runs the other sides
    in order, then ``driven``, after one untimed warm-up round (``warmup=False``: none, e.g.
    when the caller ran one to check results). ``driver`` runs the rounds (see the module
    docstring); any rounds it leaves out (e.g. pytest-benchmark disabled runs one) are run here."""
    positive_int("rounds", rounds)
    if driven not in sides:
        raise ValueError(f"driven side {driven!r} is not among the sides {sorted(sides)}")
    wall: dict = {name: [] for name in sides}
    cpu: dict = {name: [] for name in sides}

    def timed(name: str) -> Callable[[], Any]:
        run = sides[name]

        def measured() -> Any:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            result = run()
            synchronize()
            cpu[name].append(time.process_time() - cpu0)
            wall[name].append(time.perf_counter() - wall0)
            return result
        return measured

    others = [timed(name) for name in sides if name != driven]
    run = timed(driven)

    def before() -> None:
        for other in others:
            gc.collect()
            other()
        gc.collect()

    if warmup:
        before()
        run()
        for times in (*wall.values(), *cpu.values()):
            times.clear()
    if driver is not None:
        driver(run, before, rounds)
    while len(wall[driven]) < rounds:
        before()
        run()
    return Timings({name: times[:rounds] for name, times in wall.items()},
                   {name: times[:rounds] for name, times in cpu.items()})


def plausibility(ratio: float, floor: Optional[float], basis: str) -> dict:
    """``floor_ratio`` (``floor``: the least ``ratio`` the work can take, in units of the
    baseline's time; ``None`` where none holds), ``floor_basis`` (why), ``plausible`` (``ratio``
    at least :data:`PLAUSIBLE_FRACTION` of the floor) and ``implausible_reason`` (or ``None``)."""
    plausible = floor is None or ratio >= PLAUSIBLE_FRACTION * floor
    reason = None if plausible else (
        f"ratio {ratio:.3g} is below {PLAUSIBLE_FRACTION:g} x its floor {floor:.3g} ({basis}): the baseline "
        "was slowed while it ran (load on the machine, threads waking); measure again on a quiet machine")
    return {"floor_ratio": floor, "floor_basis": basis, "plausible": plausible, "implausible_reason": reason}
