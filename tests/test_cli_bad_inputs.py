"""Every bad input to ``cim-emu ambit`` is one usage error (exit status 2, one 'Error:' line naming
the option, or the file and its line): never a traceback, an exhausted memory or a wrong answer."""

import os
import subprocess
import sys
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cim_emu import _memory, bits
from cim_emu.ambit import addresses, cost
from cim_emu.cli import _program_file
from cim_emu.cli import ambit as ambit_cli

from cli_checks import json_document, usage_error
from program_texts import PROGRAM_TEXT

#: Hypothesis settings of the command-line properties: the runner fixture holds no state.
CLI_PROPERTY = settings(max_examples=40, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def program_file(tmp_path):
    """Write ``text`` (str, or bytes as they are) to a program file and return its path."""

    def write(text, name="program.txt"):
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", newline="")
        return path

    return write


def test_the_limits_named_for_help_are_the_engines():
    assert ambit_cli.MAX_DATA_ROWS == addresses.MAX_DATA_ROWS
    assert ambit_cli.ROW_BYTES_RANGE == cost.ROW_BYTES_RANGE
    assert ambit_cli.BANKS_RANGE == cost.BANKS_RANGE


# -- rows beyond the subarray ----------------------------------------------------------------


@pytest.mark.parametrize("row, rule", [
    ("D999999999999", "row address 'D999999999999' is out of range: no DRAM bank has more than 262144 rows"),
    ("D5000000", "row address 'D5000000' is out of range"),
    ("D1006", "row D1006 is out of range: this subarray has data rows D0..D1005"),
])  # fmt: skip
def test_a_row_beyond_the_subarray_names_the_line(invoke, program_file, row, rule):
    path = program_file(f"# copy\nAAP D0 D1\nAAP D0 {row}\n")
    message = usage_error(invoke("ambit", "run", path, "--row-bits", 128))
    assert f"'PROGRAM_FILE': {path}, line 3: {rule}" in message


def test_the_highest_row_of_the_model_runs(invoke, program_file):
    document = json_document(invoke("ambit", "run", program_file("AAP D0 D1005\n"), "--row-bits", 64, "--json", "-"))
    assert document["parameters"]["data_rows"] == 1006


@pytest.mark.parametrize("value", [1007, 10**12, 10**30])
def test_data_rows_are_bounded_by_the_model(invoke, program_file, value):
    message = usage_error(invoke("ambit", "run", program_file("AAP D0 D1\n"), "--data-rows", value))
    assert "'--data-rows'" in message and "1<=x<=1006" in message


# -- memory ----------------------------------------------------------------------------------


def test_rows_too_long_for_memory_name_row_bits(invoke, program_file, monkeypatch):
    monkeypatch.setattr(_memory, "available_host_bytes", lambda: 40 * 2**20)
    message = usage_error(invoke("ambit", "run", program_file("AAP D0 D1\n"), "--row-bits", 2**30))
    assert "'--row-bits': rows of 1073741824 bits do not fit in memory: 2 row(s) of 1073741824 bits would need " \
           "256.0 MiB; only 40.0 MiB of memory is available" in message


def test_rows_for_the_whole_run_are_checked_before_any_is_drawn(invoke, program_file, monkeypatch):
    monkeypatch.setattr(_memory, "available_host_bytes", lambda: 40 * 2**20)
    drawn = []
    monkeypatch.setattr(bits, "random_row", lambda *args, **kwargs: drawn.append(args))
    message = usage_error(invoke("ambit", "run", program_file("AAP D0 D1\n"), "--row-bits", 2**27))
    assert "3 row(s) of 134217728 bits would need 48.0 MiB" in message and not drawn


def test_a_failed_allocation_never_gives_an_empty_reason(invoke, program_file, monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(bits, "random_row", no_memory)
    message = usage_error(invoke("ambit", "run", program_file("AAP D0 D1\n"), "--row-bits", 64))
    assert message.endswith("'--row-bits': rows of 64 bits do not fit in memory: an allocation failed")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_under_an_address_space_limit_the_message_names_row_bits(program_file):
    """``ulimit -v 4G``: rows of 8 GiB are refused, naming --row-bits with a reason (numpy's
    MemoryError under such a limit has an empty message)."""
    import resource  # Unix only

    path = program_file("AAP D0 D1\n")

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, resource.RLIM_INFINITY))

    one_thread = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, "-c", "from cim_emu.cli import main; main()", "ambit", "run", str(path), "--row-bits",
         str(2**36)], capture_output=True, text=True, preexec_fn=limit_memory, timeout=60,
        env={**os.environ, **one_thread},
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert "'--row-bits': rows of 68719476736 bits do not fit in memory: 2 row(s)" in errors[0]
    assert "of memory is available" in errors[0]


def test_a_program_too_large_for_memory_names_the_file(invoke, program_file, monkeypatch):
    monkeypatch.setattr(_memory, "available_host_bytes", lambda: 2**20)
    path = program_file("AAP D0 D1\n")
    message = usage_error(invoke("ambit", "run", path))
    assert f"'PROGRAM_FILE': {path} does not fit in memory: the program's lines 1 to 65536 would need 32.0 MiB; " \
           "only 1.0 MiB" in message


def test_a_line_too_long_names_the_line(invoke, program_file, monkeypatch):
    monkeypatch.setattr(_program_file, "MAX_LINE_CHARACTERS", 100)
    path = program_file("AAP D0 D1\n" + "#" * 100 + "\n" + "#" * 101 + "\n")
    assert f"{path}, line 3: longer than 100 characters" in usage_error(invoke("ambit", "run", path))


def test_a_program_file_is_read_as_a_stream(program_file):
    text = "AAP D0 B8\nAAP D1 B9\nAAP C0 B10\nAP B14\nAP B15\nAAP C1 B2\nAAP B12 D2  # out\n\n" * 2000
    path = program_file(text)
    _program_file.read_program(path)  # the commands and addresses are cached now
    tracemalloc.start()
    try:
        program = _program_file.read_program(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(program) == 14000 and peak < 2 * len(text)  # the text is never held whole


# -- program text ----------------------------------------------------------------------------


def test_a_byte_order_mark_is_dropped(invoke, program_file):
    plain = json_document(invoke("ambit", "run", program_file("AAP D0 D1\r\n", "plain.txt"), "--json", "-"))
    marked = json_document(invoke("ambit", "run", program_file(b"\xef\xbb\xbfAAP D0 D1\r\n", "bom.txt"), "--json", "-"))
    assert marked["results"] == plain["results"]


def test_a_long_token_is_cut_in_the_message(invoke, program_file):
    path = program_file("AAP D0 D1\n" + "X" * 10_000_000 + " D1\n")
    result = invoke("ambit", "run", path)
    message = usage_error(result)
    assert f"{path}, line 2: unknown command 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX'... " in message
    assert len(result.output) < 1000


# -- ambit ops -------------------------------------------------------------------------------


@pytest.mark.parametrize("option, value, allowed", [
    ("--row-bytes", 99999999999999999999, "512<=x<=65536"),
    ("--row-bytes", 511, "512<=x<=65536"),
    ("--banks", 10**24, "1<=x<=4096"),
    ("--banks", 4097, "1<=x<=4096"),
])  # fmt: skip
def test_ambit_ops_bounds_the_organisation(invoke, option, value, allowed):
    message = usage_error(invoke("ambit", "ops", option, value))
    assert f"'{option}'" in message and allowed in message


def test_ambit_ops_at_the_largest_organisation(invoke):
    result = invoke("ambit", "ops", "--banks", 4096, "--row-bytes", 65536, "--json", "-")
    not_ = {record["op"]: record for record in json_document(result)["results"]}["not"]
    assert not_["peak_gb_per_s"] == pytest.approx(4096 * 65536 / 105.5e-9 / 1e9)


# -- properties: any file and any option value is a clear error or a run ----------------------

FILES = st.one_of(PROGRAM_TEXT, PROGRAM_TEXT, PROGRAM_TEXT, st.binary(max_size=40))
OPTION_INTEGERS = st.one_of(st.integers(-3, 3000), st.integers(-(10**30), 10**30))


def assert_clear(result):
    """Exit 0, or one usage error (exit 2) of reasonable length."""
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert len(usage_error(result)) < 400


@CLI_PROPERTY
@given(FILES, st.one_of(st.integers(1, 300), OPTION_INTEGERS), st.none() | OPTION_INTEGERS,
       st.sampled_from(["fast", "reference"]))
def test_any_program_file_and_option_is_a_clear_error_or_a_run(invoke, tmp_path_factory, text, row_bits, data_rows,
                                                                executor):
    path = tmp_path_factory.mktemp("property") / "program.txt"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    if row_bits > 10**6:  # too long to run here, unless the check refuses it
        row_bits = max(row_bits, 10**18)
    options = ["--row-bits", row_bits, "--executor", executor] + ([] if data_rows is None else
                                                                   ["--data-rows", data_rows])
    assert_clear(invoke("ambit", "run", path, *options))


@CLI_PROPERTY
@given(OPTION_INTEGERS | st.integers(1, 4096), OPTION_INTEGERS | st.integers(512, 65536),
       st.sampled_from(["ddr3-1600", "ddr4-2400"]))
def test_any_organisation_is_a_clear_error_or_a_table(invoke, banks, row_bytes, dram):
    result = invoke("ambit", "ops", "--banks", banks, "--row-bytes", row_bytes, "--dram", dram, "--json", "-")
    assert_clear(result)
    in_range = 1 <= banks <= 4096 and 512 <= row_bytes <= 65536
    assert (result.exit_code == 0) == in_range
    if in_range:
        assert all(record["peak_gb_per_s"] <= 4096 * 65536 / 45e-9 / 1e9 for record in json_document(result)["results"])
