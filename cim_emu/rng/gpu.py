"""Launch wrappers of ``kernels/philox_draws.cu``, the CUDA twin of :mod:`cim_emu.rng`."""

from __future__ import annotations

from typing import Any, Optional

import numpy

from ..gpu.provider import BLOCK_THREADS, KernelProvider, contiguous, grid_blocks
from .normal_table import normal_table

__all__ = ["DRAWS", "draw_range", "draw_at"]

DRAWS = {"uniform": ("UniformDraw", numpy.uint32), "bernoulli": ("BernoulliDraw", numpy.bool_),
         "normal": ("NormalDraw", numpy.float64)}
"""Each kind of draw: its functor in ``kernels/philox.cuh`` and the dtype of its values."""


def _draw(kind: str) -> tuple[str, Any]:
    if kind not in DRAWS:
        raise ValueError(f"draw must be one of {', '.join(DRAWS)}; got {kind!r}")
    return DRAWS[kind]


def _table(kernels: KernelProvider, kind: str) -> Any:
    return kernels.resident(normal_table) if kind == "normal" else None


def draw_range(kind: str, seed: int, stream: int, start: int, count: int, *, kernels: KernelProvider,
               threshold: int = 0, grid: Optional[int] = None) -> Any:
    """The draws of elements ``start .. start + count - 1`` (arguments validated as in
    :mod:`cim_emu.rng`): ``kind`` ``"uniform"`` (uint32), ``"bernoulli"`` (bool; ``threshold``
    = :func:`~cim_emu.rng.bernoulli_threshold`) or ``"normal"`` (float64)."""
    draw, dtype = _draw(kind)
    out = kernels.xp.empty(count, dtype=dtype)
    if count:
        blocks = ((start + count - 1) >> 2) - (start >> 2) + 1
        kernels.function("philox_draws.cu", f"philox_range<cim::{draw}>")(
            (grid_blocks(kernels, blocks, grid),), (BLOCK_THREADS,),
            (numpy.uint64(seed), numpy.uint64(stream), numpy.uint64(start), numpy.uint64(count),
             numpy.uint64(threshold), _table(kernels, kind), out))
    return out


def draw_at(kind: str, seed: int, stream: int, index: Any, *, kernels: KernelProvider, threshold: int = 0,
            grid: Optional[int] = None) -> Any:
    """The draws at element indices ``index`` (any shape; taken as uint64), as :func:`draw_range`."""
    draw, dtype = _draw(kind)
    index = contiguous(kernels, index, numpy.uint64)
    out = kernels.xp.empty(index.shape, dtype=dtype)
    if index.size:
        kernels.function("philox_draws.cu", f"philox_at<cim::{draw}>")(
            (grid_blocks(kernels, index.size, grid),), (BLOCK_THREADS,),
            (numpy.uint64(seed), numpy.uint64(stream), index, numpy.uint64(index.size),
             numpy.uint64(threshold), _table(kernels, kind), out))
    return out
