"""``cim-emu accuracy``'s digits section: a small MLP on scikit-learn's digits, float, 8-bit
digital and on emulated crossbars (cim_emu.studies.digits_mlp), and its skip without scikit-learn."""

import importlib.util
import json
import sys

import numpy
import pytest

from cim_emu.reram import DeviceModel
from cim_emu.studies import digits_mlp

from cli_checks import json_document

needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                   reason="the digits dataset ships with scikit-learn (the 'data' extra)")


def digits_records(document):
    return [r for r in document["results"] if r["check"] == "reram-digits"]


@pytest.fixture
def no_sklearn(monkeypatch):
    """Make this process look like a machine without scikit-learn (and forget the trained model)."""
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    digits_mlp.trained_model.cache_clear()
    yield
    digits_mlp.trained_model.cache_clear()


@needs_sklearn
def test_quick_section_holds_its_bounds(invoke):
    document = json_document(invoke("accuracy", "--quick", "--check", "reram-digits", "--json", "-"))
    assert document["skipped"] == {}
    records = digits_records(document)
    by_model = {r["model"]: r for r in records if r["model"] != "analog"}
    assert by_model["float"]["accuracy"] >= digits_mlp.FLOAT_ACCURACY_FLOOR
    assert abs(by_model["digital"]["accuracy"] - by_model["float"]["accuracy"]) <= digits_mlp.DIGITAL_ACCURACY_DROP
    analog = {(r["devices"], r["adc_bits"]): r for r in records if r["model"] == "analog"}
    assert sorted(analog) == [(d, b) for d in ("ideal", "wan2022") for b in (4, 6, 8, 9)]
    lossless = analog["ideal", 9]
    assert lossless["adc_lossless"] and lossless["max_logit_difference"] == 0.0
    assert lossless["accuracy"] == by_model["digital"]["accuracy"]
    assert analog["ideal", 8]["accuracy_drop"] <= digits_mlp.ANALOG_ACCURACY_DROP
    assert analog["ideal", 4]["accuracy"] < analog["ideal", 8]["accuracy"]  # a coarse ADC costs accuracy
    assert analog["wan2022", 9]["max_logit_difference"] > 0  # device noise changes the logits
    assert all(r["passed"] for r in records)


@needs_sklearn
def test_section_table_in_the_text(invoke):
    lines = invoke("accuracy", "--quick", "--check", "reram-digits").stdout.splitlines()
    heading = next(i for i, line in enumerate(lines) if line.startswith("Digits MLP 64-32-10"))
    assert lines[heading + 1].split()[:4] == ["model", "devices", "ADC", "bits"]
    rows = [line.split() for line in lines[heading + 2:heading + 12]]
    assert [row[0] for row in rows] == ["float", "digital"] + ["analog"] * 8
    digital_accuracy = rows[1][4]
    lossless = rows[5]  # ideal devices, ADC 9 bits
    assert lossless[1:5] == ["ideal", "9", "yes", digital_accuracy]
    assert lossless[6] == "0" and " ".join(lossless[7:]) == "logits equal the digital model's yes"


@needs_sklearn
def test_broken_crossbars_fail_the_exactness_bound(invoke, monkeypatch):
    real_call = digits_mlp.AnalogLayer.__call__

    def off_by_a_little(self, x, **options):  # an engine one part in 10^9 away from the integers
        return real_call(self, x, **options) * (1 + 1e-9)

    monkeypatch.setattr(digits_mlp.AnalogLayer, "__call__", off_by_a_little)
    result = invoke("accuracy", "--quick", "--check", "reram-digits")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "FAIL: 1 of 10 checks failed (reram-digits 9/10 passed)"


@needs_sklearn
def test_accuracy_bound_can_fail(invoke, monkeypatch):
    monkeypatch.setattr(digits_mlp, "ANALOG_ACCURACY_DROP", -1.0)  # no drop is small enough
    document = json_document_failed(invoke("accuracy", "--quick", "--check", "reram-digits", "--json", "-"))
    (failed,) = [r for r in digits_records(document) if not r["passed"]]
    assert (failed["devices"], failed["adc_bits"], failed["bound"]) == ("ideal", 8, "drop <= -1.0")


def json_document_failed(result):
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["passed"] is False
    return document


def test_skipped_with_a_note_without_sklearn(invoke, no_sklearn):
    result = invoke("accuracy", "--quick", "--check", "reram-digits")
    assert result.exit_code == 0, result.output
    assert "skipped: the digits dataset ships with scikit-learn, which is not installed" in result.stdout
    assert "pip install 'cim-emu[data]'" in result.stdout
    assert result.stdout.splitlines()[-1] == "PASS: all 0 checks passed (reram-digits skipped)"
    document = json_document(invoke("accuracy", "--quick", "--check", "reram-digits", "--check", "reram-exact",
                                    "--json", "-"))
    assert "scikit-learn" in document["skipped"]["reram-digits"]
    assert digits_records(document) == []


def test_dataset_unavailable_error(no_sklearn):
    with pytest.raises(digits_mlp.DatasetUnavailableError, match=r"cim-emu\[data\]"):
        digits_mlp.load_digits_split(0)


@needs_sklearn
def test_split_and_training_are_seeded():
    split = digits_mlp.load_digits_split(3)
    assert split.x_train.shape == (1348, 64) and split.x_test.shape == (449, 64)
    assert 0 <= split.x_train.min() and split.x_train.max() == 1.0
    assert sorted(numpy.unique(split.y_test)) == list(range(10))
    again = digits_mlp.load_digits_split(3)
    assert numpy.array_equal(split.y_test, again.y_test)
    assert not numpy.array_equal(split.y_test, digits_mlp.load_digits_split(4).y_test)
    small = slice(0, 200)
    first = digits_mlp.train_mlp(split.x_train[small], split.y_train[small], seed=1, steps=20)
    second = digits_mlp.train_mlp(split.x_train[small], split.y_train[small], seed=1, steps=20)
    assert all(numpy.array_equal(a, b) for a, b in zip(first, second))
    assert first.w1.shape == (64, digits_mlp.HIDDEN_UNITS) and first.b2.shape == (10,)
    assert not first.w1.flags.writeable  # the cached model cannot be changed by accident


@needs_sklearn
def test_evaluate_library_call():
    records = digits_mlp.evaluate({"stuck": DeviceModel.stuck_cells_chen2015()}, (None,), seed=0)
    assert [r.model for r in records] == ["float", "digital", "analog"]
    stuck = records[-1]
    assert stuck.devices == "stuck" and stuck.bound is None and stuck.passed  # noisy: reported only
    assert stuck.accuracy < records[1].accuracy  # 11 % stuck cells cost accuracy


@needs_sklearn
def test_largest_seed(invoke):
    document = json_document(invoke("accuracy", "--quick", "--check", "reram-digits", "--seed", 2**64 - 1,
                                    "--json", "-"))
    assert document["passed"] is True and len(digits_records(document)) == 10
