"""Accuracy checks of the Ambit engine against exact references (behind ``cim-emu accuracy``).

Two questions, one function each:

:func:`check_library`
    Does every library operation (:data:`~cim_emu.ambit.library.OPERATIONS`), run as the
    paper's command sequence by :func:`~cim_emu.ambit.bulk.bulk_op`, give exactly numpy's
    bitwise result? Both executors, rows of awkward lengths (one bit, just under, at and over
    a 64-bit word, many words with a ragged tail). The answer must be zero bit errors,
    padding bits included.
:func:`check_fault_rate`
    Does the fault model flip TRA results at the configured rate? ``maj`` is the operation to
    measure it on: its program has a single triple-row activation whose result is copied
    to the output unchanged, so with ``TraFaultModel(flip_probability=p)`` every output bit is
    flipped independently with probability exactly ``bernoulli_threshold(p) / 2**32`` (``p``
    to within 2**-33), and the flipped bits are those where the output differs from the
    exact majority. The count of flips is binomial; the check passes when the measured rate
    is within ``sigmas`` standard deviations ``sqrt(p (1 - p) / n)`` of ``p``.

Input rows come from :func:`cim_emu.bits.random_row`: operand ``k`` of a ``n``-bit check is
``random_row(seed, stream=4 * n + k, n)``, so the data depend on the seed and the row
length only, not on which other lengths or operations are checked alongside.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional, Sequence

import numpy

from ..ambit import OPERATIONS, TraFaultModel, bulk_op
from ..ambit.subarray import EXECUTORS
from ..backend import NUMPY_BACKEND, Backend, BackendLike, get_backend
from ..bits import pack_bits, random_row, unpack_bits

#: Row lengths of the default library check: 1 bit, around one 64-bit word, ragged tails.
AWKWARD_ROW_BITS = (1, 63, 64, 65, 1000, 4097)

#: numpy's answer for every library operation, on bool arrays.
NUMPY_REFERENCE: dict[str, Callable[..., Any]] = {
    "copy": lambda a: a,
    "not": lambda a: ~a,
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    "nand": lambda a, b: ~(a & b),
    "nor": lambda a, b: ~(a | b),
    "xor": lambda a, b: a ^ b,
    "xnor": lambda a, b: ~(a ^ b),
    "maj": lambda a, b, c: (a & b) | (b & c) | (a & c),
}


@dataclasses.dataclass(frozen=True)
class LibraryCheck:
    """One library operation at one row length with one executor, against numpy."""

    op: str
    row_bits: int
    executor: str
    backend: str
    bit_errors: int
    """Bits (padding included) where the emulated result differs from numpy's."""

    @property
    def passed(self) -> bool:
        return self.bit_errors == 0

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "passed": self.passed}


@dataclasses.dataclass(frozen=True)
class FaultRateCheck:
    """The measured TRA flip rate of ``maj`` against the configured probability."""

    op: str
    row_bits: int
    executor: str
    backend: str
    flip_probability: float
    """The configured ``p`` of :class:`~cim_emu.ambit.faults.TraFaultModel`."""
    flipped_bits: int
    """Output bits that differ from the exact majority."""
    measured_rate: float
    """``flipped_bits / row_bits``."""
    bound: float
    """Largest accepted ``|measured_rate - p|``: ``sigmas * sqrt(p (1 - p) / row_bits)``."""

    @property
    def passed(self) -> bool:
        return abs(self.measured_rate - self.flip_probability) <= self.bound

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "passed": self.passed}


def _operands(seed: int, n_bits: int, count: int, chosen: Backend) -> list:
    """The packed random input rows of an ``n_bits``-bit check (see the module docstring)."""
    if not isinstance(n_bits, int) or isinstance(n_bits, bool) or n_bits < 1:
        raise ValueError(f"row_bits must be positive integers; got {n_bits!r}")
    return [random_row(seed, 4 * n_bits + k, n_bits, backend=chosen) for k in range(count)]


def _differing_bits(words: Any, expected_bits: numpy.ndarray) -> int:
    """Bits of packed ``words`` (padding included) that differ from ``expected_bits``."""
    difference = NUMPY_BACKEND.asarray(words) ^ pack_bits(expected_bits)
    return int(numpy.unpackbits(difference.view(numpy.uint8)).sum())


def _exact(op: str, operands: list, n_bits: int) -> numpy.ndarray:
    return NUMPY_REFERENCE[op](*(unpack_bits(NUMPY_BACKEND.asarray(w), n_bits) for w in operands))


def check_library(row_bits: Sequence[int] = AWKWARD_ROW_BITS, seed: int = 0,
                  backend: BackendLike = None, *, ops: Optional[Sequence[str]] = None,
                  executors: Sequence[str] = EXECUTORS) -> list[LibraryCheck]:
    """Run every operation in ``ops`` (default: all of the library) at every row length with
    every executor, and count the bits where the result differs from numpy's.

    Raises :class:`~cim_emu.backend.BackendUnavailableError` for ``backend="cupy"`` without a
    GPU and :class:`ValueError` for an operation numpy has no reference for.
    """
    ops = list(OPERATIONS) if ops is None else list(ops)
    missing = [op for op in ops if op not in NUMPY_REFERENCE]
    if missing:
        raise ValueError(f"no numpy reference for operation(s) {', '.join(missing)}; "
                         f"add them to NUMPY_REFERENCE")
    chosen = get_backend(backend)
    checks = []
    for n_bits in row_bits:
        operands = _operands(seed, n_bits, 3, chosen)
        for op in ops:
            inputs = operands[:OPERATIONS[op][0]]
            expected = _exact(op, inputs, n_bits)
            for executor in executors:
                result = bulk_op(op, *inputs, n_bits=n_bits, executor=executor, backend=chosen)
                checks.append(LibraryCheck(op, n_bits, executor, chosen.name,
                                           _differing_bits(result.value, expected)))
    return checks


def check_fault_rate(flip_probability: float, row_bits: int = 2**20, seed: int = 0,
                     backend: BackendLike = None, *, executor: str = "fast",
                     sigmas: float = 5.0) -> FaultRateCheck:
    """Measure the flip rate of ``maj``'s TRA under ``TraFaultModel(flip_probability=p)``.

    The faults are seeded with ``seed`` too (their streams never meet the input rows').
    """
    chosen = get_backend(backend)
    operands = _operands(seed, row_bits, 3, chosen)
    faults = TraFaultModel(flip_probability=flip_probability, seed=seed)
    result = bulk_op("maj", *operands, n_bits=row_bits, faults=faults, executor=executor,
                     backend=chosen)
    flipped = _differing_bits(result.value, _exact("maj", operands, row_bits))
    p = flip_probability
    return FaultRateCheck("maj", row_bits, executor, chosen.name, p, flipped, flipped / row_bits,
                          sigmas * math.sqrt(p * (1 - p) / row_bits))
