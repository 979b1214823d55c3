"""``cim-emu bench``: throughput records, sizes, the modelled hardware beside them, and bad input."""

import csv
import json

import pytest

from cim_emu.ambit import program_for
from cim_emu.cli import bench as bench_cli
from cim_emu.studies import benchmarks, timing

from cli_checks import json_document, usage_error

COMMON_KEYS = ["engine", "case", "size", "work", "unit", "emulator_s", "baseline", "baseline_s", "correct",
               "modelled_latency_ns", "modelled_energy_nj", "ratio_to_baseline", "emulator_per_s",
               "baseline_per_s", "modelled_per_s", "modelled_energy_pj_per_unit"]
AMBIT_KEYS = ["row_bytes", "baseline_in_place_s", "ratio_to_baseline_in_place", "modelled_peak_per_s"]
RERAM_KEYS = ["batch", "k", "n", "adc_bits", "inherent_products", "ratio_to_inherent", "crossbars", "conversions",
              "max_abs_error", "error_bound"]
METHOD_KEYS = ["rounds", "emulator_cpu_s", "baseline_cpu_s", "ratio_rounds_min", "ratio_rounds_max", "threads",
               "floor_ratio", "floor_basis", "plausible", "implausible_reason"]


def records_by_case(document):
    return {(r["engine"], r["case"], r["size"]): r for r in document["results"]}


def test_quick_run_records(invoke):
    document = json_document(invoke("bench", "--quick", "--seed", 5, "--json", "-"))
    assert (document["command"], document["backend"], document["seed"]) == ("bench", "numpy", 5)
    assert document["correct"] is True and document["repeats"] == document["rounds"] == bench_cli.QUICK_ROUNDS
    assert document["threads"]["threads"] == timing.usable_cores()  # every usable core, both sides
    assert document["plausible"] == all(record["plausible"] for record in document["results"])
    assert document["sizes"] == {name: list(values) for name, values in bench_cli.QUICK_SIZES.items()}
    assert document["machine"]["backend"] == "numpy" and document["machine"]["device"] is None
    records = records_by_case(document)
    assert sorted(records) == [("ambit", "and", "1 MiB rows"), ("ambit", "xor", "1 MiB rows"),
                               ("reram", "lossless", "16x256x256"), ("reram", "lossy", "16x256x256")]
    for (engine, _, _), record in records.items():
        assert list(record) == COMMON_KEYS + (AMBIT_KEYS if engine == "ambit" else RERAM_KEYS) + METHOD_KEYS
        assert record["correct"] is True and record["rounds"] == bench_cli.QUICK_ROUNDS
        assert record["ratio_to_baseline"] == pytest.approx(record["emulator_s"] / record["baseline_s"])
        assert record["emulator_per_s"] == pytest.approx(record["work"] / record["emulator_s"])


def test_modelled_hardware_beside_the_measurement(invoke):
    records = records_by_case(json_document(invoke("bench", "--quick", "--json", "-")))
    and_ = records["ambit", "and", "1 MiB rows"]
    # 1 MiB = 128 rows of 8 KiB over 8 banks: 16 waves of AND's 4 AAP (52.75 ns); 3.2 nJ per KiB
    assert (and_["work"], and_["unit"], and_["baseline"]) == (2**20, "B", "numpy.bitwise_and")
    assert and_["modelled_latency_ns"] == pytest.approx(16 * 4 * 52.75)
    assert and_["modelled_energy_nj"] == pytest.approx(3.2 * 1024)
    assert and_["modelled_peak_per_s"] == pytest.approx(310.6e9, rel=1e-3)  # Ambit Figure 9
    lossy = records["reram", "lossy", "16x256x256"]
    # 16 vectors x 8 one-bit input chunks, 100 ns per crossbar read (ISAAC)
    assert (lossy["work"], lossy["unit"], lossy["adc_bits"]) == (16 * 256 * 256, "MAC", benchmarks.LOSSY_ADC_BITS)
    assert lossy["modelled_latency_ns"] == pytest.approx(16 * 8 * 100)
    assert lossy["modelled_per_s"] == pytest.approx(256 * 256 / 800e-9)
    assert lossy["inherent_products"] == 64 and records["reram", "lossless", "16x256x256"]["inherent_products"] == 1
    assert lossy["crossbars"] == 2 * 2 * 4 * 2  # row tiles x column tiles x slices x polarities


def test_sizes_sweep_and_engine_choice(invoke):
    ambit = json_document(invoke("bench", "--quick", "--engine", "ambit", "--row-mib", 2, "--row-mib", 1,
                                 "--json", "-"))
    assert [(r["case"], r["row_bytes"]) for r in ambit["results"]] == [
        ("and", 2 * 2**20), ("xor", 2 * 2**20), ("and", 2**20), ("xor", 2**20)]
    reram = json_document(invoke("bench", "--quick", "--engine", "reram", "--batch", 3, "--k", 130, "--k", 7,
                                 "--n", 5, "--json", "-"))
    assert [(r["case"], r["batch"], r["k"], r["n"]) for r in reram["results"]] == [
        ("lossy", 3, 130, 5), ("lossless", 3, 130, 5), ("lossy", 3, 7, 5), ("lossless", 3, 7, 5)]
    assert all(r["correct"] for r in reram["results"])


def test_text_tables(invoke):
    result = invoke("bench", "--quick")
    assert result.exit_code == 0 and result.stderr == ""  # no progress bar on a quick run
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Ambit fast executor against the native bitwise call")
    assert lines[1].split()[:5] == ["op", "row", "emulator", "GB/s", "native"]
    assert lines[2].split()[:3] == ["and", "1", "MiB"] and lines[2].split()[-1] == "yes"
    assert lines[5].startswith("ReRAM crossbar products against float32 matmul")
    lossy = lines[7].split()
    assert lossy[:3] == ["lossy", "16x256x256", "6"] and lossy[-3:-1] == ["0.532", "yes"]
    assert lossy[-1] in ("yes", "no")  # plausible (no floor holds at this small size)
    assert lines[-1].startswith("all 4 results correct")


def test_implausible_ratios_are_flagged_not_shown(invoke, monkeypatch):
    monkeypatch.setattr(timing, "PLAUSIBLE_FRACTION", 1e9)  # every ratio with a floor falls below it
    document = json_document(invoke("bench", "--quick", "--engine", "ambit", "--json", "-"))
    assert document["plausible"] is False
    assert [r["plausible"] for r in document["results"]] == [False, False]
    assert "the baseline was slowed" in document["results"][0]["implausible_reason"]
    lines = invoke("bench", "--quick", "--engine", "ambit").stdout.splitlines()
    row = lines[2].split()
    assert row[:3] == ["and", "1", "MiB"] and row[-1] == "no" and row[6:8] == ["-", "-"]  # ratios left out
    assert lines[5].startswith("implausible: ambit and 1 MiB rows: ratio")
    assert lines[-1] == "all 2 results correct; 2 implausible (see above)"


def test_csv(invoke, tmp_path):
    path = tmp_path / "bench.csv"
    assert invoke("bench", "--quick", "--csv", path).exit_code == 0
    rows = list(csv.DictReader(path.open()))
    assert [row["case"] for row in rows] == ["and", "xor", "lossy", "lossless"]
    assert rows[0]["batch"] == "" and rows[2]["row_bytes"] == ""  # one header for both engines
    assert float(rows[2]["modelled_latency_ns"]) == pytest.approx(12800)


def test_wrong_result_fails_the_run(invoke, monkeypatch):
    def or_for_and(op, inputs, output):  # an executor that computes the wrong operation
        return program_for("or" if op == "and" else op, inputs, output)

    monkeypatch.setattr(benchmarks, "program_for", or_for_and)
    result = invoke("bench", "--quick", "--engine", "ambit", "--json", "-")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["correct"] is False
    assert [r["correct"] for r in document["results"]] == [False, True]
    assert invoke("bench", "--quick", "--engine", "ambit").stdout.splitlines()[-1] == "FAIL: 1 of 2 results wrong"


def test_full_run_shows_progress(invoke, monkeypatch):
    monkeypatch.setattr(bench_cli, "FULL_SIZES", {"row_mib": (1,), "batch": (2,), "k": (64,), "n": (8,)})
    monkeypatch.setattr(bench_cli, "FULL_ROUNDS", 1)
    result = invoke("bench", "--threads", 1)
    assert result.exit_code == 0, result.output
    assert "bench" in result.stderr
    assert "median of 1 interleaved rounds, 1 threads" in result.stdout


@pytest.mark.parametrize("option, value", [
    ("--batch", 0), ("--k", 0), ("--n", -3), ("--row-mib", 0), ("--engine", "dram"), ("--backend", "tpu"),
    ("--seed", -1), ("--rounds", 0), ("--threads", 0), ("--model-case", "vgg-eval-ideal"), ("--train-batch", 0),
])  # fmt: skip
def test_rejects_impossible_options(invoke, option, value):
    assert option in usage_error(invoke("bench", "--quick", option, value))


@pytest.mark.parametrize("args, hint", [
    (["--engine", "ambit", "--row-mib", 2**40], "'--row-mib': 1099511627776 MiB rows does not fit in memory"),
    (["--engine", "reram", "--k", 10**9, "--n", 10**9], "'--batch', '--k', '--n': 16x1000000000x1000000000"),
])  # fmt: skip
def test_sizes_too_large_for_memory(invoke, args, hint):
    assert hint in usage_error(invoke("bench", "--quick", *args))


def test_cupy_without_gpu(invoke, no_gpu):
    message = usage_error(invoke("bench", "--quick", "--backend", "cupy"))
    assert "--backend" in message and "no CUDA device" in message


def test_library_rejects_bad_arguments():
    with pytest.raises(ValueError, match="op must be one of and, xor"):
        benchmarks.ambit_throughput("nand", 64)
    with pytest.raises(ValueError, match="multiple of 8"):
        benchmarks.ambit_throughput("and", 12)
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        benchmarks.reram_throughput("lossy", 0, 4, 4)
    with pytest.raises(ValueError, match="path must be one of lossy, lossless, signed"):
        benchmarks.reram_throughput("exact", 1, 4, 4)
    with pytest.raises(ValueError, match="rounds must be a positive integer"):
        benchmarks.reram_throughput("lossy", 1, 4, 4, rounds=0)


def test_signed_readout_is_timed_beside_the_per_polarity_one():
    result = benchmarks.reram_throughput("signed", 8, 300, 40, rounds=2, threads=1)
    config = benchmarks.reram_config("signed")
    assert config.signed_adc and not benchmarks.reram_config("lossy").signed_adc
    assert result.correct and result.case == "signed"
    assert result.details["inherent_products"] == config.inputs.chunks * config.mapping.slices == 32
    per_polarity = result.details["per_polarity_s"]
    assert result.details["ratio_to_per_polarity"] == pytest.approx(result.emulator_s / per_polarity)
    assert "per_polarity_s" not in benchmarks.reram_throughput("lossy", 8, 300, 40, rounds=2, threads=1).details


def test_models_quick_case(invoke, tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "models.json"
    result = invoke("bench", "--engine", "models", "--quick", "--model-case", "transformer-eval-ideal", "--no-memory",
                    "--threads", 1, "--json", path)
    (record,) = json.loads(path.read_text())["results"]
    assert (record["engine"], record["case"], record["batch"], record["adc_bits"]) == (
        "models", "transformer-eval-ideal", 2, 8)
    assert record["rounds"] == 2 and record["threads"] == 1 and record["thread_settings"]["threads"] == 1
    assert json.loads(path.read_text())["threads"]["torch_threads"] == 1
    assert record["relative_error"] < 0.05 and "peak_memory_ratio" not in record
    text = result.stdout.splitlines()
    assert text[0].startswith("Models on crossbars (8-bit ADC, calibrated) against the float model")
    assert text[2].split()[:3] == ["transformer-eval-ideal", "2", "8"]


def test_models_run_once_per_model_and_mode_on_a_configuration(invoke, tmp_path):
    pytest.importorskip("torch")
    from cim_emu.reram import AdcConfig, CrossbarGeometry, ReramConfig

    config = ReramConfig(crossbar=CrossbarGeometry(rows=64), adc=AdcConfig(bits=7))
    config.to_json(tmp_path / "config.json")
    path = tmp_path / "models.json"
    invoke("bench", "--engine", "models", "--quick", "--model-case", "transformer-eval-ideal", "--model-case",
           "transformer-eval-reram_wan2022", "--no-memory", "--threads", 1, "--config", tmp_path / "config.json",
           "--json", path)
    document = json.loads(path.read_text())
    (record,) = document["results"]
    assert (record["case"], record["devices"], record["adc_bits"]) == ("transformer-eval-configured", "configured", 7)
    assert record["config"] == str(config) and document["configuration"]["kind"] == "reram"
    assert record["relative_error"] < 0.1


def test_models_refuse_a_plot(invoke, tmp_path):
    assert "--plot" in usage_error(invoke("bench", "--engine", "models", "--plot", tmp_path / "p.png"))
