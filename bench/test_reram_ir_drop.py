"""IR drop (issue 17): programming a layer with wire resistance, and reading it.

Configuration: 8-bit inputs and weights, 2-bit cells, 1-bit DACs, 6-bit ADC, differential
mapping per polarity, programming noise 0.01 (so that the read without IR drop takes the same
fixed-point path), 128 x 128 tiles, batch 256, K = N = 1024 (512 tiles of 128 x 128 to solve:
8 row tiles x 8 column tiles x 4 slices x 2 polarities); wire segments of 1 ohm, r_on 25 kOhm.

* read: the read with IR drop against the same read without, timed in the same rounds; target
  ``ratio_to_baseline`` <= 1.2 (the effective conductances take the same read path); the read
  of ideal cells (integer levels, packed sums) is recorded beside it (``ratio_to_ideal_cells``);
* programming (``slow``): programming with IR drop against programming without; target: under
  10 s (the issue's, on the 2-core CI machine). Beside it (``solve_*``), the solve alone
  (``effective_conductances``) by the sweep that runs (``sweep``: native where a C++ compiler is
  found) against the Python sweep, in their own interleaved rounds.

The measurement is :func:`cim_emu.studies.ir_drop.ir_drop_timing` (interleaved rounds, medians,
threads pinned and stated).
"""

import pytest

from cim_emu.studies.ir_drop import ir_drop_timing

READ_TARGET = 1.2
PROGRAMMING_TARGET_S = 10.0


def sizes(quick):
    return (16, 256, 256, 64) if quick else (256, 1024, 1024, 128)


def test_read_with_ir_drop_against_the_same_read_without(benchmark, driver, rounds, threads, quick):
    batch, K, N, rows = sizes(quick)
    benchmark.group = f"reram-ir-drop-read-{batch}x{K}x{N}"
    result = ir_drop_timing(batch=batch, K=K, N=N, rows=rows, program_rounds=0, read_rounds=rounds,
                            threads=threads, driver=driver)
    benchmark.extra_info.update(correct=result["correct"], shape=result["shape"], rows=rows,
                                tiles_solved=result["tiles_solved"], sweep=result["sweep"], **result["read"])
    assert result["correct"]
    if not quick:
        assert result["read"]["plausible"], result["read"]["implausible_reason"]
        ratio = result["read"]["ratio_to_baseline"]
        assert ratio <= READ_TARGET, f"read with IR drop {ratio:.2f}x the read without, target {READ_TARGET}x"


@pytest.mark.slow
def test_programming_with_ir_drop(benchmark, rounds, threads, quick):
    batch, K, N, rows = sizes(quick)
    benchmark.group = f"reram-ir-drop-programming-{K}x{N}-tiles-{rows}"
    result = benchmark.pedantic(lambda: ir_drop_timing(batch=batch, K=K, N=N, rows=rows, program_rounds=rounds,
                                                       read_rounds=1, threads=threads), rounds=1, iterations=1)
    programming = result["programming"]
    benchmark.extra_info.update(correct=result["correct"], shape=result["shape"], rows=rows,
                                tiles_solved=result["tiles_solved"], sweep=result["sweep"], **programming)
    assert result["correct"]
    if not quick:
        seconds = programming["emulator_s"]
        assert seconds <= PROGRAMMING_TARGET_S, (
            f"programming with IR drop {seconds:.1f} s, target {PROGRAMMING_TARGET_S} s")
