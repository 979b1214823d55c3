"""The fast executor: evaluate a compiled program in one pass over memory.

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

Chunks are spread over ``threads`` host threads (numpy releases the GIL in its loops). On
CuPy the whole row is one chunk. Faults are injected per chunk with the word offset of the
chunk, so the counter-based draws — and hence the bits — do not depend on the chunking. For the
same reason a row can be evaluated a slice at a time (``word_offset``, ``word_count``): work
larger than the GPU's memory passes through it in slices, with the bits of one pass.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
from types import ModuleType
from typing import Any, NamedTuple, Optional, Sequence

import numpy

from .._checks import positive_int
from ..bits import constant_row, n_words, tail_mask
from .compiler import CompiledProgram
from .faults import TraFaultModel

#: Default chunk: 32 Ki words = 256 KiB per buffer, so the live buffers of a program stay in cache.
DEFAULT_CHUNK_WORDS = 32768


class _Step(NamedTuple):
    node: int
    op: str
    args: tuple[int, ...]
    param: object
    slot: int  # scratch slot, or -1 when the node is a result written into its output row


def _schedule(compiled: CompiledProgram, roots: set[int]) -> tuple[list[_Step], int]:
    """Evaluation order of the computed nodes and the scratch slot of each (register allocation),
    computed once per program and set of roots."""
    key = frozenset(roots)
    if key not in compiled.schedules:
        compiled.schedules[key] = _allocate(compiled, roots)
    return compiled.schedules[key]


def _allocate(compiled: CompiledProgram, roots: set[int]) -> tuple[list[_Step], int]:
    order = [i for i in compiled.live_nodes(sorted(roots)) if compiled.nodes[i].op not in ("row", "const")]
    last_use = {}
    for position, node_id in enumerate(order):
        for arg in compiled.nodes[node_id].args:
            last_use[arg] = position
    free: list[int] = []
    slot_of: dict[int, int] = {}
    n_slots = 0
    steps = []
    for position, node_id in enumerate(order):
        node = compiled.nodes[node_id]
        slot = -1
        if node_id not in roots:
            if free:
                slot = free.pop()
            else:
                slot, n_slots = n_slots, n_slots + 1
            slot_of[node_id] = slot
        steps.append(_Step(node_id, node.op, node.args, node.param, slot))
        for arg in set(node.args):
            if last_use.get(arg) == position and arg in slot_of:
                free.append(slot_of[arg])
    return steps, n_slots


class _Evaluator:
    """Per-thread state: scratch buffers and the chunk loop."""

    def __init__(self, compiled: CompiledProgram, steps: list[_Step], n_slots: int, inputs: dict,
                 outputs: dict, row_bits: int, xp: ModuleType, faults: TraFaultModel, tra_base: int,
                 chunk_words: int, word_offset: int) -> None:
        self.compiled, self.steps, self.inputs, self.outputs = compiled, steps, inputs, outputs
        self.row_bits, self.xp, self.faults, self.tra_base = row_bits, xp, faults, tra_base
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
        xp, width, values = self.xp, w1 - w0, {}
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
                                                  self.row_bits, xp)
            values[step.node] = out


def default_threads() -> int:
    """Host threads for the fast executor: ``CIM_EMU_THREADS`` or the usable cores (at most 8)."""
    env = os.environ.get("CIM_EMU_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def evaluate(compiled: CompiledProgram, roots: set[int], inputs: dict, row_bits: int, *, xp: ModuleType,
             faults: TraFaultModel, tra_base: int, word_offset: int = 0, word_count: Optional[int] = None,
             chunk_words: Optional[int] = None, threads: Optional[int] = None,
             spare: Sequence[Any] = ()) -> dict[int, Any]:
    """Compute the value of every node in ``roots``; returns node id -> packed row (read-only).

    ``inputs`` maps each row the program reads to its packed words: whole rows of ``row_bits``
    bits, or the words ``word_offset .. word_offset + word_count - 1`` of each (one slice of
    the rows; results cover the same words, and faults and padding follow the global word
    index, so slices give the bits of the whole). Roots that are input rows or constants come
    back as shared buffers, without computation. Computed roots are written into the
    ``spare`` buffers (rows no longer needed) while they last, then into fresh ones.
    """
    if chunk_words is not None:
        positive_int("chunk_words", chunk_words)
    if threads is not None:
        positive_int("threads", threads)
    total = n_words(row_bits)
    if not isinstance(word_offset, int) or not 0 <= word_offset < total:
        raise ValueError(f"word_offset must be an integer in [0, {total}); got {word_offset!r}")
    words = total - word_offset if word_count is None else positive_int("word_count", word_count)
    if word_offset + words > total:
        raise ValueError(f"word_count must be at most {total - word_offset} from word {word_offset}; got {words}")
    reaches_end = word_offset + words == total
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
            results[node_id] = _writable(spare.pop()) if spare else xp.empty(words, dtype=numpy.uint64)
    if computed and xp is not numpy:
        # On the GPU: the fused kernel of kernels/ambit_program.cu (padding comes out zero).
        from .program_encoding import run_program_kernel  # noqa: PLC0415 - it imports this module

        try:
            run_program_kernel(compiled, computed, inputs, results, row_bits, faults=faults, tra_base=tra_base,
                               word_offset=word_offset)
            return results
        except ValueError:  # more live values than shared memory holds: the array path below
            pass
    if computed:
        steps, n_slots = _schedule(compiled, computed)
        on_host = xp is numpy
        chunk = min(words, chunk_words or DEFAULT_CHUNK_WORDS) if on_host else words
        bounds = [(w0, min(words, w0 + chunk)) for w0 in range(0, words, chunk)]
        n_threads = min(len(bounds), (threads or default_threads()) if on_host else 1)
        evaluators = [
            _Evaluator(compiled, steps, n_slots, inputs, results, row_bits, xp, faults, tra_base, chunk, word_offset)
            for _ in range(n_threads)
        ]
        if n_threads == 1:
            _run_share(evaluators[0], bounds)
        else:
            pool = _thread_pool(n_threads)
            futures = [pool.submit(_run_share, ev, bounds[i::n_threads]) for i, ev in enumerate(evaluators)]
            for future in futures:
                future.result()
        if reaches_end:
            for node_id in computed:
                results[node_id][-1] &= tail_mask(row_bits)
    if xp is numpy:
        for buffer in results.values():
            buffer.flags.writeable = False
    return results


@functools.lru_cache(maxsize=None)
def _thread_pool(n_threads: int) -> concurrent.futures.ThreadPoolExecutor:
    """One long-lived pool per thread count (starting threads per run would cost more than
    a small program takes)."""
    return concurrent.futures.ThreadPoolExecutor(n_threads, thread_name_prefix="cim-emu-ambit")


def _writable(buffer: Any) -> Any:
    if isinstance(buffer, numpy.ndarray):
        buffer.flags.writeable = True
    return buffer


def _run_share(evaluator: _Evaluator, bounds: list[tuple[int, int]]) -> None:
    for w0, w1 in bounds:
        evaluator.run_chunk(w0, w1)
