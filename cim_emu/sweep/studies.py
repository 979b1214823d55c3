"""The studies a sweep can run: functions ``(config, seed, backend) -> metrics``, and one point's run.

Every study is registered in :data:`STUDIES` with its parameters (:class:`~.params.Param`):
the spec is checked against them before any work. A user's own function is named
``"module:function"``; it takes ``(config, seed)`` and returns a dict of metrics, and its
parameters are not checked (any JSON scalar or list of scalars).

:func:`run_point` runs one point where it is called (the driver in serial mode, a Dask worker
otherwise, or a user's code reproducing one point): BLAS/OpenMP and torch on one thread (so that
float sums, and so the bits, do not depend on the machine or the worker count), the study timed,
an exception caught and returned as a failed point with its message (a study that raises would
raise again: it is not retried).
Non-finite floats in metrics stay floats here; the store writes them as strings (``docs/sweep.md``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import socket
import sys
import time
import traceback
from typing import Any, Callable, Iterator, Optional

import numpy

from .._checks import shown
from .._optional import optional
from .._version import __version__
from . import applications, engines
from .params import Param, SpecError

#: Where studies compute (the spec's ``backend``).
BACKENDS = ("numpy", "cupy", "auto")


@dataclasses.dataclass(frozen=True)
class Study:
    """A registered study (or a user's function, with ``params=None``)."""

    name: str
    function: Callable[[dict, int, str], dict]
    params: Optional[dict]
    doc: str
    metrics: tuple = ()
    """The metrics it returns, by name (documentation; a study may add more)."""


def _diagnostic_echo(config: dict, seed: int, backend: str) -> dict:
    """Returns at once: the machinery's cost alone (benchmarks, tests)."""
    return {"value": float(config["value"]) + seed, "seed_parity": seed % 2}


def _diagnostic_spin(config: dict, seed: int, backend: str) -> dict:
    """CPU-bound work in one thread: ``iterations`` steps of a 64-bit LCG in pure Python."""
    state = seed
    for _ in range(config["iterations"]):
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
    return {"state": state % 2**53, "iterations": config["iterations"]}


def _register(*studies: Study) -> dict:
    return {study.name: study for study in studies}


#: Every registered study by name.
STUDIES: dict[str, Study] = _register(
    Study("accuracy", engines.accuracy_section, engines.ACCURACY_PARAMS,
          "one section of `cim-emu accuracy`, as --quick or full runs it", ("checks", "failed", "passed")),
    Study("ambit-library", engines.ambit_library, engines.AMBIT_LIBRARY_PARAMS,
          "Ambit library operations against numpy on random rows", ("bit_errors", "checks", "passed")),
    Study("ambit-fault-rate", engines.ambit_fault_rate, engines.AMBIT_FAULT_RATE_PARAMS,
          "measured TRA flip rate of maj against the configured p",
          ("flipped_bits", "measured_rate", "bound", "passed")),
    Study("ambit-faults", engines.ambit_faults, engines.AMBIT_FAULTS_PARAMS,
          "an Ambit library operation under a TRA fault model: bit errors against the exact result",
          ("bit_errors", "bit_error_rate", "latency_ns", "energy_nj")),
    Study("reram-product", engines.reram_product, engines.RERAM_PRODUCT_PARAMS,
          "a crossbar product against the exact integer product (ADC bits, devices, drift time, mapping)",
          ("max_abs_error", "relative_error", "snr_db", "adc_bits", "adc_lossless", "error_bound", "within_bound")),
    Study("digits-mlp", applications.digits_mlp, applications.DIGITS_MLP_PARAMS,
          "the digits MLP on crossbars: test accuracy (ADC bits, devices, drift time, calibration)",
          ("accuracy", "float_accuracy", "digital_accuracy", "accuracy_drop", "max_logit_difference")),
    Study("digits-cnn", applications.digits_cnn, applications.DIGITS_CNN_PARAMS,
          "the digits CNN (PyTorch) on crossbars: test accuracy (ADC bits, devices, drift time, calibration)",
          ("accuracy", "float_accuracy", "digital_accuracy", "accuracy_drop", "max_logit_difference")),
    Study("simdram-app", applications.simdram_app, applications.SIMDRAM_APP_PARAMS,
          "a SIMDRAM application (BitWeaving scan, bitmap query, BNN layer) under TRA faults, against numpy",
          ("wrong_fraction", "count_error", "commands", "latency_ns", "energy_nj")),
    Study("echo", _diagnostic_echo, {"value": Param(float, 0.0, "returned plus the seed")},
          "diagnostic: returns at once (the sweep machinery's own cost)", ("value", "seed_parity")),
    Study("spin", _diagnostic_spin, {"iterations": Param(int, 100_000, "LCG steps", low=0, high=10**10)},
          "diagnostic: CPU-bound pure Python work on one thread", ("state", "iterations")),
)


def get_study(name: Any) -> Study:
    """The registered study ``name``, or a user's ``"module:function"`` imported; :class:`SpecError` otherwise."""
    if not isinstance(name, str):
        raise SpecError(f"study must be a string; got {shown(name)}")
    if name in STUDIES:
        return STUDIES[name]
    if ":" not in name:
        raise SpecError(f"unknown study {shown(name)}; studies: {', '.join(STUDIES)}, or 'module:function'")
    module_name, _, attribute = name.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except ImportError as exc:
        raise SpecError(f"study {shown(name)}: cannot import {module_name!r} ({exc})") from None
    except AttributeError:
        raise SpecError(f"study {shown(name)}: module {module_name!r} has no {attribute!r}") from None
    if not callable(function):
        raise SpecError(f"study {shown(name)}: {attribute!r} is not a function")
    return Study(name, lambda config, seed, backend: function(config, seed), None,
                 f"{name}(config, seed), the user's function")


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """BLAS/OpenMP (threadpoolctl) and torch (when imported) on one thread, restored after."""
    threadpoolctl = optional("threadpoolctl")
    limits = threadpoolctl.threadpool_limits(limits=1) if threadpoolctl else contextlib.nullcontext()
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    with limits:
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None and threads is not None:
                torch.set_num_threads(threads)


def plain(value: Any, where: str = "metrics") -> Any:
    """``value`` as plain JSON-able data (numpy scalars and arrays made Python); ``TypeError`` otherwise."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, numpy.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v, where) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{where} keys must be strings")
        return {k: plain(v, f"{where}.{k}") for k, v in value.items()}
    raise TypeError(f"{where} holds a {type(value).__name__}, which is not JSON data")


#: The threads pinned by :func:`run_point` for the rest of this process (``pin="process"``, on workers).
_PINNED: list = []

#: How :func:`run_point` pins BLAS/OpenMP/torch to one thread.
PINS = ("call", "process", "none")


def run_point(study_name: str, config: dict, seed: int, backend: str = "numpy", pin: str = "call") -> dict:
    """Run one point; returns ``status`` (``"done"`` or ``"failed"``), ``metrics`` (or ``None``),
    ``error`` (the exception and its traceback, or ``None``), ``duration_s``, ``host``, ``pid``
    and ``version``.

    ``pin``: ``"call"`` runs the study under :func:`one_thread` (the same bits as in a sweep,
    about 1 ms more); ``"process"`` pins one thread for the rest of the process, once (what Dask
    workers do); ``"none"`` leaves threads as they are (the serial runner pins around its loop)."""
    if pin not in PINS:
        raise ValueError(f"pin must be one of {', '.join(map(repr, PINS))}; got {pin!r}")
    if pin == "process" and not _PINNED:
        context = one_thread()
        context.__enter__()
        _PINNED.append(context)
    with one_thread() if pin == "call" else contextlib.nullcontext():
        return _timed(study_name, config, seed, backend)


def _timed(study_name: str, config: dict, seed: int, backend: str) -> dict:
    start = time.perf_counter()
    metrics: Optional[dict] = None
    error: Optional[str] = None
    try:
        result = get_study(study_name).function(dict(config), seed, backend)
        if not isinstance(result, dict):
            raise TypeError(f"a study must return a dict of metrics; {study_name} returned {type(result).__name__}")
        metrics = plain(result)
    except Exception as exc:  # every failure of a point is recorded, not raised
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip() + "\n" + traceback.format_exc(limit=8)
    duration = time.perf_counter() - start
    return {"status": "failed" if error else "done", "metrics": metrics, "error": error, "duration_s": duration,
            "host": socket.gethostname(), "pid": os.getpid(), "version": __version__}

