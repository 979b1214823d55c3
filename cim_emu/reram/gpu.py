"""Launch wrappers of the ReRAM kernels: the ADC and shift-and-add epilogue, with the read noise
from an array or drawn in place (``kernels/reram_epilogue.cu``), the int8 tensor-core partial sums with the ADC fused in
(``kernels/reram_tile_codes.cu``) and the read noise drawn and scaled in one pass
(``kernels/reram_read_noise.cu``).

Each takes a kernel provider (:class:`~cim_emu.gpu.provider.KernelProvider`: CuPy's on a GPU,
the CPU shim's in the tests), checks its operands, chooses the launch shape and passes numpy
scalars of the exact C parameter types.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Callable, Optional

import numpy

from ..gpu.provider import BLOCK_THREADS, BLOCKS_PER_MULTIPROCESSOR, KernelProvider, grid_blocks
from ..rng.normal_table import normal_table
from .adc import Adc

__all__ = ["AdcFlag", "NoisyReadout", "reram_adc_shift_add", "reram_noisy_shift_add", "noisy_shift_add_launcher",
           "reram_shift_add_codes",
           "TILE_CODES_DEPTH", "tile_codes_depth", "reram_tile_codes", "NoiseRuns", "reram_read_noise",
           "TILE_CODES_SOURCE"]


class AdcFlag(enum.IntFlag):
    """The ADC flags of ``kernels/reram_adc.cuh`` (``AdcFlag``; a test holds the two equal)."""

    SIGNED = 1
    """Codes of a signed ADC (currents subtracted before conversion)."""
    PRESCALED = 2
    """Sums arrive as ``scale * p + bias`` (the product carried the ADC's scale and bias)."""
    SATURATES = 4
    """Clamp codes to the ADC's range (a conversion can exceed it)."""


class NoisyReadout(enum.IntEnum):
    """What the entries of :func:`reram_noisy_shift_add` hold (``Readout`` of ``kernels/reram_epilogue.cu``)."""

    PER_POLARITY = 0
    """The ``P * S`` cells of a weight column (packed: unsigned digits), one conversion each."""
    SUBTRACT = 1
    """Both polarities' ``2 S`` sums (unpacked), one signed conversion a slice of their noisy difference."""
    DIFFERENCES = 2
    """``S`` sums of ``W+ - W-`` (packed: signed digits), one signed conversion a slice, noise ``n+ - n-``."""


C_FLOAT = {numpy.dtype(numpy.float32): "float", numpy.dtype(numpy.float64): "double"}
"""The C type of each float dtype of the kernels' template parameters."""
C_SUM = {**C_FLOAT, numpy.dtype(numpy.int32): "int"}


def _adc_arguments(adc: Any, prescaled: bool, saturates: bool) -> tuple[str, tuple]:
    """The C type of the ADC's float type and its five values and flags, as the kernels take them."""
    if adc.divisor < 2:
        raise ValueError(f"the ADC divisor must be at least 2; got {adc.divisor}")
    code = numpy.dtype(adc.dtype).type
    flags = ((AdcFlag.SIGNED if adc.signed else 0) | (AdcFlag.PRESCALED if prescaled else 0)
             | (AdcFlag.SATURATES if saturates else 0))
    return C_FLOAT[numpy.dtype(code)], (code(adc.scale), code(adc.bias), code(adc.divisor),
                                        code(1) / code(adc.divisor), code(adc.levels), numpy.int32(flags))


def reram_adc_shift_add(sums: Any, acc: Any, adc: Any, *, tiles: int, chunks: int, width: int, pack: int,
                        pack_bits: int, polarities: int, slices: int, bits_per_cell: int, dac_bits: int,
                        prescaled: bool, saturates: bool, noise: Optional[Any] = None,
                        kernels: KernelProvider, grid: Optional[tuple[int, int]] = None) -> None:
    """ADC and shift-and-add of one block of partial sums into ``acc`` (see
    ``kernels/reram_epilogue.cu``; the step of :meth:`cim_emu.reram.pipeline.Pipeline.accumulate`
    after its product).

    ``sums`` is ``(tiles, chunks * b, columns * width)`` float32/float64 (or int32 integers
    exact in the ADC's float type: :func:`reram_shift_add_codes`), ``acc`` an int64
    ``(b, columns)`` array whose rows may be strided (a column block of a wider array),
    ``noise`` ``None`` or float64 ``(tiles, chunks * b, columns, polarities * slices)``,
    ``adc`` a :class:`~cim_emu.reram.adc.Adc` (its ``scale``, ``bias``, ``divisor``,
    ``levels``, ``signed`` and ``dtype``). ``grid`` (column blocks, row blocks) overrides the
    launch shape (for tests: any grid gives the same bits).
    """
    if sums.ndim != 3 or sums.dtype not in C_SUM or not sums.flags.c_contiguous:
        raise ValueError(f"sums must be a C-contiguous 3-D float32/float64/int32 array; got {sums.dtype} {sums.shape}")
    batch, columns = acc.shape
    if acc.dtype != numpy.int64 or acc.strides[1] != 8 or sums.shape != (tiles, chunks * batch, columns * width):
        raise ValueError(f"acc must be int64 (b, columns) with unit column stride matching sums {sums.shape}; "
                         f"got {acc.dtype} {acc.shape}")
    cells = (tiles, chunks * batch, columns, polarities * slices)
    if noise is not None and (noise.dtype != numpy.float64 or noise.shape != cells or not noise.flags.c_contiguous):
        raise ValueError(f"noise must be a C-contiguous float64 array of shape {cells}; "
                         f"got {noise.dtype} {noise.shape}")
    code, adc_arguments = _adc_arguments(adc, prescaled, saturates)
    name = f"reram_adc_shift_add<{C_SUM[sums.dtype]}, {code}>"
    if grid is None:  # a block row per batch row (grid-stride past 65535), columns to fill the device
        rows = max(1, min(batch, 65535))
        full = kernels.multiprocessors * BLOCKS_PER_MULTIPROCESSOR
        grid = (max(1, min(-(-columns // BLOCK_THREADS), -(-full // rows))), rows)
    kernels.function("reram_epilogue.cu", name)(
        grid, (BLOCK_THREADS,),
        (sums, noise, acc, numpy.int64(acc.strides[0] // 8), numpy.int32(tiles), numpy.int32(chunks),
         numpy.int64(batch), numpy.int64(columns), numpy.int32(width), numpy.int32(pack), numpy.int32(pack_bits),
         numpy.int32(polarities), numpy.int32(slices), numpy.int32(bits_per_cell), numpy.int32(dac_bits),
         *adc_arguments))


_FIRST_TILE = 4
"""The position of ``first_tile`` among the arguments of the kernel ``reram_noisy_shift_add``."""


def reram_noisy_shift_add(sums: Any, acc: Any, adc: Any, runs: NoiseRuns, *, first_tile: int,
                          **layout: Any) -> None:
    """Read noise drawn in place, ADC and shift-and-add of the partial sums of tiles ``first_tile ..``,
    ADDED to ``acc`` (``reram_noisy_shift_add`` of ``kernels/reram_epilogue.cu``): the launch of
    :func:`noisy_shift_add_launcher` (whose keywords ``layout`` are) for ``first_tile``."""
    noisy_shift_add_launcher(sums, acc, adc, runs, **layout)(first_tile)


def noisy_shift_add_launcher(sums: Any, acc: Any, adc: Any, runs: NoiseRuns, *, chunks: int, width: int, pack: int,
                             pack_bits: int, polarities: int, slices: int, bits_per_cell: int, dac_bits: int,
                             readout: NoisyReadout, prescaled: bool, saturates: bool, kernels: KernelProvider,
                             grid: Optional[tuple[int, int]] = None) -> Callable[[int], None]:
    """The launches of :func:`reram_noisy_shift_add` on the same arrays: ``launch(first_tile)``
    for the sums of tiles ``first_tile ..`` now in ``sums``. Everything is checked and, on the
    CPU shim, converted for the kernel once (:meth:`~cim_emu.gpu.cpu_shim.ShimKernel.bind`);
    a launch then checks and passes ``first_tile`` alone (a host readout launches once per row
    tile, its sums refilled in the same buffer in between).

    ``sums`` is ``(tiles, chunks * b, columns * width)`` float32/float64 (C-contiguous), ``acc``
    int64 ``(b, columns)`` (rows may be strided), ``runs`` the noise of the whole block's
    conversions as :meth:`cim_emu.reram.read_noise.ReadNoise.runs` gives it (``b * T * C`` runs
    of ``columns * polarities * slices`` draws, in the stream's order ``(b, t, c)``; its layout,
    ``inner = T * C``, places per-element roots). ``readout`` says what the entries hold. On
    the host's native kernels launch it with one thread (``grid=(1, 1)``), which walks the rows
    in order; any other grid gives the same bits.
    """
    if sums.ndim != 3 or sums.dtype not in C_FLOAT or not sums.flags.c_contiguous:
        raise ValueError(f"sums must be a C-contiguous 3-D float32/float64 array; got {sums.dtype} {sums.shape}")
    batch, columns = acc.shape
    tiles, draws = sums.shape[0], polarities * slices
    if acc.dtype != numpy.int64 or acc.strides[1] != 8 or sums.shape[1:] != (chunks * batch, columns * width):
        raise ValueError(f"acc must be int64 (b, columns) with unit column stride matching sums {sums.shape}; "
                         f"got {acc.dtype} {acc.shape}")
    if runs.length != columns * draws or runs.inner < 1 or runs.runs != batch * runs.inner:
        raise ValueError(f"runs must be b * T * C = {batch} * T * {chunks} runs of {columns * draws} draws; got "
                         f"{runs.runs} runs of {runs.length}, inner {runs.inner}")
    roots = runs.reach() if runs.per_element else runs.runs
    if runs.roots.dtype != numpy.float64 or not runs.roots.flags.c_contiguous or runs.roots.size < roots:
        raise ValueError(f"roots must be a C-contiguous float64 array of {roots} values; "
                         f"got {runs.roots.dtype} {runs.roots.shape}")
    code, adc_arguments = _adc_arguments(adc, prescaled, saturates)
    name = f"reram_noisy_shift_add<{C_FLOAT[sums.dtype]}, {code}, {'true' if runs.per_element else 'false'}>"
    if grid is None:
        rows = max(1, min(batch, 65535))
        full = kernels.multiprocessors * BLOCKS_PER_MULTIPROCESSOR
        grid = (max(1, min(-(-columns // BLOCK_THREADS), -(-full // rows))), rows)
    block = BLOCK_THREADS if grid != (1, 1) else 1
    arguments = [sums, acc, numpy.int64(acc.strides[0] // 8), numpy.int32(tiles), numpy.int32(0),
                 numpy.int32(chunks), numpy.int64(batch), numpy.int64(columns), numpy.int32(width),
                 numpy.int32(pack), numpy.int32(pack_bits), numpy.int32(polarities), numpy.int32(slices),
                 numpy.int32(bits_per_cell), numpy.int32(dac_bits), numpy.int32(readout),
                 numpy.uint64(runs.seed), numpy.uint64(runs.stream), numpy.uint64(runs.first),
                 numpy.uint64(runs.stride), numpy.uint64(runs.inner), numpy.uint64(runs.outer_step),
                 numpy.uint64(runs.inner_step), runs.roots, numpy.float64(runs.post), kernels.resident(normal_table),
                 *adc_arguments]
    function = kernels.function("reram_epilogue.cu", name)
    bind = getattr(function, "bind", None)  # the CPU shim's kernels: arguments converted once
    bound = bind(grid, (block,), arguments) if bind is not None else None
    tile_count = runs.inner // chunks

    def launch(first_tile: int) -> None:
        if not 0 <= first_tile <= first_tile + tiles <= tile_count:
            raise ValueError(f"tiles {first_tile} .. {first_tile + tiles - 1} are not among the runs' {tile_count}")
        if bound is not None:
            bound({_FIRST_TILE: numpy.int32(first_tile)})
        else:
            arguments[_FIRST_TILE] = numpy.int32(first_tile)
            function(grid, (block,), tuple(arguments))
    return launch


def reram_shift_add_codes(codes: Any, acc: Any, *, chunks: int, polarities: int, slices: int, bits_per_cell: int,
                          dac_bits: int, code_bound: int, kernels: KernelProvider,
                          grid: Optional[tuple[int, int]] = None) -> None:
    """The shift-and-add of codes already converted (:func:`reram_tile_codes`), into int64:
    ``acc[i, n] = sum_c 2**(c dac_bits) sum_{p, s} sign_p 2**(s bits_per_cell) codes[c b + i, n P S + p S + s]``
    (``sign_p`` = +1, -1 for W+, W-; ``polarities = 1`` for a signed ADC's codes).

    The epilogue kernel of :func:`reram_adc_shift_add` on int32 ``codes`` (one tile), with the
    pass-through transfer ``floor((2 v + 0) / 2) = v``, exact for integers while ``2 |v|`` is
    (``|v| <= code_bound``: float below ``2**23``, else double), unclamped.
    """
    passthrough = Adc(levels=0, scale=2, bias=0, divisor=2, signed=False,
                      dtype=numpy.float32 if code_bound < 2**23 else numpy.float64)
    batch = acc.shape[0]
    reram_adc_shift_add(codes.reshape(1, chunks * batch, -1), acc, passthrough, tiles=1, chunks=chunks,
                        width=polarities * slices, pack=1, pack_bits=1, polarities=polarities, slices=slices,
                        bits_per_cell=bits_per_cell, dac_bits=dac_bits, prescaled=False, saturates=False,
                        kernels=kernels, grid=grid)


#: The tensor-core source (compute capability 8.0 or newer: :func:`cim_emu.gpu.provider.supports`).
TILE_CODES_SOURCE = "reram_tile_codes.cu"

#: The depth (bytes of a row of either operand) of kernels/reram_tile_codes.cu is a multiple of this.
TILE_CODES_DEPTH = 64


def tile_codes_depth(rows: int) -> int:
    """The depth of :func:`reram_tile_codes`'s operands for ``rows`` rows: ``rows`` rounded up
    to a multiple of :data:`TILE_CODES_DEPTH` (the operands are zero-padded to it)."""
    return -(-rows // TILE_CODES_DEPTH) * TILE_CODES_DEPTH


#: Rows and columns of the codes one block of kernels/reram_tile_codes.cu computes; its threads.
_TILE_CODES_TILE, _TILE_CODES_THREADS = 64, 128


def reram_tile_codes(inputs: Any, cells: Any, codes: Any, adc: Any, *, first_column: int = 0,
                     kernels: KernelProvider, grid: Optional[tuple[int, int]] = None) -> None:
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
        name = f"reram_tile_codes<{C_FLOAT[numpy.dtype(code)]}, true>"
        flags = (AdcFlag.SIGNED if adc.signed else 0) | AdcFlag.SATURATES
        parameters = (adc.scale, adc.bias, adc.divisor, code(1) / code(adc.divisor), adc.levels)
    if rows == 0 or columns == 0:
        return
    if grid is None:
        grid = (-(-columns // _TILE_CODES_TILE), min(65535, -(-rows // _TILE_CODES_TILE)))
    kernels.function(TILE_CODES_SOURCE, name)(
        grid, (_TILE_CODES_THREADS,),
        (inputs, cells, codes, numpy.int32(tiles), numpy.int64(rows), numpy.int64(columns),
         numpy.int64(first_column), numpy.int64(cells.shape[1]), numpy.int32(depth),
         *(code(value) for value in parameters), numpy.int32(flags)))


@dataclasses.dataclass(frozen=True)
class NoiseRuns:
    """The read noise of strided runs of conversions, as ``kernels/reram_read_noise.cu`` takes it:
    ``noise(r, i) = rint(root * z) * post`` for runs ``r < runs`` and ``i < length``, where ``z``
    is :func:`cim_emu.rng.normal` of element ``first + r * stride + i`` of ``(seed, stream)``;
    value ``(r, i)`` lives at ``o(r) + i`` of the arrays, ``o(r) = (r // inner) * outer_step + (r
    % inner) * inner_step``; ``root`` is ``roots[r]`` or, ``per_element``, ``roots[o(r) + i]``
    (``roots`` a C-contiguous float64 array, read flat)."""

    seed: int
    stream: int
    first: int
    stride: int
    length: int
    runs: int
    roots: Any
    per_element: bool
    inner: int
    outer_step: int
    inner_step: int
    post: float

    def reach(self) -> int:
        """The values an array laid out for these runs must hold."""
        if self.inner < 1:
            raise ValueError(f"inner must be at least 1; got {self.inner}")
        return ((self.runs - 1) // self.inner) * self.outer_step + (min(self.inner, self.runs) - 1) * self.inner_step \
            + self.length


def reram_read_noise(runs: NoiseRuns, out: Any, *, kernels: KernelProvider, grid: Optional[int] = None,
                     block: int = BLOCK_THREADS) -> None:
    """The read noise of ``runs`` into ``out`` (C-contiguous float64, laid out as ``runs`` says):
    ``out[o(r) + i] = noise(r, i)`` (``kernels/reram_read_noise.cu``). ``grid`` and ``block``
    shape the launch (default: a full device's grid; the host's native kernels take one thread,
    which walks the runs in order). The numpy twin is
    :meth:`cim_emu.reram.pipeline.Pipeline.read_noise` without kernels."""
    for name, array in (("roots", runs.roots), ("out", out)):
        if array.dtype != numpy.float64 or not array.flags.c_contiguous:
            raise ValueError(f"{name} must be a C-contiguous float64 array; got {array.dtype} {array.shape}")
    if runs.runs == 0 or runs.length == 0:
        return
    reach = runs.reach()
    if reach > out.size or (runs.roots.size < reach if runs.per_element else runs.roots.size < runs.runs):
        raise ValueError(f"out ({out.size} values) and roots ({runs.roots.size}) must hold {reach} values "
                         f"({'per element' if runs.per_element else f'roots: one per run, {runs.runs}'})")
    kernels.function("reram_read_noise.cu", f"reram_read_noise<{'true' if runs.per_element else 'false'}>")(
        (grid_blocks(kernels, runs.runs * ((runs.length + 6) >> 2), grid),), (block,),
        (numpy.uint64(runs.seed), numpy.uint64(runs.stream), numpy.uint64(runs.first), numpy.uint64(runs.stride),
         numpy.uint64(runs.length), numpy.uint64(runs.runs), numpy.uint64(runs.inner), numpy.uint64(runs.outer_step),
         numpy.uint64(runs.inner_step), runs.roots, numpy.float64(runs.post), kernels.resident(normal_table), out))
