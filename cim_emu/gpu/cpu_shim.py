"""Run cim-emu's CUDA kernels on the CPU: the proof, without a GPU, that they compute the numpy bits.

Each source of ``kernels/`` (its headers inlined by :func:`cim_emu.gpu.sources.kernel_source`,
the very text NVRTC compiles) is compiled by the host C++ compiler with ``-DCIM_EMU_CPU_SHIM``,
which turns ``kernels/cuda_shim.h`` into a small CUDA emulation: the grid runs as loops, and a
kernel that uses ``__syncthreads`` or warp intrinsics runs each block with one host thread per
CUDA thread and barriers. The shared library is cached in a folder keyed by a hash of the
source, the compiler and its flags, and loaded with :mod:`ctypes`.

:class:`CpuKernels` is a kernel provider (:class:`~cim_emu.gpu.provider.KernelProvider`) with
the call convention of :class:`cupy.RawKernel`, so the engines' launch wrappers run unchanged on
numpy arrays. Before
every launch the arguments are checked against the kernel's C signature (pointer, or a numpy
scalar of exactly the parameter's type) - the mistakes CuPy would pass silently to the GPU.

The compiler is ``$CXX`` or the first of ``g++``, ``c++``, ``clang++`` on the path;
:class:`ShimUnavailableError` says when there is none. ``$CIM_EMU_SHIM_CACHE`` chooses the cache
folder (default: ``cim-emu-shim`` in the temporary directory).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy

from .sources import kernel_source

__all__ = ["COMPILE_FLAGS", "OPTIMIZED_FLAGS", "ShimUnavailableError", "compiler", "host_library", "build", "load",
           "ShimKernel", "BoundLaunch", "CpuKernels", "skip_reason", "cpu_identity"]

COMPILE_FLAGS = ("-O2", "-std=c++17", "-fPIC", "-shared", "-fvisibility=hidden", "-DCIM_EMU_CPU_SHIM",
                 "-pthread", "-ffp-contract=off", "-Wall", "-Wno-unknown-pragmas")
"""Host compiler flags (``-ffp-contract=off``: no fused multiply-add where numpy has none)."""

OPTIMIZED_FLAGS = ("-O3", "-fno-trapping-math") \
    + (("-march=native",) if platform.machine().lower() in ("x86_64", "amd64") else ()) + COMPILE_FLAGS[1:]
"""The flags of a build that does real work on the host (the native draws of :mod:`cim_emu.rng.native`,
the read noise of :mod:`cim_emu.reram.pipeline`): ``-O3`` unrolls the ten Philox rounds, which
gcc's ``-O2`` keeps as a loop (it ignores ``#pragma unroll``), and vectorises the lanes of
counter blocks of ``kernels/philox.cuh``; on x86-64, ``-march=native`` lets them use the CPU's
widest vectors (AVX-512 where there is one) and ``rint`` its rounding instruction;
``-fno-trapping-math`` lets gcc vectorise ``floor`` (the ADC's loops of ``kernels/reram_epilogue.cu``):
it may assume that no floating-point exception is observed, and none is (no kernel reads the
exception flags), while every value stays IEEE's (it is no part of ``-ffast-math`` that changes
values: no reassociation, no reciprocals, no finite-only or signless-zero assumptions). Such a
library runs on CPUs like the one it was built on only, so the disk cache's key holds the CPU's
identity (:func:`cpu_identity`). Same bits: no flag here permits a value-changing
transformation (``-ffp-contract=off`` stays)."""

#: Scalar parameter type codes of cim_shim_signature: numpy type and ctypes type of each.
_SCALARS: dict[str, tuple[type[numpy.generic], Any]] = {
    "b1": (numpy.bool_, ctypes.c_bool), "i1": (numpy.int8, ctypes.c_int8),
    "i4": (numpy.int32, ctypes.c_int32), "u4": (numpy.uint32, ctypes.c_uint32),
    "i8": (numpy.int64, ctypes.c_int64), "u8": (numpy.uint64, ctypes.c_uint64),
    "f4": (numpy.float32, ctypes.c_float), "f8": (numpy.float64, ctypes.c_double),
}


class ShimUnavailableError(RuntimeError):
    """No C++ compiler to build the CPU shim with."""


def compiler() -> str:
    """The host C++ compiler: ``$CXX``, else ``g++``, ``c++`` or ``clang++`` from the path."""
    for candidate in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)  # type: ignore[return-value]
    raise ShimUnavailableError("the CPU shim needs a C++17 compiler: set CXX or install g++")


def cache_location() -> Path:
    """Where compiled shim libraries are kept: ``$CIM_EMU_SHIM_CACHE`` or a temp folder."""
    return Path(os.environ.get("CIM_EMU_SHIM_CACHE") or Path(tempfile.gettempdir()) / "cim-emu-shim")


def _cache_dir() -> Path:
    folder = cache_location()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@functools.lru_cache(maxsize=None)
def cpu_identity() -> str:
    """What a ``-march=native`` build depends on: the CPU's model and feature flags (Linux's
    ``/proc/cpuinfo``), else :func:`platform.processor` and :func:`platform.machine`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            lines = [line.strip() for line in info if line.startswith(("model name", "flags", "Features"))]
    except OSError:
        lines = []
    return "\n".join(sorted(set(lines))) or f"{platform.processor()} {platform.machine()}"


def _build(source: str, label: str, flags: tuple[str, ...]) -> Path:
    """The shared library of ``source``, compiled with ``flags`` unless the cache has it."""
    cxx = compiler()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    machine = cpu_identity() if any(flag.startswith("-march=native") for flag in flags) else ""
    key = hashlib.sha256("\0".join((source, cxx, version, machine, *flags)).encode()).hexdigest()[:20]
    folder = _cache_dir()
    library = folder / f"{label}-{key}.so"
    if library.exists():
        return library
    scratch = Path(tempfile.mkdtemp(dir=folder))
    try:
        (scratch / "source.cpp").write_text(source, encoding="utf-8")
        built = scratch / library.name
        result = subprocess.run([cxx, *flags, "-x", "c++", str(scratch / "source.cpp"), "-o", str(built)],
                                capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"compiling {label} for the CPU shim failed:\n{result.stderr}")
        os.replace(built, library)  # atomic: concurrent builders leave one complete library
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return library


@functools.lru_cache(maxsize=None)
def host_library(source: str, label: str, flags: tuple[str, ...] = COMPILE_FLAGS) -> ctypes.CDLL:
    """A C++ source (headers already inlined) compiled for the host with ``flags`` and loaded:
    compiled on first use, once per process; the library is cached on disk. What a kernel's CPU
    build (:func:`build`) is, and the host's own native code (``kernels/ir_drop_sweep.cpp``)."""
    return ctypes.CDLL(str(_build(source, label, flags)))


@functools.lru_cache(maxsize=None)
def build(source: str, label: str = "kernels", flags: tuple[str, ...] = COMPILE_FLAGS) -> ctypes.CDLL:
    """The CPU build of a kernel source (headers already inlined), loaded (compiled on first use,
    once per process; the library is cached on disk)."""
    library = host_library(source, label, flags)
    library.cim_shim_launch.restype = ctypes.c_int
    library.cim_shim_launch.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                                        ctypes.c_ulonglong, ctypes.POINTER(ctypes.c_void_p)]
    library.cim_shim_signature.restype = ctypes.c_char_p
    library.cim_shim_signature.argtypes = [ctypes.c_char_p]
    library.cim_shim_last_error.restype = ctypes.c_char_p
    library.cim_shim_kernel_names.restype = ctypes.c_char_p
    return library


def load(filename: str, flags: tuple[str, ...] = COMPILE_FLAGS) -> ctypes.CDLL:
    """The CPU build of ``kernels/<filename>`` (``flags``: :data:`COMPILE_FLAGS` or :data:`OPTIMIZED_FLAGS`)."""
    label = Path(filename).stem + ("" if flags == COMPILE_FLAGS else "-optimized")
    return build(kernel_source(filename), label, flags)


def _dim3(dims: Sequence[int]) -> Any:
    dims = tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
    return (ctypes.c_uint * 3)(*dims)


class ShimKernel:
    """One kernel of a CPU build, called like :class:`cupy.RawKernel`."""

    def __init__(self, library: ctypes.CDLL, name: str) -> None:
        signature = library.cim_shim_signature(name.encode())
        if signature is None:
            raise KeyError(f"no kernel {name!r} in this source (see its CIM_KERNEL_INSTANCE lines)")
        self.library, self.name, self.encoded_name = library, name, name.encode()
        self.signature = tuple(signature.decode().split(",")) if signature else ()
        self._converters = tuple(self._converter(i, code) for i, code in enumerate(self.signature))

    def _converter(self, position: int, code: str) -> Callable[[Any], Any]:
        """The check and ctypes conversion of argument ``position`` (C type ``code``), built once:
        a launch costs one call of each (the host's native kernels are launched thousands of
        times a read)."""
        where = f"{self.name} argument {position} ({code!r})"
        if code.startswith("p"):
            pointee = code[1:]
            if pointee == "p":  # a table of addresses

                def fits(value: numpy.ndarray) -> bool:
                    return value.dtype == numpy.uint64
            elif pointee.startswith("s"):  # an array of structs, as raw rows of int32 fields
                row_bytes = int(pointee[1:])

                def fits(value: numpy.ndarray) -> bool:
                    return value.nbytes % row_bytes == 0
            else:
                element = _SCALARS[pointee][0]

                def fits(value: numpy.ndarray) -> bool:
                    return value.dtype.type is element

            def pointer(value: Any) -> Any:
                if value is None:
                    return ctypes.c_void_p(None)
                if not isinstance(value, numpy.ndarray):
                    raise TypeError(f"{where}: a pointer parameter takes a numpy array or None; "
                                    f"got {type(value).__name__}")
                if not fits(value):
                    raise TypeError(f"{where}: the array's dtype {value.dtype} does not fit the parameter")
                return ctypes.c_void_p(value.ctypes.data)
            return pointer
        numpy_type, c_type = _SCALARS[code]

        def scalar(value: Any) -> Any:
            if type(value) is not numpy_type:
                raise TypeError(f"{where}: takes a numpy.{numpy_type.__name__}; got {value!r} ({type(value).__name__})")
            return c_type(value.item())
        return scalar

    def __call__(self, grid: Sequence[int], block: Sequence[int], args: Sequence[Any], *, shared_mem: int = 0) -> None:
        self.bind(grid, block, args, shared_mem=shared_mem)()

    def bind(self, grid: Sequence[int], block: Sequence[int], args: Sequence[Any], *,
             shared_mem: int = 0) -> "BoundLaunch":
        """The launch of ``args`` with every argument checked and converted once: a
        :class:`BoundLaunch`, to launch again and again with a few arguments replaced (a host
        readout launches the same epilogue once per row tile, only the tile changing)."""
        if len(args) != len(self.signature):
            raise TypeError(f"{self.name} takes {len(self.signature)} arguments; got {len(args)}")
        return BoundLaunch(self, grid, block, [convert(value) for convert, value in zip(self._converters, args)],
                           shared_mem)


class BoundLaunch:
    """A launch of one :class:`ShimKernel` with its arguments converted (:meth:`ShimKernel.bind`).
    Calling it launches the kernel, with the arguments at the positions of ``replaced`` (if
    any) checked, converted and replaced first; they stay replaced. Not shared between threads."""

    def __init__(self, kernel: ShimKernel, grid: Sequence[int], block: Sequence[int], holders: list,
                 shared_mem: int) -> None:
        self.kernel, self.holders, self.shared_mem = kernel, holders, shared_mem
        self.grid, self.block = _dim3(grid), _dim3(block)
        self.pointers = (ctypes.c_void_p * max(1, len(holders)))(*map(ctypes.addressof, holders))

    def __call__(self, replaced: Optional[dict] = None) -> None:
        kernel = self.kernel
        for position, value in (replaced or {}).items():
            holder = kernel._converters[position](value)
            self.holders[position] = holder  # kept alive while the pointer to it is in use
            self.pointers[position] = ctypes.addressof(holder)
        status = kernel.library.cim_shim_launch(kernel.encoded_name, self.grid, self.block, self.shared_mem,
                                                self.pointers)
        if status:
            raise RuntimeError(f"{kernel.name}: {kernel.library.cim_shim_last_error().decode()}")


@functools.lru_cache(maxsize=None)
def _kernel(filename: str, name: str, flags: tuple[str, ...]) -> ShimKernel:
    """One :class:`ShimKernel` per (source, name, flags), looked up once."""
    return ShimKernel(load(filename, flags), name)


class CpuKernels:
    """The kernel provider of the CPU shim: numpy arrays, the kernels compiled for the host.

    ``multiprocessors`` only sizes default grids (kept small, so that the grid-stride loops
    run several rounds in the tests); ``shared_bytes_limit`` mimics a Hopper GPU's opt-in limit;
    ``flags`` are the compiler's (:data:`COMPILE_FLAGS`, or :data:`OPTIMIZED_FLAGS`).
    """

    name = "cpu-shim"
    compute_capability = None  # the host compiler runs every kernel (tensor-core instructions emulated)
    xp = numpy
    shared_bytes_limit = 227 * 1024

    def __init__(self, multiprocessors: int = 2, flags: tuple[str, ...] = COMPILE_FLAGS) -> None:
        self.multiprocessors = multiprocessors
        self.flags = flags

    def function(self, filename: str, name: str) -> ShimKernel:
        return _kernel(filename, name, self.flags)

    @staticmethod
    def address(array: numpy.ndarray) -> int:
        return int(array.ctypes.data)

    @staticmethod
    def allow_shared_bytes(function: Any, nbytes: int) -> None:
        """Nothing to opt in to on the CPU."""

    @staticmethod
    def resident(make: Callable[[], numpy.ndarray]) -> numpy.ndarray:
        return make()

    @staticmethod
    def constant(array: numpy.ndarray) -> numpy.ndarray:
        return array

    @staticmethod
    def free_bytes() -> Optional[int]:
        """Host memory: no device limit to pass work through in slices for."""
        return None

    def kernel_names(self, filename: str) -> tuple[str, ...]:
        """The kernels a source registers (its ``CIM_KERNEL_INSTANCE`` lines)."""
        names = load(filename, self.flags).cim_shim_kernel_names().decode()
        return tuple(names.split("\n")) if names else ()


def skip_reason() -> Optional[str]:
    """Why the CPU shim cannot run here, or ``None`` when it can (for test skips)."""
    try:
        compiler()
    except ShimUnavailableError as error:
        return str(error)
    return None
