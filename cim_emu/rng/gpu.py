"""Launch wrappers of ``kernels/philox_draws.cu``, the CUDA twin of :mod:`cim_emu.rng`."""

from __future__ import annotations

from typing import Any, Optional

import numpy

from ..gpu.provider import BLOCK_THREADS, KernelProvider, contiguous, grid_blocks
from .normal_table import normal_table

__all__ = ["DRAWS", "draw_range", "draw_at", "draw_runs"]

DRAWS = {"uniform": ("UniformDraw", numpy.uint32), "bernoulli": ("BernoulliDraw", numpy.bool_),
         "normal": ("NormalDraw", numpy.float64)}
"""Each kind of draw: its functor in ``kernels/philox.cuh`` and the dtype of its values."""


def _draw(kind: str) -> tuple[str, Any]:
    if kind not in DRAWS:
        raise ValueError(f"draw must be one of {', '.join(DRAWS)}; got {kind!r}")
    return DRAWS[kind]


def _table(kernels: KernelProvider, kind: str) -> Any:
    return kernels.resident(normal_table) if kind == "normal" else None


def _output(kernels: KernelProvider, shape: Any, dtype: Any, out: Any) -> Any:
    """``out`` (a C-contiguous array of ``shape`` and ``dtype``, written in place) or a new array."""
    if out is None:
        return kernels.xp.empty(shape, dtype=dtype)
    if out.shape != ((shape,) if isinstance(shape, int) else tuple(shape)) or out.dtype != dtype \
            or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {numpy.dtype(dtype)} array of shape {shape}")
    return out


def draw_range(kind: str, seed: int, stream: int, start: int, count: int, *, kernels: KernelProvider,
               threshold: int = 0, grid: Optional[int] = None, block: int = BLOCK_THREADS, out: Any = None) -> Any:
    """The draws of elements ``start .. start + count - 1`` (arguments validated as in
    :mod:`cim_emu.rng`): ``kind`` ``"uniform"`` (uint32), ``"bernoulli"`` (bool; ``threshold``
    = :func:`~cim_emu.rng.bernoulli_threshold`) or ``"normal"`` (float64). ``grid`` and
    ``block`` shape the launch (default: a full device's grid of ``BLOCK_THREADS``-thread
    blocks; the host's native draws take one thread, which walks the elements in order);
    ``out``, when given, receives the draws."""
    draw, dtype = _draw(kind)
    out = _output(kernels, count, dtype, out)
    if count:
        blocks = ((start + count - 1) >> 2) - (start >> 2) + 1
        kernels.function("philox_draws.cu", f"philox_range<cim::{draw}>")(
            (grid_blocks(kernels, blocks, grid),), (block,),
            (numpy.uint64(seed), numpy.uint64(stream), numpy.uint64(start), numpy.uint64(count),
             numpy.uint64(threshold), _table(kernels, kind), out))
    return out


def draw_at(kind: str, seed: int, stream: int, index: Any, *, kernels: KernelProvider, threshold: int = 0,
            grid: Optional[int] = None, block: int = BLOCK_THREADS, out: Any = None) -> Any:
    """The draws at element indices ``index`` (any shape; taken as uint64), as :func:`draw_range`."""
    draw, dtype = _draw(kind)
    index = contiguous(kernels, index, numpy.uint64)
    out = _output(kernels, index.shape, dtype, out)
    if index.size:
        kernels.function("philox_draws.cu", f"philox_at<cim::{draw}>")(
            (grid_blocks(kernels, index.size, grid),), (block,),
            (numpy.uint64(seed), numpy.uint64(stream), index, numpy.uint64(index.size),
             numpy.uint64(threshold), _table(kernels, kind), out))
    return out


def draw_runs(kind: str, seed: int, stream: int, first: int, stride: int, length: int, runs: int, *,
              kernels: KernelProvider, threshold: int = 0, grid: Optional[int] = None, block: int = BLOCK_THREADS,
              out: Any = None) -> Any:
    """The draws of ``runs`` runs of ``length`` consecutive elements, run ``r`` starting at element
    ``first + r * stride`` (validated as in :func:`cim_emu.rng.normal_runs`), as an array
    ``(runs, length)``; otherwise as :func:`draw_range`."""
    draw, dtype = _draw(kind)
    out = _output(kernels, (runs, length), dtype, out)
    if runs and length:
        blocks = runs * ((length + 6) >> 2)
        kernels.function("philox_draws.cu", f"philox_runs<cim::{draw}>")(
            (grid_blocks(kernels, blocks, grid),), (block,),
            (numpy.uint64(seed), numpy.uint64(stream), numpy.uint64(first), numpy.uint64(stride),
             numpy.uint64(length), numpy.uint64(runs), numpy.uint64(threshold), _table(kernels, kind), out))
    return out
