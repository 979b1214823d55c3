"""A small CNN on scikit-learn's digits, on emulated ReRAM crossbars, before and after
hardware-aware fine-tuning (needs torch, scikit-learn and matplotlib: ``pip install -e ".[test]"``).

1. Train ``conv(1->8, 3x3, pad 1) - ReLU - conv(8->16, 3x3, stride 2, pad 1) - ReLU - linear(256->10)``
   in float on 75 % of the 1797 8x8 digits (pixels scaled to [0, 1]; nothing is downloaded).
2. :func:`cim_emu.nn.convert` every layer to crossbars (ISAAC-like: 128x128 crossbars,
   8-bit weights per output channel in 2-bit cells, 8-bit unsigned inputs through 1-bit DACs),
   input scales calibrated on the training set (max), and measure test accuracy for each ADC
   resolution (lossless = 9 bits) with ideal devices and with ``DeviceModel.reram_wan2022()``.
3. Fine-tune the converted model at one lossy setting (straight-through gradients through the
   emulated forward, fresh device noise every step, multiplicative weight noise) and measure
   it again at that setting.

The reusable core lives in :mod:`cim_emu.studies.digits_cnn` (also behind ``cim-emu accuracy``'s
``torch-digits-cnn`` section); this script keeps the command line and the output.

Writes ``digits_cnn.json`` (every number, the command) and ``digits_cnn.png`` (accuracy
against ADC bits) to ``--out``, and prints the table and the command that made them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from cim_emu.studies.digits_cnn import (  # noqa: F401 - re-exported
    DEVICES,
    LOSSLESS_BITS,
    accuracy,
    config_for,
    emulated,
    load_digits_tensors,
    small_cnn,
    train,
)


def plot(results: dict, path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - optional dependency ('cim-emu[plot]')

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    axes.axhline(results["float"], color="black", linestyle="--", label=f"float ({results['float']:.3f})")
    for devices, marker in zip(DEVICES, "os"):
        rows = [row for row in results["emulated"] if row["devices"] == devices]
        axes.plot([row["adc_bits"] for row in rows], [row["accuracy"] for row in rows], marker=marker,
                  label=f"converted, {devices} devices")
    tuned = results["fine_tuned"]
    axes.plot([tuned["adc_bits"]], [tuned["accuracy"]], marker="*", markersize=14, linestyle="none", color="C3",
              label=f"after fine-tuning ({tuned['devices']})")
    axes.set_xlabel(f"ADC bits ({LOSSLESS_BITS} = lossless)")
    axes.set_ylabel("test accuracy")
    axes.set_title("Digits CNN on emulated ReRAM crossbars (ISAAC-like)")
    axes.set_xticks(sorted({row["adc_bits"] for row in results["emulated"]}))
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for digits_cnn.json and digits_cnn.png")
    parser.add_argument("--adc-bits", type=int, nargs="+", default=[5, 6, 7, 8, LOSSLESS_BITS])
    parser.add_argument("--finetune-bits", type=int, default=6, help="ADC bits of the fine-tuned setting")
    parser.add_argument("--finetune-devices", choices=list(DEVICES), default="reram_wan2022")
    parser.add_argument("--epochs", type=int, default=15, help="float training epochs")
    parser.add_argument("--finetune-epochs", type=int, default=4)
    parser.add_argument("--finetune-lr", type=float, default=3e-3, help="Adam learning rate while fine-tuning")
    parser.add_argument("--weight-noise", type=float, default=0.02,
                        help="relative std of the multiplicative weight noise while fine-tuning")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = "python scripts/digits_cnn.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = load_digits_tensors(args.seed)

    start = time.perf_counter()
    model = train(small_cnn(), x_train, y_train, args.epochs, 0.01, args.seed)
    results = {"command": command, "float": accuracy(model, x_test, y_test),
               "float_training_s": time.perf_counter() - start, "emulated": []}
    for devices in DEVICES:
        for bits in args.adc_bits:
            converted = emulated(model, x_train, bits, devices, args.seed)
            results["emulated"].append({"adc_bits": bits, "lossless": config_for(bits, devices).adc_lossless,
                                        "devices": devices, "accuracy": accuracy(converted, x_test, y_test)})

    start = time.perf_counter()
    tuned = emulated(model, x_train, args.finetune_bits, args.finetune_devices, args.seed)
    for _, layer in tuned.named_modules():
        if hasattr(layer, "weight_noise"):
            layer.weight_noise = args.weight_noise
    train(tuned, x_train, y_train, args.finetune_epochs, args.finetune_lr, args.seed + 1)
    before = next(row["accuracy"] for row in results["emulated"]
                  if row["adc_bits"] == args.finetune_bits and row["devices"] == args.finetune_devices)
    results["fine_tuned"] = {"adc_bits": args.finetune_bits, "devices": args.finetune_devices,
                             "epochs": args.finetune_epochs, "lr": args.finetune_lr, "weight_noise": args.weight_noise,
                             "accuracy_before": before, "accuracy": accuracy(tuned, x_test, y_test),
                             "fine_tuning_s": time.perf_counter() - start}

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "digits_cnn.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out / "digits_cnn.png")
    print(f"float: {results['float']:.4f} (trained in {results['float_training_s']:.1f} s)")
    print("| ADC bits | " + " | ".join(DEVICES) + " |\n| --- | " + " | ".join("---" for _ in DEVICES) + " |")
    for bits in args.adc_bits:
        cells = [f"{row['accuracy']:.4f}" for row in results["emulated"] if row["adc_bits"] == bits]
        print(f"| {bits}{' (lossless)' if bits >= LOSSLESS_BITS else ''} | " + " | ".join(cells) + " |")
    tuned = results["fine_tuned"]
    print(f"fine-tuned at {tuned['adc_bits']}-bit ADC, {tuned['devices']}: {tuned['accuracy_before']:.4f} -> "
          f"{tuned['accuracy']:.4f} ({tuned['epochs']} epochs, {tuned['fine_tuning_s']:.1f} s)")
    print(f"wrote {args.out / 'digits_cnn.json'} and {args.out / 'digits_cnn.png'}")
    print(f"command: {command}")
    return results


if __name__ == "__main__":
    main()
