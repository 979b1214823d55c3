"""Digits CNN accuracy over time on emulated crossbars, 1 s to 1 year after programming (needs
torch, scikit-learn and matplotlib: ``pip install -e ".[test]"``).

Trains the small CNN of :mod:`cim_emu.studies.digits_cnn` in float, converts it
(:func:`cim_emu.nn.convert`, ISAAC-like crossbars, 8-bit ADC, input scales calibrated on the
training set), and reads the whole model at each time with :func:`cim_emu.nn.set_read_time`,
with and without global drift compensation, for the device presets with a time model:
``reram_wan2022`` (its three measured times, interpolated and extrapolated in log-time: see
``docs/spec/reram.md``) and ``pcm_joshi2020`` (power-law drift and 1/f read noise). Each point
is the mean over ``--seeds`` device seeds (programming noise and drift draws), with their range.

Writes ``digits_drift.json`` (every number, the command) and ``digits_drift.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

import torch

from cim_emu.nn import set_read_time
from cim_emu.reram import AdcConfig, DeviceModel, ReramConfig
from cim_emu.studies.digits_cnn import accuracy, load_digits_tensors, small_cnn, train

#: Read times: 1 s, 1 minute, 1 hour, 1 day, 2 days, 1 week, 1 month, 1 year.
TIMES = {"1 s": 1.0, "1 min": 60.0, "1 h": 3600.0, "1 day": 86400.0, "2 days": 172800.0,
         "1 week": 604800.0, "1 month": 2629800.0, "1 year": 31557600.0}
PRESETS = {"reram_wan2022": DeviceModel.reram_wan2022(), "pcm_joshi2020": DeviceModel.pcm_joshi2020()}


def study(epochs: int, seeds: int, adc_bits: int, seed: int) -> dict:
    from cim_emu.nn import calibrate, convert  # noqa: PLC0415

    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = load_digits_tensors(seed)
    model = train(small_cnn(), x_train, y_train, epochs, 0.01, seed)
    results: dict = {"float": accuracy(model, x_test, y_test), "adc_bits": adc_bits, "times": TIMES, "curves": []}
    for preset, devices in PRESETS.items():
        config = dataclasses.replace(ReramConfig(adc=AdcConfig(bits=adc_bits)), devices=devices)
        for compensation in (False, True):
            curve = {"devices": preset, "drift_compensation": compensation, "accuracy": {}}
            for device_seed in range(seeds):
                converted = convert(model, config, seed=1000 * device_seed)
                calibrate(converted, x_train)
                for label, t in TIMES.items():
                    set_read_time(converted, t, drift_compensation=compensation)
                    curve["accuracy"].setdefault(label, []).append(accuracy(converted, x_test, y_test))
            results["curves"].append(curve)
    return results


def plot(results: dict, path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - optional dependency

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(6.6, 4.2))
    times = list(results["times"].values())
    lowest = min(min(v) for curve in results["curves"] for v in curve["accuracy"].values())
    axes.axhline(results["float"], color="black", linestyle="--", label=f"float ({results['float']:.3f})")
    for index, curve in enumerate(results["curves"]):
        values = [curve["accuracy"][label] for label in results["times"]]
        mean = [sum(v) / len(v) for v in values]
        style = "-" if curve["drift_compensation"] else ":"
        label = f"{curve['devices']}, {'compensated' if curve['drift_compensation'] else 'uncompensated'}"
        axes.plot(times, mean, style, marker="os"[index // 2], color=f"C{index // 2}", label=label)
        axes.fill_between(times, [min(v) for v in values], [max(v) for v in values], color=f"C{index // 2}",
                          alpha=0.12)
    axes.axvspan(172800.0, times[-1], color="grey", alpha=0.08)
    axes.text(2e5, max(0.0, lowest - 0.04), "Wan 2022: extrapolated", fontsize=8, color="grey")
    axes.set_xscale("log")
    axes.set_xticks(times, list(results["times"]), rotation=30, fontsize=8)
    axes.set_xlabel("time after programming")
    axes.set_ylabel("test accuracy")
    axes.set_title(f"Digits CNN over time ({results['adc_bits']}-bit ADC; band: range over device seeds)")
    axes.set_ylim(max(0.0, lowest - 0.05), 1.005)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=8, framealpha=0.9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for digits_drift.json and digits_drift.png")
    parser.add_argument("--epochs", type=int, default=15, help="float training epochs")
    parser.add_argument("--seeds", type=int, default=3, help="device seeds per point")
    parser.add_argument("--adc-bits", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = "python scripts/digits_drift.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    results = {"command": command, **study(args.epochs, args.seeds, args.adc_bits, args.seed)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "digits_drift.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out / "digits_drift.png")
    print(f"float: {results['float']:.4f}")
    print("| devices | compensation | " + " | ".join(TIMES) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in TIMES) + " |")
    for curve in results["curves"]:
        cells = [f"{sum(v) / len(v):.3f}" for v in curve["accuracy"].values()]
        print(f"| {curve['devices']} | {'global' if curve['drift_compensation'] else 'none'} | "
              + " | ".join(cells) + " |")
    print(f"wrote {args.out / 'digits_drift.json'} and {args.out / 'digits_drift.png'}")
    print(f"command: {command}")
    return results


if __name__ == "__main__":
    main()
