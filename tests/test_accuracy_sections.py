"""cim_emu.studies.accuracy_sections.checks: the one gatherer of each ``cim-emu accuracy`` section's checks."""

import contextlib

import pytest

from cim_emu.ambit.subarray import EXECUTORS
from cim_emu.studies import accuracy_sections, ambit_accuracy, reram_accuracy
from cim_emu.studies.accuracy_sections import SECTION_NAMES, SectionChecks, checks


def test_every_section_has_a_gatherer_in_the_order_they_run():
    assert SECTION_NAMES == ("ambit-library", "ambit-fault-rate", "realchip", "reram-exact", "reram-adc-sweep",
                             "reram-digits", "torch-digits-cnn")
    with pytest.raises(KeyError):
        checks("no-such-section", True, 0, "numpy")


def test_the_library_section_gives_one_record_per_row_length_op_and_executor():
    found = checks("ambit-library", True, 4, "numpy")
    expected = [c.as_dict() for c in ambit_accuracy.check_library(ambit_accuracy.AWKWARD_ROW_BITS, 4, "numpy")]
    assert found.records == expected
    assert len(found.records) == len(ambit_accuracy.AWKWARD_ROW_BITS) * len(ambit_accuracy.NUMPY_REFERENCE) * len(
        EXECUTORS)
    assert found.summary == {"bit_errors": 0} and found.failed == 0


def test_the_fault_rate_section_summarises_the_largest_deviation():
    found = checks("ambit-fault-rate", True, 1, "numpy")
    assert [(r["flip_probability"], r["executor"]) for r in found.records] == [
        (p, e) for p in accuracy_sections.FAULT_PROBABILITIES for e in EXECUTORS]
    assert {r["row_bits"] for r in found.records} == {accuracy_sections.FAULT_ROW_BITS_QUICK}
    deviations = [abs(r["measured_rate"] - r["flip_probability"]) / r["bound"] for r in found.records]
    assert found.summary == {"largest_deviation_over_bound": max(deviations)} and max(deviations) <= 1


def test_the_reram_sections_summarise_error_and_snr():
    exact = checks("reram-exact", True, 0, "numpy")
    assert exact.records == [c.as_dict() for c in reram_accuracy.check_exact(seed=0, backend="numpy", quick=True)]
    assert exact.summary == {"max_relative_error": 0.0, "min_snr_db": float("inf")}
    sweep = checks("reram-adc-sweep", True, 0, "numpy")
    assert {r["devices"] for r in sweep.records} == set(accuracy_sections.QUICK_DEVICES)
    assert sweep.summary == {"max_relative_error": max(r["relative_error"] for r in sweep.records),
                             "min_snr_db": min(r["snr_db"] for r in sweep.records)}


def test_a_failed_check_counts_in_failed():
    found = SectionChecks([{"passed": True}, {"passed": False}, {"passed": False}], {})
    assert found.failed == 2


def test_progress_wraps_the_longer_loops_under_their_labels():
    seen = []

    def recording(items, label):
        seen.append((label, list(items)))
        return contextlib.nullcontext(items)

    checks("ambit-library", True, 0, "numpy", progress=recording)
    checks("ambit-fault-rate", True, 0, "numpy", progress=recording)
    checks("reram-exact", True, 0, "numpy", progress=recording)  # no loop worth a bar
    assert seen == [("ambit library", list(ambit_accuracy.AWKWARD_ROW_BITS)),
                    ("ambit fault rate", [(p, e) for p in accuracy_sections.FAULT_PROBABILITIES for e in EXECUTORS])]


def test_a_full_run_adds_the_long_rows_and_all_devices():
    assert accuracy_sections.library_row_bits(True) == ambit_accuracy.AWKWARD_ROW_BITS
    assert accuracy_sections.library_row_bits(False) == (ambit_accuracy.AWKWARD_ROW_BITS
                                                         + accuracy_sections.LIBRARY_LONG_ROW_BITS)
    assert accuracy_sections.reram_devices(True) == accuracy_sections.QUICK_DEVICES
    assert accuracy_sections.reram_devices(False) == tuple(reram_accuracy.DEVICES)


def test_the_digits_section_summarises_float_and_smallest_accuracy():
    pytest.importorskip("sklearn")
    found = checks("reram-digits", True, 0, "numpy")
    assert [r["model"] for r in found.records[:2]] == ["float", "digital"]
    assert len(found.records) == 2 + len(accuracy_sections.QUICK_DEVICES) * len(
        accuracy_sections.DIGITS_ADC_BITS_QUICK)
    assert found.summary == {"float_accuracy": found.records[0]["accuracy"],
                             "min_accuracy": min(r["accuracy"] for r in found.records)}
