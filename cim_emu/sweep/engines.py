"""Studies of the engines themselves: Ambit operations and faults, ReRAM products, accuracy sections.

Each function takes ``(config, seed, backend)`` (``config`` holds every parameter of its
``*_PARAMS``, defaults filled in by the spec) and returns a dict of metrics. They are built on
:mod:`cim_emu.studies`, so a point computes what ``cim-emu accuracy`` computes for the same
configuration and seed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy

from ..ambit import OPERATIONS, bulk_op
from ..ambit.subarray import EXECUTORS
from ..bits import random_row, unpack_bits
from ..reram import AdcConfig, CrossbarArray, InputEncoding, ReramConfig
from ..studies import ambit_accuracy, digits_mlp, realchip_characterisation, reram_accuracy
from ..studies.accuracy_sections import (
    DIGITS_ADC_BITS_FULL,
    DIGITS_ADC_BITS_QUICK,
    FAULT_PROBABILITIES,
    FAULT_ROW_BITS_FULL,
    FAULT_ROW_BITS_QUICK,
    LIBRARY_LONG_ROW_BITS,
    QUICK_DEVICES,
    SECTION_NAMES,
)
from .params import Param
from .presets import AMBIT_FAULT_PRESETS, DEVICE_PRESETS, RERAM_PRESETS, fault_model, reram_config

ACCURACY_PARAMS = {
    "section": Param(str, "reram-exact", "the section of `cim-emu accuracy`", choices=SECTION_NAMES),
    "quick": Param(bool, True, "as `cim-emu accuracy --quick` (false: the full section)"),
}


def accuracy_section(config: dict, seed: int, backend: str) -> dict:
    """One section of ``cim-emu accuracy``: its checks' count, failures and verdict, and a summary.

    A section that cannot run (scikit-learn or torch missing) raises, so the point is recorded
    as failed with the reason."""
    quick, section = config["quick"], config["section"]
    if section == "ambit-library":
        row_bits = ambit_accuracy.AWKWARD_ROW_BITS + (() if quick else LIBRARY_LONG_ROW_BITS)
        checks = [c.as_dict() for c in ambit_accuracy.check_library(row_bits, seed, backend)]
        extra = {"bit_errors": sum(c["bit_errors"] for c in checks)}
    elif section == "ambit-fault-rate":
        bits = FAULT_ROW_BITS_QUICK if quick else FAULT_ROW_BITS_FULL
        checks = [ambit_accuracy.check_fault_rate(p, bits, seed, backend, executor=e).as_dict()
                  for p in FAULT_PROBABILITIES for e in EXECUTORS]
        extra = {"largest_deviation_over_bound": max(abs(c["measured_rate"] - c["flip_probability"]) / c["bound"]
                                                     for c in checks)}
    elif section == "realchip":
        checks = [r.as_dict() for r in realchip_characterisation.characterise(quick, seed, backend)]
        extra = {}
    elif section in ("reram-exact", "reram-adc-sweep"):
        if section == "reram-exact":
            found = reram_accuracy.check_exact(seed=seed, backend=backend, quick=quick)
        else:
            devices = QUICK_DEVICES if quick else tuple(reram_accuracy.DEVICES)
            found = reram_accuracy.check_adc_sweep(devices=devices, seed=seed, backend=backend, quick=quick)
        checks = [c.as_dict() for c in found]
        extra = {"max_relative_error": max(c["relative_error"] for c in checks),
                 "min_snr_db": min(c["snr_db"] for c in checks)}
    elif section == "reram-digits":
        study = digits_mlp.DigitsStudy(seed, backend)
        devices = QUICK_DEVICES if quick else tuple(reram_accuracy.DEVICES)
        resolutions = DIGITS_ADC_BITS_QUICK if quick else DIGITS_ADC_BITS_FULL
        checks = [r.as_dict() for r in study.references() + [study.analog(d, reram_accuracy.DEVICES[d], b)
                                                            for d in devices for b in resolutions]]
        extra = {"float_accuracy": checks[0]["accuracy"], "min_accuracy": min(c["accuracy"] for c in checks)}
    else:
        from ..studies import digits_cnn  # noqa: PLC0415 - imports torch only when run

        torch = digits_cnn.require_torch()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the section's own limit is 2: one thread makes the bits the same everywhere
        try:
            checks = digits_cnn.study(quick, seed)
        finally:
            torch.set_num_threads(threads)
        extra = {"float_accuracy": checks[0]["accuracy"], "min_accuracy": min(c["accuracy"] for c in checks)}
    failed = sum(not c["passed"] for c in checks)
    return {"checks": len(checks), "failed": failed, "passed": failed == 0, **extra}


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
