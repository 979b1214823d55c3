"""The registered studies compute what the library and ``cim-emu accuracy`` compute for the same
configuration and seed, and their parameters are documented and checked."""

import numpy
import pytest

from cim_emu.ambit import TraFaultModel
from cim_emu.cli import accuracy as accuracy_command
from cim_emu.reram import ReramConfig
from cim_emu.studies.accuracy_sections import SECTION_NAMES
from cim_emu.sweep import STUDIES, engines, load_spec, presets, run_point


def _point(study, seed=0, **values):
    """The metrics of one point of ``study`` (defaults filled in by the spec)."""
    spec = load_spec({"study": study, "seeds": [seed], "grid": {k: [v] for k, v in values.items()}})
    (point,) = spec.points
    result = run_point(study, point.config, seed)
    assert result["status"] == "done", result["error"]
    return result["metrics"]


def test_the_accuracy_study_and_the_command_have_the_same_sections():
    assert tuple(accuracy_command.SECTIONS) == SECTION_NAMES
    assert STUDIES["accuracy"].params["section"].choices == SECTION_NAMES


def test_every_parameter_default_passes_its_own_check_and_is_documented():
    for study in STUDIES.values():
        assert study.doc and study.metrics
        for name, param in study.params.items():
            assert param.doc, (study.name, name)
            assert param.check(f"{study.name}.{name}", param.default) == param.default


def test_an_accuracy_section_point_gives_the_sections_verdict():
    metrics = _point("accuracy", section="reram-exact")
    assert metrics == {"checks": 8, "failed": 0, "passed": True, "max_relative_error": 0.0,
                       "min_snr_db": float("inf")}


def test_a_lossless_ideal_product_is_exact_and_a_lossy_one_within_the_adc_bound():
    rng = numpy.random.default_rng()
    seed = int(rng.integers(2**63))
    for mapping in ("differential", "differential-subtract", "offset-digital", "offset-reference"):
        exact = _point("reram-product", seed, mapping=mapping, signed_inputs=bool(rng.integers(2)),
                       adc_bits="lossless", devices="ideal")
        assert exact["max_abs_error"] == 0 and exact["within_bound"] and exact["adc_lossless"]
    lossy = _point("reram-product", seed, adc_bits=int(rng.integers(3, 8)), devices="ideal")
    assert 0 < lossy["max_abs_error"] <= lossy["error_bound"] and lossy["within_bound"]
    noisy = _point("reram-product", seed, devices="reram_wan2022")
    assert noisy["error_bound"] is None and noisy["within_bound"] is None and noisy["max_abs_error"] > 0


def test_a_config_file_gives_the_same_bits_as_its_preset(tmp_path):
    ReramConfig.isaac().to_json(tmp_path / "isaac.json")
    from_file = _point("reram-product", 3, config_file=str(tmp_path / "isaac.json"), devices="reram_wan2022")
    from_preset = _point("reram-product", 3, preset="isaac", devices="reram_wan2022")
    assert from_file == from_preset


def test_drift_changes_noisy_devices_and_not_ideal_ones():
    fresh = _point("reram-product", 1, devices="reram_wan2022")
    later = _point("reram-product", 1, devices="reram_wan2022", drift_time=86400.0)
    assert later["relative_error"] != fresh["relative_error"]
    assert _point("reram-product", 1, drift_time=86400.0, adc_bits="lossless", devices="ideal")["max_abs_error"] == 0


def test_ambit_faults_follow_the_fault_model():
    rng = numpy.random.default_rng()
    seed = int(rng.integers(2**63))
    assert _point("ambit-faults", seed, op="xor")["bit_errors"] == 0
    p = float(rng.uniform(0.01, 0.1))
    measured = _point("ambit-faults", seed, op="maj", flip_probability=p, row_bits=2**16)
    assert abs(measured["bit_error_rate"] - p) <= 5 * (p * (1 - p) / 2**16) ** 0.5  # maj: one TRA, flips = errors
    spice = _point("ambit-faults", seed, op="and", fault_preset="ambit_spice_25")
    assert spice["bit_errors"] > 0


def test_an_ambit_fault_file_equals_the_same_overrides(tmp_path):
    path = tmp_path / "faults.json"
    path.write_text('{"flip_probability": 0.02, "only_when_inputs_disagree": true}')
    assert presets.load_config_file(path) == ("ambit", {"flip_probability": 0.02, "only_when_inputs_disagree": True})
    assert presets.fault_model("none", str(path), 7) == TraFaultModel(0.02, True, seed=7)
    assert _point("ambit-faults", 7, config_file=str(path)) == _point(
        "ambit-faults", 7, flip_probability=0.02, only_when_inputs_disagree=True)


def test_the_bitmap_query_is_the_applications_program():
    from cim_emu.simdram.applications import bitmap_query

    clean = _point("simdram-app", 9, app="bitmap-query", records=1000)
    bitmaps = numpy.random.default_rng(9).random((5, 1000)) < 0.5
    reference = bitmap_query(bitmaps, [0, 1], [2, 3], [4])
    assert clean["commands"] == sum(reference.cost.commands.values())
    assert clean["latency_ns"] == reference.cost.latency_ns


def test_simdram_applications_are_right_without_faults_and_wrong_with_them():
    for app in ("bitweaving-scan", "bitmap-query", "bnn-layer"):
        clean = _point("simdram-app", 4, app=app)
        assert clean["wrong_fraction"] == 0 and clean["count_error"] == 0 and clean["commands"] > 0
        faulty = _point("simdram-app", 4, app=app, flip_probability=0.05)
        assert faulty["wrong_fraction"] > 0


def test_the_digits_mlp_point_equals_the_accuracy_sections_analog_model():
    digits_mlp = pytest.importorskip("cim_emu.studies.digits_mlp")
    pytest.importorskip("sklearn")
    study = digits_mlp.DigitsStudy(2, "numpy")
    for bits, devices in ((6, "ideal"), (None, "wan2022")):
        expected = study.analog(devices, engines.reram_accuracy.DEVICES[devices], bits)
        point = _point("digits-mlp", 2, adc_bits=bits or "lossless",
                       devices="reram_wan2022" if devices == "wan2022" else devices)
        assert point["accuracy"] == expected.accuracy
        assert point["max_logit_difference"] == expected.max_logit_difference
    lossless = _point("digits-mlp", 2, adc_bits="lossless")
    assert lossless["max_logit_difference"] == 0 and lossless["accuracy"] == lossless["digital_accuracy"]


def test_the_digits_cnn_with_a_lossless_adc_gives_the_digital_logits():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    metrics = _point("digits-cnn", 0, epochs=1)
    assert metrics["max_logit_difference"] == 0 and metrics["accuracy"] == metrics["digital_accuracy"]
