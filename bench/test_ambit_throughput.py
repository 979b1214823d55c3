"""Fast Ambit executor against numpy's bitwise ufuncs on long rows.

Each benchmark times the emulator (pytest-benchmark) and, in the same test, numpy's single
call on the same data, and stores the ratio in ``extra_info``:

* ``ratio_to_numpy`` — emulator time / ``numpy.bitwise_and(a, b)`` (or ``bitwise_xor``), the
  single call that allocates its result (the issue's target: within 1.3x with only the
  destination row materialised, within 2.5x with the full state);
* ``ratio_to_numpy_in_place`` — emulator time / the same call with ``out=`` a preallocated
  array (the memory-traffic floor: read two rows, write one).

The emulator runs the paper's AAP/AP program (AND: 4 AAP; XOR: 5 AAP + 2 AP) on a subarray
whose rows D0 and D1 hold the operands. ``scratch="drop"`` materialises only the destination
row D2; ``scratch="keep"`` also every designated row (T0..T3, DCC0, DCC1) the program
changes. Rows that end with equal values share one buffer (RowClone modelled as sharing),
so "keep" writes AND's result once and XOR's three distinct values (the XOR and the two
DCC half-terms) once each. Steady state: the subarray is reused across rounds, as rows of
memory are, so results are written into the buffers the overwritten rows release.

The measurement is :func:`cim_emu.studies.benchmarks.ambit_throughput` (``cim-emu bench``'s:
the calls interleaved round by round, medians, threads pinned, ``plausible`` against the
in-place call), with pytest-benchmark driving the rounds and timing the emulator.

Run: ``pytest bench/ --benchmark-json bench/results/<machine>.json`` (``CIM_EMU_BENCH_MIB``
sets the row size; the targets are asserted at 64 MiB and above).
"""

import pytest

from cim_emu.studies.benchmarks import ambit_throughput

TARGETS = {"drop": 1.3, "keep": 2.5}


@pytest.mark.parametrize("scratch", ["drop", "keep"])
@pytest.mark.parametrize("op", ["and", "xor"])
def test_fast_executor_against_numpy(benchmark, driver, rounds, threads, row_mib, op, scratch):
    benchmark.group = f"ambit-{op}-{row_mib}MiB"
    benchmark.extra_info["scratch"] = scratch
    result = ambit_throughput(op, row_mib * 2**20, seed=0, backend="numpy", scratch=scratch, rounds=rounds,
                              threads=threads, driver=driver)

    ratio = result.ratio_to_baseline
    benchmark.extra_info.update(
        correct=result.correct,
        row_bytes=result.details["row_bytes"],
        numpy_single_call_s=result.baseline_s,
        numpy_in_place_s=result.details["baseline_in_place_s"],
        ratio_to_numpy=ratio,
        ratio_to_numpy_in_place=result.details["ratio_to_baseline_in_place"],
        target_ratio=TARGETS[scratch],
        emulated_gbytes_per_s=result.emulator_per_s / 1e9,
        **result.method,
    )
    assert result.correct
    if row_mib >= 64:
        assert result.plausible, result.method["implausible_reason"]
        assert ratio <= TARGETS[scratch], f"{op}/{scratch}: {ratio:.2f}x numpy, target {TARGETS[scratch]}x"
