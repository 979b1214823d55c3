"""Checks the command-line tests share: the JSON envelope every command writes, and usage errors."""

import json

import cim_emu

ENVELOPE_KEYS = ["cim_emu_version", "command", "backend", "seed", "results"]
"""The keys every JSON document of ``cim-emu`` starts with, in order."""


def json_document(result):
    """The JSON document a command wrote to standard output, with the stable keys checked."""
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert list(document)[:5] == ENVELOPE_KEYS
    assert document["cim_emu_version"] == cim_emu.__version__
    return document


def usage_error(result):
    """The message of a usage error: exit status 2, one 'Error:' line, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]
