"""The streamed executor: host rows through a device, a slice of words at a time.

A program's column words are independent: every command acts on whole rows, bit by bit, and the
fault draws of :mod:`cim_emu.ambit.faults` are keyed by the global column. So a program over
rows held on the host (numpy) can run on a device one slice of words at a time - each slice
copied in, run by the device's executor with the slice's word offset, and copied back - and
give the bits of one run over whole rows.

:class:`StreamedExecutor` is that executor (the fourth of :mod:`cim_emu.ambit.executors`).
:meth:`Subarray.run <cim_emu.ambit.subarray.Subarray.run>` chooses it for a subarray that
holds its rows on the host while its backend computes on a device (``host_rows=True``, as
:func:`cim_emu.ambit.bulk_op` and :func:`cim_emu.simdram.simdram_op` make for host operands on
a device backend), with passes of :func:`pass_words_for` words: all of them at once when the
rows a pass puts on the device fit in :data:`cim_emu.gpu.memory.DEVICE_MEMORY_SHARE` of its free
memory, else as many words as fit.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy

from .._checks import positive_int
from ..backend import Backend
from ..bits import n_words
from .executors import Executor, ProgramRun
from .fast import allocate_results, read_only

__all__ = ["StreamedExecutor", "pass_words_for", "words_per_device_pass"]


def words_per_device_pass(chosen: Backend, on_gpu: bool, n_rows: int, row_bits: int) -> Optional[int]:
    """Words per pass of host rows through the GPU, or ``None`` when they go in one (the data is
    on the GPU already, or the backend is numpy): the slices of ``n_rows`` rows of ``row_bits``
    bits must fit in :data:`~cim_emu.gpu.memory.DEVICE_MEMORY_SHARE` of its free memory."""
    return None if on_gpu else chosen.units_per_device_pass(8 * n_rows, n_words(row_bits))


def pass_words_for(job: ProgramRun, backend: Backend) -> Optional[int]:
    """Words per pass of ``job``'s host rows through ``backend``'s device (``None``: one pass).

    A pass holds on the device a slice of every row the program reads and of every distinct
    result it computes; the kernel keeps the program's other values in shared memory."""
    return words_per_device_pass(backend, False, len(job.inputs) + len(job.computed_nodes()), job.row_bits)


class StreamedExecutor:
    """Host rows through ``backend``'s device ``pass_words`` words at a time (``None``: all of
    them in one pass), each pass run by ``device`` (an executor of that backend) on the slice
    with its word offset. Results are host rows; those that equal an input row or a constant
    never go to the device."""

    def __init__(self, device: Executor, backend: Backend, pass_words: Optional[int] = None) -> None:
        if pass_words is not None:
            positive_int("pass_words", pass_words)
        self.device, self.backend, self.pass_words = device, backend, pass_words

    def run(self, job: ProgramRun) -> dict[str, Any]:
        if not job.whole_rows:
            raise ValueError("the streamed executor takes whole rows and passes them in slices itself")
        total = n_words(job.row_bits)
        results, computed = allocate_results(job.compiled, job.roots, job.inputs, job.row_bits, xp=numpy,
                                             word_offset=0, words=total, spare=job.spare)
        row_of = {node: row for row, node in job.outputs.items() if node in computed}
        step, xp = self.pass_words or total, self.backend.xp
        for w0 in range(0, total if computed else 0, step):
            count = min(step, total - w0)
            inputs = {row: xp.asarray(words[w0:w0 + count]) for row, words in job.inputs.items()}
            part = dataclasses.replace(job, inputs=inputs, outputs={row: node for node, row in row_of.items()},
                                       word_offset=w0, word_count=count, spare=())
            values = self.device.run(part)
            for node, row in row_of.items():
                results[node][w0:w0 + count] = self.backend.to_host(values[row])
        return job.by_row({node: read_only(buffer) for node, buffer in results.items()})
