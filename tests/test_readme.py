"""The README stays true: its Python example runs, and CI runs its two commands."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_start_has_the_main_job_and_the_test_command():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_commands.py")],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == 2
    assert "cim-emu accuracy" in out[0] and "pytest" in out[1]
    assert "readme_commands.py" in (ROOT / ".ci" / "run").read_text()


def test_python_examples_run_and_print_what_they_say(capsys):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
        printed = capsys.readouterr().out.strip()
        claimed = block.strip().splitlines()[-1].split("# ", 1)[1]
        assert printed == claimed
