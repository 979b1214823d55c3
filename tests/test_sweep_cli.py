"""``cim-emu sweep``: run, resume, exit statuses, usage errors before any work, the report's exports
and plot; ``cim-emu accuracy --config/--preset``."""

import json
import math

import pytest
from click.testing import CliRunner

from cim_emu.cli import cli
from cim_emu.reram import AdcConfig, ReramConfig
from cim_emu.sweep import Store

from cli_checks import json_document, usage_error

SPEC = """
study = "reram-product"
name = "adc"
seeds = [0, 1]

[grid]
adc_bits = [4, "lossless"]
devices = ["ideal", "reram_wan2022"]
"""


def _run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "adc.toml"
    path.write_text(SPEC)
    return path


def test_sweep_runs_a_spec_into_the_database_beside_it_then_skips_what_is_done(spec):
    dry = json_document(_run("sweep", str(spec), "--dry-run", "--json", "-"))
    assert (dry["to_run"], dry["skipped"]) == (8, 0) and not spec.with_suffix(".sqlite").exists()
    document = json_document(_run("sweep", str(spec), "--serial", "--no-progress", "--json", "-"))
    assert document["command"] == "sweep run"
    assert (document["points"], document["done"], document["failed"], document["skipped"]) == (8, 8, 0, 0)
    assert document["database"] == str(spec.with_suffix(".sqlite"))
    with Store(spec.with_suffix(".sqlite")) as store:
        rows = list(store.rows())
    assert len(rows) == 8 and {r["status"] for r in rows} == {"done"}
    again = json_document(_run("sweep", "run", str(spec), "--serial", "--json", "-"))
    assert (again["skipped"], again["done"]) == (8, 0)
    dry = json_document(_run("sweep", str(spec), "--dry-run", "--json", "-"))
    assert (dry["to_run"], dry["skipped"]) == (0, 8)


def test_failed_points_give_exit_status_1_and_a_retry(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"study": "reram-product", "grid": {"config_file": [str(tmp_path / "nope.json")]}}))
    result = _run("sweep", str(path), "--serial", "--db", str(tmp_path / "x.sqlite"))
    assert result.exit_code == 1 and "1 failed of 1" in result.output
    ReramConfig().to_json(tmp_path / "nope.json")
    assert _run("sweep", str(path), "--serial", "--db", str(tmp_path / "x.sqlite")).exit_code == 1  # skipped
    result = _run("sweep", str(path), "--serial", "--db", str(tmp_path / "x.sqlite"), "--retry-failed")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("text, message", [
    ('study = "nope"\n[grid]\nx = [1]\n', "unknown study 'nope'"),
    ('study = "echo"\n[grid]\nvalue = []\n', "grid.value is an empty list"),
    ('study = "echo"\n[grid]\nvalue = ["a"]\n', "grid.value must be a number"),
    ('study = "echo"\n[grid]\nvolume = [1]\n', "has no parameter 'volume'"),
    ('study = "echo"\n', "neither 'grid' nor 'random'"),
])
def test_a_bad_spec_is_one_usage_error_and_no_database(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    error = usage_error(_run("sweep", str(path)))
    assert "SPEC" in error and message in error
    assert not path.with_suffix(".sqlite").exists()


def test_conflicting_options_are_usage_errors(spec):
    assert "exclude each other" in usage_error(_run("sweep", str(spec), "--serial", "--scheduler", "tcp://x:1"))
    assert "--workers" in usage_error(_run("sweep", str(spec), "--serial", "--workers", "2"))


def test_report_lists_sweeps_exports_standard_json_and_csv_and_plots(spec, tmp_path):
    _run("sweep", str(spec), "--serial", "--no-progress")
    database = str(spec.with_suffix(".sqlite"))
    listing = _run("sweep", "report", database)
    assert listing.exit_code == 0 and "reram-product" in listing.output and "adc" in listing.output
    exported = _run("sweep", "report", database, "--json", "-")
    assert exported.exit_code == 0
    document = json.loads(exported.stdout, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert len(document["results"]) == 8 and document["sweeps"][0]["done"] == 8
    exact = [r for r in document["results"] if r["config"]["adc_bits"] == "lossless"
             and r["config"]["devices"] == "ideal"]
    assert {r["metrics"]["snr_db"] for r in exact} == {"inf"}
    csv_text = _run("sweep", "report", database, "--csv", "-").stdout.splitlines()
    assert len(csv_text) == 9 and "config.adc_bits" in csv_text[0] and "metrics.snr_db" in csv_text[0]
    pytest.importorskip("matplotlib")
    plot = tmp_path / "snr.png"
    summary = _run("sweep", "report", database, "--metric", "relative_error", "--param", "adc_bits",
                   "--group", "devices", "--plot", str(plot), "--json", str(tmp_path / "summary.json"))
    assert summary.exit_code == 0, summary.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads((tmp_path / "summary.json").read_text())["results"]
    assert [(r["devices"], r["adc_bits"], r["n"]) for r in rows] == [
        ("ideal", 4, 2), ("ideal", "lossless", 2), ("reram_wan2022", 4, 2), ("reram_wan2022", "lossless", 2)]
    assert all(r["min"] <= r["median"] <= r["max"] for r in rows) and rows[1]["max"] == 0


@pytest.mark.parametrize("args, message", [
    (["--metric", "snr_db"], "--metric and --param go together"),
    (["--metric", "snr", "--param", "adc_bits"], "no metric 'snr'; metrics: adc_bits"),
    (["--metric", "snr_db", "--param", "bits"], "no parameter 'bits'"),
    (["--sweep", "zzz"], "no sweep starts with 'zzz'"),
])
def test_report_usage_errors_name_the_problem(spec, args, message):
    _run("sweep", str(spec), "--serial", "--no-progress")
    assert message in usage_error(_run("sweep", "report", str(spec.with_suffix(".sqlite")), *args))


def test_studies_lists_every_study_with_its_parameters():
    out = _run("sweep", "studies").output
    for name in ("accuracy", "reram-product", "digits-mlp", "digits-cnn", "ambit-faults", "simdram-app"):
        assert f"\n{name}: " in f"\n{out}"
    assert "  adc_bits = 'config'" in out and "module:function" in out


def test_accuracy_checks_a_reram_configuration_file_and_an_ambit_preset(tmp_path):
    ReramConfig.prime(adc=AdcConfig(bits=None)).to_json(tmp_path / "prime.json")
    document = json_document(_run("accuracy", "--quick", "--config", str(tmp_path / "prime.json"), "--json", "-"))
    records = document["results"]
    assert [r["check"] for r in records] == ["configured", "configured"] and document["passed"]
    assert all(r["max_abs_error"] == 0 and r["bound"] == 0 for r in records)  # lossless, ideal: exact
    faults = json_document(_run("accuracy", "--quick", "--preset", "ambit_spice_25", "--json", "-"))["results"]
    assert [r["op"] for r in faults] == ["and", "or", "xor", "maj"]
    assert all(0 < r["bit_error_rate"] < 0.2619 * 2 for r in faults)
    assert not math.isnan(faults[0]["bit_error_rate"])


@pytest.mark.parametrize("args, message", [
    (["--preset", "nope"], "unknown preset 'nope'; presets: default, isaac"),
    (["--preset", "isaac", "--config", __file__], "not both"),
])
def test_accuracy_bad_configurations_are_usage_errors(args, message):
    assert message in usage_error(_run("accuracy", "--quick", *args))


def test_accuracy_bad_configuration_file_names_the_field(tmp_path):
    (tmp_path / "c.json").write_text('{"adc": {"bitz": 3}}')
    assert "unknown field(s) in adc: bitz" in usage_error(_run("accuracy", "--config", str(tmp_path / "c.json")))


def test_without_dask_a_cluster_sweep_is_a_usage_error_naming_the_extra(spec, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    assert "install cim-emu[sweep]" in usage_error(_run("sweep", str(spec)))
    assert _run("sweep", str(spec), "--serial", "--no-progress").exit_code == 0


def test_ctrl_c_exits_130_and_says_how_to_finish(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"study": "test_sweep_runner:interrupt_at_three", "grid": {"value": [1, 3]},
                                "fixed": {"resumed": str(tmp_path / "resumed")}}))
    result = CliRunner().invoke(cli, ["sweep", str(path), "--serial", "--no-progress"])
    assert result.exit_code == 130 and "run the same command again" in result.output


def test_every_json_key_of_the_sweep_commands_is_documented(spec):
    import pathlib
    import re

    import cim_emu.cli

    readme = pathlib.Path(cim_emu.cli.__file__).with_name("README.md").read_text()
    documented = set(re.findall(r"`([a-z_0-9]+)`", readme))
    database = str(spec.with_suffix(".sqlite"))
    documents = [json_document(_run("sweep", str(spec), "--serial", "--no-progress", "--json", "-")),
                 json_document(_run("sweep", str(spec), "--dry-run", "--json", "-")),
                 json_document(_run("sweep", "report", database, "--json", "-")),
                 json_document(_run("sweep", "report", database, "--metric", "snr_db", "--param", "devices",
                                    "--json", "-"))]
    for document in documents:
        keys = set(document) | {key for record in document["results"] for key in record}
        keys -= {"devices"}  # the --param's name, a parameter of the study
        assert keys - documented == set(), document["command"]
    assert "### `cim-emu sweep run SPEC`" in readme and "### `cim-emu sweep report DB`" in readme
