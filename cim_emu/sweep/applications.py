"""Studies of applications: the digits models on crossbars, SIMDRAM applications under TRA faults.

Each function takes ``(config, seed, backend)`` and returns a dict of metrics (see
:mod:`cim_emu.sweep.studies`). The digits models are the ones of :mod:`cim_emu.studies`
(``digits_mlp``, ``digits_cnn``): a point with ideal devices, a lossless ADC, no drift and the
``max`` calibration gives the accuracy ``cim-emu accuracy`` reports for that seed. The trained
models are cached per process (a worker trains once per seed).
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import numpy

from ..ambit import library
from ..bits import pack_bits, unpack_bits
from ..reram import AdcConfig, ReramConfig
from ..reram.quantize import AnalogLayer
from ..simdram.allocator import RowAllocator
from ..simdram.api import run_program
from ..simdram.applications import bnn_program
from ..simdram.builder import ProgramBuilder, extend
from ..simdram.comparison import compare_constant
from ..simdram.layout import from_vertical, to_vertical
from ..simdram.reduction import and_or_reduce
from ..studies import digits_mlp as mlp_study
from .engines import AMBIT_FAULTS_PARAMS
from .params import Param
from .presets import DEVICE_PRESETS, fault_model

_ADC_BITS = Param(int, "lossless", "ADC bits ('lossless': the fewest lossless bits)", low=1, high=24,
                  also=("lossless",))
_DEVICES = Param(str, "ideal", "device model", choices=tuple(DEVICE_PRESETS))
_DRIFT_TIME = Param(float, None, "seconds after programming (default: read at programming)", low=0.0,
                    nullable=True)
_DRIFT_COMPENSATION = Param(bool, False, "global drift compensation at drift_time")


def _reram(config: dict) -> ReramConfig:
    bits = None if config["adc_bits"] == "lossless" else config["adc_bits"]
    return ReramConfig(adc=AdcConfig(bits=bits), devices=DEVICE_PRESETS[config["devices"]]())


def _accuracy(logits: Any, labels: Any) -> float:
    return float((logits.argmax(1) == labels).float().mean()) if hasattr(logits, "float") else \
        float((logits.argmax(axis=1) == labels).mean())


DIGITS_MLP_PARAMS = {
    "adc_bits": _ADC_BITS, "devices": _DEVICES, "drift_time": _DRIFT_TIME,
    "drift_compensation": _DRIFT_COMPENSATION,
    "calibration": Param(str, "max", "input-scale calibration on the training set", choices=("max", "percentile")),
}


def digits_mlp(config: dict, seed: int, backend: str) -> dict:
    """The 64-32-10 MLP of :mod:`cim_emu.studies.digits_mlp` (seeded split and training) on
    crossbars; ``digital_accuracy`` and the logit difference are against its 8-bit digital model."""
    reference = mlp_study.DigitsStudy(seed, backend)
    split, mlp = reference.split, reference.mlp
    chosen = _reram(config)
    layers = [AnalogLayer(mlp.w1, chosen, bias=mlp.b1, seed=seed, backend=backend),
              AnalogLayer(mlp.w2, chosen, bias=mlp.b2, seed=(seed + 1) % 2**64, backend=backend)]
    layers[0].calibrate(split.x_train, method=config["calibration"])
    layers[1].calibrate(mlp.hidden(split.x_train), method=config["calibration"])
    if config["drift_time"] is not None:
        for layer in layers:
            layer.crossbars = layer.crossbars.at_time(config["drift_time"],
                                                      drift_compensation=config["drift_compensation"])
    hidden = numpy.maximum(layers[0].backend.to_host(layers[0](split.x_test)), 0.0)
    logits = numpy.asarray(layers[1].backend.to_host(layers[1](hidden)))
    accuracy = _accuracy(logits, split.y_test)
    return {"accuracy": accuracy, "float_accuracy": reference.float_accuracy,
            "digital_accuracy": _accuracy(reference.digital_logits, split.y_test),
            "accuracy_drop": reference.float_accuracy - accuracy,
            "max_logit_difference": float(numpy.abs(logits - reference.digital_logits).max())}


DIGITS_CNN_PARAMS = {
    "adc_bits": _ADC_BITS, "devices": _DEVICES, "drift_time": _DRIFT_TIME,
    "drift_compensation": _DRIFT_COMPENSATION,
    "calibration": Param(str, "none", "ADC full scale: default, or calibrated per layer on the training set",
                         choices=("none", "max", "percentile")),
    "epochs": Param(int, 3, "float training epochs", low=1, high=1000),
}


@functools.lru_cache(maxsize=4)
def _trained_cnn(seed: int, epochs: int) -> tuple:
    """The data, the trained CNN, its float accuracy and the digital reference's logits and accuracy."""
    from ..studies import digits_cnn  # noqa: PLC0415 - imports torch only when run

    torch = digits_cnn.require_torch()
    data = digits_cnn.load_digits_tensors(seed)
    torch.manual_seed(seed)
    model = digits_cnn.train(digits_cnn.small_cnn(), data[0], data[1], epochs, 0.01, seed)
    digital = digits_cnn.logits(digits_cnn.digital_reference(digits_cnn.emulated(model, data[0], None, "ideal",
                                                                                 seed)), data[2])
    return data, model, digits_cnn.accuracy(model, data[2], data[3]), digital, _accuracy(digital, data[3])


def digits_cnn(config: dict, seed: int, backend: str) -> dict:
    """The small CNN of :mod:`cim_emu.studies.digits_cnn` (torch on one thread, on the CPU)."""
    from ..nn import calibrate, convert, set_read_time  # noqa: PLC0415 - needs torch
    from ..studies import digits_cnn as cnn_study  # noqa: PLC0415 - imports torch only when run

    torch = cnn_study.require_torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        (x_train, _, x_test, y_test), model, float_accuracy, digital, digital_accuracy = _trained_cnn(
            seed, config["epochs"])
        converted = convert(model, _reram(config), seed=seed)
        adc: Optional[str] = None if config["calibration"] == "none" else config["calibration"]
        calibrate(converted, x_train, adc=adc)
        if config["drift_time"] is not None:
            set_read_time(converted, config["drift_time"], config["drift_compensation"])
        logits = cnn_study.logits(converted, x_test)
        accuracy = _accuracy(logits, y_test)
        return {"accuracy": accuracy, "float_accuracy": float_accuracy, "digital_accuracy": digital_accuracy,
                "accuracy_drop": float_accuracy - accuracy,
                "max_logit_difference": float((logits - digital).abs().max())}
    finally:
        torch.set_num_threads(threads)


SIMDRAM_APP_PARAMS = {
    "app": Param(str, "bitweaving-scan", "the application", choices=("bitweaving-scan", "bitmap-query", "bnn-layer")),
    "records": Param(int, 4096, "bitweaving-scan, bitmap-query: records (rows of the column, bits of a bitmap)",
                     low=1, high=2**26),
    "density": Param(float, 0.5, "bitmap-query: share of set bits in the 5 bitmaps", low=0.0, high=1.0),
    "bits": Param(int, 8, "bitweaving-scan: bits per value (the constant is 2**(bits-1))", low=1, high=32),
    "samples": Param(int, 16, "bnn-layer: input samples", low=1, high=4096),
    "neurons": Param(int, 10, "bnn-layer: neurons", low=1, high=4096),
    "features": Param(int, 64, "bnn-layer: inputs per neuron", low=1, high=256),
    **{k: AMBIT_FAULTS_PARAMS[k] for k in ("executor", "fault_preset", "config_file", "flip_probability",
                                           "only_when_inputs_disagree", "weak_column_fraction",
                                           "weak_column_flip_probability")},
}


def simdram_app(config: dict, seed: int, backend: str) -> dict:
    """The application's program (as :mod:`cim_emu.simdram.applications` builds it) run under the
    fault model on data drawn by ``numpy.random.default_rng(seed)``, against numpy's answer.

    ``wrong_fraction``: answers (scan and query matches; BNN activations) that differ;
    ``count_error``: scan and query, ``|count - true count|``; BNN, the mean ``|popcount - true
    popcount|``. The bitmap query is ``b0 AND b1 AND (b2 OR b3) AND NOT b4`` over 5 random bitmaps."""
    faults = fault_model(config["fault_preset"], config["config_file"], seed,
                         **{k: config[k] for k in ("flip_probability", "only_when_inputs_disagree",
                                                   "weak_column_fraction", "weak_column_flip_probability")})
    rng = numpy.random.default_rng(seed)
    rows = RowAllocator()
    if config["app"] == "bitweaving-scan":
        n, bits = config["records"], config["bits"]
        column = rng.integers(0, 2**bits, n, dtype=numpy.uint64)
        constant = 2 ** (bits - 1)
        stored = rows.take(bits, "the column")
        p = ProgramBuilder()
        result = compare_constant(p, rows, stored, "<", constant)
        program = p.program()
        (words,), cost = run_program(program, {stored: to_vertical(column, bits)}, [result], n,
                                     executor=config["executor"], faults=faults, backend=backend)
        matches = unpack_bits(numpy.asarray(words[0]), n)
        expected = column < constant
        wrong = int(numpy.count_nonzero(matches != expected))
        count_error = float(abs(int(matches.sum()) - int(expected.sum())))
        answers = n
    elif config["app"] == "bitmap-query":
        wrong, count_error, answers, cost = _bitmap_query(config, rng, rows, faults, backend)
    else:
        samples, neurons, features = config["samples"], config["neurons"], config["features"]
        x_bits = rng.random((samples, features)) < 0.5
        w_bits = rng.random((neurons, features)) < 0.5
        program, inputs, weights, counts, activation = bnn_program(features, rows)
        columns = samples * neurons
        planes = {inputs: numpy.stack([pack_bits(numpy.repeat(x_bits[:, k], neurons)) for k in range(features)]),
                  weights: numpy.stack([pack_bits(numpy.tile(w_bits[:, k], samples)) for k in range(features)])}
        (count_planes, activation_plane), cost = run_program(program, planes, [counts, activation], columns,
                                                             executor=config["executor"], faults=faults,
                                                             backend=backend)
        popcounts = from_vertical(numpy.asarray(count_planes), columns).astype(numpy.int64)
        activations = from_vertical(numpy.asarray(activation_plane), columns, dtype=bool)
        agree = (x_bits[:, None, :] == w_bits[None, :, :]).sum(axis=2).reshape(-1)
        wrong = int(numpy.count_nonzero(activations != (2 * agree - features >= 0)))
        count_error = float(numpy.abs(popcounts - agree).mean())
        answers = columns
    return {"wrong_fraction": wrong / answers, "count_error": count_error,
            "commands": int(sum(cost.commands.values())), "latency_ns": cost.latency_ns, "energy_nj": cost.energy_nj}


def _bitmap_query(config: dict, rng: Any, rows: RowAllocator, faults: Any, backend: str) -> tuple:
    """``b0 AND b1 AND (b2 OR b3) AND NOT b4``: ``(wrong, count_error, answers, cost)``."""
    n = config["records"]
    bitmaps = rng.random((5, n)) < config["density"]
    stored = rows.take(5, "the bitmaps")
    p = ProgramBuilder()
    terms = [and_or_reduce(p, rows, stored[0:2], "and")[0], and_or_reduce(p, rows, stored[2:4], "or")[0]]
    excluded = and_or_reduce(p, rows, stored[4:5], "or")[0]  # as bitmap_query builds none_of
    kept = rows.take_one("NOT none_of")
    extend(p, library.not_(excluded, kept))
    result = and_or_reduce(p, rows, (*terms, kept), "and")
    (words,), cost = run_program(p.program(), {stored: numpy.stack([pack_bits(b) for b in bitmaps])}, [result], n,
                                 executor=config["executor"], faults=faults, backend=backend)
    matches = unpack_bits(numpy.asarray(words[0]), n)
    expected = bitmaps[0] & bitmaps[1] & (bitmaps[2] | bitmaps[3]) & ~bitmaps[4]
    wrong = int(numpy.count_nonzero(matches != expected))
    return wrong, float(abs(int(matches.sum()) - int(expected.sum()))), n, cost
