"""Whole models on emulated crossbars against the same float model, in one run (needs torch).

The models are :mod:`~cim_emu.studies.models`' CIFAR-style ResNet-18 and transformer block.
Each :class:`ModelCase` converts the float model with :func:`cim_emu.nn.convert` and ISAAC-like
defaults (``ReramConfig(adc=AdcConfig(bits=8))``: 8-bit ADC, 8-bit weights in 2-bit cells,
8-bit inputs through 1-bit DACs, 128-row tiles), with ideal devices or
``DeviceModel.reram_wan2022()``. Layers whose inputs are signed (the ResNet's stem convolution,
which sees normalised images; the transformer's ``q``, ``k``, ``v``, ``out`` and ``up``, which
see LayerNorm or attention outputs) get ``InputEncoding(signed=True)`` through ``convert``'s
per-layer ``configs``; every other layer sees non-negative inputs (a ReLU's output). BatchNorm
statistics are settled on the calibration batch (:func:`~cim_emu.studies.models.settle_batch_norm`);
then :func:`cim_emu.nn.calibrate` fixes every layer's input scale and (lossy ADCs) its ADC full
scale from that batch (``adc="max"``). The timed batch is another seeded draw.

:func:`model_benchmark` times, by :mod:`~cim_emu.studies.timing` (interleaved rounds, medians,
threads pinned and stated): eval, a forward pass under ``torch.no_grad()``; train, one step
(forward in train mode, the loss - cross entropy on seeded labels, or the mean squared output of
the block - backward, ``SGD(lr=0.01).step()``), on both models from the same weights. A warm-up
round (the emulator's programs its crossbars) gives the outputs compared: ``relative_error``
``= ||y_emulated - y_float|| / ||y_float||`` and, for the classifier, ``top1_agreement``. Then
``rounds`` timed rounds (default 7, however long a run takes; ``rounds_rule`` states them and
the warm-up's time). The floor is the
float model itself (the emulated model does all its work and more): a ratio below 0.8 is
implausible.

Peak memory (``memory=True``): each side is built again in a fresh Python process
(:func:`peak_memory`), with the same threads; after the set-up (model built, converted and
calibrated) its peak resident set is reset (``/proc/self/clear_refs``) and one run made; the
record holds the peak (``VmHWM``: the whole process, torch and the model included) and the
resident set when the run started. Where the peak cannot be reset, ``ru_maxrss`` of the
process (set-up included) stands in, and ``memory_method`` says so. ``setup_peak_rss_bytes`` is
the peak of the set-up itself (building, converting, calibrating and programming the model). On CUDA it adds torch's
peak device allocation and CuPy's pool.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any, Callable, Optional

from .._checks import positive_int
from ..reram import ReramConfig
from .digits_cnn import DEVICES, config_for
from .models import MODELS, require_torch, settle_batch_norm
from .timing import ROUNDS, Driver, interleaved, pinned_threads, plausibility

#: The ISAAC-like ADC resolution of the benchmark (``None`` in a case: lossless).
ADC_BITS = 8
#: Batch of each model's eval case, and of the training step.
BATCH = {"resnet18": 32, "transformer": 8}
TRAIN_BATCH = 32
#: Inputs of the calibration batch (BatchNorm statistics, input scales, ADC full scales).
CALIBRATION_BATCH = {"resnet18": 16, "transformer": 4}
#: Batch of every case with ``quick=True`` (a smoke test).
QUICK_BATCH = 2
MODES = ("eval", "train")
#: The float model's own work: the emulated model cannot take less.
FLOOR_BASIS = "the float model's own work, which the emulated model does too (its products at least once)"


@dataclasses.dataclass(frozen=True)
class ModelCase:
    """One model benchmark: model, eval or a training step, device model, batch, ADC bits."""

    model: str
    mode: str
    devices: str
    batch: int
    adc_bits: Optional[int] = ADC_BITS
    """ADC resolution; ``None``: lossless."""
    calibration_batch: Optional[int] = None
    """Inputs of the calibration batch; ``None``: :data:`CALIBRATION_BATCH` of the model."""
    config: Optional[dict] = None
    """A ReRAM configuration (:meth:`ReramConfig.to_dict`) in place of the ISAAC-like default with
    ``adc_bits`` and ``devices`` (``cim-emu bench --engine models --config/--preset``)."""

    def __post_init__(self) -> None:
        for name, value, allowed in (("model", self.model, MODELS), ("mode", self.mode, MODES),
                                     ("devices", self.devices, DEVICES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        positive_int("batch", self.batch)
        if self.calibration_batch is not None:
            positive_int("calibration_batch", self.calibration_batch)
        self.configuration  # noqa: B018 - a bad configuration is refused here

    @property
    def configuration(self) -> ReramConfig:
        """The crossbars' configuration: :attr:`config`, or the default with ``adc_bits`` and ``devices``."""
        return ReramConfig.from_dict(self.config) if self.config is not None else config_for(self.adc_bits,
                                                                                            self.devices)

    @property
    def calibration_inputs(self) -> int:
        """Inputs of the calibration batch."""
        return self.calibration_batch or CALIBRATION_BATCH[self.model]

    @property
    def name(self) -> str:
        """e.g. ``"resnet18-eval-ideal"`` (``-lossless`` added without an ADC resolution;
        ``"resnet18-eval-configured"`` with a :attr:`config`)."""
        if self.config is not None:
            return f"{self.model}-{self.mode}-configured"
        return f"{self.model}-{self.mode}-{self.devices}" + ("-lossless" if self.adc_bits is None else "")


def default_cases(quick: bool = False, train_batch: int = TRAIN_BATCH) -> list:
    """The benchmark's cases: ResNet-18 eval (ideal, ``reram_wan2022``), its training step
    (``reram_wan2022``, batch ``train_batch``), the transformer block eval (ideal,
    ``reram_wan2022``); every batch, the calibration batch too, :data:`QUICK_BATCH` when ``quick``."""
    def batch(model: str, mode: str) -> int:
        return QUICK_BATCH if quick else (train_batch if mode == "train" else BATCH[model])

    plan = [("resnet18", "eval", "ideal"), ("resnet18", "eval", "reram_wan2022"),
            ("resnet18", "train", "reram_wan2022"), ("transformer", "eval", "ideal"),
            ("transformer", "eval", "reram_wan2022")]
    return [ModelCase(model, mode, devices, batch(model, mode), calibration_batch=QUICK_BATCH if quick else None)
            for model, mode, devices in plan]


#: The names of :func:`default_cases`.
CASE_NAMES = tuple(case.name for case in default_cases())


@dataclasses.dataclass
class _Sides:
    """What one case runs: ``runs`` (side name -> one timed run), the inputs and the layers."""

    runs: dict
    x: Any
    synchronize: Callable[[], None]
    crossbar_layers: int = 0


def _prepare(case: ModelCase, seed: int, device: str, sides: tuple = ("baseline", "emulator")) -> _Sides:
    """The case's ``sides`` ready to run: the float model (``"baseline"``) and its converted,
    calibrated copy (``"emulator"``), on ``device``, in the case's mode."""
    torch = require_torch()
    from ..nn import calibrate, convert, crossbar_layers  # noqa: PLC0415 - needs torch

    spec = MODELS[case.model]
    torch.manual_seed(seed)
    model = spec.build()
    calibration = spec.inputs(case.calibration_inputs, torch.Generator().manual_seed(seed + 1))
    settle_batch_norm(model, [calibration])
    x = spec.inputs(case.batch, torch.Generator().manual_seed(seed + 2)).to(device)
    models = {"baseline": model.to(device)} if "baseline" in sides else {}
    layers = 0
    if "emulator" in sides:
        config = case.configuration
        signed = dataclasses.replace(config, inputs=dataclasses.replace(config.inputs, signed=True))
        emulated = convert(model, config, configs={name: signed for name in spec.signed_layers}, seed=seed,
                           inplace="baseline" not in sides)
        calibrate(emulated, calibration.to(device), adc=None if config.adc_lossless else "max")
        models["emulator"] = emulated
        layers = len(crossbar_layers(emulated))
    del model

    def runner(module: Any) -> Callable[[], Any]:
        if case.mode == "eval":
            module.eval()

            def forward() -> Any:
                with torch.no_grad():
                    return module(x)
            return forward
        module.train()
        optimizer = torch.optim.SGD(module.parameters(), lr=0.01)

        def step() -> Any:
            optimizer.zero_grad(set_to_none=True)
            out = module(x)
            spec.loss(out, torch.Generator().manual_seed(seed + 3)).backward()
            optimizer.step()
            return out.detach()
        return step

    synchronize = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    return _Sides({name: runner(module) for name, module in models.items()}, x, synchronize, layers)


def _compare(y_emulated: Any, y_float: Any, classes: Optional[int]) -> dict:
    """``relative_error`` (2-norm of the difference over the float output's) and ``top1_agreement``."""
    torch = require_torch()
    difference, reference = (t.detach().to(torch.float64) for t in (y_emulated - y_float, y_float))
    agreement = None if classes is None else float((y_emulated.argmax(1) == y_float.argmax(1)).float().mean())
    return {"relative_error": float(torch.linalg.vector_norm(difference) / torch.linalg.vector_norm(reference)),
            "top1_agreement": agreement}


def model_benchmark(case: ModelCase, *, seed: int = 0, rounds: int = ROUNDS,
                    threads: Optional[int] = None, memory: bool = True, device: str = "cpu",
                    driver: Optional[Driver] = None) -> dict:
    """One case timed against the float model (see the module docstring); the record's keys
    are listed in ``cim_emu/cli/README.md`` (``cim-emu bench --engine models``)."""
    positive_int("rounds", rounds)
    spec, config = MODELS[case.model], case.configuration
    require_torch()  # loaded before the threads are pinned, so that torch's are pinned too
    with pinned_threads(threads) as pinned:
        sides = _prepare(case, seed, device)
        y_float = sides.runs["baseline"]()
        start = time.perf_counter()
        y_emulated = sides.runs["emulator"]()
        sides.synchronize()
        warmup_s = time.perf_counter() - start
        compared = _compare(y_emulated, y_float, spec.classes)
        timings = interleaved(sides.runs, rounds, synchronize=sides.synchronize, driver=driver, warmup=False)
    record = {"engine": "models", "case": case.name, "model": case.model, "mode": case.mode,
              "devices": case.devices if case.config is None else "configured", "batch": case.batch,
              "input_shape": list(sides.x.shape), "adc_bits": config.adc_bits, "device": str(device),
              "config": str(config), "signed_input_layers": list(spec.signed_layers),
              "crossbar_layers": sides.crossbar_layers,
              "calibration": f"calibrate(model, batch of {case.calibration_inputs}, "
                             f"adc={None if config.adc_lossless else 'max'!r})",
              "baseline": f"the float32 torch model ({case.mode}), same weights",
              **timings.record(),
              "rounds_rule": f"{rounds} rounds; the emulator's warm-up run took {warmup_s:.3g} s",
              "emulator_cores_busy": timings.cpu("emulator") / timings.wall("emulator"),
              "baseline_cores_busy": timings.cpu("baseline") / timings.wall("baseline"),
              "emulator_rounds_s": timings.wall_s["emulator"], "baseline_rounds_s": timings.wall_s["baseline"],
              **compared, "threads": pinned["threads"], "thread_settings": pinned}
    if memory:
        peaks = {side: peak_memory(case, side, seed=seed, threads=pinned["threads"], device=device)
                 for side in ("baseline", "emulator")}
        for side, peak in peaks.items():
            record.update({f"{side}_{key}": value for key, value in peak.items() if key != "memory_method"})
        record["peak_memory_ratio"] = peaks["emulator"]["peak_rss_bytes"] / peaks["baseline"]["peak_rss_bytes"]
        record["setup_peak_memory_ratio"] = (peaks["emulator"]["setup_peak_rss_bytes"]
                                             / peaks["baseline"]["peak_rss_bytes"])
        record["memory_method"] = peaks["emulator"]["memory_method"]
    record.update(plausibility(record["ratio_to_baseline"], 1.0, FLOOR_BASIS))
    return record


# -- peak memory, in a fresh process per side ---------------------------------------------------
_CHILD = "from cim_emu.studies.model_benchmarks import memory_child; memory_child()"


def peak_memory(case: ModelCase, side: str, *, seed: int = 0, threads: Optional[int] = None,
                device: str = "cpu") -> dict:
    """Peak memory of one run of ``side`` (``"baseline"`` or ``"emulator"``) of ``case`` in a
    fresh Python process (see the module docstring): ``peak_rss_bytes``,
    ``rss_before_run_bytes``, ``memory_method`` (and on CUDA ``device_peak_bytes``,
    ``cupy_pool_bytes``)."""
    if side not in ("baseline", "emulator"):
        raise ValueError(f"side must be 'baseline' or 'emulator'; got {side!r}")
    arguments = json.dumps({"case": dataclasses.asdict(case), "side": side, "seed": seed, "threads": threads,
                            "device": device})
    done = subprocess.run([sys.executable, "-c", _CHILD, arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"peak memory of {case.name} ({side}) failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _proc_status() -> dict:
    """``VmRSS`` and ``VmHWM`` in bytes, from ``/proc/self/status`` (empty where there is none)."""
    try:
        with open("/proc/self/status") as status:
            lines = [line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM"))]
    except OSError:
        return {}
    return {name: int(value.split()[0]) * 1024 for name, value in lines}


def _reset_peak() -> bool:
    """Reset the peak resident set (Linux: ``/proc/self/clear_refs``); whether it was reset."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return "VmHWM" in _proc_status()


def memory_child(argv: Optional[list] = None) -> None:
    """The child of :func:`peak_memory`: builds one side, resets the peak, runs it once and
    prints one JSON line."""
    arguments = json.loads((argv or sys.argv)[1])
    device = arguments["device"]
    torch = require_torch()  # loaded before the threads are pinned, so that torch's are pinned too
    with pinned_threads(arguments["threads"]):
        sides = _prepare(ModelCase(**arguments["case"]), arguments["seed"], device, sides=(arguments["side"],))
        run = sides.runs[arguments["side"]]
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        setup_peak = _proc_status().get("VmHWM")
        reset = _reset_peak()
        before = _proc_status().get("VmRSS")
        run()
        sides.synchronize()
        if reset:
            peak, method = _proc_status()["VmHWM"], "VmHWM after /proc/self/clear_refs (set-up excluded)"
        else:
            scale = 1 if sys.platform == "darwin" else 1024
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
            method = "ru_maxrss of the process (set-up included: the peak could not be reset)"
    result = {"peak_rss_bytes": peak, "rss_before_run_bytes": before, "setup_peak_rss_bytes": setup_peak,
              "memory_method": method}
    if device.startswith("cuda"):
        cupy = sys.modules.get("cupy")
        result.update(device_peak_bytes=torch.cuda.max_memory_allocated(),
                      cupy_pool_bytes=None if cupy is None else cupy.get_default_memory_pool().total_bytes())
    print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (thread pools, torch): the result is out
