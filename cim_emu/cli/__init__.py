"""The ``cim-emu`` command line (click).

One module a command; each parses its options, calls the library and prints a table or writes
JSON/CSV (:mod:`cim_emu.cli._output`). Modules that compute are imported inside the commands,
so ``cim-emu --help`` stays instant. The ``add_command`` block at the end is the whole
command tree; a new engine (e.g. ReRAM) adds its group there.
"""

import click

from .._version import __version__
from . import accuracy, ambit, bench, info, sweep


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cim-emu", message="%(prog)s %(version)s")
def cli() -> None:
    """cim-emu: a bit-exact functional emulator of compute-in-memory hardware.

    Emulates Ambit-style bulk bitwise logic in DRAM and ReRAM analog crossbars, bit for bit,
    on numpy or CuPy, with the latency and energy the modelled hardware would spend.
    """


cli.add_command(info.info)  # cim-emu info
cli.add_command(accuracy.accuracy)  # cim-emu accuracy
cli.add_command(bench.bench)  # cim-emu bench
cli.add_command(ambit.ambit)  # cim-emu ambit
ambit.ambit.add_command(ambit.run)  # cim-emu ambit run PROGRAM_FILE
ambit.ambit.add_command(ambit.ops)  # cim-emu ambit ops
cli.add_command(sweep.sweep)  # cim-emu sweep [run] SPEC, cim-emu sweep report DB, cim-emu sweep studies


def main() -> None:
    """Entry point of the ``cim-emu`` console script."""
    cli(prog_name="cim-emu")
