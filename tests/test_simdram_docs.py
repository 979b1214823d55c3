"""The examples of docs/simdram.md run and say what the text says."""

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "simdram.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_every_python_example_runs():
    blocks = python_blocks()
    assert len(blocks) == 2
    for block in blocks:
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(compile(block, str(DOC), "exec"), {})  # noqa: S102 - our own documentation
        assert output.getvalue()


def test_quick_start_prints_the_wrapped_products():
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(python_blocks()[0], str(DOC), "exec"), {})  # noqa: S102
    assert output.getvalue().splitlines()[0] == "[32 63  1]"
