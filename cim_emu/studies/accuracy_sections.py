"""The sections of ``cim-emu accuracy``: the sizes they run at, quick and full, and their checks.

The command line (:mod:`cim_emu.cli.accuracy`) prints them and the ``accuracy`` study of the
sweeps (:mod:`cim_emu.sweep.engines`) records them; both gather a section's checks with
:func:`checks`, so a sweep point computes what the command computes for the same section and seed.

The studies a section runs are imported when it runs (the digits sections' need scikit-learn and
torch), so that importing this module stays cheap for ``cim-emu --help``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager, Iterable, NamedTuple, Optional, Sequence

from ..backend import BackendLike

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

#: ``progress(items, label)``: a context manager giving back ``items`` to iterate over, which may
#: show the progress under ``label`` meanwhile (the command line's bar on a full run).
Progress = Callable[[Sequence[Any], str], ContextManager[Iterable[Any]]]


def no_progress(items: Sequence[Any], label: str) -> ContextManager[Iterable[Any]]:
    """The :data:`Progress` that shows nothing: returns a context manager giving back ``items``."""
    return contextlib.nullcontext(items)


class SectionChecks(NamedTuple):
    """The checks of one section, as :func:`checks` gathers them."""

    records: list
    """One dict per check, in the order they ran: its fields and ``passed``."""
    summary: dict
    """The section's summary values by name (e.g. ``bit_errors``, ``min_accuracy``); empty for some."""

    @property
    def failed(self) -> int:
        """The number of checks that did not pass."""
        return sum(not record["passed"] for record in self.records)


def library_row_bits(quick: bool) -> tuple:
    """The row lengths of the ``ambit-library`` section: the awkward ones, and the long ones on a full run."""
    from . import ambit_accuracy  # noqa: PLC0415

    return ambit_accuracy.AWKWARD_ROW_BITS + (() if quick else LIBRARY_LONG_ROW_BITS)


def reram_devices(quick: bool) -> tuple:
    """The device models (names in :data:`cim_emu.studies.reram_accuracy.DEVICES`) of the ReRAM sweeps."""
    from . import reram_accuracy  # noqa: PLC0415

    return QUICK_DEVICES if quick else tuple(reram_accuracy.DEVICES)


def _ambit_library(quick: bool, seed: int, backend: BackendLike, progress: Progress) -> SectionChecks:
    """Every library operation with every executor at each row length, against numpy."""
    from . import ambit_accuracy  # noqa: PLC0415

    records = []
    with progress(library_row_bits(quick), "ambit library") as lengths:
        for n_bits in lengths:
            records += [c.as_dict() for c in ambit_accuracy.check_library(row_bits=(n_bits,), seed=seed,
                                                                          backend=backend)]
    return SectionChecks(records, {"bit_errors": sum(r["bit_errors"] for r in records)})


def _ambit_fault_rate(quick: bool, seed: int, backend: BackendLike, progress: Progress) -> SectionChecks:
    """``maj``'s measured flip rate for each flip probability and executor, against its bound."""
    from ..ambit.subarray import EXECUTORS  # noqa: PLC0415
    from . import ambit_accuracy  # noqa: PLC0415

    cases = [(p, executor) for p in FAULT_PROBABILITIES for executor in EXECUTORS]
    row_bits = FAULT_ROW_BITS_QUICK if quick else FAULT_ROW_BITS_FULL
    with progress(cases, "ambit fault rate") as steps:
        records = [ambit_accuracy.check_fault_rate(p, row_bits=row_bits, seed=seed, backend=backend,
                                                   executor=executor).as_dict() for p, executor in steps]
    deviation = max(abs(r["measured_rate"] - r["flip_probability"]) / r["bound"] for r in records)
    return SectionChecks(records, {"largest_deviation_over_bound": deviation})


def _realchip(quick: bool, seed: int, backend: BackendLike, progress: Progress) -> SectionChecks:
    """The real chips' published success rates, measured on the emulator."""
    from . import realchip_characterisation  # noqa: PLC0415

    return SectionChecks([r.as_dict() for r in realchip_characterisation.characterise(quick, seed, backend)], {})


def _product_checks(records: list) -> SectionChecks:
    """ReRAM product records with their largest relative error and smallest SNR."""
    return SectionChecks(records, {"max_relative_error": max(r["relative_error"] for r in records),
                                   "min_snr_db": min(r["snr_db"] for r in records)})


def _reram_exact(quick: bool, seed: int, backend: BackendLike, progress: Progress) -> SectionChecks:
    """Every weight mapping with unsigned and signed inputs, lossless and ideal, against ``x @ W``."""
    from . import reram_accuracy  # noqa: PLC0415

    return _product_checks([c.as_dict() for c in reram_accuracy.check_exact(seed=seed, backend=backend,
                                                                            quick=quick)])


def _reram_adc_sweep(quick: bool, seed: int, backend: BackendLike, progress: Progress) -> SectionChecks:
    """The default crossbars across ADC resolutions and device models, against ``x @ W``."""
    from . import reram_accuracy  # noqa: PLC0415

    found = reram_accuracy.check_adc_sweep(devices=reram_devices(quick), seed=seed, backend=backend, quick=quick)
    return _product_checks([c.as_dict() for c in found])


def _accuracy_checks(records: list) -> SectionChecks:
    """Digits-model records (the float model's first) with the float and the smallest accuracy."""
    return SectionChecks(records, {"float_accuracy": records[0]["accuracy"],
                                   "min_accuracy": min(r["accuracy"] for r in records)})


def _reram_digits(quick: bool, seed: int, backend: BackendLike, progress: Progress) -> SectionChecks:
    """The digits MLP in float, 8-bit digital and on crossbars across ADC resolutions and device models."""
    from . import digits_mlp, reram_accuracy  # noqa: PLC0415

    study = digits_mlp.DigitsStudy(seed, backend)
    adc_bits = DIGITS_ADC_BITS_QUICK if quick else DIGITS_ADC_BITS_FULL
    configurations = [(device, bits) for device in reram_devices(quick) for bits in adc_bits]
    with progress(configurations, "reram digits") as steps:
        results = study.references() + [study.analog(device, reram_accuracy.DEVICES[device], bits)
                                        for device, bits in steps]
    return _accuracy_checks([r.as_dict() for r in results])


def _torch_digits_cnn(quick: bool, seed: int, backend: BackendLike, progress: Progress) -> SectionChecks:
    """The digits CNN in float, digital and converted to crossbars, on the CPU whatever ``backend``
    (torch on at most 2 threads, :func:`cim_emu.studies.digits_cnn.study`)."""
    from . import digits_cnn  # noqa: PLC0415

    return _accuracy_checks(digits_cnn.study(quick, seed))


#: Each section's gatherer ``(quick, seed, backend, progress) -> SectionChecks``, in the order they run and print.
_GATHERERS: dict[str, Callable[[bool, int, BackendLike, Progress], SectionChecks]] = {
    "ambit-library": _ambit_library,
    "ambit-fault-rate": _ambit_fault_rate,
    "realchip": _realchip,
    "reram-exact": _reram_exact,
    "reram-adc-sweep": _reram_adc_sweep,
    "reram-digits": _reram_digits,
    "torch-digits-cnn": _torch_digits_cnn,
}

#: The sections by name, in the order they run and print.
SECTION_NAMES = tuple(_GATHERERS)


def checks(section: str, quick: bool, seed: int, backend: BackendLike,
           progress: Optional[Progress] = None) -> SectionChecks:
    """Run the checks of ``section`` (one of :data:`SECTION_NAMES`) at its quick or full sizes.

    Returns a :class:`SectionChecks`: one record per check and the section's summary. ``progress``
    (default: :func:`no_progress`) wraps the sections' longer loops. Raises :class:`KeyError` for
    an unknown section, and :class:`~cim_emu.studies.digits_mlp.DatasetUnavailableError` or
    :class:`~cim_emu.studies.digits_cnn.TorchUnavailableError` when a digits section lacks
    scikit-learn or torch.
    """
    return _GATHERERS[section](quick, seed, backend, no_progress if progress is None else progress)
