"""Launch wrappers of ``kernels/ambit_program.cu``: a whole compiled Ambit program per column word.

:func:`run_ambit_program` takes the instruction array of :mod:`cim_emu.ambit.program_encoding`
and a kernel provider (:class:`~cim_emu.gpu.provider.KernelProvider`: CuPy's on a GPU, the CPU
shim's in the tests) and computes what :func:`cim_emu.ambit.fast.evaluate` computes for the
same nodes, bit for bit. Each thread keeps the program's live values in shared memory;
:func:`ambit_program_fits` says whether a program's values fit there on a given provider, and
:func:`ambit_program_launch` chooses the launch shape.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy

from ..gpu.provider import DEFAULT_SHARED_BYTES, KernelProvider, grid_blocks

__all__ = ["ambit_program_fits", "ambit_program_launch", "run_ambit_program"]

#: Threads per block an Ambit program launch tries, largest first.
BLOCK_CANDIDATES = (256, 128, 64, 32)


def _launch_shape(n_slots: int, lanes: int, block: Optional[int]) -> tuple[int, int]:
    """``(threads, shared_bytes)``: the largest block whose value slots fit in 48 KiB (else the
    smallest block), or ``block`` when given."""
    slot_bytes = 8 * lanes * n_slots
    candidates = (block,) if block is not None else BLOCK_CANDIDATES
    for threads in candidates:
        if slot_bytes * threads <= DEFAULT_SHARED_BYTES or threads == candidates[-1]:
            break
    return threads, slot_bytes * threads


def ambit_program_fits(n_slots: int, kernels: KernelProvider, *, lanes: int = 1, block: Optional[int] = None) -> bool:
    """Whether a program that keeps ``n_slots`` values live per thread fits in the shared memory
    ``kernels``' device gives one block (:attr:`~cim_emu.gpu.provider.KernelProvider.shared_bytes_limit`).

    With the defaults (one word a thread, the block :func:`ambit_program_launch` chooses) this
    says whether the kernel can run the program at all: the executors ask it before they launch
    and evaluate a program that does not fit with array operations instead
    (:class:`cim_emu.ambit.executors.KernelExecutor`).
    """
    return _launch_shape(n_slots, lanes, block)[1] <= kernels.shared_bytes_limit


def ambit_program_launch(n_slots: int, rows: Sequence[Any], kernels: KernelProvider, *, lanes: Optional[int] = None,
                         block: Optional[int] = None) -> tuple[int, int, int]:
    """``(lanes, block, shared_bytes)`` of an Ambit program launch.

    ``lanes`` (64-bit words a thread) is 2 - 16-byte accesses - when every row is 16-byte
    aligned and the value slots of two words fit, else 1. The block is the largest of 256, 128,
    64, 32 threads whose value slots fit in 48 KiB of shared memory, else 32 threads with up to
    the device's opt-in limit; a program with more live values than that raises
    :class:`ValueError` (:func:`ambit_program_fits` says so beforehand).
    """
    if lanes is None:
        aligned = all(kernels.address(row) % 16 == 0 for row in rows)
        lanes = 2 if aligned and ambit_program_fits(n_slots, kernels, lanes=2, block=block) else 1
    threads, shared_bytes = _launch_shape(n_slots, lanes, block)
    if shared_bytes > kernels.shared_bytes_limit:
        raise ValueError(f"the program keeps {n_slots} values live: {shared_bytes} bytes of shared memory for "
                         f"{threads} threads, more than the device's {kernels.shared_bytes_limit}")
    return lanes, threads, shared_bytes


def run_ambit_program(instructions: Any, n_slots: int, inputs: Sequence[Any], outputs: Sequence[Any],
                      row_bits: int, *, word_offset: int = 0, seed: int = 0, tra_base: int = 0,
                      flip_threshold: int = 0,
                      weak_threshold: int = 0, weak_flip_threshold: int = 0,
                      only_when_inputs_disagree: bool = False, kernels: KernelProvider,
                      lanes: Optional[int] = None, block: Optional[int] = None,
                      grid: Optional[int] = None) -> None:
    """Run an encoded Ambit program (:mod:`cim_emu.ambit.program_encoding`) over packed rows.

    ``instructions`` is the ``(n, 8)`` int32 instruction array (on the host; a device copy is
    kept per distinct program, as is the table of row addresses), ``inputs`` the rows it reads
    (in its input order) and ``outputs`` the rows it writes (in its output order), each a
    uint64 array of the provider's kind holding words ``word_offset`` .. of rows of ``row_bits``
    bits: all ``ceil(row_bits / 64)`` words by default, or any slice of them (the same for every
    row; faults and padding follow the global word index). Thresholds are
    :func:`~cim_emu.rng.bernoulli_threshold` values (0 = that draw is off).
    """
    rows = list(inputs) + list(outputs)
    row_words = -(-row_bits // 64)
    if not isinstance(word_offset, int) or not 0 <= word_offset < row_words:
        raise ValueError(f"word_offset must be an integer in [0, {row_words}); got {word_offset!r}")
    n_words = rows[0].shape[0] if rows and rows[0].ndim == 1 else row_words - word_offset
    if not 0 < n_words <= row_words - word_offset:
        raise ValueError(f"rows must hold 1 to {row_words - word_offset} words from word {word_offset} of "
                         f"{row_bits}-bit rows; got {n_words}")
    for row in rows:
        if row.dtype != numpy.uint64 or row.shape != (n_words,) or not row.flags.c_contiguous:
            raise ValueError(f"rows must be contiguous uint64 arrays of {n_words} words (one slice of {row_bits}-bit "
                             f"rows); got {row.dtype} {row.shape}")
    lanes, threads, shared_bytes = ambit_program_launch(n_slots, rows, kernels, lanes=lanes, block=block)
    table = kernels.constant(numpy.array([kernels.address(row) for row in rows], dtype=numpy.uint64))
    program = kernels.constant(numpy.ascontiguousarray(instructions, dtype=numpy.int32))
    faults = "true" if flip_threshold or (weak_threshold and weak_flip_threshold) else "false"
    function = kernels.function("ambit_program.cu", f"ambit_program<{lanes}, {faults}>")
    kernels.allow_shared_bytes(function, shared_bytes)
    function((grid_blocks(kernels, -(-n_words // lanes), grid),), (threads,),
             (program, numpy.int32(program.shape[0]), table, numpy.int32(len(inputs)), table[len(inputs):],
              numpy.uint64(row_bits), numpy.uint64(word_offset), numpy.uint64(n_words), numpy.uint64(seed),
              numpy.uint64(tra_base), numpy.uint64(flip_threshold),
              numpy.uint64(weak_threshold), numpy.uint64(weak_flip_threshold),
              numpy.int32(bool(only_when_inputs_disagree))),
             shared_mem=shared_bytes)
