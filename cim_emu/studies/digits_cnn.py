"""A small CNN on scikit-learn's digits on emulated ReRAM crossbars (needs torch and scikit-learn).

The reusable core of ``scripts/digits_cnn.py`` and of ``cim-emu accuracy``'s
``torch-digits-cnn`` section. torch is imported lazily (inside the functions), so that this
module imports without it; :func:`require_torch` raises :class:`TorchUnavailableError` with
the install hint when it is missing (:func:`cim_emu._optional.require`).

* :func:`load_digits_tensors`: images ``(n, 1, 8, 8)`` in [0, 1], a seeded 25 % held out;
* :func:`small_cnn`: ``conv(1->8, 3x3, pad 1) - ReLU - conv(8->16, 3x3, stride 2, pad 1) - ReLU
  - linear(256->10)``; :func:`train`: Adam on the cross-entropy, seeded mini-batches;
* :func:`emulated`: :func:`cim_emu.nn.convert` every layer (ISAAC-like defaults: 128x128
  crossbars, 8-bit weights per output channel in 2-bit cells, 8-bit unsigned inputs through
  1-bit DACs) with a given ADC resolution and device model, input scales calibrated on the
  training set (max), and optionally the ADC full scale calibrated per layer (``adc="max"``);
* :func:`digital_reference`: the same quantized model with every crossbar product replaced by
  the exact integer product ``x_q @ W_q`` (the "quantized float model": same quantization,
  same dequantization, no analog step).
"""

from __future__ import annotations

from typing import Any, Optional

from .._optional import require
from ..reram import AdcConfig, DeviceModel, ReramConfig
from .digits_mlp import load_digits_dataset

#: Device models of the study by name.
DEVICES = {"ideal": DeviceModel(), "reram_wan2022": DeviceModel.reram_wan2022()}
#: The lossless ADC resolution with the defaults (partial sums up to 384: 9 bits).
LOSSLESS_BITS = ReramConfig().adc_bits


class TorchUnavailableError(RuntimeError):
    """Raised when PyTorch (the 'torch' extra) is not installed."""


def require_torch() -> Any:
    """The ``torch`` module, or :class:`TorchUnavailableError` naming the extra to install."""
    return require("torch", error=TorchUnavailableError)


def load_digits_tensors(seed: int) -> tuple:
    """``(x_train, y_train, x_test, y_test)``: images ``(n, 1, 8, 8)`` in [0, 1], 25 % held out."""
    torch = require_torch()
    data = load_digits_dataset()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(data.target, dtype=torch.int64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = round(0.25 * len(y))
    return x[order[n_test:]], y[order[n_test:]], x[order[:n_test]], y[order[:n_test]]


def small_cnn() -> Any:
    """The untrained CNN (``nn.Sequential``)."""
    nn = require_torch().nn
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


def train(model: Any, x: Any, y: Any, epochs: int, lr: float, seed: int, batch: int = 64) -> Any:
    """Adam on the cross-entropy, shuffled mini-batches (seeded); returns the model in eval mode."""
    torch = require_torch()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for indices in torch.randperm(len(y), generator=generator).split(batch):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[indices]), y[indices]).backward()
            optimizer.step()
    return model.eval()


def logits(model: Any, x: Any) -> Any:
    with require_torch().no_grad():
        return model.eval()(x)


def accuracy(model: Any, x: Any, y: Any) -> float:
    return float((logits(model, x).argmax(1) == y).float().mean())


def config_for(adc_bits: Optional[int], devices: str) -> ReramConfig:
    """The ISAAC-like default configuration with ``adc_bits`` (None: lossless) and a device model."""
    return ReramConfig(adc=AdcConfig(bits=adc_bits), devices=DEVICES[devices])


def emulated(model: Any, x_train: Any, adc_bits: Optional[int], devices: str, seed: int,
             adc: Optional[str] = None, per_slice_and_chunk: bool = False) -> Any:
    """The float model converted to crossbars, input scales calibrated on ``x_train`` (max);
    ``adc="max"`` or ``"percentile"`` also calibrates each layer's ADC full scale from it (one
    per weight slice and input chunk with ``per_slice_and_chunk``)."""
    from ..nn import calibrate, convert  # noqa: PLC0415 - needs torch

    converted = convert(model, config_for(adc_bits, devices), seed=seed)
    calibrate(converted, x_train, adc=adc, adc_per_slice_and_chunk=per_slice_and_chunk)
    return converted


class _ExactProduct:
    """Stands in for a :class:`CrossbarArray`: ``x_q @ W_q`` exactly (int64)."""

    def __init__(self, weights: Any) -> None:
        self.weights = weights
        self.reads = 0  # counted by AnalogLayer.quantized_product_in_blocks, as a CrossbarArray counts them

    def matmul(self, x: Any, **_: Any) -> Any:
        return x @ self.weights


def digital_reference(converted: Any) -> Any:
    """Turn a converted (and calibrated) model, in place, into the quantized model without the
    analog step: every crossbar product becomes the exact integer product ``x_q @ W_q``, with
    the same quantization and dequantization. Returns it (in eval mode; while its weights do
    not change, the layers keep the replaced product)."""
    from ..nn import crossbar_layers  # noqa: PLC0415 - needs torch

    reference = converted.eval()
    for _, layer in crossbar_layers(reference):
        analog = layer.analog_layer()
        analog.crossbars = _ExactProduct(analog.quantized_weights)
    return reference


#: Float training epochs of the accuracy section, quick and full.
SECTION_EPOCHS_QUICK = 3
SECTION_EPOCHS_FULL = 15
#: ADC resolutions (None: lossless) and device models of the section, quick and full.
SECTION_ADC_BITS_QUICK = (6, 8, None)
SECTION_ADC_BITS_FULL = (5, 6, 7, 8, None)
SECTION_DEVICES_QUICK = ("ideal",)
SECTION_DEVICES_FULL = tuple(DEVICES)
#: ADC resolution also run with the full scale calibrated per layer from the training set (max).
CALIBRATED_ADC_BITS = 6
#: ADC resolution run calibrated per layer and per weight slice and input chunk (max): the second
#: at least as accurate as the first (measured at seed 0, 3 epochs: 0.911 -> 0.969).
RANGED_ADC_BITS = 4
#: Bounds: the float model reaches a floor (a check that training worked); ideal crossbars with
#: an ADC of BOUNDED_ADC_BITS or more lose at most ANALOG_ACCURACY_DROP against float (measured
#: at seeds 0-2, 3 epochs: at most 0.007); lossless ideal crossbars give the digital logits exactly.
FLOAT_ACCURACY_FLOOR = 0.85
ANALOG_ACCURACY_DROP = 0.05
BOUNDED_ADC_BITS = 8


def study(quick: bool, seed: int) -> list:
    """The records of ``cim-emu accuracy``'s ``torch-digits-cnn`` section: float, digital (exact
    integer products, :func:`digital_reference`) and emulated test accuracy, each with its
    bound and ``passed``. torch runs on at most 2 threads meanwhile (restored after), so the
    numbers and the time do not depend on the machine's core count. Raises :class:`TorchUnavailableError` or
    :class:`~cim_emu.studies.digits_mlp.DatasetUnavailableError` when a dependency is missing."""
    torch = require_torch()
    x_train, y_train, x_test, y_test = load_digits_tensors(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    try:
        torch.manual_seed(seed)
        epochs = SECTION_EPOCHS_QUICK if quick else SECTION_EPOCHS_FULL
        model = train(small_cnn(), x_train, y_train, epochs, 0.01, seed)
        float_accuracy = accuracy(model, x_test, y_test)
        digital = digital_reference(emulated(model, x_train, None, "ideal", seed))
        digital_logits = logits(digital, x_test)
        digital_accuracy = float((digital_logits.argmax(1) == y_test).float().mean())

        def record(name: str, devices: Optional[str], bits: Optional[int], full_scale: Optional[str], acc: float,
                   difference: Optional[float], bound: Optional[str], passed: bool) -> dict:
            return {"model": name, "devices": devices, "adc_bits": bits, "adc_full_scale": full_scale,
                    "accuracy": acc, "accuracy_drop": float_accuracy - acc, "max_logit_difference": difference,
                    "bound": bound, "passed": bool(passed)}

        records = [record("float", None, None, None, float_accuracy, None, f"accuracy >= {FLOAT_ACCURACY_FLOOR}",
                          float_accuracy >= FLOAT_ACCURACY_FLOOR),
                   record("digital", None, None, None, digital_accuracy, None, None, True)]
        devices = SECTION_DEVICES_QUICK if quick else SECTION_DEVICES_FULL
        bits_list = SECTION_ADC_BITS_QUICK if quick else SECTION_ADC_BITS_FULL
        runs = [(d, b, None, False) for d in devices for b in bits_list] + [
            ("ideal", CALIBRATED_ADC_BITS, "max", False), ("ideal", RANGED_ADC_BITS, "max", False),
            ("ideal", RANGED_ADC_BITS, "max", True)]
        per_layer_accuracy = 0.0
        for devices_name, bits, adc, per_slice_and_chunk in runs:
            converted = emulated(model, x_train, bits, devices_name, seed, adc=adc,
                                 per_slice_and_chunk=per_slice_and_chunk)
            out = logits(converted, x_test)
            acc = float((out.argmax(1) == y_test).float().mean())
            difference = float((out - digital_logits).abs().max())
            config = config_for(bits, devices_name)
            shown_bits = config.adc_bits
            bound, passed = None, True
            if devices_name == "ideal" and config.adc_lossless:
                bound, passed = "logits equal the digital model's", difference == 0.0 and acc == digital_accuracy
            elif devices_name == "ideal" and adc is None and shown_bits >= BOUNDED_ADC_BITS:
                bound, passed = f"drop <= {ANALOG_ACCURACY_DROP}", float_accuracy - acc <= ANALOG_ACCURACY_DROP
            elif per_slice_and_chunk:
                bound, passed = f"accuracy >= per layer's ({per_layer_accuracy:.4f})", acc >= per_layer_accuracy
            elif adc is not None and bits == RANGED_ADC_BITS:
                per_layer_accuracy = acc
            full_scale = ("default" if adc is None else
                          "calibrated per slice and chunk (max)" if per_slice_and_chunk else "calibrated (max)")
            records.append(record("emulated", devices_name, shown_bits, full_scale, acc, difference, bound, passed))
        return records
    finally:
        torch.set_num_threads(threads)
