"""The benchmark method: interleaved rounds, medians, pinned threads, plausibility."""

import os
import statistics

import pytest

from cim_emu.studies import timing


def test_rounds_interleave_after_one_warmup_and_medians_count():
    order = []
    sides = {"baseline": lambda: order.append("b"), "other": lambda: order.append("o"),
             "emulator": lambda: order.append("e")}
    timings = timing.interleaved(sides, 3)
    assert order == ["b", "o", "e"] * 4  # the warm-up round, then three
    assert timings.rounds == 3 and all(len(t) == 3 for t in (*timings.wall_s.values(), *timings.cpu_s.values()))
    record = timings.record()
    assert record["emulator_s"] == statistics.median(timings.wall_s["emulator"])
    assert record["ratio_to_baseline"] == record["emulator_s"] / record["baseline_s"]
    assert record["ratio_rounds_min"] <= record["ratio_rounds_max"]


def test_a_driver_runs_the_rounds_and_any_it_leaves_out_are_run_here():
    calls = []

    def one_round_only(run, before, rounds):  # as pytest-benchmark does when disabled
        calls.append(rounds)
        before()
        run()

    timings = timing.interleaved({"baseline": lambda: None, "emulator": lambda: None}, 5, driver=one_round_only,
                                 warmup=False)
    assert calls == [5] and timings.rounds == 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="rounds must be a positive integer"):
        timing.interleaved({"emulator": lambda: None}, 0)
    with pytest.raises(ValueError, match="driven side 'emulator' is not among"):
        timing.interleaved({"baseline": lambda: None}, 1)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        with timing.pinned_threads(0):
            pass


def test_threads_are_pinned_stated_and_restored(monkeypatch):
    monkeypatch.setenv("CIM_EMU_THREADS", "5")
    with timing.pinned_threads(1) as pinned:
        assert pinned["threads"] == 1 and os.environ["CIM_EMU_THREADS"] == "1"
        assert pinned["cim_emu_threads"] == "1"
        assert all(library["threads"] == 1 for library in pinned["libraries"])
    assert os.environ["CIM_EMU_THREADS"] == "5"
    monkeypatch.delenv("CIM_EMU_THREADS")
    with timing.pinned_threads() as pinned:
        assert pinned["threads"] == timing.usable_cores()
    assert "CIM_EMU_THREADS" not in os.environ


def test_a_ratio_below_its_floor_is_implausible():
    assert timing.plausibility(40.0, 32.0, "products") == {
        "floor_ratio": 32.0, "floor_basis": "products", "plausible": True, "implausible_reason": None}
    assert timing.plausibility(26.0, 32.0, "products")["plausible"]  # within measurement noise
    low = timing.plausibility(0.5, 32.0, "products")
    assert not low["plausible"] and "below 0.8 x its floor 32 (products)" in low["implausible_reason"]
    assert timing.plausibility(0.01, None, "none here")["plausible"]
