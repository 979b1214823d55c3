"""IR drop against wire resistance and tile size: product error and digits CNN accuracy (needs
SciPy, torch, scikit-learn and matplotlib: ``pip install -e ".[test]"``).

For square tiles of each ``--tiles`` size and wire segments of each ``--resistances`` (ohms, word
and bit lines alike; cells of ``r_on`` = 25 kOhm at ``g_max``, Wan et al. 2022's 40 uS),
:mod:`cim_emu.studies.ir_drop` measures

* the relative RMS error of the currents (``x @ W_eff``, IR drop's alone) and of crossbar
  products ``x @ W`` (fixed point and a lossless unit-step ADC, which rounds drops under half a
  level step away) for 8-bit random inputs and weights, ``K = N = 256``, batch 64, ideal cells;
  and the mean shrinkage of the products (IR drop lowers every current);
* the test accuracy of the small digits CNN (:mod:`cim_emu.studies.digits_cnn`) converted with
  those tiles and wires (8-bit ADC, input scales calibrated on the training set).

Writes ``ir_drop.json`` (every number, the command) and ``ir_drop.png`` to ``--out``. The known
trend (e.g. CrossSim's and badcrossbar's studies): the error grows with the array size and with
``r_wire / r_on``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from cim_emu.studies.ir_drop import STUDY_R_ON, cnn_accuracies, product_errors


def plot(results: dict, path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - optional dependency

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for index, rows in enumerate(results["tiles"]):
        points = [p for p in results["products"] if p["rows"] == rows and p["r_wire"] > 0]
        left.plot([p["r_wire_over_r_on"] for p in points], [p["analog_relative_rms_error"] for p in points],
                  marker="o", color=f"C{index}", label=f"{rows} x {rows} tiles, currents")
        left.plot([p["r_wire_over_r_on"] for p in points], [max(p["relative_rms_error"], 1e-7) for p in points],
                  marker="s", linestyle=":", color=f"C{index}", label=f"{rows} x {rows}, through the ADC (0 at 1e-7)")
        cnn = [p for p in results["cnn"]["points"] if p["rows"] == rows]
        right.plot([max(p["r_wire_over_r_on"], results["x_floor"]) for p in cnn], [p["accuracy"] for p in cnn],
                   marker="o", color=f"C{index}", label=f"{rows} x {rows} tiles")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("r_wire / R_on (per segment)")
    left.set_ylabel("relative RMS error of x @ W")
    left.set_title(f"Products, K = N = {results['K']} (ideal cells)")
    float_accuracy = results["cnn"]["float"]
    right.axhline(float_accuracy, color="black", linestyle="--", label=f"float ({float_accuracy:.3f})")
    right.set_xscale("log")
    right.set_xlabel(f"r_wire / R_on (per segment; 0 drawn at {results['x_floor']:g})")
    right.set_ylabel("digits CNN test accuracy")
    right.set_title(f"Digits CNN ({results['cnn']['adc_bits']}-bit ADC, R_on = {results['r_on'] / 1e3:g} kOhm)")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for ir_drop.json and ir_drop.png")
    parser.add_argument("--tiles", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--resistances", type=float, nargs="+", default=[0.0, 0.25, 1.0, 4.0, 16.0, 64.0])
    parser.add_argument("--cnn-tiles", type=int, nargs="+", default=None,
                        help="tile sizes of the CNN (default: --tiles)")
    parser.add_argument("--epochs", type=int, default=15, help="float training epochs of the CNN")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = "python scripts/ir_drop_study.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    products = product_errors(args.tiles, args.resistances, seed=args.seed)
    cnn = cnn_accuracies(args.cnn_tiles or args.tiles, args.resistances, epochs=args.epochs, seed=args.seed)
    positive = [r for r in args.resistances if r > 0]
    results = {"command": command, "r_on": STUDY_R_ON, "K": 256, "tiles": args.tiles, "resistances": args.resistances,
               "x_floor": min(positive) / STUDY_R_ON / 4 if positive else 1e-6,
               "products": products, "cnn": cnn, "seconds": time.perf_counter() - start}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ir_drop.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out / "ir_drop.png")
    print("| tiles | r_wire (ohm) | r_wire / R_on | current RMS error | product RMS error | mean shrinkage "
          "| CNN accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    accuracy = {(p["rows"], p["r_wire"]): p["accuracy"] for p in cnn["points"]}
    for p in products:
        cell = accuracy.get((p["rows"], p["r_wire"]))
        print(f"| {p['rows']} | {p['r_wire']:g} | {p['r_wire_over_r_on']:.2e} | {p['analog_relative_rms_error']:.2e} | "
              f"{p['relative_rms_error']:.2e} | "
              f"{p['relative_mean_error']:+.2e} | {'' if cell is None else f'{cell:.3f}'} |")
    print(f"float CNN: {cnn['float']:.4f}; {results['seconds']:.0f} s")
    print(f"wrote {args.out / 'ir_drop.json'} and {args.out / 'ir_drop.png'}")
    return results


if __name__ == "__main__":
    main()
