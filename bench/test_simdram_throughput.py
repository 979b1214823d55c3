"""SIMDRAM bit-serial arithmetic: emulator throughput beside the modelled DRAM and numpy.

For 8- and 32-bit addition and multiplication over ``N`` elements (``N`` = CIM_EMU_BENCH_MIB
MiB of 32-bit operands: 2**24 elements at the default 64, 2**18 with CIM_EMU_BENCH_QUICK=1),
each benchmark times, in one run:

* the emulator end to end (pytest-benchmark's figure): :func:`cim_emu.simdram.simdram_op`, i.e.
  transposing the operands into bit planes, running the AAP/AP program on the fast executor,
  and transposing the result back;
* the program alone on a subarray that already holds the operands (``program_seconds``), which is
  what the emulated DRAM does;
* numpy's own operation on the same arrays (``numpy_seconds``; ``a + b`` or ``a * b`` in the
  operands' dtype, which wraps as the DRAM result does);

timed by :func:`cim_emu.studies.timing.interleaved` (round by round, medians, threads pinned;
pytest-benchmark drives the rounds and times the emulator), and records the modelled DRAM
throughput (elements per second of the program's latency on the default DDR3-1600 system of
:mod:`cim_emu.ambit.cost`: 8 banks of 8-KiB rows in lockstep) with
the ratios ``ratio_to_numpy`` (emulator time / numpy time) and ``modelled_dram_speedup``
(modelled DRAM throughput / emulator throughput). Floor: numpy's own call (the emulator too reads
both operands and writes the result).

Run: ``pytest bench/test_simdram_throughput.py --benchmark-json bench/results/<machine>-simdram.json``.
"""

import numpy
import pytest

from cim_emu.ambit import Subarray
from cim_emu.simdram import build_operation, simdram_op, to_vertical
from cim_emu.studies.timing import interleaved

NUMPY_OPS = {"add": numpy.add, "mul": numpy.multiply}
DTYPES = {8: numpy.uint8, 32: numpy.uint32}


@pytest.fixture(scope="module")
def elements(row_mib):
    return row_mib * 2**20 // 4


@pytest.mark.parametrize("bits", [8, 32])
@pytest.mark.parametrize("op", ["add", "mul"])
def test_simdram_arithmetic_throughput(benchmark, driver, rounds, threads, record_timings, elements, op, bits):
    rng = numpy.random.default_rng(0)
    a = rng.integers(0, 2**bits, elements, dtype=numpy.uint64).astype(DTYPES[bits])
    b = rng.integers(0, 2**bits, elements, dtype=numpy.uint64).astype(DTYPES[bits])
    benchmark.group = f"simdram-{op}-{bits}bit"

    built = build_operation(op, bits)
    subarray = Subarray(elements, data_rows=built.rows_used)
    for rows, operand in zip(built.inputs, (a, b)):
        for row, plane in zip(rows, to_vertical(operand, bits)):
            subarray.write_words(row, plane)
    sides = {"baseline": lambda: NUMPY_OPS[op](a, b), "program": lambda: subarray.run(built.program, scratch="drop"),
             "emulator": lambda: simdram_op(op, a, b, bits=bits)}
    timings = interleaved(sides, rounds, driver=driver)
    shared = record_timings(timings, 1.0, "numpy's own call: the emulator too reads both operands, writes the result")
    emulator, program_seconds, numpy_seconds = (timings.wall(side) for side in ("emulator", "program", "baseline"))

    result = simdram_op(op, a, b, bits=bits)
    correct = bool(numpy.array_equal(result.value, NUMPY_OPS[op](a, b)))
    dram = result.elements_per_second
    benchmark.extra_info.update(
        correct=correct,
        elements=elements,
        commands=result.commands,
        modelled_latency_s=result.cost.latency_ns * 1e-9,
        modelled_energy_nj=result.cost.energy_nj,
        modelled_dram_elements_per_s=dram,
        emulator_elements_per_s=elements / emulator,
        program_seconds=program_seconds,
        program_elements_per_s=elements / program_seconds,
        numpy_seconds=numpy_seconds,
        numpy_elements_per_s=elements / numpy_seconds,
        ratio_to_numpy=shared["ratio_to_baseline"],
        modelled_dram_speedup=dram / (elements / emulator),
    )
    assert correct
