"""The real-chip characterisation study: SiMRA's and FCDRAM's methodology run on the emulator.

For every published configuration (operation, rows opened N, operands X, solid or random data)
the study runs ``trials`` APAs on one row group of an 8 KiB row (65,536 bit positions), with
fresh operands every trial, and counts a bit position successful only when it is correct in
every trial (SiMRA, DSN 2024, Section 4; FCDRAM, HPCA 2024, Section 5). The measured success is
compared with the published value (:mod:`cim_emu.ambit.realchip.success`). A record passes when

``|measured - published| <= uncertainty + 0.5**trials + 5 sqrt(p (1 - p) / bits)``,

the published value's uncertainty (3 points for values read off SiMRA's plots, 0 for values
given in the text), the bias of a finite number of trials (a non-capable bit that flips with
probability 0.5 is right in every one of ``T`` trials with probability ``0.5**T``) and a 5-sigma
binomial sampling bound.

Operands: *solid* rows are all zeros or all ones (each operand's value drawn per trial), *random*
rows are uniform random bits; both come from :func:`cim_emu.bits.random_row` with data streams
``1000 * config + 64 * trial + k`` (below ``2**56``, never an error stream). Every configuration
uses its own subarray, so their capable masks are independent. Errors: the model's default
(:class:`~cim_emu.ambit.realchip.RealChipErrorModel` at 50 degrees C) keyed by the study's seed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterator, Optional

import numpy

from ..ambit.realchip import RealChipBank, RealChipErrorModel, open_rows, published_success
from ..ambit.realchip.recipes import group_pair, majority
from ..ambit.realchip.success import COPY_SUCCESS, MAJ_SUCCESS, PATTERNS, PLOT_UNCERTAINTY
from ..ambit.realchip.timing import COPY_TIMING, MAJ_TIMING
from ..backend import BackendLike, get_backend
from ..bits import random_row, unpack_bits

#: The bit positions of one 8 KiB DRAM row, the papers' unit of measurement.
ROW_BITS = 65536

#: Trials per configuration, quick and full.
TRIALS_QUICK = 8
TRIALS_FULL = 16


@dataclasses.dataclass(frozen=True)
class Characterisation:
    """One configuration's measured success against the published value."""

    op: str
    rows: int
    operands: int
    pattern: str
    t1_ns: float
    t2_ns: float
    trials: int
    bits: int
    """Bit positions measured (all of the row, or the shared half of the columns across subarrays)."""
    measured: float
    published: float
    uncertainty: float
    """Of the published value: 0.03 read off a plot, 0 given in the text."""
    bound: float

    @property
    def passed(self) -> bool:
        return abs(self.measured - self.published) <= self.bound

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "passed": self.passed}


def configurations(quick: bool = False) -> list[tuple[str, int, int, str]]:
    """``(op, rows, operands, pattern)`` of every published point (quick: solid and random of a few)."""
    points = [("maj", n, x, p) for x, by_rows in MAJ_SUCCESS.items() for n, v in by_rows.items() if v
              for p in PATTERNS]
    points += [("copy", n, 1, p) for n in COPY_SUCCESS for p in PATTERNS]
    points += [("not", n, 1, p) for n in (1, 4, 16) for p in PATTERNS]
    points += [(op, 16, 16, p) for op in ("and", "or") for p in PATTERNS]
    if quick:
        keep = {("maj", 8, 3), ("maj", 32, 5), ("maj", 32, 9), ("copy", 32, 1), ("not", 16, 1), ("and", 16, 16),
                ("or", 16, 16)}
        points = [point for point in points if point[:3] in keep]
    return points


def _operands(seed: int, stream: int, count: int, pattern: str, bits: int) -> list:
    rows = [random_row(seed, stream + k, bits) for k in range(count)]
    if pattern == "random":
        return rows
    ones = numpy.uint64(2**64 - 1)
    return [numpy.full_like(r, ones if int(r[0]) & 1 else 0) for r in rows]


def _bound(published: float, uncertainty: float, trials: int, bits: int) -> float:
    return uncertainty + 0.5**trials + 5 * math.sqrt(published * (1 - published) / bits)


def _record(op: str, rows: int, x: int, pattern: str, timing: tuple[float, float], trials: int, correct: Any,
            uncertainty: float) -> Characterisation:
    bits = int(correct.shape[0])
    p = published_success(op, rows, pattern, x)
    return Characterisation(op, rows, x, pattern, timing[0], timing[1], trials, bits, float(correct.mean()), p,
                            uncertainty, _bound(p, uncertainty, trials, bits))


def _shared(bank: RealChipBank, rf: int, rs: int) -> Any:
    lower = min(bank.layout.subarray(rf), bank.layout.subarray(rs))
    return numpy.arange(bank.row_bits) % 2 == lower % 2


def _host_bits(bank: RealChipBank, row: int) -> numpy.ndarray:
    return numpy.asarray(bank.backend.to_host(unpack_bits(bank.read_words(row), bank.row_bits, xp=bank.backend.xp)))


def _run(bank: RealChipBank, config: int, op: str, rows: int, x: int, pattern: str, trials: int,
         seed: int) -> Iterator[Characterisation]:
    base = 512 * (2 * config + 1)
    rf, rs = group_pair(base, rows)
    n = bank.row_bits
    if op == "maj":
        correct = numpy.ones(n, bool)
        for trial in range(trials):
            data = _operands(seed, 1000 * config + 64 * trial, x, pattern, n)
            majority(bank, rf, rs, [bank.backend.asarray(d) for d in data])
            votes = sum(unpack_bits(d, n).astype(numpy.int16) for d in data)
            correct &= _host_bits(bank, rf) == (2 * votes > x)
        yield _record(op, rows, x, pattern, MAJ_TIMING, trials, correct, PLOT_UNCERTAINTY)
        return
    if op == "copy":
        correct = numpy.ones(n, bool)
        destinations = [r for r in open_rows(rf, rs).rows if r != rf]
        for trial in range(trials):
            (data,) = _operands(seed, 1000 * config + 64 * trial, 1, pattern, n)
            bank.write_words(rf, bank.backend.asarray(data))
            bank.apa(rf, rs, *COPY_TIMING)
            for row in destinations:
                correct &= _host_bits(bank, row) == unpack_bits(data, n)
        yield _record(op, rows, 1, pattern, COPY_TIMING, trials, correct, 0.0)
        return
    rs += 512  # the neighbouring subarray
    group = open_rows(rf, rs)
    shared = _shared(bank, rf, rs)
    if op == "not":
        correct = numpy.ones(n, bool)
        for trial in range(trials):
            (data,) = _operands(seed, 1000 * config + 64 * trial, 1, pattern, n)
            bank.write_words(rf, bank.backend.asarray(data))
            bank.apa(rf, rs, *COPY_TIMING)
            for row in group.second:
                correct &= _host_bits(bank, row) == ~unpack_bits(data, n)
        yield _record(op, len(group.second), 1, pattern, COPY_TIMING, trials, correct[shared], 0.0)
        return
    ones = op == "and"
    compute = numpy.ones(n, bool)
    reference = numpy.ones(n, bool)
    for trial in range(trials):
        data = _operands(seed, 1000 * config + 64 * trial, len(group.second), pattern, n)
        for row in group.first:
            bank.write_bits(row, numpy.full(n, ones))
        for row, words in zip(group.second, data):
            bank.write_words(row, bank.backend.asarray(words))
        bank.apa(rf, rs, *MAJ_TIMING)
        bits = numpy.array([unpack_bits(d, n) for d in data])
        exact = bits.all(axis=0) if ones else bits.any(axis=0)
        for row in group.second:
            compute &= _host_bits(bank, row) == exact
        for row in group.first:
            reference &= _host_bits(bank, row) == ~exact
    count = len(group.second)
    yield _record(op, count, count, pattern, MAJ_TIMING, trials, compute[shared], 0.0)
    yield _record("nand" if ones else "nor", count, count, pattern, MAJ_TIMING, trials, reference[shared], 0.0)


def characterise(quick: bool = False, seed: int = 0, backend: BackendLike = "numpy", *,
                 trials: Optional[int] = None, row_bits: int = ROW_BITS,
                 errors: Optional[RealChipErrorModel] = None) -> list[Characterisation]:
    """Run every configuration of :func:`configurations` and return one record per measured operation.

    ``errors`` defaults to ``RealChipErrorModel(seed=seed)``; ``trials`` to 8 (quick) or 16.
    """
    chosen = get_backend(backend)
    count = (TRIALS_QUICK if quick else TRIALS_FULL) if trials is None else trials
    bank = RealChipBank(row_bits, "simra-512", RealChipErrorModel(seed=seed) if errors is None else errors, chosen)
    records: list[Characterisation] = []
    for config, (op, rows, x, pattern) in enumerate(configurations(quick)):
        records += _run(bank, config, op, rows, x, pattern, count, seed)
        bank.rows.clear()  # every configuration has its own subarray; drop the rows it wrote
    return records
