"""Print docs/simdram.md's table of SIMDRAM command counts, latency, energy and throughput.

    python scripts/simdram_table.py

Counts are the lengths of the programs cim-emu builds; latency, energy and throughput come from
the default cost model (DDR3-1600, 8 banks of 8-KiB rows: :mod:`cim_emu.ambit.cost`) for 2**19
elements, one 8-KiB row in each of the 8 banks.
"""

from cim_emu.simdram import OPERATIONS, modelled_cost

WIDTHS = (8, 16, 32)
ELEMENTS = 8 * 8192 * 8  # one 8-KiB row (65536 columns) in each of 8 banks


def main() -> None:
    print("| operation | " + " | ".join(f"{n}-bit commands" for n in WIDTHS)
          + " | 32-bit latency (µs) | 32-bit energy (µJ) | 32-bit G elements/s |")
    print("| --- |" + " --- |" * (len(WIDTHS) + 3))
    for name in OPERATIONS:
        signed = name in ("abs", "relu")
        costs = [modelled_cost(name, n, ELEMENTS, signed=signed) for n in WIDTHS]
        top = costs[-1]
        label = f"{name} (signed)" if signed else name
        print(f"| {label} | " + " | ".join(str(sum(c.commands.values())) for c in costs)
              + f" | {top.latency_ns / 1e3:.1f} | {top.energy_nj / 1e3:.1f} | "
              f"{ELEMENTS / top.latency_ns:.2f} |")


if __name__ == "__main__":
    main()
