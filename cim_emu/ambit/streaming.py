"""Programs over host rows larger than the GPU's memory, a slice of columns at a time.

A program's column words are independent: every command acts on whole rows, bit by bit, and the
fault draws of :mod:`cim_emu.ambit.faults` are keyed by the global column. So a program over
rows held on the host (numpy) can run on a GPU one slice of words at a time - each slice copied
in, evaluated by the fast executor (:func:`cim_emu.ambit.fast.evaluate` with the slice's word
offset), and copied back - and give the bits of one run over whole rows.

:func:`words_per_device_pass` decides when: host rows whose slices together exceed
:data:`cim_emu.backend.DEVICE_MEMORY_SHARE` of the GPU's free memory. :func:`cim_emu.ambit.bulk_op` and
:func:`cim_emu.simdram.simdram_op` use it for host operands on the CuPy backend.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy

from .. import backend as backends
from .._checks import positive_int
from ..bits import constant_row, n_words
from .compiler import compile_program
from .fast import evaluate
from .faults import TraFaultModel
from .program import Program

__all__ = ["words_per_device_pass", "run_in_passes"]


def words_per_device_pass(chosen: backends.Backend, on_gpu: bool, n_rows: int, row_bits: int) -> Optional[int]:
    """Words per pass of host rows through the GPU, or ``None`` when they go in one (the data is
    on the GPU already, or the backend is numpy): the slices of ``n_rows`` rows of ``row_bits``
    bits must fit in :data:`~cim_emu.backend.DEVICE_MEMORY_SHARE` of its free memory."""
    return None if on_gpu else backends.units_per_device_pass(chosen.xp, 8 * n_rows, n_words(row_bits))


def run_in_passes(program: Program, rows: Mapping[str, numpy.ndarray], outputs: Sequence[str], row_bits: int, *,
                  data_rows: int, faults: TraFaultModel, xp: Any, pass_words: int) -> dict[str, numpy.ndarray]:
    """Run ``program`` on a fresh subarray of ``data_rows`` data rows whose rows ``rows`` holds
    (packed host words; every other row zero, as in a fresh subarray) and return the final
    words of the rows ``outputs`` (host arrays), ``pass_words`` words at a time on ``xp``'s
    device. The TRA counter starts at 0, as on a fresh subarray: the bits are those of
    :meth:`~cim_emu.ambit.Subarray.run`, faults included."""
    positive_int("pass_words", pass_words)
    if not isinstance(faults, TraFaultModel):
        raise TypeError(f"faults must be a TraFaultModel; got {type(faults).__name__}")
    compiled = compile_program(program.instructions, data_rows, faults.enabled)
    roots = {compiled.outputs[row] for row in outputs if row in compiled.outputs}
    total = n_words(row_bits)
    results = {row: numpy.empty(total, dtype=numpy.uint64) for row in outputs}
    for w0 in range(0, total, pass_words):
        count = min(pass_words, total - w0)

        def initial(row: str) -> Any:
            """The slice of ``row`` before the program (C0, C1: their constants)."""
            if row in rows:
                return xp.asarray(rows[row][w0:w0 + count])
            return constant_row(int(row == "C1"), row_bits, xp=xp, word_offset=w0, count=count)

        values = evaluate(compiled, roots, {row: initial(row) for row in compiled.reads}, row_bits, xp=xp,
                          faults=faults, tra_base=0, word_offset=w0, word_count=count)
        for row in outputs:
            value = values[compiled.outputs[row]] if row in compiled.outputs else initial(row)
            results[row][w0:w0 + count] = value.get() if hasattr(value, "get") else value
    return results
