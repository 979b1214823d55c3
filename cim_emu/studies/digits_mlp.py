"""A small model on a real dataset, run in float, in 8-bit digital and on emulated crossbars.

The dataset is scikit-learn's handwritten digits (8x8 images of 0..16 grey levels, 1797
samples, 10 classes), which ships inside scikit-learn: nothing is downloaded. scikit-learn is
optional (``pip install 'cim-emu[data]'``); without it :func:`load_digits_dataset` (and so
:func:`load_digits_split`) raises :class:`DatasetUnavailableError`.

The model is a 64-32-10 multilayer perceptron ``logits = relu(x W1 + b1) W2 + b2`` on pixels
scaled to ``[0, 1]``, trained in plain numpy by full-batch gradient descent with momentum on
the softmax cross-entropy, seeded (:func:`train_mlp`). Its test accuracy is measured four ways
(:func:`evaluate`):

``float``
    float64 throughout.
``digital``
    8-bit post-training quantization with exact integer products: the weights of each layer
    quantized per output channel and its inputs with a scale calibrated once on the training
    set (the maximum; both layers' inputs are non-negative, so unsigned 8-bit), as in
    :mod:`cim_emu.reram.quantize`; ``y = (x_q @ W_q) * (s_x * s_w) + b`` with the biases
    digital.
``analog``
    The same quantized model, each layer an :class:`~cim_emu.reram.quantize.AnalogLayer` on
    emulated crossbars (ISAAC-like defaults: 128x128 crossbars, 2-bit cells, 1-bit DACs) with
    a given ADC resolution and device model. A lossless ADC with ideal devices gives exactly
    the integer product, so its logits equal the digital model's bit for bit.

Bounds (the ``passed`` of each :class:`DigitsAccuracy`): the float model reaches
:data:`FLOAT_ACCURACY_FLOOR`; the digital model loses at most :data:`DIGITAL_ACCURACY_DROP`
against float; the lossless ideal crossbars reproduce the digital logits exactly; an ideal
crossbar with an ADC of at least :data:`BOUNDED_ADC_BITS` bits loses at most
:data:`ANALOG_ACCURACY_DROP` against float. Lower resolutions and noisy devices are reported
without a bound.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Any, NamedTuple, Optional, Sequence

import numpy

from .._optional import optional, require
from ..backend import BackendLike
from ..reram.config import AdcConfig, ReramConfig
from ..reram.devices import DeviceModel
from ..reram.quantize import AnalogLayer, quantize_inputs

#: Test accuracy the float model must reach (a check that training worked).
FLOAT_ACCURACY_FLOOR = 0.93
#: Largest test-accuracy loss of the 8-bit digital model against float.
DIGITAL_ACCURACY_DROP = 0.01
#: Largest test-accuracy loss of ideal crossbars against float, for ADCs of BOUNDED_ADC_BITS or more.
#: With the default full scale (128 rows x 1-bit DAC x 2-bit cells = 384) an 8-bit ADC rounds
#: every partial sum to steps of 1.5; over seeds 0-39 this cost a median 0.037 and at most 0.111.
ANALOG_ACCURACY_DROP = 0.15
#: ADC resolutions from which the ideal crossbars are held to ANALOG_ACCURACY_DROP.
BOUNDED_ADC_BITS = 8

#: Fraction of the 1797 samples held out for testing (a seeded permutation picks them).
TEST_FRACTION = 0.25
#: Hidden units, gradient-descent steps, learning rate and momentum of :func:`train_mlp`.
HIDDEN_UNITS = 32
TRAINING_STEPS = 300
LEARNING_RATE = 0.5
MOMENTUM = 0.9


class DatasetUnavailableError(RuntimeError):
    """Raised when scikit-learn, which ships the digits dataset, is not installed."""


class DigitsSplit(NamedTuple):
    """Pixels in ``[0, 1]`` (``(n, 64)`` float64) and labels (``(n,)`` int), train and test."""

    x_train: numpy.ndarray
    y_train: numpy.ndarray
    x_test: numpy.ndarray
    y_test: numpy.ndarray


class Mlp(NamedTuple):
    """The 64-32-10 perceptron's parameters: ``relu(x @ w1 + b1) @ w2 + b2``."""

    w1: numpy.ndarray
    b1: numpy.ndarray
    w2: numpy.ndarray
    b2: numpy.ndarray

    def hidden(self, x: numpy.ndarray) -> numpy.ndarray:
        """The hidden layer's activations ``relu(x @ w1 + b1)``."""
        return numpy.maximum(x @ self.w1 + self.b1, 0.0)

    def logits(self, x: numpy.ndarray) -> numpy.ndarray:
        return self.hidden(x) @ self.w2 + self.b2


def _read_only(*arrays: numpy.ndarray) -> list:
    for array in arrays:
        array.setflags(write=False)
    return list(arrays)


def load_digits_dataset() -> Any:
    """scikit-learn's digits (``load_digits()``: ``data`` ``(1797, 64)`` of 0..16, ``target``), or
    :class:`DatasetUnavailableError` naming the extra when scikit-learn is missing."""
    datasets = require("sklearn.datasets", context="the digits dataset ships with", error=DatasetUnavailableError)
    return datasets.load_digits()


def load_digits_split(seed: int = 0, test_fraction: float = TEST_FRACTION) -> DigitsSplit:
    """scikit-learn's digits, pixels scaled to ``[0, 1]``, split by a permutation seeded with ``seed``."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
    data = load_digits_dataset()
    x = data.data.astype(numpy.float64) / 16.0
    y = data.target.astype(numpy.int64)
    order = numpy.random.default_rng(seed).permutation(len(y))
    n_test = round(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return DigitsSplit(*_read_only(x[train], y[train], x[test], y[test]))


def train_mlp(x: numpy.ndarray, y: numpy.ndarray, seed: int = 0, hidden_units: int = HIDDEN_UNITS,
              steps: int = TRAINING_STEPS) -> Mlp:
    """Train the perceptron on inputs ``x`` ``(n, features)`` and labels ``y`` ``(n,)``:
    full-batch gradient descent with momentum on the mean softmax cross-entropy,
    He-initialised weights seeded with ``seed``, in float32 (fast); the parameters are
    returned in float64. Deterministic for a given numpy build.
    """
    n_classes = int(y.max()) + 1
    rng = numpy.random.default_rng(seed)
    params = [rng.standard_normal((x.shape[1], hidden_units)) * numpy.sqrt(2 / x.shape[1]),
              numpy.zeros(hidden_units),
              rng.standard_normal((hidden_units, n_classes)) * numpy.sqrt(2 / hidden_units),
              numpy.zeros(n_classes)]
    params = [p.astype(numpy.float32) for p in params]
    velocity = [numpy.zeros_like(p) for p in params]
    x = numpy.asarray(x, dtype=numpy.float32)
    one_hot = numpy.eye(n_classes, dtype=numpy.float32)[y]
    for _ in range(steps):
        w1, b1, w2, b2 = params
        pre = x @ w1 + b1
        hidden = numpy.maximum(pre, 0.0)
        logits = hidden @ w2 + b2
        probabilities = numpy.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        d_logits = (probabilities - one_hot) / len(y)
        d_pre = (d_logits @ w2.T) * (pre > 0)
        gradients = [x.T @ d_pre, d_pre.sum(axis=0), hidden.T @ d_logits, d_logits.sum(axis=0)]
        for p, v, g in zip(params, velocity, gradients):
            v *= MOMENTUM
            v -= LEARNING_RATE * g
            p += v
    return Mlp(*_read_only(*(p.astype(numpy.float64) for p in params)))


@functools.lru_cache(maxsize=4)
def trained_model(seed: int = 0) -> tuple[DigitsSplit, Mlp]:
    """The split of :func:`load_digits_split` and the perceptron :func:`train_mlp` fits to it,
    both seeded with ``seed`` (cached: repeated evaluations train once)."""
    split = load_digits_split(seed)
    with _one_blas_thread():
        return split, train_mlp(split.x_train, split.y_train, seed)


def _one_blas_thread() -> Any:
    """Limit BLAS to one thread while training: the products are small, threads cost more than
    they save (far more when another process holds a core), and one thread makes the float
    sums, and so the trained weights, the same on every machine. threadpoolctl comes with
    scikit-learn; without it nothing changes."""
    threadpoolctl = optional("threadpoolctl")
    if threadpoolctl is None:
        return contextlib.nullcontext()
    return threadpoolctl.threadpool_limits(limits=1, user_api="blas")


@dataclasses.dataclass(frozen=True)
class DigitsAccuracy:
    """The test accuracy of one way of running the model, against its bound."""

    model: str
    """``"float"``, ``"digital"`` (8-bit, exact integer products) or ``"analog"`` (crossbars)."""

    adc_bits: Optional[int]
    """The crossbars' ADC resolution (``None`` for float and digital)."""

    adc_lossless: Optional[bool]
    """Whether that ADC converts every partial sum exactly (``None`` for float and digital)."""

    devices: Optional[str]
    """The device model's name (``None`` for float and digital)."""

    accuracy: float
    """Fraction of the test set classified correctly."""

    accuracy_drop: float
    """Float accuracy minus this accuracy (negative when this one is better)."""

    max_logit_difference: Optional[float]
    """Largest ``|logit - digital logit|`` over the test set (``None`` for float and digital)."""

    bound: Optional[str]
    """What this configuration must satisfy, in words, or ``None`` when nothing is required."""

    passed: bool

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class _QuantizedMlp:
    """The perceptron's two layers, quantized once: input scales calibrated on the training set."""

    def __init__(self, mlp: Mlp, x_calibration: numpy.ndarray, config: ReramConfig, seed: int,
                 backend: BackendLike = "numpy") -> None:
        self.mlp = mlp
        self.layers = [AnalogLayer(mlp.w1, config, bias=mlp.b1, seed=seed, backend=backend),
                       AnalogLayer(mlp.w2, config, bias=mlp.b2, seed=(seed + 1) % 2**64, backend=backend)]
        self.layers[0].calibrate(x_calibration)
        self.layers[1].calibrate(mlp.hidden(x_calibration))

    def digital_logits(self, x: numpy.ndarray) -> numpy.ndarray:
        """Exact integer products of the quantized layers (no crossbars)."""
        for index, layer in enumerate(self.layers):
            x_q, x_scale = quantize_inputs(x, layer.config, layer.input_scale)
            x = (x_q @ layer.quantized_weights).astype(numpy.float64) * (x_scale * layer.weight_scale) + layer.bias
            if index == 0:
                x = numpy.maximum(x, 0.0)
        return x

    def analog_logits(self, x: numpy.ndarray) -> numpy.ndarray:
        """The layers on their emulated crossbars."""
        return self.layers[1](numpy.maximum(self.layers[0](x), 0.0))


def _accuracy(logits: numpy.ndarray, labels: numpy.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


class DigitsStudy:
    """The trained digits model and its float and 8-bit digital results, to run configurations against.

    ``seed`` keys the split, the training and every configuration's device noise; ``backend``
    is where the crossbars compute (the float and digital models run on numpy).
    """

    def __init__(self, seed: int = 0, backend: BackendLike = "numpy") -> None:
        self.seed = seed
        self.backend = backend
        self.split, self.mlp = trained_model(seed)
        self.float_accuracy = _accuracy(self.mlp.logits(self.split.x_test), self.split.y_test)
        self.digital_logits = _QuantizedMlp(self.mlp, self.split.x_train, ReramConfig(), seed).digital_logits(
            self.split.x_test)

    def references(self) -> list:
        """The float and the 8-bit digital model's :class:`DigitsAccuracy`, against their bounds."""
        float_accuracy = self.float_accuracy
        digital = _accuracy(self.digital_logits, self.split.y_test)
        return [
            DigitsAccuracy("float", None, None, None, float_accuracy, 0.0, None,
                           f"accuracy >= {FLOAT_ACCURACY_FLOOR}", float_accuracy >= FLOAT_ACCURACY_FLOOR),
            DigitsAccuracy("digital", None, None, None, digital, float_accuracy - digital, None,
                           f"drop <= {DIGITAL_ACCURACY_DROP}", float_accuracy - digital <= DIGITAL_ACCURACY_DROP),
        ]

    def analog(self, name: str, devices: DeviceModel, adc_bits: Optional[int]) -> DigitsAccuracy:
        """The model on crossbars with ``devices`` (reported as ``name``) and an ADC of
        ``adc_bits`` bits (``None``: the lossless default)."""
        config = ReramConfig(adc=AdcConfig(bits=adc_bits), devices=devices)
        layers = _QuantizedMlp(self.mlp, self.split.x_train, config, self.seed, self.backend)
        logits = layers.analog_logits(self.split.x_test)
        accuracy = _accuracy(logits, self.split.y_test)
        drop = self.float_accuracy - accuracy
        difference = float(numpy.abs(logits - self.digital_logits).max())
        bound, passed = _analog_bound(config, devices, drop, difference)
        return DigitsAccuracy("analog", config.adc_bits, config.adc_lossless, name, accuracy, drop, difference,
                              bound, passed)


def evaluate(devices: dict, adc_bits: Sequence[Optional[int]] = (4, 6, 8, None), *, seed: int = 0,
             backend: BackendLike = "numpy") -> list:
    """Test accuracy of the digits model in float, 8-bit digital, and on crossbars.

    ``devices`` maps names to :class:`~cim_emu.reram.devices.DeviceModel`; ``adc_bits``
    lists ADC resolutions (``None``: the lossless default). Every (device, resolution) pair is
    one analog configuration. Returns :class:`DigitsAccuracy` records: float, digital, then
    the analog ones, device by device.
    """
    study = DigitsStudy(seed, backend)
    return study.references() + [study.analog(name, model, bits)
                                 for name, model in devices.items() for bits in adc_bits]


def _analog_bound(config: ReramConfig, devices: DeviceModel, drop: float,
                  logit_difference: float) -> tuple[Optional[str], bool]:
    """The bound an analog configuration is held to, in words, and whether it holds."""
    if not devices.ideal:
        return None, True
    if config.adc_lossless:
        return "logits equal the digital model's", logit_difference == 0.0
    if config.adc_bits >= BOUNDED_ADC_BITS:
        return f"drop <= {ANALOG_ACCURACY_DROP}", drop <= ANALOG_ACCURACY_DROP
    return None, True
