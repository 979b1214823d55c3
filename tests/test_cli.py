"""The ``cim-emu`` command line, through click's CliRunner: every command, option and error."""

import csv
import dataclasses
import hashlib
import importlib.util
import io
import json
import pathlib
import re
import subprocess
import sys
import time
import types

import numpy
import pytest

import cim_emu
import cim_emu.cli
from cim_emu import backend as backend_module
from cim_emu.ambit.subarray import EXECUTORS, Subarray
from cim_emu.backend import cupy_available
from cim_emu.bits import random_row
from cim_emu.cli import ambit as ambit_cli
from cim_emu.cli import main
from cim_emu.studies import ambit_accuracy, reram_accuracy

from cli_checks import json_document, usage_error

#: XOR of D0 and D1 into D2 (Ambit Figure 8) with a syntax-checked comment line and blank line.
XOR_PROGRAM = """\
# D2 = D0 XOR D1 (Ambit Figure 8)

AAP D0 B8
AAP D1 B9
AAP C0 B10
AP B14
AP B15
AAP C1 B2
aap b12 d2  # lower case parses too
"""

#: Ambit Figure 9 (bytes of result per second, GB = 1e9 bytes) with the default DDR3-1600 system.
FIGURE_9_GB_PER_S = {"not": 621, "and": 311, "or": 311, "nand": 248, "nor": 248, "xor": 181, "xnor": 181}

#: Ambit Table 3: energy per KiB of result (nJ) in DRAM, and over DDR3 to the CPU.
TABLE_3_NJ_PER_KIB = {"not": (1.6, 93.7), "and": (3.2, 137.9), "or": (3.2, 137.9), "nand": (4.0, 137.9),
                      "nor": (4.0, 137.9), "xor": (5.5, 137.9), "xnor": (5.5, 137.9)}


@pytest.fixture
def xor_file(tmp_path):
    path = tmp_path / "xor.txt"
    path.write_text(XOR_PROGRAM)
    return path




def words_digest(words):
    return hashlib.sha256(numpy.asarray(words, dtype="<u8").tobytes()).hexdigest()


# -- the group ------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_lists_the_command_tree(invoke, flag):
    result = invoke(flag)
    assert result.exit_code == 0
    for command in ("info", "accuracy", "bench", "ambit"):
        assert f"  {command} " in result.stdout
    ambit_help = invoke("ambit", flag)
    assert ambit_help.exit_code == 0
    assert "  run " in ambit_help.stdout and "  ops " in ambit_help.stdout


@pytest.mark.parametrize("command", [["info"], ["accuracy"], ["bench"], ["ambit", "run"], ["ambit", "ops"]])
def test_every_command_has_help_text(invoke, command):
    result = invoke(*command, "-h")
    assert result.exit_code == 0
    summary = result.stdout.split("\n\n")[1].strip()
    assert len(summary) > 20, result.stdout


def test_version(invoke):
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"cim-emu {cim_emu.__version__}"


def test_main_is_the_console_script(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["cim-emu", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"cim-emu {cim_emu.__version__}"


def test_help_imports_no_engine():
    code = ("import sys; from cim_emu.cli import cli; "
            "print(sorted(m for m in sys.modules if m.startswith('cim_emu.ambit')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_command_is_a_usage_error(invoke):
    assert "No such command" in usage_error(invoke("reram"))


@pytest.mark.parametrize("args", [["info"], ["ambit", "ops"], ["ambit", "run"], ["accuracy", "--quick"],
                                  ["bench", "--quick"]])
def test_every_json_key_is_documented(invoke, xor_file, args):
    readme = pathlib.Path(cim_emu.cli.__file__).with_name("README.md").read_text()
    documented = set(re.findall(r"`([a-z_0-9]+)`", readme))
    command = args + ([xor_file] if args == ["ambit", "run"] else [])
    document = json_document(invoke(*command, "--json", "-"))
    keys = set(document) | {key for record in document["results"] for key in record}
    keys |= {key for value in document.values() if isinstance(value, dict) for key in value}
    assert keys - documented == set()
    name = " ".join(arg for arg in args if not arg.startswith("-"))
    assert f"### `cim-emu {name}" in readme


# -- info -----------------------------------------------------------------------------------


def test_info_text_names_versions_backends_and_threads(invoke):
    from cim_emu.ambit.fast import default_threads

    result = invoke("info")
    assert result.exit_code == 0
    assert f"numpy            {numpy.__version__}" in result.stdout
    assert f"cim-emu          {cim_emu.__version__}" in result.stdout
    assert f"fast executor    {default_threads()} host thread(s)" in result.stdout


def test_info_names_the_kernel_caches(invoke, monkeypatch, tmp_path):
    monkeypatch.setenv("CUPY_CACHE_DIR", str(tmp_path / "cupy"))
    monkeypatch.setenv("CIM_EMU_SHIM_CACHE", str(tmp_path / "shim"))
    (record,) = json_document(invoke("info", "--json", "-"))["results"]
    assert record["kernel_cache_cupy"] == str(tmp_path / "cupy")
    assert record["kernel_cache_cpu_shim"] == str(tmp_path / "shim")
    assert f"kernel cache     CuPy {tmp_path / 'cupy'}; CPU shim {tmp_path / 'shim'}" in invoke("info").stdout


def test_info_without_cupy_does_not_fail(invoke, no_gpu):
    document = json_document(invoke("info", "--json", "-"))
    (record,) = document["results"]
    assert record["cupy"] is None and record["cuda_devices"] == []
    assert "CuPy does not import" in record["cupy_problem"]
    assert document["backend"] == record["default_backend_resolves_to"] == "numpy"
    assert document["seed"] is None
    text = invoke("info").stdout
    assert "cupy             not available" in text and "backends         numpy\n" in text


def test_info_reports_cuda_devices(invoke, monkeypatch):
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDeviceProperties=lambda index: {"name": b"Fake H100", "totalGlobalMem": 80 * 2**30},
    )
    fake_cupy = types.SimpleNamespace(__version__="13.9", cuda=types.SimpleNamespace(runtime=runtime))
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(backend_module, "cupy_available", lambda: False)  # nothing computes on it
    (record,) = json_document(invoke("info", "--json", "-"))["results"]
    assert record["cupy"] == "13.9"
    assert record["cuda_devices"] == [{"index": 0, "name": "Fake H100", "memory_bytes": 80 * 2**30}]
    assert record["cupy_problem"] is None
    text = invoke("info").stdout
    assert "0: Fake H100, 80.0 GiB" in text and "backends         numpy, cupy" in text


def test_info_json_file(invoke, tmp_path):
    path = tmp_path / "info.json"
    result = invoke("info", "--json", path)
    assert result.exit_code == 0 and "numpy" in result.stdout  # the text is still printed
    document = json.loads(path.read_text())
    assert document["command"] == "info"
    assert set(document["results"][0]) >= {"numpy", "cupy", "cuda_devices", "default_backend",
                                           "fast_executor_threads"}


# -- ambit ops ------------------------------------------------------------------------------


def ops_by_name(result):
    return {record["op"]: record for record in json_document(result)["results"]}


def test_ambit_ops_reproduces_figure_9_and_table_3(invoke):
    ops = ops_by_name(invoke("ambit", "ops", "--json", "-"))
    for op, gb_per_s in FIGURE_9_GB_PER_S.items():
        assert ops[op]["peak_gb_per_s"] == pytest.approx(gb_per_s, rel=0.01), op
    for op, (ambit_nj, cpu_nj) in TABLE_3_NJ_PER_KIB.items():
        assert ops[op]["energy_nj_per_kib"] == pytest.approx(ambit_nj)
        assert ops[op]["cpu_ddr3_nj_per_kib"] == pytest.approx(cpu_nj)
    assert ops["maj"]["cpu_ddr3_nj_per_kib"] is None  # the paper gives no 3-input figure
    assert (ops["xor"]["aap"], ops["xor"]["ap"], ops["xor"]["latency_ns"]) == (5, 2, 361.25)


def test_ambit_ops_text_table(invoke):
    result = invoke("ambit", "ops")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "DDR3-1600: AAP 52.75 ns, AP 48.75 ns; 8 banks x 8192-byte rows in parallel"
    assert lines[2].split() == ["op", "inputs", "AAP", "AP", "latency", "ns", "peak", "GB/s", "Ambit",
                                "nJ/KiB", "CPU", "DDR3", "nJ/KiB"]
    assert lines[4].split() == ["not", "1", "2", "0", "105.50", "621.2", "1.60", "93.7"]
    assert lines[-1].split()[-1] == "-"  # maj has no CPU figure
    assert len({len(line) for line in lines[2:]}) == 1  # aligned: the last column is right-aligned


def test_ambit_ops_ddr4_preset(invoke):
    result = invoke("ambit", "ops", "--dram", "ddr4-2400", "--json", "-")
    dram = json_document(result)["dram"]
    assert dram == {"preset": "ddr4-2400", "aap_ns": pytest.approx(49.32), "ap_ns": pytest.approx(45.32),
                    "banks": 16, "row_bytes": 8192}
    not_ = ops_by_name(result)["not"]
    assert not_["peak_gb_per_s"] == pytest.approx(16 * 8192 / (2 * 49.32e-9) / 1e9)


def test_ambit_ops_banks_and_row_bytes(invoke):
    result = invoke("ambit", "ops", "--banks", 2, "--row-bytes", 1024, "--json", "-")
    assert json_document(result)["dram"]["banks"] == 2
    assert ops_by_name(result)["not"]["peak_gb_per_s"] == pytest.approx(2 * 1024 / 105.5e-9 / 1e9)


@pytest.mark.parametrize("option", ["--banks", "--row-bytes"])
def test_ambit_ops_rejects_impossible_organisation(invoke, option):
    assert option in usage_error(invoke("ambit", "ops", option, 0))


def test_ambit_ops_csv(invoke, tmp_path):
    path = tmp_path / "ops.csv"
    assert invoke("ambit", "ops", "--csv", path).exit_code == 0
    rows = list(csv.DictReader(path.open()))
    assert [row["op"] for row in rows] == ["copy", "not", "and", "or", "nand", "nor", "xor", "xnor", "maj"]
    assert float(rows[1]["peak_gb_per_s"]) == pytest.approx(621, rel=0.01)
    assert rows[-1]["cpu_ddr3_nj_per_kib"] == ""


def test_csv_to_stdout_replaces_the_text(invoke):
    result = invoke("ambit", "ops", "--csv", "-")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 9 and "DDR3-1600" not in result.stdout


def test_json_and_csv_cannot_share_stdout(invoke):
    assert "standard output" in usage_error(invoke("ambit", "ops", "--json", "-", "--csv", "-"))


def test_unwritable_output_file_is_a_clear_error(invoke, tmp_path):
    result = invoke("ambit", "ops", "--json", tmp_path / "missing-dir" / "ops.json")
    assert result.exit_code == 1
    assert "Could not open file" in result.stderr and "Traceback" not in result.output


# -- ambit run ------------------------------------------------------------------------------


def run_rows(result):
    return {record["row"]: record for record in json_document(result)["results"]}


def test_ambit_run_digests_are_the_rows_bits(invoke, xor_file, backend):
    n_bits = 1000
    result = invoke("ambit", "run", xor_file, "--row-bits", n_bits, "--seed", 7, "--backend", backend,
                    "--json", "-")
    document = json_document(result)
    assert (document["command"], document["backend"], document["seed"]) == ("ambit run", backend, 7)
    expected = random_row(7, 0, n_bits) ^ random_row(7, 1, n_bits)  # D0 is stream 0, D1 stream 1
    d2 = run_rows(result)["D2"]
    assert d2["sha256"] == words_digest(expected)
    assert d2["popcount"] == int(numpy.unpackbits(expected.view(numpy.uint8)).sum())
    assert document["parameters"] == {"row_bits": n_bits, "data_rows": 3, "executor": "fast",
                                      "faults": "none", "random_rows": {"D0": 0, "D1": 1}}


def test_ambit_run_executors_agree(invoke, xor_file, backend, monkeypatch):
    executors_used = []
    real_run = Subarray.run

    def spy(self, program, **options):
        executors_used.append(options["executor"])
        return real_run(self, program, **options)

    monkeypatch.setattr(Subarray, "run", spy)
    digests = {executor: run_rows(invoke("ambit", "run", xor_file, "--row-bits", 4097, "--executor", executor,
                                         "--backend", backend, "--json", "-"))
               for executor in EXECUTORS}
    assert executors_used == list(EXECUTORS)
    assert digests["fast"] == digests["reference"]
    assert set(digests["fast"]) == {"D2", "T0", "T1", "T2", "T3", "DCC0", "DCC1"}


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA device")
def test_ambit_run_backends_agree(invoke, xor_file):
    digests = [run_rows(invoke("ambit", "run", xor_file, "--row-bits", 10**6 + 3, "--faults", "ambit-pv25",
                               "--backend", name, "--json", "-")) for name in ("numpy", "cupy")]
    assert digests[0] == digests[1]


def test_ambit_run_executor_choices_match_the_engine():
    assert ambit_cli.EXECUTORS == EXECUTORS


def test_ambit_run_seed_changes_the_rows(invoke, xor_file):
    def digest(seed):
        return run_rows(invoke("ambit", "run", xor_file, "--seed", seed, "--json", "-"))["D2"]["sha256"]

    assert digest(1) == digest(1) != digest(2)


def test_ambit_run_designated_rows_follow_the_data_rows_in_stream_order(invoke, tmp_path):
    program = tmp_path / "copy_t0.txt"
    program.write_text("AAP B0 D0\n")  # reads T0 before anything writes it
    result = invoke("ambit", "run", program, "--data-rows", 3, "--row-bits", 130, "--json", "-")
    assert json_document(result)["parameters"]["random_rows"] == {"T0": 3}
    assert run_rows(result)["D0"]["sha256"] == words_digest(random_row(0, 3, 130))


def test_ambit_run_text_report(invoke, xor_file):
    result = invoke("ambit", "run", xor_file, "--row-bits", 8 * 8192 * 8 + 1)
    assert result.exit_code == 0
    text = result.stdout
    assert "7 command(s) (5 AAP, 2 AP)" in text
    assert "random rows  D0 (stream 0), D1 (stream 1)" in text
    assert "5 AAP, 2 AP; 63 issued over 9 physical row(s)" in text  # 8 banks: two waves
    assert "latency     722.50 ns" in text
    assert "energy      396.00 nJ" in text  # 5.5 nJ/KiB x 9 rows x 8 KiB
    assert "peak 181.41 GB/s" in text
    digest_line = next(line for line in text.splitlines() if line.startswith("D2 "))
    assert len(digest_line.split()[1]) == 64


def test_ambit_run_cost_in_json(invoke, xor_file):
    cost = json_document(invoke("ambit", "run", xor_file, "--json", "-"))["cost"]
    assert cost["commands"] == {"AAP": 5, "AP": 2}
    assert cost["latency_ns"] == pytest.approx(361.25)
    assert cost["throughput_bytes_per_s"] == pytest.approx(8192 / 361.25e-9)
    assert cost["peak_throughput_bytes_per_s"] == pytest.approx(181.41e9, rel=1e-3)


@pytest.mark.parametrize("preset", [p for p in ambit_cli.FAULT_PRESETS if p != "none"])
def test_ambit_run_faults_flip_bits_alike_in_both_executors(invoke, xor_file, preset):
    def rows(executor, faults):
        return run_rows(invoke("ambit", "run", xor_file, "--executor", executor, "--faults", faults,
                               "--json", "-"))

    faulty = rows("fast", preset)
    assert faulty == rows("reference", preset)
    assert faulty["D2"] != rows("fast", "none")["D2"]


def test_ambit_run_program_that_changes_nothing(invoke, tmp_path):
    path = tmp_path / "self_copy.txt"
    path.write_text("AAP D0 D0\n")
    result = invoke("ambit", "run", path)
    assert result.exit_code == 0 and "no row changed" in result.stdout
    assert json_document(invoke("ambit", "run", path, "--json", "-"))["results"] == []


def test_ambit_run_json_file(invoke, xor_file, tmp_path):
    path = tmp_path / "run.json"
    result = invoke("ambit", "run", xor_file, "--json", path)
    assert result.exit_code == 0 and "sha256" in result.stdout
    assert json.loads(path.read_text())["program"] == str(xor_file)


def test_ambit_run_missing_file(invoke, tmp_path):
    assert "does not exist" in usage_error(invoke("ambit", "run", tmp_path / "nope.txt"))


def test_ambit_run_directory(invoke, tmp_path):
    assert "is a directory" in usage_error(invoke("ambit", "run", tmp_path))


def test_ambit_run_unreadable_file(invoke, tmp_path):
    path = tmp_path / "binary.txt"
    path.write_bytes(b"\xff\xfe\x00AAP")
    assert f"cannot read {path}" in usage_error(invoke("ambit", "run", path))


def test_ambit_run_malformed_program_names_the_line(invoke, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("AAP D0 B0\n# fine\nAAP D1 B99\nAAP D1\n")
    message = usage_error(invoke("ambit", "run", path))
    assert f"{path}, line 3: " in message and "B99" in message


def test_ambit_run_unknown_command_names_the_line(invoke, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("\n\nFOO D1\n")
    assert "line 3: unknown command 'FOO'" in usage_error(invoke("ambit", "run", path))


@pytest.mark.parametrize("program, line, rule", [
    ("AAP D0 B0\nAP B8\n", 2, "undefined"),  # two rows raised first
    ("AAP D0 B0\n\nAAP D0 C1\n", 3, "constant row C1"),
    ("AAP B4 B5\n", 1, "both wordlines of DCC0"),
])  # fmt: skip
def test_ambit_run_illegal_command_names_the_line(invoke, tmp_path, program, line, rule):
    path = tmp_path / "illegal.txt"
    path.write_text(program)
    message = usage_error(invoke("ambit", "run", path))
    assert f"line {line}: " in message and rule in message


def test_ambit_run_data_row_out_of_range(invoke, xor_file):
    message = usage_error(invoke("ambit", "run", xor_file, "--data-rows", 2))
    assert "line 9: row D2 is out of range" in message


def test_ambit_run_program_without_commands(invoke, tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("# nothing to do\n\n")
    assert "holds no commands" in usage_error(invoke("ambit", "run", path))


@pytest.mark.parametrize("option, value", [
    ("--row-bits", 0), ("--row-bits", -5), ("--data-rows", 0), ("--seed", -1), ("--seed", 2**64),
    ("--executor", "turbo"), ("--faults", "ambit-pv30"), ("--backend", "tpu"),
])  # fmt: skip
def test_ambit_run_rejects_impossible_options(invoke, xor_file, option, value):
    assert option in usage_error(invoke("ambit", "run", xor_file, option, value))


def test_ambit_run_rows_too_long_for_memory(invoke, xor_file):
    message = usage_error(invoke("ambit", "run", xor_file, "--row-bits", 10**17))
    assert "--row-bits" in message and "do not fit in memory" in message


def test_ambit_run_cupy_without_gpu(invoke, xor_file, no_gpu):
    message = usage_error(invoke("ambit", "run", xor_file, "--backend", "cupy"))
    assert "--backend" in message and "cupy" in message


# -- accuracy -------------------------------------------------------------------------------


def test_accuracy_quick_passes_fast(invoke, backend):
    start = time.perf_counter()
    result = invoke("accuracy", "--quick", "--backend", backend)
    assert time.perf_counter() - start < 30  # about 8 s, training the digits MLP and CNN included
    assert result.exit_code == 0, result.output
    torch_section = ("torch-digits-cnn 8/8" if importlib.util.find_spec("torch") else "torch-digits-cnn skipped")
    total = 162 if importlib.util.find_spec("torch") else 154
    assert result.stdout.splitlines()[-1] == (
        f"PASS: all {total} checks passed (ambit-library 108/108, ambit-fault-rate 4/4, realchip 18/18, "
        f"reram-exact 8/8, "
        f"reram-adc-sweep 6/6, reram-digits 10/10, {torch_section})")
    assert result.stderr == ""  # no progress bar on a quick run


def test_accuracy_json_and_csv(invoke, tmp_path):
    path = tmp_path / "accuracy.csv"
    document = json_document(invoke("accuracy", "--quick", "--seed", 3, "--json", "-", "--csv", path))
    assert (document["command"], document["seed"], document["passed"]) == ("accuracy", 3, True)
    library = [r for r in document["results"] if r["check"] == "ambit-library"]
    assert {r["op"] for r in library} == set(ambit_accuracy.NUMPY_REFERENCE)
    assert {r["executor"] for r in library} == set(EXECUTORS)
    assert {r["row_bits"] for r in library} == {1, 63, 64, 65, 1000, 4097}
    assert all(r["bit_errors"] == 0 for r in library)
    faults = [r for r in document["results"] if r["check"] == "ambit-fault-rate"]
    assert all(abs(r["measured_rate"] - r["flip_probability"]) <= r["bound"] for r in faults)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == len(document["results"]) and rows[0]["check"] == "ambit-library"


def test_accuracy_fails_on_a_wrong_bit(invoke, monkeypatch):
    real_bulk_op = ambit_accuracy.bulk_op

    def broken_xor(op, *operands, **options):
        result = real_bulk_op(op, *operands, **options)
        if op == "xor":
            result.value[0] ^= numpy.uint64(1)
        return result

    monkeypatch.setattr(ambit_accuracy, "bulk_op", broken_xor)
    result = invoke("accuracy", "--quick", "--check", "ambit-library")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "FAIL: 12 of 108 checks failed (ambit-library 96/108 passed)"
    assert next(line for line in result.stdout.splitlines() if line.startswith("xor ")).split() == [
        "xor", "6", "6", "no"]


def test_accuracy_reram_sections(invoke, monkeypatch):
    reram = ["--check", "reram-exact", "--check", "reram-adc-sweep"]
    document = json_document(invoke("accuracy", "--quick", *reram, "--json", "-"))
    exact = [r for r in document["results"] if r["check"] == "reram-exact"]
    assert {r["mapping"] for r in exact} == set(reram_accuracy.MAPPINGS) and all(r["max_abs_error"] == 0 for r in exact)
    sweep = [r for r in document["results"] if r["check"] == "reram-adc-sweep"]
    ideal = sorted((r for r in sweep if r["devices"] == "ideal"), key=lambda r: r["adc_bits"])
    assert [r["adc_bits"] for r in ideal] == [4, 6, 8]
    assert ideal[0]["snr_db"] < ideal[1]["snr_db"] < ideal[2]["snr_db"]  # more bits, less error
    assert all(r["max_abs_error"] <= r["bound"] for r in ideal)

    real_measure = reram_accuracy._measure

    def off_by_a_lot(config, *args, **kwargs):  # an engine that breaks its error bound
        check = real_measure(config, *args, **kwargs)
        return dataclasses.replace(check, max_abs_error=check.max_abs_error + (check.bound or 0) + 1)

    monkeypatch.setattr(reram_accuracy, "_measure", off_by_a_lot)
    result = invoke("accuracy", "--quick", *reram)
    assert result.exit_code == 1 and "reram-exact 0/8" in result.stdout.splitlines()[-1]


def test_accuracy_fails_on_a_wrong_fault_rate(invoke, monkeypatch):
    real_model = ambit_accuracy.TraFaultModel

    def doubled_rate(flip_probability, **options):
        return real_model(flip_probability=2 * flip_probability, **options)

    monkeypatch.setattr(ambit_accuracy, "TraFaultModel", doubled_rate)
    result = invoke("accuracy", "--quick", "--check", "ambit-fault-rate")
    assert result.exit_code == 1
    assert "ambit-fault-rate 0/4" in result.stdout.splitlines()[-1]


def test_accuracy_long_run_shows_progress(invoke, monkeypatch):
    from cim_emu.studies import accuracy_sections

    monkeypatch.setattr(accuracy_sections, "LIBRARY_LONG_ROW_BITS", (7, 700))
    monkeypatch.setattr(accuracy_sections, "FAULT_ROW_BITS_FULL", 4096)
    monkeypatch.setattr(reram_accuracy, "DEVICES", {"ideal": reram_accuracy.DEVICES["ideal"]})
    monkeypatch.setattr(accuracy_sections, "DIGITS_ADC_BITS_FULL", (5, None))
    from cim_emu.studies import digits_cnn

    monkeypatch.setattr(digits_cnn, "SECTION_EPOCHS_FULL", 3)
    monkeypatch.setattr(digits_cnn, "SECTION_ADC_BITS_FULL", (8, None))
    result = invoke("accuracy")
    assert result.exit_code == 0, result.output
    for label in ("ambit library", "ambit fault rate", "reram digits"):
        assert label in result.stderr
    assert "row lengths 1, 63, 64, 65, 1000, 4097, 7, 700 bits" in result.stdout


def test_accuracy_check_selects_sections_in_their_order(invoke):
    document = json_document(invoke("accuracy", "--quick", "--check", "reram-exact", "--check", "ambit-fault-rate",
                                    "--json", "-"))
    assert list(dict.fromkeys(r["check"] for r in document["results"])) == ["ambit-fault-rate", "reram-exact"]
    text = invoke("accuracy", "--quick", "--check", "ambit-fault-rate").stdout
    assert text.splitlines()[-1] == "PASS: all 4 checks passed (ambit-fault-rate 4/4)"


def test_accuracy_unknown_check(invoke):
    assert "'fast' is not one of 'ambit-library'" in usage_error(invoke("accuracy", "--check", "fast"))


def test_accuracy_cupy_without_gpu(invoke, no_gpu):
    message = usage_error(invoke("accuracy", "--quick", "--backend", "cupy"))
    assert "--backend" in message and "no CUDA device" in message


def test_accuracy_unknown_backend(invoke):
    assert "'tpu' is not one of" in usage_error(invoke("accuracy", "--backend", "tpu"))
