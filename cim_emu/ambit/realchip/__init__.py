"""Real DDR4 chips computing by simultaneous many-row activation (SiMRA, PULSAR, FCDRAM).

An optional mode beside the ideal Ambit subarray of :mod:`cim_emu.ambit` (which stays the
default and is unchanged). Specified in ``docs/spec/realchip.md``. Modules, one idea each:

* :mod:`~cim_emu.ambit.realchip.decoder` — predecoder field layouts and :func:`open_rows`;
* :mod:`~cim_emu.ambit.realchip.timing` — the timing windows of APA and its cost;
* :mod:`~cim_emu.ambit.realchip.program` — APA and FRAC programs with a text form;
* :mod:`~cim_emu.ambit.realchip.success` — the published success rates, with their sources;
* :mod:`~cim_emu.ambit.realchip.errors` — the capable mask and per-trial flips;
* :mod:`~cim_emu.ambit.realchip.bank` — :class:`RealChipBank`, the semantics of APA and FRAC;
* :mod:`~cim_emu.ambit.realchip.recipes` — MAJX with operand replication and Frac, row pairs;
* :mod:`~cim_emu.ambit.realchip.router` — RowClone hops, Multi-RowCopy into subcubes, operand loads;
* :mod:`~cim_emu.ambit.realchip.adder` — bit-serial addition with MAJ3 only or with MAJ5:
  commands, DDR4 cost and emulated success; the ripple chain and measurement the others share;
* :mod:`~cim_emu.ambit.realchip.arithmetic` — subtraction (MAJ3 / MAJ5) and unsigned comparison
  ``a > b``, ``a >= b`` (MAJ3 / MAJ7) on the adder's machinery.

The characterisation study: :mod:`cim_emu.studies.realchip_characterisation`.
"""

from .bank import ApaOutcome, RealChipBank
from .decoder import LAYOUTS, PredecoderLayout, RealChipCommandError, RowGroup, open_rows
from .errors import RealChipErrorModel
from .program import APA, FRAC, RealChipCommand, RealChipProgram
from .success import published_success

__all__ = [
    "APA", "ApaOutcome", "FRAC", "LAYOUTS", "PredecoderLayout", "RealChipBank", "RealChipCommand",
    "RealChipCommandError", "RealChipErrorModel", "RealChipProgram", "RowGroup", "open_rows", "published_success",
]  # fmt: skip
