"""The examples of docs/pytorch.md run, in order, and print what their comments claim."""

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def test_pytorch_page_examples_run_and_print_what_they_claim(capsys):
    text = (ROOT / "docs" / "pytorch.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 4
    namespace: dict = {}
    for block in blocks:  # each builds on the ones before, as a reader runs them
        exec(compile(block, "docs/pytorch.md", "exec"), namespace)
        printed = capsys.readouterr().out.splitlines()
        claims = [line.split("# ", 1)[1] for line in block.splitlines()
                  if line.lstrip().startswith("print(") and "# " in line]
        assert claims and all(claim in printed for claim in claims), (claims, printed)
