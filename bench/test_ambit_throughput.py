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

Run: ``pytest bench/ --benchmark-json bench/results/<machine>.json`` (``CIM_EMU_BENCH_MIB``
sets the row size; the targets are asserted at 64 MiB and above).
"""

import numpy
import pytest

from cim_emu.ambit import Subarray, program_for

TARGETS = {"drop": 1.3, "keep": 2.5}
NUMPY_OPS = {"and": numpy.bitwise_and, "xor": numpy.bitwise_xor}



@pytest.fixture(scope="module")
def operands(row_mib):
    words = row_mib * 2**20 // 8
    rng = numpy.random.default_rng(0)
    return rng.integers(0, 2**64, words, dtype=numpy.uint64), rng.integers(0, 2**64, words, dtype=numpy.uint64)


@pytest.mark.parametrize("scratch", ["drop", "keep"])
@pytest.mark.parametrize("op", ["and", "xor"])
def test_fast_executor_against_numpy(benchmark, best_time, operands, row_mib, op, scratch):
    a, b = operands
    subarray = Subarray(64 * a.size, data_rows=3, backend="numpy")
    subarray.write_words(0, a)
    subarray.write_words(1, b)
    program = program_for(op, ["D0", "D1"], "D2")
    numpy_op = NUMPY_OPS[op]
    out = numpy.empty_like(a)

    benchmark.group = f"ambit-{op}-{row_mib}MiB"
    benchmark.extra_info["scratch"] = scratch
    benchmark.pedantic(subarray.run, args=(program,), kwargs={"scratch": scratch}, rounds=7,
                       warmup_rounds=1)
    emulator = benchmark.stats.stats.min
    single_call = best_time(lambda: numpy_op(a, b))
    in_place = best_time(lambda: numpy_op(a, b, out=out))

    correct = bool(numpy.array_equal(subarray.read_words("D2"), numpy_op(a, b)))
    ratio = emulator / single_call
    benchmark.extra_info.update(
        correct=correct,
        row_bytes=int(a.nbytes),
        numpy_single_call_s=single_call,
        numpy_in_place_s=in_place,
        ratio_to_numpy=ratio,
        ratio_to_numpy_in_place=emulator / in_place,
        target_ratio=TARGETS[scratch],
        emulated_gbytes_per_s=a.nbytes / emulator / 1e9,
    )
    assert correct
    if row_mib >= 64:
        assert ratio <= TARGETS[scratch], f"{op}/{scratch}: {ratio:.2f}x numpy, target {TARGETS[scratch]}x"
