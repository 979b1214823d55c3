"""The host's native draws (cim_emu.rng.native) against numpy's array Philox, bit for bit, and the
fast paths built on them: the strided runs of the read noise and the blocked device programming.

Both paths run here whatever the machine: ``CIM_EMU_NATIVE=0`` forces numpy, ``1`` the native
draws (skipped where no C++ compiler is found), and the golden digests are checked under each.
"""

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cim_emu import rng
from cim_emu.backend import NUMPY_BACKEND
from cim_emu.gpu import ShimUnavailableError, cpu_shim
from cim_emu.parallel import in_shared_pool, thread_pool
from cim_emu.reram import (
    AdcConfig,
    CrossbarArray,
    DeviceModel,
    InputEncoding,
    ReramConfig,
    WeightMapping,
)
from cim_emu.reram import devices as devices_module
from cim_emu.rng import Stream, native
from cim_emu.rng import gpu as rng_gpu

import test_golden_digests as golden
from fake_cupy import stand_in_backend

NO_COMPILER = cpu_shim.skip_reason()
needs_compiler = pytest.mark.skipif(NO_COMPILER is not None, reason=str(NO_COMPILER))

SEEDS = st.integers(0, 2**64 - 1)
STARTS = st.one_of(st.integers(0, 40), st.integers(2**64 - 2000, 2**64 - 1), st.integers(0, 2**64 - 1))
PROBABILITIES = st.sampled_from([0.0, 2**-40, 0.01, 0.5, 0.999, 1.0])


def with_draws(choice, draw):
    """``draw()`` with ``CIM_EMU_NATIVE=choice``; the native draws cut into parts of 64 draws at
    least, over 3 threads, so that small cases are split too."""
    with mock.patch.dict(os.environ, {native.NATIVE_ENV: choice}), \
            mock.patch.object(native, "SPLIT_DRAWS", 64), mock.patch.object(native, "default_threads", lambda: 3):
        return draw()


def assert_same_draws(draw):
    """The native draws equal numpy's: values, dtype and shape."""
    expected = with_draws("0", draw)
    got = with_draws("1", draw)
    assert type(got) is numpy.ndarray and got.dtype == expected.dtype and got.shape == expected.shape
    numpy.testing.assert_array_equal(got, expected)
    return expected


# -- native draws equal numpy's -------------------------------------------------------------

@needs_compiler
@given(seed=SEEDS, stream=SEEDS, start=STARTS, count=st.integers(0, 700), p=PROBABILITIES)
def test_range_draws_are_numpys(seed, stream, start, count, p):
    count = min(count, 2**64 - start)
    assert_same_draws(lambda: rng.uniform_uint32(seed, stream, start, count))
    assert_same_draws(lambda: rng.bernoulli(seed, stream, start, count, p))
    assert_same_draws(lambda: rng.normal(seed, stream, start, count))


@needs_compiler
@given(seed=SEEDS, stream=SEEDS, index=st.lists(st.integers(0, 2**64 - 1), max_size=300),
       shape=st.sampled_from([(-1,), (-1, 1), (1, -1, 1)]), p=PROBABILITIES)
def test_draws_at_indices_are_numpys(seed, stream, index, shape, p):
    index = numpy.array(index, dtype=numpy.uint64).reshape(shape)
    assert_same_draws(lambda: rng.random_uint32(seed, stream, index))
    assert_same_draws(lambda: rng.bernoulli_at(seed, stream, index, p))
    assert_same_draws(lambda: rng.normal_at(seed, stream, index))


@needs_compiler
@pytest.mark.parametrize("index", [5, numpy.uint64(2**64 - 1), numpy.array(7, dtype=numpy.int64)])
def test_a_scalar_index_draws_a_scalar(index):
    assert assert_same_draws(lambda: rng.random_uint32(1, 2, index)).shape == ()
    assert assert_same_draws(lambda: rng.normal_at(1, 2, index)).shape == ()
    assert assert_same_draws(lambda: rng.bernoulli_at(1, 2, index, 0.5)).shape == ()


@st.composite
def runs(draw):
    """``(first, stride, length, runs)`` inside ``[0, 2**64)``: aligned, ragged, overlapping, at the end."""
    length, n = draw(st.integers(0, 70)), draw(st.integers(0, 12))
    stride = draw(st.one_of(st.integers(0, 90), st.integers(0, 30).map(lambda k: 4 * k), st.integers(0, 2**50)))
    span = (n - 1) * stride + length if n and length else 0
    first = draw(st.one_of(st.integers(0, 40), st.integers(max(0, 2**64 - span - 50), 2**64 - span)))
    return first, stride, length, n


@needs_compiler
@given(seed=SEEDS, stream=SEEDS, case=runs())
def test_runs_are_numpys_and_the_draws_at_their_indices(seed, stream, case):
    first, stride, length, n = case
    uniform = assert_same_draws(lambda: rng.uniform_runs(seed, stream, first, stride, length, n))
    normal = assert_same_draws(lambda: rng.normal_runs(seed, stream, first, stride, length, n))
    assert normal.shape == (n, length)
    if not (n and length):
        return
    index = (numpy.uint64(first) + numpy.arange(n, dtype=numpy.uint64)[:, None] * numpy.uint64(stride)
             + numpy.arange(length, dtype=numpy.uint64))
    numpy.testing.assert_array_equal(uniform, with_draws("0", lambda: rng.random_uint32(seed, stream, index)))
    numpy.testing.assert_array_equal(normal, with_draws("0", lambda: rng.normal_at(seed, stream, index)))


def test_runs_without_a_compiler_are_the_draws_at_their_indices():
    """The numpy path of the runs (blocks per run when the stride keeps the phase; indices else)."""
    for first, stride, length, n in [(0, 8, 5, 3), (3, 12, 9, 4), (1, 7, 6, 5), (2**64 - 11, 3, 5, 3), (5, 0, 4, 2)]:
        index = first + numpy.arange(n, dtype=numpy.uint64)[:, None] * numpy.uint64(stride) + numpy.arange(
            length, dtype=numpy.uint64)
        got = with_draws("0", functools.partial(rng.normal_runs, 9, 8, first, stride, length, n))
        numpy.testing.assert_array_equal(got, with_draws("0", functools.partial(rng.normal_at, 9, 8, index)))


@pytest.mark.parametrize(("args", "error"), [
    ((-1, 0, 1, 1), ValueError), ((0, 0, 1, 1.0), TypeError), ((True, 0, 1, 1), TypeError),
    ((2**64 - 4, 1, 4, 2), ValueError), ((0, 2**63, 1, 3), ValueError), ((2**64 + 1, 1, 0, 0), ValueError)])
def test_runs_are_validated(args, error):
    with pytest.raises(error):
        rng.normal_runs(0, 0, *args)
    assert rng.normal_runs(0, 0, 2**64 - 4, 2**70, 4, 1).shape == (1, 4)  # one run: its stride is never used


@needs_compiler
@pytest.mark.parametrize("grid", [1, 2, 5])
@pytest.mark.parametrize("block", [1, 3, 32])
@pytest.mark.parametrize(("first", "stride", "length", "n"), [(0, 8, 8, 9), (3, 5, 7, 6), (1, 40, 1, 13),
                                                              (2**64 - 30, 2, 9, 10), (6, 0, 11, 3)])
def test_runs_kernel_walks_any_grid_and_writes_only_its_runs(grid, block, first, stride, length, n):
    """Every grid-stride step of philox_runs (the GPU's launches), against numpy; a guard band stays poisoned."""
    kernels = cpu_shim.CpuKernels(multiprocessors=1)
    out = numpy.full(n * length + 8, 0xA5A5A5A5, dtype=numpy.uint32)
    rng_gpu.draw_runs("uniform", 5, 6, first, stride, length, n, kernels=kernels, grid=grid, block=block,
                      out=out[:n * length].reshape(n, length))
    expected = with_draws("0", lambda: rng.uniform_runs(5, 6, first, stride, length, n))
    numpy.testing.assert_array_equal(out[:n * length].reshape(n, length), expected)
    assert (out[n * length:] == 0xA5A5A5A5).all()


@needs_compiler
def test_large_draws_split_over_the_threads_and_not_inside_them():
    calls = []
    launch = rng_gpu.draw_range

    def counted(*args, **kwargs):
        calls.append(kwargs["out"].size)
        return launch(*args, **kwargs)

    with mock.patch.object(rng_gpu, "draw_range", counted):
        expected = with_draws("0", lambda: rng.normal(1, 2, 3, 1000))
        got = with_draws("1", lambda: rng.normal(1, 2, 3, 1000))
        assert len(calls) == 3 and sum(calls) == 1000
        calls.clear()
        inside = with_draws("1", lambda: thread_pool(2).submit(rng.normal, 1, 2, 3, 1000).result())
        assert calls == [1000]
    numpy.testing.assert_array_equal(got, expected)
    numpy.testing.assert_array_equal(inside, expected)


def test_the_shared_threads_are_recognised():
    """The native draws stay on a shared host thread: they must know one when they run on it."""
    assert not in_shared_pool()
    assert thread_pool(2).submit(in_shared_pool).result()
    with ThreadPoolExecutor(1) as other:
        assert not other.submit(in_shared_pool).result()


# -- choosing the path --------------------------------------------------------------------------

@pytest.fixture
def fresh_build(monkeypatch):
    """The native build forgotten, to be made again in this test (restored afterwards)."""
    monkeypatch.setattr(native.BUILD, "_result", None)


def test_without_a_compiler_numpy_draws_silently_unless_native_is_required(fresh_build, monkeypatch, recwarn):
    monkeypatch.setattr(cpu_shim, "load", mock.Mock(side_effect=ShimUnavailableError("no compiler here")))
    expected = with_draws("0", lambda: rng.normal(4, 5, 6, 100))
    numpy.testing.assert_array_equal(with_draws("auto", lambda: rng.normal(4, 5, 6, 100)), expected)
    assert native.status() == "numpy (no compiler here)" and not recwarn.list
    with pytest.raises(ShimUnavailableError, match="CIM_EMU_NATIVE=1"):
        with_draws("1", lambda: rng.normal(4, 5, 6, 100))


@needs_compiler
def test_a_failing_build_warns_once_and_numpy_draws(fresh_build, monkeypatch):
    monkeypatch.setattr(cpu_shim, "load", mock.Mock(side_effect=RuntimeError("compiler exploded")))
    expected = with_draws("0", lambda: rng.normal(4, 5, 6, 100))
    with pytest.warns(RuntimeWarning, match="compiler exploded"):
        numpy.testing.assert_array_equal(with_draws("auto", lambda: rng.normal(4, 5, 6, 100)), expected)
    numpy.testing.assert_array_equal(with_draws("auto", lambda: rng.normal(4, 5, 6, 100)), expected)
    assert cpu_shim.load.call_count == 1


@needs_compiler
def test_the_library_is_built_once(fresh_build, monkeypatch):
    with_draws("1", lambda: rng.normal(1, 1, 0, 10))  # built, or found in the disk cache
    run = cpu_shim.subprocess.run

    def no_compiling(command, **kwargs):
        assert "-shared" not in command, "compiled again"
        return run(command, **kwargs)

    monkeypatch.setattr(cpu_shim.subprocess, "run", no_compiling)
    monkeypatch.setattr(native.BUILD, "_result", None)
    cpu_shim.build.cache_clear()  # as in a new process: only the disk cache is left
    with_draws("1", lambda: rng.normal(1, 1, 0, 10))


@needs_compiler
def test_a_build_for_this_cpu_never_loads_on_another(fresh_build, monkeypatch):
    """The optimised build (-march=native on x86-64) is cached under the CPU's identity: another
    CPU with the same compiler and source compiles its own; the portable build does not care."""
    with_draws("1", lambda: rng.normal(1, 1, 0, 10))
    source = cpu_shim.kernel_source("philox_draws.cu")
    here = cpu_shim._build(source, "philox_draws", cpu_shim.OPTIMIZED_FLAGS)
    portable = cpu_shim._build(source, "philox_draws", cpu_shim.COMPILE_FLAGS)
    monkeypatch.setattr(cpu_shim, "cpu_identity", lambda: "model name: another CPU")
    native_build = any(flag.startswith("-march=native") for flag in cpu_shim.OPTIMIZED_FLAGS)
    run = cpu_shim.subprocess.run

    def no_compiling(command, **kwargs):
        assert "-shared" not in command, "compiled again"
        return run(command, **kwargs)

    monkeypatch.setattr(cpu_shim.subprocess, "run", no_compiling)
    assert cpu_shim._build(source, "philox_draws", cpu_shim.COMPILE_FLAGS) == portable
    if native_build:
        with pytest.raises(AssertionError, match="compiled again"):
            cpu_shim._build(source, "philox_draws", cpu_shim.OPTIMIZED_FLAGS)
    else:
        assert cpu_shim._build(source, "philox_draws", cpu_shim.OPTIMIZED_FLAGS) == here


def test_an_unknown_choice_is_refused():
    with pytest.raises(ValueError, match="CIM_EMU_NATIVE must be one of auto, 0, 1"):
        with_draws("yes", lambda: rng.normal(1, 1, 0, 10))


def test_info_says_which_draws(invoke, monkeypatch):
    monkeypatch.setenv(native.NATIVE_ENV, "0")
    assert "host draws       numpy (CIM_EMU_NATIVE=0)" in invoke("info").stdout
    monkeypatch.setenv(native.NATIVE_ENV, "auto")
    expected = "numpy" if NO_COMPILER else "native"
    assert invoke("info").stdout.split("host draws")[1].split()[0] == expected


# -- the golden digests, on either path -------------------------------------------------------

@pytest.mark.parametrize("choice", ["0", pytest.param("1", marks=needs_compiler)])
@pytest.mark.parametrize("name", list(golden.CASES))
def test_golden_digests_on_either_path(name, choice, monkeypatch):
    monkeypatch.setenv(native.NATIVE_ENV, choice)
    assert golden.digest(golden.CASES[name]()) == golden._golden()[name]


# -- read noise as runs, and programming in blocks: the bits of the definitions ----------------

def reference_read_noise(pipeline, tiles, n0, n1, first_row, read_index):
    """Stage 3 as written in docs/spec/reram.md: float64, one draw at each conversion's index."""
    mapping = pipeline.config.mapping
    T, Cb, _ = tiles.shape
    C, PS = pipeline.dac.chunks, mapping.polarities * mapping.slices
    b, u64 = Cb // C, numpy.uint64
    squares = numpy.asarray(pipeline.sigma_squared, dtype=numpy.float64)[:, :, n0 * PS:n1 * PS]
    variance = numpy.asarray(tiles, dtype=numpy.float64) ** 2 @ squares
    rows = ((first_row + numpy.arange(b, dtype=u64))[None, None, :] * u64(T) + numpy.arange(T, dtype=u64)[:, None, None]
            ) * u64(C) + numpy.arange(C, dtype=u64)[None, :, None]
    index = rows.reshape(T, Cb, 1) * u64(pipeline.columns * PS) + numpy.arange(n0 * PS, n1 * PS, dtype=u64)
    noise = numpy.rint(numpy.sqrt(variance) * with_draws("0", lambda: rng.normal_at(
        pipeline.seed, Stream.READ | read_index, index)))
    if pipeline.prescaled:
        noise *= pipeline.adc.scale
    return noise.reshape(T, Cb, n1 - n0, PS)


NOISY = {
    "wan2022": ReramConfig(adc=AdcConfig(bits=8), devices=DeviceModel.reram_wan2022()),
    "proportional": ReramConfig(adc=AdcConfig(bits=6), devices=DeviceModel.generic_reram(read_noise_proportional=0.03)),
    "subtract": ReramConfig(mapping=WeightMapping(differential_readout="subtract"),
                            devices=DeviceModel.reram_wan2022(read_noise_proportional=0.01)),
    "reference_columns": ReramConfig(mapping=WeightMapping(6, 2, "offset", offset_correction="reference_column"),
                                     devices=DeviceModel.generic_reram(read_noise_proportional=0.02)),
    "float64_variance": ReramConfig(inputs=InputEncoding(8, 4), devices=DeviceModel.generic_reram(read_noise=1.0)),
}


@pytest.mark.parametrize("choice", ["0", pytest.param("1", marks=needs_compiler)])
@pytest.mark.parametrize("name", list(NOISY))
def test_read_noise_is_the_definition(name, choice, np_rng):
    config = NOISY[name]
    weights = np_rng.integers(-config.mapping.max_weight, config.mapping.max_weight + 1, (300, 70))
    x = np_rng.integers(config.inputs.min_input, config.inputs.max_input + 1, (33, 300))
    for backend in (NUMPY_BACKEND, stand_in_backend()):
        pipeline = CrossbarArray(weights, config, seed=7, backend=backend).pipeline
        tiles = pipeline.input_tiles(backend.xp.asarray(x), backend.xp)
        for n0, n1, first_row, read_index in [(0, pipeline.columns, 0, 0), (3, 61, 1000, 2**55 + 1), (5, 6, 7, 8)]:
            expected = reference_read_noise(pipeline, backend.to_host(tiles), n0, n1, first_row, read_index)
            got = with_draws(choice, functools.partial(pipeline.read_noise, tiles, n0, n1, first_row, read_index,
                                                       backend))
            assert got.dtype == numpy.float64
            numpy.testing.assert_array_equal(backend.to_host(got), expected)
    assert (pipeline.sigma_squared.dtype == numpy.float64) == (name == "float64_variance")
    state_independent = name in ("wan2022", "float64_variance")  # read_noise alone: the same for every column
    assert (pipeline.row_squares is not None) == state_independent
    assert (pipeline.sigma_squared.strides[2] == 0) == state_independent  # a broadcast: no memory of its own
    if state_independent:  # nor does it keep the cells' variances alive (on the host, where views are free)
        owner = CrossbarArray(weights, config, seed=7).pipeline.row_squares
        while owner.base is not None:
            owner = owner.base
        assert owner.size == pipeline.row_squares.size < pipeline.sigma_squared.size


@pytest.mark.parametrize("model", [
    DeviceModel.reram_wan2022(), DeviceModel.pcm_joshi2020(), DeviceModel.generic_reram(
        programming_noise=0.02, drift_nu_mean=0.05, drift_nu_std=0.02, stuck_at_low=0.05, stuck_at_high=0.1)])
@pytest.mark.parametrize("t_seconds", [None, 86400.0])
def test_programming_in_blocks_gives_the_bits_of_one_pass(model, t_seconds, np_rng):
    """Blocks of 192 cells, over threads, against one block of every cell (on this thread)."""
    levels = np_rng.integers(0, 4, (2, 3, 37, 29)).astype(numpy.uint8)
    with mock.patch.object(devices_module, "PROGRAM_BLOCK", levels.size):
        one_pass = model.program(levels, 3, 11, t_seconds)
        fixed, sigma = devices_module.to_fixed(one_pass, 3), devices_module.read_sigma_fixed(model, one_pass, 3)
    with mock.patch.object(devices_module, "PROGRAM_BLOCK", 192), mock.patch.object(
            devices_module, "default_threads", lambda: 3):
        blocked = model.program(levels, 3, 11, t_seconds)
        numpy.testing.assert_array_equal(blocked, one_pass)
        numpy.testing.assert_array_equal(devices_module.to_fixed(blocked, 3), fixed)
        if sigma is not None:
            numpy.testing.assert_array_equal(devices_module.read_sigma_fixed(model, blocked, 3), sigma)
    assert blocked.shape == levels.shape and blocked.dtype == numpy.float64
