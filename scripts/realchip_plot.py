"""The real-chip characterisation study beside the published points (needs matplotlib).

Runs :func:`cim_emu.studies.realchip_characterisation.characterise` (every published
configuration, SiMRA's and FCDRAM's methodology: share of an 8 KiB row's 65,536 bit positions
correct in every trial) and draws the measured success beside the published values, with the
+-3 point uncertainty of the values read off SiMRA Figure 7.

Also emulates 8-bit bit-serial addition with MAJ3 only and with MAJ5
(:mod:`cim_emu.ambit.realchip.adder`), and subtraction (MAJ3 / MAJ5) and the comparisons
``a > b``, ``a >= b`` (MAJ3 / MAJ7) (:mod:`cim_emu.ambit.realchip.arithmetic`): commands, DDR4
latency and success.

Writes ``realchip.json`` (every record, the adders, the other operations, the command) and
``realchip.png`` to ``--out`` (``docs/realchip/`` for the documentation).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from cim_emu.ambit.realchip.adder import VARIANTS, emulate_addition
from cim_emu.ambit.realchip.arithmetic import (
    CMP_VARIANTS,
    COMPARISONS,
    SUB_VARIANTS,
    emulate_comparison,
    emulate_subtraction,
)
from cim_emu.studies.realchip_characterisation import characterise


def plot(records: list, path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - optional dependency

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 5.4), gridspec_kw={"width_ratios": [3, 2]})
    for index, x in enumerate((3, 5, 7, 9)):
        for pattern, marker in (("solid", "o"), ("random", "s")):
            points = sorted((r["rows"], r) for r in records if r["op"] == "maj" and r["operands"] == x
                            and r["pattern"] == pattern)
            if not points:
                continue
            rows = [n for n, _ in points]
            published = [100 * r["published"] for _, r in points]
            left.errorbar(rows, published, yerr=100 * points[0][1]["uncertainty"], fmt="none", color=f"C{index}",
                          alpha=0.5, capsize=3)
            left.plot(rows, published, marker, color=f"C{index}", fillstyle="none", markersize=9,
                      label=f"MAJ{x} {pattern}, SiMRA Fig. 7")
            left.plot(rows, [100 * r["measured"] for _, r in points], marker, color=f"C{index}", markersize=4,
                      linestyle="-" if pattern == "solid" else ":", label=f"MAJ{x} {pattern}, emulated")
    left.set_xscale("log", base=2)
    left.set_xticks([4, 8, 16, 32], ["4", "8", "16", "32"])
    left.set_xlabel("rows opened (N)")
    left.set_ylabel("success (% of bits correct in every trial)")
    left.set_title("MAJX, t1 = 1.5 ns, t2 = 3 ns (open: published +-3, filled: emulated)", fontsize=9)
    left.grid(alpha=0.3)
    left.legend(fontsize=6, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    others = [r for r in records if r["op"] != "maj"]
    labels = [f"{r['op']} {r['rows']} {r['pattern'][0]}" for r in others]
    positions = range(len(others))
    right.scatter([100 * r["published"] for r in others], positions, facecolors="none", edgecolors="k", s=50,
                  label="published (text)")
    right.scatter([100 * r["measured"] for r in others], positions, color="C3", s=12, label="emulated")
    right.set_yticks(list(positions), labels, fontsize=6)
    right.set_xlabel("success (%)")
    right.set_title("Multi-RowCopy (SiMRA), NOT and N:N logic (FCDRAM)", fontsize=9)
    right.grid(alpha=0.3)
    right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list | None = None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for realchip.json and realchip.png")
    parser.add_argument("--trials", type=int, default=16, help="trials per configuration")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = "python scripts/realchip_plot.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    records = [r.as_dict() for r in characterise(False, args.seed, "numpy", trials=args.trials)]
    adders = [emulate_addition(v, bits=8, trials=args.trials, seed=args.seed).as_dict() for v in VARIANTS]
    arithmetic = [emulate_subtraction(v, bits=8, trials=args.trials, seed=args.seed).as_dict() for v in SUB_VARIANTS]
    arithmetic += [emulate_comparison(v, op, bits=8, trials=args.trials, seed=args.seed).as_dict()
                   for v in CMP_VARIANTS for op in COMPARISONS]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "realchip.json").write_text(json.dumps({"command": command, "records": records, "adders": adders,
                                                        "arithmetic": arithmetic}, indent=2) + "\n")
    plot(records, args.out / "realchip.png")
    print("| op | rows | X | data | measured % | published % | bound | passed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in records:
        print(f"| {r['op']} | {r['rows']} | {r['operands']} | {r['pattern']} | {100 * r['measured']:.2f} | "
              f"{100 * r['published']:.2f} | {100 * r['bound']:.2f} | {'yes' if r['passed'] else 'NO'} |")
    print("| operation | variant | majorities | APA | FRAC | latency us | success (whole result) | success per bit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in adders + arithmetic:
        print(f"| {r['operation']} | {r['variant']} | {r['majorities']} | {r['commands']['APA']} | "
              f"{r['commands']['FRAC']} | {r['latency_ns'] / 1000:.2f} | "
              f"{100 * r['success']:.2f} % | {100 * r['bit_success']:.2f} % |")
    print(f"wrote {args.out / 'realchip.json'} and {args.out / 'realchip.png'}")
    return records


if __name__ == "__main__":
    main()
