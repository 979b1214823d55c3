"""``--config FILE`` and ``--preset NAME`` on the commands that run a study (``accuracy``, ``bench``,
``ambit run``): one implementation (cim_emu/cli/_options.py), the configuration recorded in the JSON,
a preset and the equivalent file giving the same bits, and usage errors for bad files and conflicts."""

import dataclasses
import json

import pytest

from cim_emu.ambit import TraFaultModel
from cim_emu.cli import _options
from cim_emu.cli import accuracy as accuracy_cli
from cim_emu.cli import ambit as ambit_cli
from cim_emu.cli import bench as bench_cli
from cim_emu.reram import ReramConfig
from cim_emu.sweep import presets

from cli_checks import json_document, usage_error

XOR_PROGRAM = """\
AAP D0 B0
AAP D1 B1
AAP C0 B2
AAP B12 D2
"""

#: The smallest ReRAM benchmark: one shape, one round.
BENCH = ("bench", "--engine", "reram", "--quick", "--batch", "2", "--k", "16", "--n", "8", "--rounds", "1",
         "--backend", "numpy")

FAULT_FIELDS = ("flip_probability", "only_when_inputs_disagree", "weak_column_fraction",
                "weak_column_flip_probability")


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "and.txt"
    path.write_text(XOR_PROGRAM)
    return path


def _fault_file(tmp_path, preset, name="faults.json"):
    """The explicit file equivalent to an Ambit fault ``preset`` (the model's fields but the seed)."""
    model = presets.AMBIT_FAULT_PRESETS[preset](0)
    path = tmp_path / name
    path.write_text(json.dumps({field: getattr(model, field) for field in FAULT_FIELDS}))
    return path


def _reram_file(tmp_path, preset, name="reram.json"):
    """The explicit file equivalent to a ReRAM or device ``preset``."""
    config = (presets.RERAM_PRESETS[preset]() if preset in presets.RERAM_PRESETS
              else ReramConfig(devices=presets.DEVICE_PRESETS[preset]()))
    path = tmp_path / name
    config.to_json(path)
    return path


def _rows(document):
    return {record["row"]: (record["sha256"], record["popcount"]) for record in document["results"]}


# -- one implementation ------------------------------------------------------------------------


def test_the_preset_names_of_the_options_are_those_of_the_presets():
    named = {name: kind for kind, names in _options.PRESET_NAMES.items() for name in names}
    assert named == presets.PRESET_KINDS


@pytest.mark.parametrize("command, kinds", [
    (accuracy_cli.accuracy, ("reram", "ambit")), (bench_cli.bench, ("reram",)), (ambit_cli.run, ("ambit",)),
])
def test_every_study_command_takes_the_shared_options(command, kinds):
    options = {param.name: param for param in command.params}
    assert options["config_file"].opts == ["--config"] and options["preset"].opts == ["--preset"]
    for name in _options.preset_names(kinds):
        assert name in options["preset"].help


def test_ambit_ops_takes_no_configuration():
    assert not {"config_file", "preset"} & {param.name for param in ambit_cli.ops.params}


# -- ambit run ---------------------------------------------------------------------------------


@pytest.mark.parametrize("preset, faults", [("ambit_spice_25", "ambit-pv25"), ("simra_ddr4_maj3", "simra"),
                                            ("none", "none")])
def test_ambit_run_preset_equals_its_file_and_its_faults_name(invoke, program, tmp_path, preset, faults):
    by_preset = json_document(invoke("ambit", "run", program, "--preset", preset, "--seed", 3, "--json", "-"))
    by_file = json_document(invoke("ambit", "run", program, "--config", _fault_file(tmp_path, preset),
                                   "--seed", 3, "--json", "-"))
    by_faults = json_document(invoke("ambit", "run", program, "--faults", faults, "--seed", 3, "--json", "-"))
    assert _rows(by_preset) == _rows(by_file) == _rows(by_faults)
    assert by_preset["configuration"] == {"kind": "ambit", "preset": preset, "file": None,
                                          "content": by_file["configuration"]["content"]}
    assert by_file["configuration"]["file"] == str(tmp_path / "faults.json")
    assert by_preset["parameters"]["faults"] == preset and "configuration" not in by_faults


def test_ambit_run_faults_change_the_rows_and_the_file_is_recorded_with_its_defaults(invoke, program, tmp_path):
    (tmp_path / "p.json").write_text('{"flip_probability": 0.25}')
    faulty = json_document(invoke("ambit", "run", program, "--config", tmp_path / "p.json", "--json", "-"))
    clean = json_document(invoke("ambit", "run", program, "--json", "-"))
    assert _rows(faulty)["D2"] != _rows(clean)["D2"]
    assert faulty["configuration"]["content"] == {
        **{f.name: f.default for f in dataclasses.fields(TraFaultModel) if f.name != "seed"},
        "flip_probability": 0.25}


@pytest.mark.parametrize("args, message", [
    (["--faults", "simra", "--preset", "none"], "--faults and --preset cannot be combined: both name the fault model"),
    (["--faults", "none", "--config", "{faults}"],
     "--faults and --config cannot be combined: both name the fault model"),
    (["--preset", "none", "--config", "{faults}"], "--config and --preset both name the configuration; give one"),
    (["--preset", "isaac"], "preset 'isaac' is a ReRAM configuration, and cim-emu ambit run takes an Ambit TRA "
                            "fault model; presets: none, ambit_spice_10"),
    (["--preset", "nope"], "unknown preset 'nope'; presets: none, ambit_spice_10"),
    (["--config", "{reram}"], "holds a ReRAM configuration; cim-emu ambit run takes an Ambit TRA fault model"),
    (["--config", "{bad}"], "configuration {bad}: unknown configuration section(s): flip_prob;"),
    (["--config", "{range}"], "configuration {range}: flip_probability"),
])
def test_ambit_run_bad_configurations_are_usage_errors(invoke, program, tmp_path, args, message):
    files = {"faults": _fault_file(tmp_path, "simra_ddr4_maj3"), "reram": _reram_file(tmp_path, "prime"),
             "bad": tmp_path / "bad.json", "range": tmp_path / "range.json"}
    files["bad"].write_text('{"flip_prob": 0.1}')
    files["range"].write_text('{"flip_probability": 2}')
    error = usage_error(invoke("ambit", "run", program, *(a.format(**files) for a in args)))
    assert message.format(**files) in error
    assert "--config" in error or "--preset" in error


# -- bench -------------------------------------------------------------------------------------


def _deterministic(document):
    """What a benchmark computes, not how long it took."""
    return [{key: record[key] for key in ("case", "size", "correct", "max_abs_error", "error_bound", "adc_bits",
                                          "inherent_products", "crossbars", "conversions", "modelled_latency_ns",
                                          "modelled_energy_nj")} for record in document["results"]]


@pytest.mark.parametrize("preset", ["prime", "reram_wan2022"])
def test_bench_preset_equals_its_file(invoke, tmp_path, preset):
    by_preset = json_document(invoke(*BENCH, "--preset", preset, "--json", "-"))
    by_file = json_document(invoke(*BENCH, "--config", _reram_file(tmp_path, preset), "--json", "-"))
    assert _deterministic(by_preset) == _deterministic(by_file)
    assert [r["case"] for r in by_preset["results"]] == ["configured"]
    assert by_preset["configuration"] == {**by_file["configuration"], "preset": preset, "file": None}
    assert by_file["configuration"]["content"] == json.loads((tmp_path / "reram.json").read_text())


def test_bench_ideal_configuration_is_checked_against_its_bound(invoke, tmp_path):
    record = json_document(invoke(*BENCH, "--preset", "default", "--json", "-"))["results"][0]
    assert record["correct"] and record["max_abs_error"] == 0 == record["error_bound"]  # lossless, ideal: exact
    assert [r["case"] for r in json_document(invoke(*BENCH, "--json", "-"))["results"]] == ["lossy", "lossless"]


@pytest.mark.parametrize("args, message", [
    (["--preset", "ambit_spice_10"], "preset 'ambit_spice_10' is an Ambit TRA fault model, and cim-emu bench "
                                     "takes a ReRAM configuration; presets: default, isaac, prime, ideal"),
    (["--config", "{bad}"], "configuration {bad}: unknown field(s) in adc: bitz"),
    (["--config", "{faults}"], "holds an Ambit TRA fault model; cim-emu bench takes a ReRAM configuration"),
    (["--preset", "isaac", "--config", "{reram}"], "--config and --preset both name the configuration"),
    (["--engine", "ambit", "--preset", "isaac"], "--engine ambit and --preset cannot be combined"),
])
def test_bench_bad_configurations_are_usage_errors(invoke, tmp_path, args, message):
    files = {"bad": tmp_path / "bad.json", "faults": _fault_file(tmp_path, "none"),
             "reram": _reram_file(tmp_path, "isaac")}
    files["bad"].write_text('{"adc": {"bitz": 3}}')
    assert message.format(**files) in usage_error(invoke(*BENCH, *(a.format(**files) for a in args)))


# -- accuracy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("preset, make", [("prime", _reram_file), ("ambit_spice_10", _fault_file)])
def test_accuracy_preset_equals_its_file_and_records_it(invoke, tmp_path, preset, make):
    path = make(tmp_path, preset)
    by_preset = json_document(invoke("accuracy", "--quick", "--preset", preset, "--json", "-"))
    by_file = json_document(invoke("accuracy", "--quick", "--config", path, "--json", "-"))

    def results(document):
        return [{k: v for k, v in r.items() if k != "source"} for r in document["results"]]

    assert results(by_preset) == results(by_file)
    assert by_preset["configuration"] == {**by_file["configuration"], "preset": preset, "file": None}
    assert by_file["configuration"]["file"] == str(path)


def test_accuracy_bad_file_names_it_and_the_key(invoke, tmp_path):
    (tmp_path / "c.json").write_text('{"weak_column_fraction": 0.1, "seed": 4}')
    error = usage_error(invoke("accuracy", "--quick", "--config", tmp_path / "c.json"))
    assert f"configuration {tmp_path / 'c.json'}: unknown field(s) of an Ambit fault model: seed; fields: " in error
