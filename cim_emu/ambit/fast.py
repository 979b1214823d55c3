"""The fast executor's array path: evaluate a compiled program in one pass over memory.

The compiled program (:mod:`cim_emu.ambit.compiler`) gives, for every row a program writes, an
expression of the rows it reads. This module evaluates the expressions that must be
materialised in chunks of ``chunk_words`` 64-bit words: for each chunk every needed node is
computed once, into a small scratch buffer that stays in the CPU cache (or straight into the
output row when the node is a result), so each input row is read from memory once and each
distinct result row written once, however many commands the program has. Scratch buffers
are recycled as soon as a node's last user has run (a linear-scan register allocation), so a
program of thousands of commands needs only as many buffers as values live at once.

Results that equal an input row or a constant are not computed at all: the row shares the
input's buffer (RowClone modelled as sharing; buffers are immutable once stored).

Chunks are spread over ``threads`` host threads (numpy releases the GIL in its loops); on a
device backend the whole slice is one chunk. Faults are injected per chunk with the word offset
of the chunk, so the counter-based draws — and hence the bits — do not depend on the chunking.
For the same reason a row can be evaluated a slice at a time (``word_offset``, ``word_count``): work
larger than the GPU's memory passes through it in slices, with the bits of one pass
(:mod:`cim_emu.ambit.streaming`).

:func:`evaluate` is the whole array path; its parts are public because the executors of
:mod:`cim_emu.ambit.executors` share them: :func:`allocate_results` gives every result its
buffer, :func:`compute` fills the computed ones with array operations (the fused kernel fills
them instead on a kernel provider, when the program fits), and :func:`seal` makes host results
read-only.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy

from .._checks import positive_int
from ..backend import Backend
from ..bits import constant_row, n_words, tail_mask
from ..parallel import default_threads, thread_pool
from .compiler import CompiledProgram
from .faults import TraFaultModel
from .schedule import Step, schedule

#: Default chunk: 32 Ki words = 256 KiB per buffer, so the live buffers of a program stay in cache.
DEFAULT_CHUNK_WORDS = 32768


class _Evaluator:
    """Per-thread state: scratch buffers and the chunk loop."""

    def __init__(self, compiled: CompiledProgram, steps: list[Step], n_slots: int, inputs: Mapping[str, Any],
                 outputs: dict, row_bits: int, backend: Backend, faults: TraFaultModel, tra_base: int,
                 chunk_words: int, word_offset: int) -> None:
        self.compiled, self.steps, self.inputs, self.outputs = compiled, steps, inputs, outputs
        self.row_bits, self.backend, self.faults, self.tra_base = row_bits, backend, faults, tra_base
        xp = self.xp = backend.xp
        self.word_offset = word_offset
        self.slots = [xp.empty(chunk_words, dtype=numpy.uint64) for _ in range(n_slots)]
        self.temp = xp.empty(chunk_words, dtype=numpy.uint64)
        self.chunk_words = chunk_words
        self.constants: dict = {}  # made on first use: only fault-mode programs read constants

    def _value(self, values: dict, node_id: int, w0: int, w1: int) -> Any:
        found = values.get(node_id)
        if found is not None:
            return found
        node = self.compiled.nodes[node_id]
        if node.op == "row":
            found = self.inputs[node.param][w0:w1]
        else:
            if node.param not in self.constants:
                fill = numpy.uint64(2**64 - 1) if node.param else numpy.uint64(0)
                self.constants[node.param] = self.xp.full(self.chunk_words, fill, dtype=numpy.uint64)
            found = self.constants[node.param][: w1 - w0]
        values[node_id] = found
        return found

    def run_chunk(self, w0: int, w1: int) -> None:
        xp, width = self.xp, w1 - w0
        values: dict[int, Any] = {}
        for step in self.steps:
            a, *rest = (self._value(values, arg, w0, w1) for arg in step.args)
            out = self.outputs[step.node][w0:w1] if step.slot < 0 else self.slots[step.slot][:width]
            if step.op == "not":
                xp.invert(a, out=out)
            elif step.op == "and":
                xp.bitwise_and(a, rest[0], out=out)
            elif step.op == "or":
                xp.bitwise_or(a, rest[0], out=out)
            elif step.op == "xor":
                xp.bitwise_xor(a, rest[0], out=out)
            else:  # maj = ((a ^ c) & (b ^ c)) ^ c
                b, c = rest
                temp = self.temp[:width]
                xp.bitwise_xor(a, c, out=out)
                xp.bitwise_xor(b, c, out=temp)
                xp.bitwise_and(out, temp, out=out)
                xp.bitwise_xor(out, c, out=out)
                if step.param is not None and self.faults.enabled:
                    out ^= self.faults.flip_words(self.tra_base + step.param, a, b, c, self.word_offset + w0,
                                                  self.row_bits, backend=self.backend)
            values[step.node] = out


def check_tuning(chunk_words: Optional[int], threads: Optional[int]) -> None:
    """Raise :class:`ValueError` unless ``chunk_words`` and ``threads`` are ``None`` or positive."""
    if chunk_words is not None:
        positive_int("chunk_words", chunk_words)
    if threads is not None:
        positive_int("threads", threads)


def slice_words(row_bits: int, word_offset: int, word_count: Optional[int]) -> int:
    """Words of the slice ``word_offset .. word_offset + word_count - 1`` of a ``row_bits``-bit row
    (``word_count=None``: through the end), checked to lie within the row."""
    total = n_words(row_bits)
    if not isinstance(word_offset, int) or not 0 <= word_offset < total:
        raise ValueError(f"word_offset must be an integer in [0, {total}); got {word_offset!r}")
    words = total - word_offset if word_count is None else positive_int("word_count", word_count)
    if word_offset + words > total:
        raise ValueError(f"word_count must be at most {total - word_offset} from word {word_offset}; got {words}")
    return words


def allocate_results(compiled: CompiledProgram, roots: set[int], inputs: Mapping[str, Any], row_bits: int, *, xp: Any,
                     word_offset: int, words: int, spare: Sequence[Any] = ()) -> tuple[dict[int, Any], set[int]]:
    """The buffer of every node in ``roots`` (``words`` words from ``word_offset``) and the set of
    nodes that must be computed into theirs.

    Roots that are input rows or constants need no computation: they get the input's buffer (or
    the constant's words). Computed roots get the ``spare`` buffers (rows no longer needed)
    while they last, then fresh ones of ``xp``. Both executors of the fast path write into these
    buffers: the array path here (:func:`compute`) and the fused kernel
    (:class:`cim_emu.ambit.executors.KernelExecutor`).
    """
    spare = list(spare)
    results: dict[int, Any] = {}
    computed = set()
    for node_id in roots:
        node = compiled.nodes[node_id]
        if node.op == "row":
            results[node_id] = inputs[node.param]
        elif node.op == "const":
            results[node_id] = constant_row(node.param, row_bits, xp=xp, word_offset=word_offset, count=words)
        else:
            computed.add(node_id)
            results[node_id] = writable(spare.pop()) if spare else xp.empty(words, dtype=numpy.uint64)
    return results, computed


def compute(compiled: CompiledProgram, computed: set[int], inputs: Mapping[str, Any], results: dict, row_bits: int, *,
            backend: Backend, faults: TraFaultModel, tra_base: int, word_offset: int, words: int,
            chunk_words: Optional[int] = None, threads: Optional[int] = None) -> None:
    """Compute the nodes ``computed`` into their buffers in ``results`` with array operations:
    chunks of ``chunk_words`` words over ``threads`` host threads, or the whole slice at once on
    a device. Padding bits come out zero."""
    steps, n_slots = schedule(compiled, computed)
    on_host = not backend.on_device
    chunk = min(words, chunk_words or DEFAULT_CHUNK_WORDS) if on_host else words
    bounds = [(w0, min(words, w0 + chunk)) for w0 in range(0, words, chunk)]
    n_threads = min(len(bounds), (threads or default_threads()) if on_host else 1)
    evaluators = [
        _Evaluator(compiled, steps, n_slots, inputs, results, row_bits, backend, faults, tra_base, chunk, word_offset)
        for _ in range(n_threads)
    ]
    if n_threads == 1:
        _run_share(evaluators[0], bounds)
    else:
        pool = thread_pool(n_threads)
        futures = [pool.submit(_run_share, ev, bounds[i::n_threads]) for i, ev in enumerate(evaluators)]
        for future in futures:
            future.result()
    if word_offset + words == n_words(row_bits):
        for node_id in computed:
            results[node_id][-1] &= tail_mask(row_bits)


def seal(results: dict, backend: Backend) -> dict:
    """``results`` with its host buffers made read-only (stored rows are immutable)."""
    if not backend.on_device:
        for buffer in results.values():
            read_only(buffer)
    return results


def evaluate(compiled: CompiledProgram, roots: set[int], inputs: Mapping[str, Any], row_bits: int, *, backend: Backend,
             faults: TraFaultModel, tra_base: int, word_offset: int = 0, word_count: Optional[int] = None,
             chunk_words: Optional[int] = None, threads: Optional[int] = None,
             spare: Sequence[Any] = ()) -> dict[int, Any]:
    """Compute the value of every node in ``roots`` with array operations; returns node id ->
    packed row (read-only).

    ``inputs`` maps each row the program reads to its packed words: whole rows of ``row_bits``
    bits, or the words ``word_offset .. word_offset + word_count - 1`` of each (one slice of
    the rows; results cover the same words, and faults and padding follow the global word
    index, so slices give the bits of the whole). Roots that are input rows or constants come
    back as shared buffers, without computation. Computed roots are written into the
    ``spare`` buffers (rows no longer needed) while they last, then into fresh ones.
    """
    check_tuning(chunk_words, threads)
    words = slice_words(row_bits, word_offset, word_count)
    results, computed = allocate_results(compiled, roots, inputs, row_bits, xp=backend.xp, word_offset=word_offset,
                                         words=words, spare=spare)
    if computed:
        compute(compiled, computed, inputs, results, row_bits, backend=backend, faults=faults, tra_base=tra_base,
                word_offset=word_offset, words=words, chunk_words=chunk_words, threads=threads)
    return seal(results, backend)


def read_only(array: Any) -> Any:
    """``array``, made read-only when it is a host (numpy) array."""
    if isinstance(array, numpy.ndarray):
        array.flags.writeable = False
    return array


def writable(array: Any) -> Any:
    """``array``, made writable again when it is a host (numpy) array the caller owns."""
    if isinstance(array, numpy.ndarray):
        array.flags.writeable = True
    return array


def _run_share(evaluator: _Evaluator, bounds: list[tuple[int, int]]) -> None:
    for w0, w1 in bounds:
        evaluator.run_chunk(w0, w1)
