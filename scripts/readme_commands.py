#!/usr/bin/env python3
"""Print the README's two quick-start commands, one a line (used by .ci/run and the tests).

They are the lines of the first ```sh block after the "## Quick start" heading.
"""

import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_start_commands(text: str) -> list:
    section = text.split("## Quick start", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


if __name__ == "__main__":
    sys.stdout.write("".join(line + "\n" for line in quick_start_commands(README.read_text(encoding="utf-8"))))
