"""Applications of processing-using-DRAM, end to end, each beside its plain numpy version.

Each function builds one AAP/AP program, runs it on the emulated subarray (:func:`.api.run_program`)
and returns an :class:`ApplicationResult`: the DRAM answer, the numpy answer computed from the
same data, the program with its modelled cost, and the measured host times of the numpy version
and of the emulation, so the modelled DRAM latency stands beside the CPU time.

* :func:`bitmap_query` — a bitmap-index query (Ambit, MICRO 2017, Section 8.2; the
  bitmap-index workload of O'Neil and Quass, SIGMOD 1997): records that are in every bitmap of
  ``all_of``, in at least one of ``any_of`` and in none of ``none_of``. The bitmaps are rows
  (one bit per record), which is already a vertical layout: the predicate is an AND-reduction,
  OR-reductions and a NOT (:mod:`.reduction`, Ambit's NOT). The number of matches is counted
  **on the host** by a popcount of the result row, as in Ambit's evaluation, where the CPU
  counts the bits of the result bitmap; the DRAM's bit-count operation counts across the rows
  of one column, not across columns.
* :func:`bitweaving_scan` — a BitWeaving/V column scan (Li & Patel, SIGMOD 2013): ``value <
  constant`` (or ``>=``) over a ``k``-bit column stored vertically, the constant compiled into
  the program as C0/C1 operands (:func:`.comparison.compare_constant`, 3k + 1 commands), so
  one program answers the predicate for every row of the table at once. The match count is a
  host popcount of the result row.
* :func:`bnn_layer` — a binary neural network layer (XNOR-Net, Rastegari et al., ECCV 2016):
  for inputs and weights in {-1, +1} stored as bits, the dot product is
  ``2 * popcount(XNOR(x, w)) - K``. One column per (sample, neuron) pair; row ``k`` holds bit
  ``k`` of the sample and of the neuron's weights; the XNOR of each row pair is Ambit's DCC/TRA
  XNOR program (5 AAP + 2 AP), the popcount SIMDRAM's bit count of the ``K`` XNOR rows, and the
  sign activation ``dot >= 0`` a constant comparison of the count with ``ceil(K / 2)``.
  :func:`digits_bnn` runs it on scikit-learn's 8x8 digits (optional dependency).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Optional, Sequence

import numpy

from .._optional import require
from ..ambit import library
from ..ambit.cost import AmbitCostModel, ProgramCost
from ..ambit.program import Program
from ..bits import pack_bits, unpack_bits
from .allocator import RowAllocator
from .api import run_program
from .builder import ProgramBuilder, extend
from .comparison import compare_constant
from .layout import from_vertical, to_vertical
from .reduction import and_or_reduce, bitcount


@dataclasses.dataclass(frozen=True)
class ApplicationResult:
    """An application's DRAM answer beside its numpy answer, with costs and times."""

    answer: Any
    """What the emulated DRAM computed (per application: matches and count, or popcounts...)."""

    numpy_answer: Any
    """The same computed by plain numpy from the same data."""

    program: Program
    cost: ProgramCost
    """Modelled DRAM cost of the program (latency, energy) for all the columns at once."""

    numpy_seconds: float
    """Measured host time of the numpy version (best of three)."""

    emulator_seconds: float
    """Measured host time of the emulation (program run; layout included where there is one)."""

    @property
    def dram_seconds(self) -> float:
        """Modelled DRAM latency of the program, in seconds."""
        return self.cost.latency_ns * 1e-9


def _best_time(function: Any, repeats: int = 3) -> tuple[Any, float]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return result, best


def _host_popcount(words: Any) -> int:
    """Set bits of a packed row (the host-side count of a result bitmap)."""
    return int(numpy.unpackbits(numpy.ascontiguousarray(words).view(numpy.uint8)).sum())


# -- bitmap index ---------------------------------------------------------------------------------


def bitmap_query(bitmaps: Any, all_of: Sequence[int], any_of: Sequence[int] = (), none_of: Sequence[int] = (), *,
                 executor: str = "fast", cost_model: Optional[AmbitCostModel] = None) -> ApplicationResult:
    """Records in every bitmap of ``all_of``, at least one of ``any_of`` and none of ``none_of``.

    ``bitmaps`` is a bool array ``(n_bitmaps, n_records)``; the lists hold bitmap indices. The
    answer is ``(matches, count)``: the result bitmap (bool array) and its host popcount.
    """
    bitmaps = numpy.asarray(bitmaps)
    if bitmaps.ndim != 2 or bitmaps.dtype != bool:
        raise ValueError(f"bitmaps must be a 2-D bool array (n_bitmaps, n_records); got {bitmaps.dtype} "
                         f"of shape {bitmaps.shape}")
    n_bitmaps, n_records = bitmaps.shape
    groups = [list(all_of), list(any_of), list(none_of)]
    for name, group in zip(("all_of", "any_of", "none_of"), groups):
        if any(not 0 <= i < n_bitmaps for i in group):
            raise ValueError(f"{name} must hold bitmap indices in 0..{n_bitmaps - 1}; got {group}")
    if not all_of:
        raise ValueError("all_of must name at least one bitmap")
    rows = RowAllocator()
    stored = rows.take(n_bitmaps, "the bitmaps")
    p = ProgramBuilder()
    terms = [and_or_reduce(p, rows, tuple(stored[i] for i in all_of), "and")[0]]
    if any_of:
        terms += and_or_reduce(p, rows, tuple(stored[i] for i in any_of), "or")
    if none_of:
        excluded = and_or_reduce(p, rows, tuple(stored[i] for i in none_of), "or")[0]
        kept = rows.take_one("NOT none_of")
        extend(p, library.not_(excluded, kept))
        terms.append(kept)
    result = and_or_reduce(p, rows, tuple(terms), "and") if len(terms) > 1 else (terms[0],)
    program = p.program()
    planes = {stored: numpy.stack([pack_bits(b) for b in bitmaps])}
    start = time.perf_counter()
    (words,), cost = run_program(program, planes, [result], n_records, executor=executor, cost_model=cost_model)
    count = _host_popcount(words[0])
    emulator_seconds = time.perf_counter() - start

    def numpy_query() -> Any:
        match = numpy.logical_and.reduce(bitmaps[list(all_of)])
        if any_of:
            match &= numpy.logical_or.reduce(bitmaps[list(any_of)])
        if none_of:
            match &= ~numpy.logical_or.reduce(bitmaps[list(none_of)])
        return match

    expected, numpy_seconds = _best_time(numpy_query)
    answer = (unpack_bits(words[0], n_records), count)
    return ApplicationResult(answer, (expected, int(expected.sum())), program, cost, numpy_seconds, emulator_seconds)


# -- BitWeaving column scan ------------------------------------------------------------------------


def bitweaving_scan(column: Any, bits: int, constant: int, relation: str = "<", *, executor: str = "fast",
                    cost_model: Optional[AmbitCostModel] = None) -> ApplicationResult:
    """``column < constant`` (or ``>=``) over an unsigned ``bits``-bit column, BitWeaving/V style.

    The answer is ``(matches, count)``: a bool array and the host popcount of the result row.
    """
    column = numpy.asarray(column)
    rows = RowAllocator()
    stored = rows.take(bits, "the column")
    p = ProgramBuilder()
    result = compare_constant(p, rows, stored, relation, constant)
    program = p.program()
    start = time.perf_counter()
    planes = {stored: to_vertical(column, bits)}
    (words,), cost = run_program(program, planes, [result], column.shape[0], executor=executor,
                                 cost_model=cost_model)
    count = _host_popcount(words[0])
    emulator_seconds = time.perf_counter() - start
    compare = numpy.less if relation == "<" else numpy.greater_equal
    expected, numpy_seconds = _best_time(lambda: compare(column, constant))
    answer = (unpack_bits(words[0], column.shape[0]), count)
    return ApplicationResult(answer, (expected, int(expected.sum())), program, cost, numpy_seconds, emulator_seconds)


# -- binary neural network layer -------------------------------------------------------------------


def bnn_program(features: int, rows: RowAllocator) -> tuple[Program, tuple, tuple, tuple, tuple]:
    """The XNOR / bit count / sign program for ``features`` inputs per neuron.

    Returns the program, the input rows, the weight rows, the popcount rows and the activation row.
    """
    inputs = rows.take(features, "the input bits")
    weights = rows.take(features, "the weight bits")
    agree = rows.take(features, "the XNOR rows")
    p = ProgramBuilder()
    for x_row, w_row, out_row in zip(inputs, weights, agree):
        extend(p, library.xnor(x_row, w_row, out_row))
    counts = bitcount(p, rows, agree)
    activation = compare_constant(p, rows, counts, ">=", -(-features // 2))
    return p.program(), inputs, weights, counts, activation


def bnn_layer(x_bits: Any, w_bits: Any, *, executor: str = "fast",
              cost_model: Optional[AmbitCostModel] = None) -> ApplicationResult:
    """A binary layer: ``x_bits`` (samples, K) and ``w_bits`` (neurons, K), bool (True = +1).

    The answer is ``(popcounts, activations)``, both of shape (samples, neurons): the number of
    agreeing bits ``popcount(XNOR(x, w))`` and the sign activation ``2 * popcount - K >= 0``.
    """
    x_bits, w_bits = numpy.asarray(x_bits, dtype=bool), numpy.asarray(w_bits, dtype=bool)
    if x_bits.ndim != 2 or w_bits.ndim != 2 or x_bits.shape[1] != w_bits.shape[1]:
        raise ValueError(f"x_bits (samples, K) and w_bits (neurons, K) must share K; got shapes "
                         f"{x_bits.shape} and {w_bits.shape}")
    samples, features = x_bits.shape
    neurons = w_bits.shape[0]
    program, inputs, weights, counts, activation = bnn_program(features, RowAllocator())
    columns = samples * neurons  # column s * neurons + m holds sample s against neuron m
    start = time.perf_counter()
    planes = {
        inputs: numpy.stack([pack_bits(numpy.repeat(x_bits[:, k], neurons)) for k in range(features)]),
        weights: numpy.stack([pack_bits(numpy.tile(w_bits[:, k], samples)) for k in range(features)]),
    }
    (count_planes, activation_plane), cost = run_program(program, planes, [counts, activation], columns,
                                                         executor=executor, cost_model=cost_model)
    popcounts = from_vertical(count_planes, columns).astype(numpy.int64).reshape(samples, neurons)
    activations = from_vertical(activation_plane, columns, dtype=bool).reshape(samples, neurons)
    emulator_seconds = time.perf_counter() - start

    def numpy_layer() -> tuple:
        agree = (x_bits[:, None, :] == w_bits[None, :, :]).sum(axis=2)
        return agree, 2 * agree - features >= 0

    expected, numpy_seconds = _best_time(numpy_layer)
    return ApplicationResult((popcounts, activations), expected, program, cost, numpy_seconds, emulator_seconds)


@dataclasses.dataclass(frozen=True)
class DigitsBnnResult:
    """:func:`digits_bnn`: the layer's result and the classification accuracy it gives."""

    layer: ApplicationResult
    accuracy: float
    """Fraction of the digits whose nearest binary template (largest popcount) is their label."""

    numpy_accuracy: float


def load_binary_digits() -> tuple[Any, Any]:
    """scikit-learn's 8x8 digits as 64 bits per image (pixel > 7) and their labels.

    Raises ``ImportError`` when scikit-learn is missing (``pip install 'cim-emu[data]'``).
    """
    digits = require("sklearn.datasets", context="digits_bnn needs").load_digits()
    return digits.data > 7, digits.target


def digits_bnn(samples: Optional[int] = None, *, executor: str = "fast") -> DigitsBnnResult:
    """A one-layer binary classifier of the digits, evaluated in DRAM and in numpy.

    The weights of neuron ``m`` are the binarised mean image of digit ``m`` (a binary
    nearest-template classifier: ten neurons of 64 binary weights); a digit is classified as
    the neuron with the largest popcount of agreeing bits. ``samples`` limits the images used.
    """
    x_bits, labels = load_binary_digits()
    if samples is not None:
        x_bits, labels = x_bits[:samples], labels[:samples]
    templates = numpy.stack([x_bits[labels == m].mean(axis=0) > 0.5 for m in range(10)])
    layer = bnn_layer(x_bits, templates, executor=executor)
    accuracy = float((layer.answer[0].argmax(axis=1) == labels).mean())
    numpy_accuracy = float((layer.numpy_answer[0].argmax(axis=1) == labels).mean())
    return DigitsBnnResult(layer, accuracy, numpy_accuracy)
