"""``cim-emu accuracy`` prints and reports the checks that cim_emu.studies.accuracy_sections gathers."""

import importlib.util

from cim_emu.studies import accuracy_sections, reram_accuracy

from cli_checks import json_document


def test_the_report_holds_the_gathered_checks_of_each_section(invoke):
    sections = ["ambit-fault-rate", "reram-exact"]
    document = json_document(invoke("accuracy", "--quick", "--seed", 6, *(f"--check={s}" for s in sections),
                                    "--json", "-"))
    assert document["results"] == [{"check": s, **r} for s in sections
                                   for r in accuracy_sections.checks(s, True, 6, "numpy").records]


def test_a_full_run_shows_progress_and_the_long_rows(invoke, monkeypatch):
    monkeypatch.setattr(accuracy_sections, "LIBRARY_LONG_ROW_BITS", (7, 700))
    monkeypatch.setattr(accuracy_sections, "FAULT_ROW_BITS_FULL", 4096)
    monkeypatch.setattr(accuracy_sections, "DIGITS_ADC_BITS_FULL", (5, None))
    monkeypatch.setattr(reram_accuracy, "DEVICES", {"ideal": reram_accuracy.DEVICES["ideal"]})
    result = invoke("accuracy", "--check", "ambit-library", "--check", "ambit-fault-rate", "--check", "reram-digits")
    assert result.exit_code == 0, result.output
    labels = ["ambit library", "ambit fault rate"] + (["reram digits"] if importlib.util.find_spec("sklearn") else [])
    assert all(label in result.stderr for label in labels), result.stderr
    assert "row lengths 1, 63, 64, 65, 1000, 4097, 7, 700 bits" in result.stdout
    quick = invoke("accuracy", "--quick", "--check", "ambit-library")
    assert quick.stderr == "" and "row lengths 1, 63, 64, 65, 1000, 4097 bits" in quick.stdout
