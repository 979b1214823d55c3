"""``cim-emu accuracy``'s torch-digits-cnn section: a small CNN on scikit-learn's digits, converted
to crossbars by cim_emu.nn (cim_emu.studies.digits_cnn), and its skip without torch."""

import importlib.util
import sys

import pytest

from cim_emu.studies import digits_cnn

from cli_checks import json_document

needs_torch = pytest.mark.skipif(any(importlib.util.find_spec(name) is None for name in ("torch", "sklearn")),
                                 reason="needs torch (the 'torch' extra) and scikit-learn")


def cnn_records(document):
    return [r for r in document["results"] if r["check"] == "torch-digits-cnn"]


@needs_torch
def test_quick_section_holds_its_bounds(invoke):
    document = json_document(invoke("accuracy", "--quick", "--check", "torch-digits-cnn", "--json", "-"))
    assert document["skipped"] == {} and document["passed"] is True
    records = cnn_records(document)
    by_model = {r["model"]: r for r in records if r["model"] != "emulated"}
    assert by_model["float"]["accuracy"] >= digits_cnn.FLOAT_ACCURACY_FLOOR
    emulated = {(r["adc_bits"], r["adc_full_scale"]): r for r in records if r["model"] == "emulated"}
    assert sorted(emulated) == [(4, "calibrated (max)"), (4, "calibrated per slice and chunk (max)"),
                                (6, "calibrated (max)"), (6, "default"), (8, "default"), (9, "default")]
    lossless = emulated[9, "default"]
    assert lossless["max_logit_difference"] == 0.0 and lossless["accuracy"] == by_model["digital"]["accuracy"]
    assert emulated[8, "default"]["accuracy_drop"] <= digits_cnn.ANALOG_ACCURACY_DROP
    # a 6-bit ADC loses much with the default full scale (384) and little calibrated (measured 0.650 -> 0.962)
    assert emulated[6, "calibrated (max)"]["accuracy"] >= emulated[6, "default"]["accuracy"] + 0.1
    # full scales per weight slice and input chunk beat one per layer at 4 bits (measured 0.911 -> 0.969)
    ranged = emulated[4, "calibrated per slice and chunk (max)"]["accuracy"]
    assert ranged >= emulated[4, "calibrated (max)"]["accuracy"] + 0.02
    assert all(r["passed"] for r in records)


@needs_torch
def test_section_table_in_the_text(invoke):
    result = invoke("accuracy", "--quick", "--check", "torch-digits-cnn")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    heading = next(i for i, line in enumerate(lines) if line.startswith("Digits CNN (PyTorch"))
    assert lines[heading + 1].split()[:4] == ["model", "devices", "ADC", "bits"]
    assert lines[-1] == "PASS: all 8 checks passed (torch-digits-cnn 8/8)"


@needs_torch
def test_broken_bound_fails(invoke, monkeypatch):
    monkeypatch.setattr(digits_cnn, "ANALOG_ACCURACY_DROP", -1.0)
    result = invoke("accuracy", "--quick", "--check", "torch-digits-cnn")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "FAIL: 1 of 8 checks failed (torch-digits-cnn 7/8 passed)"


@pytest.fixture
def no_torch(monkeypatch):
    """Make this process look like a machine without torch."""
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "torch", None)


def test_skipped_with_a_note_without_torch(invoke, no_torch):
    result = invoke("accuracy", "--quick", "--check", "torch-digits-cnn")
    assert result.exit_code == 0, result.output
    assert "skipped: PyTorch is not installed" in result.stdout and "pip install 'cim-emu[torch]'" in result.stdout
    assert result.stdout.splitlines()[-1] == "PASS: all 0 checks passed (torch-digits-cnn skipped)"
    document = json_document(invoke("accuracy", "--quick", "--check", "torch-digits-cnn", "--check", "reram-exact",
                                    "--json", "-"))
    assert "PyTorch" in document["skipped"]["torch-digits-cnn"] and cnn_records(document) == []


def test_require_torch_without_torch(no_torch):
    with pytest.raises(digits_cnn.TorchUnavailableError, match=r"cim-emu\[torch\]"):
        digits_cnn.require_torch()
