"""Read noise drawn in place (``reram_noisy_shift_add`` of kernels/reram_epilogue.cu): the native
host path of a noisy read, held to the specification's int64 reference on every readout it
takes (per polarity, packed or prescaled; a signed ADC's ``W+ - W-`` operand, packed in signed
digits; both polarities of an operand built for the kernels), with one root per input row and
one per conversion; the kernel's GPU branch (one thread per accumulator, any grid) through the
CPU shim, against its host branch; and the launch wrapper's checks.

The reference's noise is drawn by numpy's array Philox (``CIM_EMU_NATIVE=0``): nothing of the
native code takes part in it.
"""

from __future__ import annotations

import dataclasses

import numpy
import pytest
from reram_reference import RecordingPipeline
from test_reram_host_path import random_crossbars, reference_read

from cim_emu.backend import NUMPY_BACKEND, Backend
from cim_emu.gpu import CpuKernels, cpu_shim
from cim_emu.gpu.host_native import chosen
from cim_emu.reram import AdcConfig, CrossbarArray, CrossbarGeometry, DeviceModel, InputEncoding, ReramConfig, host_path
from cim_emu.reram import crossbar as crossbar_module
from cim_emu.reram import gpu as reram_gpu
from cim_emu.reram.config import WeightMapping
from cim_emu.rng import native

NO_COMPILER = cpu_shim.skip_reason()
needs_compiler = pytest.mark.skipif(NO_COMPILER is not None, reason=str(NO_COMPILER))

STATE_DEPENDENT = DeviceModel.generic_reram(read_noise_proportional=0.03)
"""Read noise that grows with the conductance: one root per conversion (no shared row variances)."""

CONFIGS = {
    "prescaled-row-roots": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=6),
                                       devices=DeviceModel.generic_reram()),
    "prescaled-element-roots": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=6), devices=STATE_DEPENDENT),
    "wan2022-isaac-like": ReramConfig(CrossbarGeometry(128, 32), adc=AdcConfig(bits=8),
                                      devices=DeviceModel.reram_wan2022()),
    "packed-two-rows": ReramConfig(CrossbarGeometry(2, 8), adc=AdcConfig(bits=4), devices=STATE_DEPENDENT),
    "full-scale-not-a-power-of-two": ReramConfig(CrossbarGeometry(32, 16), adc=AdcConfig(bits=5, full_scale=100),
                                                 devices=DeviceModel.generic_reram()),
    "wide-inputs": ReramConfig(CrossbarGeometry(16, 16), inputs=InputEncoding(20, 1), adc=AdcConfig(bits=6),
                               devices=DeviceModel.generic_reram()),
    "dac2-signed-inputs": ReramConfig(CrossbarGeometry(24, 16), WeightMapping(8, 3, "offset"),
                                      InputEncoding(8, 2, signed=True), AdcConfig(bits=7),
                                      devices=DeviceModel.generic_reram(read_noise=0.05)),
    "differences": ReramConfig(CrossbarGeometry(32, 16), WeightMapping(differential_readout="subtract"),
                               adc=AdcConfig(bits=7), devices=DeviceModel.generic_reram(read_noise=0.05)),
    "differences-packed": ReramConfig(CrossbarGeometry(2, 8), WeightMapping(8, 1, differential_readout="subtract"),
                                      adc=AdcConfig(bits=3), devices=STATE_DEPENDENT),
    "differences-clipping": ReramConfig(CrossbarGeometry(16, 16), WeightMapping(differential_readout="subtract"),
                                        adc=AdcConfig(bits=4, full_scale=20), devices=STATE_DEPENDENT),
}


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setattr(crossbar_module, "Pipeline", RecordingPipeline)


def noisy_crossbars(name, rng, *, for_kernels=False):
    config = CONFIGS[name]
    crossbars = random_crossbars(config, rng, 3 * config.crossbar.rows + 3, 11)
    if for_kernels:  # the operand of a backend with kernels: both polarities' cells
        crossbars = CrossbarArray(crossbars.weights, config, seed=crossbars.seed,
                                  backend=Backend("numpy", numpy, object()))
    return crossbars


def random_inputs(config, rng, K):
    x = rng.integers(config.inputs.min_input, config.inputs.max_input + 1, (9, K))
    x[0] = config.inputs.max_input  # the largest partial sums
    return x


def largest_code_total(pipeline, tiles=1):
    """The bound on a code total over a launch's tiles and chunks by which the kernel's host walk
    of unpacked per-polarity sums chooses to total in float32 (below ``2**24``), float64 (below
    ``2**53``) or int64, column by column: codes up to the ADC's levels, times the place values."""
    return pipeline.adc.levels * sum(2 ** (c * pipeline.dac.bits) for c in range(pipeline.dac.chunks)) * tiles


def test_the_configurations_reach_every_readout_and_root_layout(recording):
    rng = numpy.random.default_rng(1)
    pipelines = [noisy_crossbars(name, rng).pipeline for name in CONFIGS]
    assert all(p.noise is not None for p in pipelines)
    reached = {
        "per-polarity packed": any(not p.adc.signed and p.packing.factor > 1 for p in pipelines),
        "per-polarity prescaled": any(p.prescaled for p in pipelines),
        "per-polarity unpacked, not prescaled": any(not p.adc.signed and p.packing.factor == 1 and not p.prescaled
                                                    for p in pipelines),
        "differences packed": any(p.differences and p.packing.factor > 1 for p in pipelines),
        "differences unpacked": any(p.differences and p.packing.factor == 1 for p in pipelines),
        "row roots": any(p.row_squares is not None for p in pipelines),
        "element roots": any(p.row_squares is None for p in pipelines),
        "float64 codes": any(p.adc.dtype == numpy.float64 for p in pipelines),
        "per-polarity unpacked, divisor not a power of two": any(
            not p.adc.signed and p.packing.factor == 1 and p.adc.divisor & (p.adc.divisor - 1) for p in pipelines),
        "per-polarity unpacked, code totals past float32's integers": any(
            not p.adc.signed and p.packing.factor == 1 and largest_code_total(p) >= 2**24 for p in pipelines),
    }
    assert all(reached.values()), reached


@needs_compiler
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_noise_drawn_in_place_gives_the_reference(recording, monkeypatch, name):
    rng = numpy.random.default_rng()
    crossbars = noisy_crossbars(name, rng)
    x = random_inputs(crossbars.config, rng, crossbars.shape[0])
    with chosen("0"):
        expected = reference_read(crossbars, x, 4, 7)
        numpy.testing.assert_array_equal(crossbars.matmul(x, read_index=4, row_offset=7, method="pipeline"), expected)
    calls = []
    monkeypatch.setattr(host_path, "noisy_shift_add_launcher",
                        lambda *a, **k: calls.append(1) or reram_gpu.noisy_shift_add_launcher(*a, **k))
    with chosen("1"):
        got = crossbars.matmul(x, read_index=4, row_offset=7, method="pipeline")
        numpy.testing.assert_array_equal(got, expected)
        assert calls, "the native path did not run"
        # many small jobs over two threads: the same bits
        monkeypatch.setenv("CIM_EMU_THREADS", "2")
        got = crossbars.matmul(x, read_index=4, row_offset=7, batch_block=2, method="pipeline")
        numpy.testing.assert_array_equal(got, expected)


@needs_compiler
@pytest.mark.parametrize("name", ["differences", "differences-clipping", "prescaled-element-roots"])
def test_an_operand_of_both_polarities_draws_in_place_too(recording, name):
    """A signed ADC's operand built for the kernels (both polarities' sums: the ``subtract``
    readout of the kernel), and a per-polarity one, read on the host with its noise drawn in place."""
    rng = numpy.random.default_rng()
    crossbars = noisy_crossbars(name, rng, for_kernels=True)
    x = random_inputs(crossbars.config, rng, crossbars.shape[0])
    with chosen("0"):
        expected = reference_read(crossbars, x, 2, 0)
    with chosen("1"):
        got = crossbars.pipeline.read(x, 2, 0, None, NUMPY_BACKEND)
    numpy.testing.assert_array_equal(got, expected)


def kernel_inputs(pipeline, x, n0, n1, first_row, read_index):
    """The input tiles, every tile's partial sums and the noise runs of one column block."""
    tiles = pipeline.input_tiles(x, numpy)
    width = pipeline.width
    operand = pipeline.operand[:, :, n0 * width:n1 * width]  # an array, or compact tiles
    sums = numpy.stack([tiles[t] @ operand[t] for t in range(tiles.shape[0])])
    runs = pipeline.noise.runs(tiles, n0, n1, first_row, read_index, NUMPY_BACKEND)
    return sums, runs


def launch(pipeline, sums, runs, acc, kernels, grid, first_tile=0, *, adc=None, saturates=None):
    """One launch of the kernel for ``pipeline``'s block, with its ADC and saturation unless given."""
    readout = pipeline.readout
    kind = (reram_gpu.NoisyReadout.SUBTRACT if readout.polarities == 2 else
            reram_gpu.NoisyReadout.DIFFERENCES if pipeline.adc.signed else reram_gpu.NoisyReadout.PER_POLARITY)
    mapping = pipeline.config.mapping
    reram_gpu.reram_noisy_shift_add(
        sums, acc, pipeline.adc if adc is None else adc, runs, first_tile=first_tile, chunks=pipeline.dac.chunks,
        width=pipeline.width, pack=pipeline.packing.factor, pack_bits=pipeline.packing.bits,
        polarities=mapping.polarities, slices=mapping.slices, bits_per_cell=mapping.bits_per_cell,
        dac_bits=pipeline.dac.bits, readout=kind, prescaled=pipeline.prescaled,
        saturates=pipeline.saturates if saturates is None else saturates, kernels=kernels, grid=grid)


@needs_compiler
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_kernels_gpu_branch_gives_the_host_branchs_bits(recording, name):
    """One thread per accumulator, drawing its column's values by whole counter blocks (the GPU's
    way), on grids that stride over rows and columns, against the host's walk of the same block,
    tile by tile into a strided accumulator."""
    rng = numpy.random.default_rng()
    crossbars = noisy_crossbars(name, rng, for_kernels=name.startswith("differences-"))
    pipeline = crossbars.pipeline
    x = random_inputs(crossbars.config, rng, crossbars.shape[0])
    n0, n1 = 2, pipeline.columns - 1
    sums, runs = kernel_inputs(pipeline, x, n0, n1, 5, 3)
    with chosen("1"):
        host_kernels = native.host_kernels()
    host = numpy.zeros((x.shape[0], n1 - n0 + 3), dtype=numpy.int64)[:, 1:-2]  # strided rows
    for t in range(sums.shape[0]):
        launch(pipeline, sums[t:t + 1], runs, host, host_kernels, (1, 1), first_tile=t)
    assert host.any()
    kernels = CpuKernels()
    for grid in [None, (1, 2), (2, 3), (5, 1)]:
        gpu = numpy.zeros((x.shape[0], n1 - n0), dtype=numpy.int64)
        launch(pipeline, sums, runs, gpu, kernels, grid)
        numpy.testing.assert_array_equal(gpu, host)


@needs_compiler
def test_the_wrapper_refuses_what_the_kernel_cannot_read(recording):
    rng = numpy.random.default_rng(3)
    pipeline = noisy_crossbars("prescaled-row-roots", rng).pipeline
    x = random_inputs(pipeline.config, rng, 3 * 32 + 3)
    sums, runs = kernel_inputs(pipeline, x, 0, pipeline.columns, 0, 0)
    kernels = CpuKernels()
    acc = numpy.zeros((x.shape[0], pipeline.columns), dtype=numpy.int64)
    launch(pipeline, sums, runs, acc, kernels, None)
    with pytest.raises(ValueError, match="sums must be"):
        launch(pipeline, sums.astype(numpy.int32), runs, acc, kernels, None)
    with pytest.raises(ValueError, match="acc must be"):
        launch(pipeline, sums, runs, acc[:, 1:], kernels, None)
    with pytest.raises(ValueError, match="not among the runs"):
        launch(pipeline, sums, runs, acc, kernels, None, first_tile=1)  # tiles 1 .. 4 of 4
    with pytest.raises(ValueError, match="runs must be"):
        launch(pipeline, sums, type(runs)(**{**runs.__dict__, "length": runs.length + 1}), acc, kernels, None)
    with pytest.raises(ValueError, match="roots must be"):
        launch(pipeline, sums, type(runs)(**{**runs.__dict__, "roots": runs.roots[:-1].copy()}), acc, kernels, None)


@needs_compiler
@pytest.mark.parametrize("saturates", [True, False], ids=["saturating", "not-saturating"])
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("divisor", ["power-of-two", "other"])
def test_every_total_and_quotient_of_the_host_walk_gives_the_gpu_branchs_bits(recording, saturates, dtype, divisor):
    """The host's walk of unpacked per-polarity sums totals the codes in float32, float64 or, past
    both, column by column in int64 (largest_code_total: a saturating ADC's codes are at most its
    levels, another's below ``2**24`` or ``2**53``), and takes the quotient by the reciprocal alone
    where the divisor is a power of two: every way, with all tiles in one launch or tile by tile,
    the bits of the GPU branch (one thread per accumulator)."""
    rng = numpy.random.default_rng()
    pipeline = noisy_crossbars("prescaled-row-roots", rng).pipeline
    # where the ADC does not saturate, a divisor of 2 or 3 and a third of the sums near 2**24: codes
    # whose totals pass 2**24, and quotients that floor(u * float32(1 / 3)) alone gets wrong
    k = pipeline.adc.divisor.bit_length() if saturates else 1
    divisor = 2**k if divisor == "power-of-two" else 3 * 2 ** (k - 1)
    adc = dataclasses.replace(pipeline.adc, dtype=dtype, divisor=divisor)
    x = random_inputs(pipeline.config, rng, 3 * pipeline.config.crossbar.rows + 3)
    n0, n1 = 1, pipeline.columns
    sums, runs = kernel_inputs(pipeline, x, n0, n1, 2, 5)
    if not saturates:
        sums[..., ::3] = rng.integers(3 * 2**22, 2**24 - 2**16, sums[..., ::3].shape)
    assert not runs.per_element
    runs.roots.reshape(-1)[::5] = 0  # as for inputs all zero: no noise, whatever the draws (the host draws none)
    with chosen("1"):
        host_kernels = native.host_kernels()
    host_at_once = numpy.zeros((x.shape[0], n1 - n0), dtype=numpy.int64)
    launch(pipeline, sums, runs, host_at_once, host_kernels, (1, 1), adc=adc, saturates=saturates)
    host_by_tile = numpy.zeros_like(host_at_once)
    for t in range(sums.shape[0]):
        launch(pipeline, sums[t:t + 1], runs, host_by_tile, host_kernels, (1, 1), first_tile=t, adc=adc,
               saturates=saturates)
    gpu = numpy.zeros_like(host_at_once)
    launch(pipeline, sums, runs, gpu, CpuKernels(), None, adc=adc, saturates=saturates)
    assert gpu.any()
    numpy.testing.assert_array_equal(host_at_once, gpu)
    numpy.testing.assert_array_equal(host_by_tile, gpu)
