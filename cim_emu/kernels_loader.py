"""The one loader of cim-emu's CUDA kernels, and their launch wrappers.

Sources live in ``kernels/`` (installed as the package ``cim_emu.kernels``) and are read with
:mod:`importlib.resources`. :func:`kernel_source` inlines every ``#include "..."`` header, so
that the text handed to the compiler - and hence CuPy's on-disk cache key, which hashes the
source string only (CuPy issue #941) - changes whenever a header does.

Two providers run the same kernels, with the same call convention as
:class:`cupy.RawKernel` (``function(grid, block, args, shared_mem=...)``):

* :class:`CupyKernels` - NVRTC through :class:`cupy.RawModule`, compiled once per source and
  device (CuPy caches the binaries on disk as well);
* :class:`cim_emu.cpu_shim.CpuKernels` - the same sources compiled for the CPU through
  ``kernels/cuda_shim.h`` and loaded with ctypes, so CI, which has no GPU, runs every kernel.

The launch wrappers below (:func:`draw_range`, :func:`draw_at`, :func:`run_ambit_program`,
:func:`reram_adc_shift_add`, :func:`reram_tile_codes`) take a provider and are thin: they choose
the launch shape and pass numpy scalars of the exact C parameter types. The CPU shim checks
every argument's type against the kernel's signature, so a wrong type fails in CI instead of
running silently on a GPU.

Importing this module never imports CuPy; only using :class:`CupyKernels` does.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from typing import Any, Callable, Optional, Sequence

import numpy

__all__ = [
    "KERNEL_PACKAGE",
    "KERNELS",
    "NVRTC_OPTIONS",
    "BLOCK_THREADS",
    "inline_includes",
    "kernel_source",
    "CupyKernels",
    "draw_range",
    "draw_at",
    "run_ambit_program",
    "ambit_program_launch",
    "reram_adc_shift_add",
    "TILE_CODES_DEPTH",
    "reram_shift_add_codes",
    "reram_tile_codes",
]

KERNEL_PACKAGE = "cim_emu.kernels"
"""The package that holds the CUDA sources (``kernels/`` in the repository)."""

NVRTC_OPTIONS = ("-std=c++17",)
"""NVRTC options. Never ``--use_fast_math``: the ADC relies on IEEE float arithmetic."""

KERNELS = {
    "philox_draws.cu": tuple(f"philox_{where}<cim::{draw}>" for where in ("range", "at")
                             for draw in ("UniformDraw", "BernoulliDraw", "NormalDraw")),
    "ambit_program.cu": tuple(f"ambit_program<{lanes}, {faults}>" for lanes in (1, 2) for faults in ("false", "true")),
    "reram_epilogue.cu": tuple(f"reram_adc_shift_add<{sums}, {codes}>" for sums in ("float", "double", "int")
                               for codes in ("float", "double")),
    "reram_tile_codes.cu": ("reram_tile_codes<float, true>", "reram_tile_codes<double, true>",
                            "reram_tile_codes<float, false>"),
}
"""The kernel instances of each source, as name expressions (CuPy's and the CPU shim's names);
each is a ``CIM_KERNEL_INSTANCE`` line of its source."""

BLOCK_THREADS = 256
"""Threads per block (at most: an Ambit program with many live values takes fewer, see
:func:`ambit_program_launch`); the bound the kernels declare in ``__launch_bounds__``."""

#: Blocks per multiprocessor of a full-size grid: enough to fill every SM with 256-thread blocks
#: (2048 resident threads); the kernels' grid-stride loops cover any size with it.
BLOCKS_PER_MULTIPROCESSOR = 8

#: Dynamic shared memory a block may use without opting in (CUDA's default limit).
DEFAULT_SHARED_BYTES = 48 * 1024

_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"[ \t]*$', re.MULTILINE)

_DRAWS = {"uniform": ("UniformDraw", numpy.uint32), "bernoulli": ("BernoulliDraw", numpy.bool_),
          "normal": ("NormalDraw", numpy.float64)}
_C_FLOAT = {numpy.dtype(numpy.float32): "float", numpy.dtype(numpy.float64): "double"}
_C_SUM = {**_C_FLOAT, numpy.dtype(numpy.int32): "int"}
_ADC_SIGNED, _ADC_PRESCALED, _ADC_SATURATES = 1, 2, 4  # kernels/reram_adc.cuh, AdcFlag


# --------------------------------------------------------------------------- sources


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


# --------------------------------------------------------------------------- CuPy


@functools.lru_cache(maxsize=None)
def _cupy_module(filename: str, device_id: int) -> Any:
    """The :class:`cupy.RawModule` of a source on one device, compiled on first use."""
    import cupy  # noqa: PLC0415 - CuPy is optional

    with cupy.cuda.Device(device_id):
        return cupy.RawModule(code=kernel_source(filename), options=NVRTC_OPTIONS,
                              name_expressions=KERNELS[filename])


@functools.lru_cache(maxsize=None)
def _device_properties(device_id: int) -> dict:
    import cupy  # noqa: PLC0415

    return cupy.cuda.runtime.getDeviceProperties(device_id)


class CupyKernels:
    """The kernels on the current CUDA device, compiled by NVRTC (CuPy imported on first use).

    Modules, device properties and device copies of constants are cached per device id with
    :func:`functools.lru_cache` - what ``cupy.memoize(for_each_device=True)`` does, without
    importing CuPy at import time."""

    name = "cupy"

    @property
    def xp(self) -> Any:
        import cupy  # noqa: PLC0415

        return cupy

    def _device(self) -> int:
        return int(self.xp.cuda.Device().id)

    def function(self, filename: str, name: str) -> Any:
        """The :class:`cupy.RawKernel` of kernel ``name`` (a name expression of ``KERNELS``)."""
        return _cupy_module(filename, self._device()).get_function(name)

    @staticmethod
    def address(array: Any) -> int:
        """The device address of a CuPy array's first element."""
        return int(array.data.ptr)

    @property
    def multiprocessors(self) -> int:
        return int(_device_properties(self._device())["multiProcessorCount"])

    @property
    def shared_bytes_limit(self) -> int:
        """Dynamic shared memory one block may have once opted in."""
        return int(_device_properties(self._device())["sharedMemPerBlockOptin"])

    @staticmethod
    def allow_shared_bytes(function: Any, nbytes: int) -> None:
        """Opt ``function`` in to ``nbytes`` of dynamic shared memory (above 48 KiB)."""
        if nbytes > DEFAULT_SHARED_BYTES and function.max_dynamic_shared_size_bytes < nbytes:
            function.max_dynamic_shared_size_bytes = nbytes

    def resident(self, make: Callable[[], numpy.ndarray]) -> Any:
        """A device copy of the constant host array ``make()``, made once per device."""
        return _resident(make, self._device())

    def constant(self, array: numpy.ndarray) -> Any:
        """A device copy of a small host array, kept for later launches with the same contents
        (an instruction array, a table of row addresses): no host-to-device copy per launch."""
        return _constant(array.tobytes(), array.dtype.str, array.shape, self._device())


@functools.lru_cache(maxsize=None)
def _resident(make: Callable[[], numpy.ndarray], device_id: int) -> Any:
    import cupy  # noqa: PLC0415

    with cupy.cuda.Device(device_id):
        return cupy.asarray(make())


@functools.lru_cache(maxsize=256)
def _constant(data: bytes, dtype: str, shape: tuple, device_id: int) -> Any:
    import cupy  # noqa: PLC0415

    with cupy.cuda.Device(device_id):
        return cupy.asarray(numpy.frombuffer(data, dtype=dtype).reshape(shape))


def _provider(kernels: Optional[Any]) -> Any:
    return CupyKernels() if kernels is None else kernels


def _on_device(kernels: Any, array: Any, dtype: Any) -> Any:
    """``array`` as a C-contiguous array of ``dtype`` of the provider's kind (no copy when it is one)."""
    return kernels.xp.ascontiguousarray(kernels.xp.asarray(array, dtype=dtype))


def _grid(kernels: Any, work_items: int, grid: Optional[int]) -> int:
    """Blocks of a grid-stride launch over ``work_items``: a full device's worth at most."""
    if grid is not None:
        return grid
    full = kernels.multiprocessors * BLOCKS_PER_MULTIPROCESSOR
    return max(1, min(full, -(-work_items // BLOCK_THREADS)))


# --------------------------------------------------------------------------- random draws


def _draw(kind: str) -> tuple[str, Any]:
    if kind not in _DRAWS:
        raise ValueError(f"draw must be one of {', '.join(_DRAWS)}; got {kind!r}")
    return _DRAWS[kind]


def _table(kernels: Any, kind: str) -> Any:
    if kind != "normal":
        return None
    from .rng import normal_table  # noqa: PLC0415 - the table is built on first use

    return kernels.resident(normal_table)


def draw_range(kind: str, seed: int, stream: int, start: int, count: int, *, threshold: int = 0,
               kernels: Optional[Any] = None, grid: Optional[int] = None) -> Any:
    """The draws of elements ``start .. start + count - 1`` (arguments validated as in
    :mod:`cim_emu.rng`): ``kind`` ``"uniform"`` (uint32), ``"bernoulli"`` (bool; ``threshold``
    = :func:`~cim_emu.rng.bernoulli_threshold`) or ``"normal"`` (float64)."""
    kernels = _provider(kernels)
    draw, dtype = _draw(kind)
    out = kernels.xp.empty(count, dtype=dtype)
    if count:
        blocks = ((start + count - 1) >> 2) - (start >> 2) + 1
        kernels.function("philox_draws.cu", f"philox_range<cim::{draw}>")(
            (_grid(kernels, blocks, grid),), (BLOCK_THREADS,),
            (numpy.uint64(seed), numpy.uint64(stream), numpy.uint64(start), numpy.uint64(count),
             numpy.uint64(threshold), _table(kernels, kind), out))
    return out


def draw_at(kind: str, seed: int, stream: int, index: Any, *, threshold: int = 0,
            kernels: Optional[Any] = None, grid: Optional[int] = None) -> Any:
    """The draws at element indices ``index`` (any shape; taken as uint64), as :func:`draw_range`."""
    kernels = _provider(kernels)
    draw, dtype = _draw(kind)
    index = _on_device(kernels, index, numpy.uint64)
    out = kernels.xp.empty(index.shape, dtype=dtype)
    if index.size:
        kernels.function("philox_draws.cu", f"philox_at<cim::{draw}>")(
            (_grid(kernels, index.size, grid),), (BLOCK_THREADS,),
            (numpy.uint64(seed), numpy.uint64(stream), index, numpy.uint64(index.size),
             numpy.uint64(threshold), _table(kernels, kind), out))
    return out


# --------------------------------------------------------------------------- Ambit


def ambit_program_launch(n_slots: int, rows: Sequence[Any], kernels: Any, *, lanes: Optional[int] = None,
                         block: Optional[int] = None) -> tuple[int, int, int]:
    """``(lanes, block, shared_bytes)`` of an Ambit program launch.

    ``lanes`` (64-bit words a thread) is 2 - 16-byte accesses - when every row is 16-byte
    aligned, else 1. The block is the largest of 256, 128, 64, 32 threads whose value slots fit
    in 48 KiB of shared memory, else 32 threads with up to the device's opt-in limit; a program
    with more live values than that raises :class:`ValueError`.
    """
    if lanes is None:
        lanes = 2 if all(kernels.address(row) % 16 == 0 for row in rows) else 1
    slot_bytes = 8 * lanes * n_slots
    candidates = (block,) if block is not None else (256, 128, 64, 32)
    for threads in candidates:
        if slot_bytes * threads <= DEFAULT_SHARED_BYTES or threads == candidates[-1]:
            break
    shared_bytes = slot_bytes * threads
    if shared_bytes > kernels.shared_bytes_limit:
        raise ValueError(f"the program keeps {n_slots} values live: {shared_bytes} bytes of shared memory for "
                         f"{threads} threads, more than the device's {kernels.shared_bytes_limit}")
    return lanes, threads, shared_bytes


def run_ambit_program(instructions: Any, n_slots: int, inputs: Sequence[Any], outputs: Sequence[Any],
                      row_bits: int, *, word_offset: int = 0, seed: int = 0, tra_base: int = 0,
                      flip_threshold: int = 0,
                      weak_threshold: int = 0, weak_flip_threshold: int = 0,
                      only_when_inputs_disagree: bool = False, kernels: Optional[Any] = None,
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
    kernels = _provider(kernels)
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
    function((_grid(kernels, -(-n_words // lanes), grid),), (threads,),
             (program, numpy.int32(program.shape[0]), table, numpy.int32(len(inputs)), table[len(inputs):],
              numpy.uint64(row_bits), numpy.uint64(word_offset), numpy.uint64(n_words), numpy.uint64(seed),
              numpy.uint64(tra_base), numpy.uint64(flip_threshold),
              numpy.uint64(weak_threshold), numpy.uint64(weak_flip_threshold),
              numpy.int32(bool(only_when_inputs_disagree))),
             shared_mem=shared_bytes)


# --------------------------------------------------------------------------- ReRAM


def reram_adc_shift_add(sums: Any, acc: Any, adc: Any, *, tiles: int, chunks: int, width: int, pack: int,
                        pack_bits: int, polarities: int, slices: int, bits_per_cell: int, dac_bits: int,
                        prescaled: bool, saturates: bool, noise: Optional[Any] = None,
                        kernels: Optional[Any] = None, grid: Optional[tuple[int, int]] = None) -> None:
    """ADC and shift-and-add of one block of partial sums into ``acc`` (see
    ``kernels/reram_epilogue.cu``; the step of ``CrossbarArray._accumulate`` after its product).

    ``sums`` is ``(tiles, chunks * b, columns * width)`` float32/float64 (or int32 integers
    exact in the ADC's float type: :func:`reram_shift_add_codes`), ``acc`` an int64
    ``(b, columns)`` array whose rows may be strided (a column block of a wider array),
    ``noise`` ``None`` or float64 ``(tiles, chunks * b, columns, polarities * slices)``,
    ``adc`` a :class:`~cim_emu.reram.adc.Adc` (its ``scale``, ``bias``, ``divisor``,
    ``levels``, ``signed`` and ``dtype``). ``grid`` (column blocks, row blocks) overrides the
    launch shape (for tests: any grid gives the same bits).
    """
    kernels = _provider(kernels)
    if sums.ndim != 3 or sums.dtype not in _C_SUM or not sums.flags.c_contiguous:
        raise ValueError(f"sums must be a C-contiguous 3-D float32/float64/int32 array; got {sums.dtype} {sums.shape}")
    batch, columns = acc.shape
    if acc.dtype != numpy.int64 or acc.strides[1] != 8 or sums.shape != (tiles, chunks * batch, columns * width):
        raise ValueError(f"acc must be int64 (b, columns) with unit column stride matching sums {sums.shape}; "
                         f"got {acc.dtype} {acc.shape}")
    cells = (tiles, chunks * batch, columns, polarities * slices)
    if noise is not None and (noise.dtype != numpy.float64 or noise.shape != cells or not noise.flags.c_contiguous):
        raise ValueError(f"noise must be a C-contiguous float64 array of shape {cells}; got {noise.dtype} {noise.shape}")
    if adc.divisor < 2:
        raise ValueError(f"the ADC divisor must be at least 2; got {adc.divisor}")
    code = numpy.dtype(adc.dtype).type
    flags = ((_ADC_SIGNED if adc.signed else 0) | (_ADC_PRESCALED if prescaled else 0)
             | (_ADC_SATURATES if saturates else 0))
    name = f"reram_adc_shift_add<{_C_SUM[sums.dtype]}, {_C_FLOAT[numpy.dtype(code)]}>"
    if grid is None:  # a block row per batch row (grid-stride past 65535), columns to fill the device
        rows = max(1, min(batch, 65535))
        full = kernels.multiprocessors * BLOCKS_PER_MULTIPROCESSOR
        grid = (max(1, min(-(-columns // BLOCK_THREADS), -(-full // rows))), rows)
    kernels.function("reram_epilogue.cu", name)(
        grid, (BLOCK_THREADS,),
        (sums, noise, acc, numpy.int64(acc.strides[0] // 8), numpy.int32(tiles), numpy.int32(chunks),
         numpy.int64(batch), numpy.int64(columns), numpy.int32(width), numpy.int32(pack), numpy.int32(pack_bits),
         numpy.int32(polarities), numpy.int32(slices), numpy.int32(bits_per_cell), numpy.int32(dac_bits),
         code(adc.scale), code(adc.bias), code(adc.divisor), code(1) / code(adc.divisor), code(adc.levels),
         numpy.int32(flags)))


def reram_shift_add_codes(codes: Any, acc: Any, *, chunks: int, polarities: int, slices: int, bits_per_cell: int,
                          dac_bits: int, code_bound: int, kernels: Optional[Any] = None,
                          grid: Optional[tuple[int, int]] = None) -> None:
    """The shift-and-add of codes already converted (:func:`reram_tile_codes`), into int64:
    ``acc[i, n] = sum_c 2**(c dac_bits) sum_{p, s} sign_p 2**(s bits_per_cell) codes[c b + i, n P S + p S + s]``
    (``sign_p`` = +1, -1 for W+, W-; ``polarities = 1`` for a signed ADC's codes).

    The epilogue kernel of :func:`reram_adc_shift_add` on int32 ``codes`` (one tile), with the
    pass-through transfer ``floor((2 v + 0) / 2) = v``, exact for integers while ``2 |v|`` is
    (``|v| <= code_bound``: float below ``2**23``, else double), unclamped.
    """
    from .reram.adc import Adc  # noqa: PLC0415 - the loader stays free of the engines at import

    passthrough = Adc(levels=0, scale=2, bias=0, divisor=2, signed=False,
                      dtype=numpy.float32 if code_bound < 2**23 else numpy.float64)
    batch = acc.shape[0]
    reram_adc_shift_add(codes.reshape(1, chunks * batch, -1), acc, passthrough, tiles=1, chunks=chunks,
                        width=polarities * slices, pack=1, pack_bits=1, polarities=polarities, slices=slices,
                        bits_per_cell=bits_per_cell, dac_bits=dac_bits, prescaled=False, saturates=False,
                        kernels=kernels, grid=grid)


#: The depth (bytes of a row of either operand) of kernels/reram_tile_codes.cu is a multiple of this.
TILE_CODES_DEPTH = 64
#: Rows and columns of the codes one block of kernels/reram_tile_codes.cu computes; its threads.
_TILE_CODES_TILE, _TILE_CODES_THREADS = 64, 128


def reram_tile_codes(inputs: Any, cells: Any, codes: Any, adc: Any, *, first_column: int = 0,
                     kernels: Optional[Any] = None, grid: Optional[tuple[int, int]] = None) -> None:
    """Crossbar partial sums on int8 tensor cores with the ADC fused in (``kernels/reram_tile_codes.cu``):
    ``codes[m, j] = sum_t ADC(inputs[t, m] . cells[t, first_column + j])``.

    ``inputs`` is int8 ``(T, rows, depth)``, ``cells`` int8 ``(T, cell_columns, depth)`` (rows of
    cells down the crossbar; ``depth`` a multiple of :data:`TILE_CODES_DEPTH`, zero-padded), both
    C-contiguous and 16-byte aligned; ``codes`` a C-contiguous int32 ``(rows, columns)`` array
    with ``first_column + columns <= cell_columns``. ``adc`` is a :class:`~cim_emu.reram.adc.Adc`
    (its unscaled transfer, always clamped to ``[0, levels]``: the same codes where the numpy
    pipeline skips a clamp that cannot act), or ``None`` for the raw sums themselves. The caller
    guarantees the exactness bounds stated in the kernel's header. ``grid`` (column blocks, row
    blocks) overrides the launch shape (for tests: any grid gives the same bits).
    """
    kernels = _provider(kernels)
    tiles, rows, depth = inputs.shape if inputs.ndim == 3 else (0, 0, 0)
    columns = codes.shape[1] if codes.ndim == 2 else 0
    operands = (("inputs", inputs, numpy.int8), ("cells", cells, numpy.int8), ("codes", codes, numpy.int32))
    for name, array, dtype in operands:
        if array.dtype != dtype or not array.flags.c_contiguous or kernels.address(array) % 16:
            raise ValueError(f"{name} must be a C-contiguous, 16-byte aligned {numpy.dtype(dtype)} array; "
                             f"got {array.dtype} {array.shape}")
    if (inputs.ndim != 3 or depth % TILE_CODES_DEPTH or depth == 0 or cells.ndim != 3
            or cells.shape[0] != tiles or cells.shape[2] != depth):
        raise ValueError(f"inputs (T, rows, depth) and cells (T, cell_columns, depth) must agree, with depth a "
                         f"positive multiple of {TILE_CODES_DEPTH}; got {inputs.shape} and {cells.shape}")
    if codes.shape != (rows, columns) or not 0 <= first_column <= cells.shape[1] - columns:
        raise ValueError(f"codes must be (rows, columns) = ({rows}, columns) with first_column + columns <= "
                         f"{cells.shape[1]}; got {codes.shape} from column {first_column}")
    if adc is None:
        name, code, flags, parameters = "reram_tile_codes<float, false>", numpy.float32, 0, (1, 0, 2, 0.5, 1)
    else:
        if adc.divisor < 2:
            raise ValueError(f"the ADC divisor must be at least 2; got {adc.divisor}")
        code = numpy.dtype(adc.dtype).type
        name = f"reram_tile_codes<{_C_FLOAT[numpy.dtype(code)]}, true>"
        flags = (_ADC_SIGNED if adc.signed else 0) | _ADC_SATURATES
        parameters = (adc.scale, adc.bias, adc.divisor, code(1) / code(adc.divisor), adc.levels)
    if rows == 0 or columns == 0:
        return
    if grid is None:
        grid = (-(-columns // _TILE_CODES_TILE), min(65535, -(-rows // _TILE_CODES_TILE)))
    kernels.function("reram_tile_codes.cu", name)(
        grid, (_TILE_CODES_THREADS,),
        (inputs, cells, codes, numpy.int32(tiles), numpy.int64(rows), numpy.int64(columns),
         numpy.int64(first_column), numpy.int64(cells.shape[1]), numpy.int32(depth),
         *(code(value) for value in parameters), numpy.int32(flags)))
