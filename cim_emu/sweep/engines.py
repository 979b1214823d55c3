"""Studies of the engines themselves: Ambit operations and faults, ReRAM products, accuracy sections.

Each function takes ``(config, seed, backend)`` (``config`` holds every parameter of its
``*_PARAMS``, defaults filled in by the spec) and returns a dict of metrics. They are built on
:mod:`cim_emu.studies`, so a point computes what ``cim-emu accuracy`` computes for the same
configuration and seed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Iterator, Optional

import numpy

from ..ambit import OPERATIONS, bulk_op
from ..ambit.subarray import EXECUTORS
from ..bits import random_row, unpack_bits
from ..reram import AdcConfig, CrossbarArray, InputEncoding, ReramConfig
from ..studies import accuracy_sections, ambit_accuracy, reram_accuracy
from ..studies.accuracy_sections import SECTION_NAMES
from .params import Param
from .presets import AMBIT_FAULT_PRESETS, DEVICE_PRESETS, RERAM_PRESETS, fault_model, reram_config

ACCURACY_PARAMS = {
    "section": Param(str, "reram-exact", "the section of `cim-emu accuracy`", choices=SECTION_NAMES),
    "quick": Param(bool, True, "as `cim-emu accuracy --quick` (false: the full section)"),
}


def accuracy_section(config: dict, seed: int, backend: str) -> dict:
    """One section of ``cim-emu accuracy`` (:func:`cim_emu.studies.accuracy_sections.checks`).

    Returns its checks' count, failures and verdict, and the section's summary values. torch
    runs on one thread meanwhile, so that the bits are the same on every machine. A section that
    cannot run (scikit-learn or torch missing) raises, so the point is recorded as failed with
    the reason."""
    section = config["section"]
    with _one_torch_thread() if section == "torch-digits-cnn" else contextlib.nullcontext():
        found = accuracy_sections.checks(section, config["quick"], seed, backend)
    return {"checks": len(found.records), "failed": found.failed, "passed": found.failed == 0, **found.summary}


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Runs its body with torch on one thread and restores the count after (raises
    :class:`~cim_emu.studies.digits_cnn.TorchUnavailableError` without torch)."""
    from ..studies import digits_cnn  # noqa: PLC0415 - imports torch only when run

    torch = digits_cnn.require_torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the section's own limit is 2: one thread makes the bits the same everywhere
    try:
        yield
    finally:
        torch.set_num_threads(threads)


AMBIT_LIBRARY_PARAMS = {
    "op": Param(str, "all", "a library operation, or all of them", choices=("all", *OPERATIONS)),
    "row_bits": Param(int, 4097, "bits per row", low=1, high=2**30),
    "executor": Param(str, "all", "the executor, or both", choices=("all", *EXECUTORS)),
}


def ambit_library(config: dict, seed: int, backend: str) -> dict:
    ops = None if config["op"] == "all" else [config["op"]]
    executors = EXECUTORS if config["executor"] == "all" else (config["executor"],)
    checks = ambit_accuracy.check_library((config["row_bits"],), seed, backend, ops=ops, executors=executors)
    return {"bit_errors": sum(c.bit_errors for c in checks), "checks": len(checks),
            "passed": all(c.passed for c in checks)}


AMBIT_FAULT_RATE_PARAMS = {
    "flip_probability": Param(float, 0.0029, "p of TraFaultModel", low=0.0, high=1.0),
    "row_bits": Param(int, 2**16, "bits per row", low=1, high=2**30),
    "executor": Param(str, "fast", "the executor", choices=EXECUTORS),
    "sigmas": Param(float, 5.0, "the bound in standard deviations", low=0.0),
}


def ambit_fault_rate(config: dict, seed: int, backend: str) -> dict:
    check = ambit_accuracy.check_fault_rate(config["flip_probability"], config["row_bits"], seed, backend,
                                            executor=config["executor"], sigmas=config["sigmas"])
    return {k: v for k, v in check.as_dict().items() if k in ("flipped_bits", "measured_rate", "bound", "passed")}


AMBIT_FAULTS_PARAMS = {
    "op": Param(str, "xor", "the library operation", choices=tuple(OPERATIONS)),
    "row_bits": Param(int, 2**16, "bits per row", low=1, high=2**30),
    "executor": Param(str, "fast", "the executor", choices=EXECUTORS),
    "fault_preset": Param(str, "none", "a named TRA fault model", choices=tuple(AMBIT_FAULT_PRESETS)),
    "config_file": Param(str, "", "an Ambit fault-model JSON file (in place of fault_preset)"),
    "flip_probability": Param(float, None, "replaces the model's p", low=0.0, high=1.0, nullable=True),
    "only_when_inputs_disagree": Param(bool, None, "replaces the model's setting", nullable=True),
    "weak_column_fraction": Param(float, None, "replaces the model's weak-column fraction", low=0.0, high=1.0,
                                  nullable=True),
    "weak_column_flip_probability": Param(float, None, "replaces the model's weak-column flip probability",
                                          low=0.0, high=1.0, nullable=True),
}


def ambit_faults(config: dict, seed: int, backend: str) -> dict:
    """``op`` on random rows (those of the library check) under the fault model, against numpy."""
    n_bits, op = config["row_bits"], config["op"]
    faults = fault_model(config["fault_preset"], config["config_file"], seed,
                         **{k: config[k] for k in ("flip_probability", "only_when_inputs_disagree",
                                                   "weak_column_fraction", "weak_column_flip_probability")})
    operands = [random_row(seed, 4 * n_bits + k, n_bits) for k in range(OPERATIONS[op][0])]
    result = bulk_op(op, *operands, n_bits=n_bits, faults=faults, executor=config["executor"], backend=backend)
    expected = ambit_accuracy.NUMPY_REFERENCE[op](*(unpack_bits(w, n_bits) for w in operands))
    errors = int(numpy.count_nonzero(unpack_bits(numpy.asarray(result.value), n_bits) != expected))
    return {"bit_errors": errors, "bit_error_rate": errors / n_bits, "latency_ns": result.cost.latency_ns,
            "energy_nj": result.cost.energy_nj}


RERAM_PRODUCT_PARAMS = {
    "preset": Param(str, "default", "the base ReRAM configuration", choices=tuple(RERAM_PRESETS)),
    "config_file": Param(str, "", "a ReRAM configuration JSON file (in place of preset)"),
    "adc_bits": Param(int, "config", "ADC bits ('lossless': the fewest lossless bits; 'config': as configured)",
                      low=1, high=24, also=("lossless", "config")),
    "devices": Param(str, "config", "device model ('config': as configured)", choices=("config", *DEVICE_PRESETS)),
    "mapping": Param(str, "config", "weight mapping ('config': as configured)",
                     choices=("config", *reram_accuracy.MAPPINGS)),
    "signed_inputs": Param(bool, None, "signed inputs (default: as configured)", nullable=True),
    "batch": Param(int, 8, "rows of x", low=1, high=2**20),
    "k": Param(int, 256, "rows of W (inputs)", low=1, high=2**20),
    "n": Param(int, 64, "columns of W (outputs)", low=1, high=2**20),
    "drift_time": Param(float, None, "seconds after programming (default: read at programming)", low=0.0,
                        nullable=True),
    "drift_compensation": Param(bool, False, "global drift compensation at drift_time"),
}


def reram_product(config: dict, seed: int, backend: str) -> dict:
    """``x @ W`` through the crossbars of the configured preset or file with the point's changes,
    against the exact product (:func:`product_error`)."""
    base = reram_config(config["preset"], config["config_file"])
    changes: dict = {}
    if config["adc_bits"] != "config":
        changes["adc"] = AdcConfig(bits=None if config["adc_bits"] == "lossless" else config["adc_bits"],
                                   full_scale=base.adc.full_scale)
    if config["devices"] != "config":
        changes["devices"] = DEVICE_PRESETS[config["devices"]]()
    if config["mapping"] != "config":
        changes["mapping"] = reram_accuracy.MAPPINGS[config["mapping"]]
    if config["signed_inputs"] is not None:
        changes["inputs"] = InputEncoding(base.inputs.input_bits, base.inputs.dac_bits, config["signed_inputs"])
    return product_error(dataclasses.replace(base, **changes), (config["batch"], config["k"], config["n"]), seed,
                         backend, config["drift_time"], config["drift_compensation"])


def product_error(config: ReramConfig, shape: tuple, seed: int, backend: str, drift_time: Optional[float] = None,
                  drift_compensation: bool = False) -> dict:
    """``x @ W`` of uniform random integers over the configured ranges (numpy generator seeded
    with ``seed``, as the accuracy checks draw them) through the crossbars, against the exact
    product: largest and relative error, SNR, the resolved ADC, and the ADC's error bound where
    one holds (ideal cells: :meth:`CrossbarArray.adc_error_bound`, 0 when lossless)."""
    batch, k, n = shape
    rng = numpy.random.default_rng(seed)
    weights = rng.integers(-config.mapping.max_weight, config.mapping.max_weight + 1, (k, n))
    x = rng.integers(config.inputs.min_input, config.inputs.max_input + 1, (batch, k))
    crossbars = CrossbarArray(weights, config, seed=seed, backend=backend)
    bound: Optional[float] = crossbars.adc_error_bound() if config.ideal_cells else None
    if drift_time is not None:
        crossbars = crossbars.at_time(drift_time, drift_compensation=drift_compensation)
    y = numpy.asarray(crossbars.backend.to_host(crossbars.matmul(x, method="pipeline")), dtype=numpy.float64)
    exact = (x @ weights).astype(numpy.float64)
    error, signal = float(numpy.linalg.norm(y - exact)), float(numpy.linalg.norm(exact))
    max_error = float(numpy.abs(y - exact).max())
    return {"max_abs_error": max_error, "relative_error": error / signal if signal else 0.0,
            "snr_db": math.inf if error == 0 else 20 * math.log10(signal / error) if signal else -math.inf,
            "adc_bits": config.adc_bits, "adc_lossless": config.adc_lossless, "error_bound": bound,
            "within_bound": None if bound is None else max_error <= bound}
