"""The sections of ``cim-emu accuracy`` and the sizes they run at, quick and full.

The command line (:mod:`cim_emu.cli.accuracy`) prints them and the ``accuracy`` study of the
sweeps (:mod:`cim_emu.sweep.engines`) records them; both read their settings here, so a sweep
point computes what the command computes for the same section and seed.
"""

from __future__ import annotations

#: The sections by name, in the order they run and print.
SECTION_NAMES = ("ambit-library", "ambit-fault-rate", "realchip", "reram-exact", "reram-adc-sweep",
                 "reram-digits", "torch-digits-cnn")

#: Row lengths a full run adds to the awkward ones of the Ambit library check
#: (:data:`cim_emu.studies.ambit_accuracy.AWKWARD_ROW_BITS`): one bit more than the paper's 8 banks of
#: 8 KiB rows hold at once, and 8 MiB with a ragged tail.
LIBRARY_LONG_ROW_BITS = (8 * 8192 * 8 + 1, 2**26 + 3)

#: TRA flip probabilities of the fault-rate check: Ambit Table 2 at +-10 % and +-25 % variation.
FAULT_PROBABILITIES = (0.0029, 0.2619)

#: Row length of the fault-rate check, quick and full (the bound shrinks as 1 / sqrt(bits)).
FAULT_ROW_BITS_QUICK = 2**16
FAULT_ROW_BITS_FULL = 2**24

#: ADC resolutions of the digits model on crossbars, quick and full (None: the lossless default).
DIGITS_ADC_BITS_QUICK = (4, 6, 8, None)
DIGITS_ADC_BITS_FULL = (3, 4, 5, 6, 7, 8, None)

#: Device models (names in cim_emu.studies.reram_accuracy.DEVICES) of the quick runs of the ReRAM sweeps.
QUICK_DEVICES = ("ideal", "wan2022")
