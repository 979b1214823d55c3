"""The CUDA sources of ``kernels/`` as the compilers see them.

Sources live in ``kernels/`` (installed as the package ``cim_emu.kernels``) and are read with
:mod:`importlib.resources`. :func:`kernel_source` inlines every ``#include "..."`` header, so
that the text handed to the compiler - and hence CuPy's on-disk cache key, which hashes the
source string only (CuPy issue #941), and the CPU shim's cache key - changes whenever a header
does. :data:`KERNELS` names the instances of every source (CuPy's ``name_expressions``, the CPU
shim's registered names): each is a ``CIM_KERNEL_INSTANCE`` line of its source.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from typing import Callable

__all__ = ["KERNEL_PACKAGE", "NVRTC_OPTIONS", "KERNELS", "MINIMUM_COMPUTE_CAPABILITY", "GPU_MINIMUM_COMPUTE_CAPABILITY",
           "CHECKED_ARCHITECTURES", "minimum_compute_capability", "inline_includes", "kernel_source"]

KERNEL_PACKAGE = "cim_emu.kernels"
"""The package that holds the CUDA sources (``kernels/`` in the repository)."""

NVRTC_OPTIONS = ("-std=c++17",)
"""NVRTC options. Never ``--use_fast_math``: the ADC relies on IEEE float arithmetic."""

KERNELS: dict[str, tuple[str, ...]] = {
    "philox_draws.cu": tuple(f"philox_{where}<cim::{draw}>" for where in ("range", "at", "runs")
                             for draw in ("UniformDraw", "BernoulliDraw", "NormalDraw")),
    "ambit_program.cu": tuple(f"ambit_program<{lanes}, {faults}>" for lanes in (1, 2) for faults in ("false", "true")),
    "reram_epilogue.cu": tuple(f"reram_adc_shift_add<{sums}, {codes}>" for sums in ("float", "double", "int")
                               for codes in ("float", "double"))
    + tuple(f"reram_noisy_shift_add<{sums}, {codes}, {per_element}>" for sums in ("float", "double")
            for codes in ("float", "double") for per_element in ("false", "true")),
    "reram_tile_codes.cu": ("reram_tile_codes<float, true>", "reram_tile_codes<double, true>",
                            "reram_tile_codes<float, false>"),
    "reram_read_noise.cu": ("reram_read_noise<false>", "reram_read_noise<true>"),
}
"""The kernel instances of each source, as name expressions."""

GPU_MINIMUM_COMPUTE_CAPABILITY = 75
"""The oldest GPU the kernels run on, as ``10 * major + minor`` (7.5, Turing): every source
compiles there through CuPy's NVRTC path (``scripts/nvrtc_check.py``, in CI), except those of
:data:`MINIMUM_COMPUTE_CAPABILITY`, whose callers take a float path below it."""

MINIMUM_COMPUTE_CAPABILITY: dict[str, int] = {"reram_tile_codes.cu": 80}
"""Sources that need a newer GPU than :data:`GPU_MINIMUM_COMPUTE_CAPABILITY`:
``reram_tile_codes.cu`` issues ``mma.sync.m16n8k32`` int8 tensor-core instructions (sm_80+)."""

CHECKED_ARCHITECTURES = (75, 80, 90)
"""The architectures CI compiles every source for (each from its minimum up)."""


def minimum_compute_capability(filename: str) -> int:
    """The oldest compute capability (``10 * major + minor``) ``kernels/<filename>`` runs on."""
    return MINIMUM_COMPUTE_CAPABILITY.get(filename, GPU_MINIMUM_COMPUTE_CAPABILITY)


_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"[ \t]*$', re.MULTILINE)


def _read(filename: str) -> str:
    return importlib.resources.files(KERNEL_PACKAGE).joinpath(filename).read_text(encoding="utf-8")


def inline_includes(text: str, read: Callable[[str], str] = _read) -> str:
    """``text`` with every ``#include "name"`` replaced by ``read(name)``, recursively, each
    header once (system ``<...>`` includes are left alone)."""
    seen: set[str] = set()

    def inline(match: re.Match) -> str:
        header = match.group(1)
        if header in seen:
            return f"// #include \"{header}\": inlined above"
        seen.add(header)
        return f"// ---- {header}\n{_INCLUDE.sub(inline, read(header))}\n// ---- end of {header}"

    return _INCLUDE.sub(inline, text)


@functools.lru_cache(maxsize=None)
def kernel_source(filename: str) -> str:
    """The text of ``kernels/<filename>`` with its headers inlined (:func:`inline_includes`):
    what NVRTC and the CPU shim compile, and what their caches key on."""
    return inline_includes(_read(filename))
