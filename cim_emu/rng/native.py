"""Native draws on the host: the generator's CUDA twin, compiled for the CPU, for the numpy backend.

A draw of :mod:`cim_emu.rng` on the numpy backend comes from ``kernels/philox_draws.cu``
compiled for the host by the CPU shim (:mod:`cim_emu.gpu.cpu_shim`, with
:data:`~cim_emu.gpu.cpu_shim.OPTIMIZED_FLAGS`) instead of numpy's array Philox, whenever a C++
compiler is available: the same bits (the tests hold the two paths to each other and to the
golden digests), at a few nanoseconds a draw instead of a few hundred for a draw at an index.
Draws of more than ``SPLIT_DRAWS`` elements are split over the shared host threads
(:mod:`cim_emu.parallel`; :mod:`ctypes` releases the GIL while a kernel runs); a draw made
inside one of those threads stays on it (its caller already keeps the others busy, and waiting
on the pool from inside it could deadlock).

Which path draws is chosen by the environment variable ``CIM_EMU_NATIVE``, read at every draw
(:mod:`cim_emu.gpu.host_native`; it chooses the IR-drop sweep the same way,
:mod:`cim_emu.reram.ir_drop_native`):

``auto`` (or unset)
    Native when a C++ compiler is found (``$CXX``, ``g++``, ``c++`` or ``clang++``), numpy's
    array Philox otherwise. A missing compiler is a documented fallback, not an error, and is
    silent; a compiler that fails on the source warns once (:class:`RuntimeWarning`).
``0``
    numpy's array Philox, always (the reference implementation, exact and tested).
``1``
    Native, or :class:`~cim_emu.gpu.ShimUnavailableError` when it cannot be built.

The library is compiled once: in a process, on its first native draw, and across processes not
at all while the shim's disk cache (``CIM_EMU_SHIM_CACHE``) holds it. ``cim-emu info`` says which
path draws (:func:`status`). Backends with kernels of their own (CuPy, or
:func:`~cim_emu.backend.shim_backend`) draw with those, as before.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy

from ..backend import Backend
from ..gpu import CpuKernels, KernelProvider, cpu_shim
from ..gpu.host_native import NATIVE_CHOICES, NATIVE_ENV, NativeBuild, choice
from ..parallel import default_threads, in_shared_pool, run_jobs
from . import gpu

__all__ = ["NATIVE_ENV", "NATIVE_CHOICES", "SPLIT_DRAWS", "BUILD", "choice", "host_kernels", "status", "by_kernels",
           "kernels_for", "HOST_LAUNCH"]

SPLIT_DRAWS = 1 << 16
"""The fewest draws worth a host thread of their own (about 0.3 ms of work)."""

HOST_LAUNCH = {"grid": 1, "block": 1}
"""The launch shape of the native kernels: one thread, which walks its work in order (in lanes
of counter blocks, ``kernels/philox.cuh``)."""


def _build() -> CpuKernels:
    cpu_shim.load("philox_draws.cu", cpu_shim.OPTIMIZED_FLAGS)
    return CpuKernels(multiprocessors=1, flags=cpu_shim.OPTIMIZED_FLAGS)


BUILD: NativeBuild[CpuKernels] = NativeBuild(_build, "the native draws", "numpy", "drawing with numpy")
"""The native draws' provider, built once per process (:class:`~cim_emu.gpu.host_native.NativeBuild`)."""


def host_kernels() -> Optional[CpuKernels]:
    """The provider of the native draws, or ``None`` when numpy draws on the host (see the module
    docstring); raises :class:`~cim_emu.gpu.ShimUnavailableError` when ``CIM_EMU_NATIVE=1`` and
    they cannot be built."""
    return BUILD.chosen()


def status() -> str:
    """Which path draws on the host, and why: for ``cim-emu info``."""
    return BUILD.status(f"native (kernels/philox_draws.cu through the CPU shim, {default_threads()} host thread(s))")


def _parts(total: int, draws_each: int, align: int = 1, phase: int = 0) -> list[tuple[int, int]]:
    """``[a, b)`` parts of ``range(total)``, one per host thread (about ``SPLIT_DRAWS`` draws at
    least each, ``draws_each`` per unit), cut where ``phase + a`` is a multiple of ``align``."""
    n = 1 if in_shared_pool() else max(1, min(default_threads(), total * draws_each // SPLIT_DRAWS, total))
    cuts = [0]
    for i in range(1, n):
        cut = total * i // n
        cut = min(total, cut + (-(phase + cut)) % align)
        if cut > cuts[-1]:
            cuts.append(cut)
    if cuts[-1] < total:
        cuts.append(total)
    return list(zip(cuts[:-1], cuts[1:]))


def _launch(parts: list[tuple[int, int]], launch: Callable[[int, int], Any]) -> None:
    run_jobs(lambda part: launch(*part), parts, default_threads())


def _native_range(kind: str, seed: int, stream: int, start: int, count: int, *, kernels: KernelProvider,
                  threshold: int) -> Any:
    out: numpy.ndarray = numpy.empty(count, dtype=gpu.DRAWS[kind][1])
    _launch(_parts(count, 1, 4, start), lambda a, b: gpu.draw_range(
        kind, seed, stream, start + a, b - a, kernels=kernels, threshold=threshold, out=out[a:b], **HOST_LAUNCH))
    return out


def _native_at(kind: str, seed: int, stream: int, index: Any, *, kernels: KernelProvider, threshold: int) -> Any:
    out: numpy.ndarray = numpy.empty(numpy.shape(index), dtype=gpu.DRAWS[kind][1])  # 0-d stays 0-d
    flat_index, flat_out = numpy.ascontiguousarray(index, dtype=numpy.uint64).reshape(-1), out.reshape(-1)
    _launch(_parts(out.size, 1), lambda a, b: gpu.draw_at(
        kind, seed, stream, flat_index[a:b], kernels=kernels, threshold=threshold, **HOST_LAUNCH,
        out=flat_out[a:b]))
    return out


def _native_runs(kind: str, seed: int, stream: int, first: int, stride: int, length: int, runs: int, *,
                 kernels: KernelProvider, threshold: int) -> Any:
    if runs == 1:
        return _native_range(kind, seed, stream, first, length, kernels=kernels, threshold=threshold).reshape(1, -1)
    out: numpy.ndarray = numpy.empty((runs, length), dtype=gpu.DRAWS[kind][1])
    _launch(_parts(runs, length), lambda a, b: gpu.draw_runs(
        kind, seed, stream, first + a * stride, stride, length, b - a, kernels=kernels, threshold=threshold,
        out=out[a:b], **HOST_LAUNCH))
    return out


_NATIVE: dict[str, Callable[..., Any]] = {"range": _native_range, "at": _native_at, "runs": _native_runs}
_ON_BACKEND: dict[str, Callable[..., Any]] = {"range": gpu.draw_range, "at": gpu.draw_at, "runs": gpu.draw_runs}


def by_kernels(backend: Backend, kind: str, where: str, *args: Any, threshold: int = 0) -> Optional[Any]:
    """The draws of ``kind`` (see :data:`~cim_emu.rng.gpu.DRAWS`) ``where`` (``"range"``,
    ``"at"`` or ``"runs"``; ``args`` validated, as the wrappers of :mod:`cim_emu.rng.gpu` take
    them) from kernels: the backend's own (a GPU's, the CPU shim's) or, on the host, the native
    ones; ``None`` when numpy's array Philox is to draw them."""
    kernels = kernels_for(backend)
    if kernels is None:
        return None
    if kernels is backend.kernels:
        return _ON_BACKEND[where](kind, *args, kernels=kernels, threshold=threshold)
    return _NATIVE[where](kind, *args, kernels=kernels, threshold=threshold)


def kernels_for(backend: Backend) -> Optional[KernelProvider]:
    """The kernels that draw for ``backend``: its own (a GPU's, the CPU shim's), or on the host
    the native ones (:func:`host_kernels`); ``None`` when numpy's array Philox is to draw. A
    provider other than ``backend.kernels`` is the host's, to be launched with one thread."""
    if backend.kernels is not None:
        return backend.kernels
    return None if backend.on_device else host_kernels()
