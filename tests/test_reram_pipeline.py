"""The integer crossbar pipeline: exactness, error bounds, invariance to batching, errors."""

import dataclasses

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cim_emu.backend import NUMPY_BACKEND
from cim_emu.reram import AdcConfig, CrossbarArray, CrossbarGeometry, DeviceModel, InputEncoding, ReramConfig
from cim_emu.reram.adc import Adc
from cim_emu.reram.config import WeightMapping
from cim_emu.reram.dac import Dac

from fake_cupy import stand_in_backend

MAPPINGS = [
    WeightMapping(8, 2, "differential", "per_polarity"),
    WeightMapping(8, 3, "differential", "subtract"),
    WeightMapping(8, 2, "offset", offset_correction="digital"),
    WeightMapping(6, 4, "offset", offset_correction="reference_column"),
    WeightMapping(5, 1, "differential", "per_polarity"),
]


def random_operands(np_rng, config, batch, K, N):
    weights = np_rng.integers(-config.mapping.max_weight, config.mapping.max_weight + 1, (K, N))
    x = np_rng.integers(config.inputs.min_input, config.inputs.max_input + 1, (batch, K))
    return x, weights


configs = st.builds(
    lambda rows, cols, mapping, ib, dac, signed: ReramConfig(
        CrossbarGeometry(rows, cols), mapping, InputEncoding(ib, min(dac, ib), signed)),
    st.sampled_from([3, 16, 128]), st.sampled_from([4, 128]), st.sampled_from(MAPPINGS),
    st.integers(1, 9), st.integers(1, 4), st.booleans(),
)


@given(config=configs, batch=st.sampled_from([1, 2, 33]), K=st.integers(1, 300), N=st.integers(1, 40),
       seed=st.integers(0, 2**32))
def test_lossless_noiseless_equals_exact_integer_product(config, batch, K, N, seed):
    np_rng = numpy.random.default_rng(seed)
    x, weights = random_operands(np_rng, config, batch, K, N)
    crossbars = CrossbarArray(weights, config)
    assert config.exact
    expected = x @ weights
    for method in ("auto", "pipeline"):
        y = crossbars.matmul(x, method=method)
        assert y.dtype == numpy.int64
        numpy.testing.assert_array_equal(y, expected)
    numpy.testing.assert_array_equal(crossbars.matmul(x[0]), expected[0])
    numpy.testing.assert_array_equal(x @ crossbars, expected)


def conversion_error_bound(config, n_row_tiles):
    """Sum over conversions of (Delta / 2) x shift weight (lossy ADC, no clipping), written out."""
    slices = sum(2 ** (s * config.mapping.bits_per_cell) for s in range(config.mapping.slices))
    chunks = sum(2 ** (c * config.inputs.dac_bits) for c in range(config.inputs.chunks))
    polarities = 1 if config.signed_adc else config.mapping.polarities
    return n_row_tiles * polarities * slices * chunks * config.adc_step / 2


@pytest.mark.parametrize("mapping", MAPPINGS)
@pytest.mark.parametrize("adc_bits", [3, 5, 7])
def test_lossy_adc_error_within_its_bound(np_rng, mapping, adc_bits):
    config = ReramConfig(CrossbarGeometry(64, 64), mapping, InputEncoding(6, 2, signed=True), AdcConfig(bits=adc_bits))
    assert not config.adc_lossless
    x, weights = random_operands(np_rng, config, 20, 150, 30)
    crossbars = CrossbarArray(weights, config)
    error = numpy.abs(crossbars.matmul(x) - x @ weights)
    bound = conversion_error_bound(config, crossbars.n_row_tiles)
    if crossbars.uses_reference_columns:
        bound *= 2  # the reference column's conversions err too
    assert crossbars.adc_error_bound() == pytest.approx(bound)
    assert error.max() <= bound + 1e-9
    assert error.max() > 0  # really lossy


def test_adc_equals_its_integer_definition_everywhere():
    for levels, full_scale, fraction_bits, signed in [(63, 384, 0, False), (511, 384, 0, False),
                                                       (15, 100, 3, True), (7, 7, 2, False)]:
        adc = Adc.build(levels, full_scale, fraction_bits, signed, numpy.float32)
        top = 2 * full_scale * 2**fraction_bits
        p = numpy.arange(-top if signed else -50, top + 1)
        expected = numpy.array([adc.reference(int(v)) for v in p])
        codes = adc.convert(p.astype(numpy.float32), numpy)
        numpy.testing.assert_array_equal(codes, expected)
        scaled = (adc.scale * p + adc.bias).astype(numpy.float32)
        if not signed:
            numpy.testing.assert_array_equal(adc.convert(scaled, numpy, prescaled=True), expected)


@pytest.mark.parametrize("inputs", [InputEncoding(8, 1), InputEncoding(7, 3), InputEncoding(6, 2, signed=True),
                                    InputEncoding(9, 4, signed=True)], ids=str)
def test_dac_chunks_rebuild_the_offset_inputs(np_rng, inputs):
    """The DAC stage: C chunks of dac bits, least significant first, of x + offset."""
    config = ReramConfig(inputs=inputs)
    dac = Dac.from_config(config)
    assert (dac.bits, dac.chunks, dac.offset, dac.max_chunk) == (
        inputs.dac_bits, inputs.chunks, inputs.input_offset, inputs.max_chunk)
    x = np_rng.integers(inputs.min_input, inputs.max_input + 1, (4, 9))
    chunks = dac.convert(x, numpy)
    assert chunks.shape == (inputs.chunks, 4, 9) and chunks.min() >= 0 and chunks.max() <= dac.max_chunk
    rebuilt = numpy.tensordot(dac.place_values(numpy), chunks.astype(numpy.float64), axes=(0, 0))
    numpy.testing.assert_array_equal(rebuilt, x + inputs.input_offset)


def test_adc_from_config_is_the_configured_adc():
    config = ReramConfig(mapping=WeightMapping(differential_readout="subtract"), adc=AdcConfig(bits=6, full_scale=90))
    adc = Adc.from_config(config, 3, numpy.float64)
    assert adc == Adc.build(config.adc_levels, config.full_scale, 3, True, numpy.float64)
    assert Adc.from_config(ReramConfig()) == Adc.build(511, 384, 0, False, None)


def test_design_md_adc_formula_on_the_pipeline():
    """One row, one column, one chunk, one slice: the output is the ADC code times the step."""
    config = ReramConfig(CrossbarGeometry(8, 8), WeightMapping(2, 1), InputEncoding(1, 1), AdcConfig(bits=2))
    weights = numpy.ones((8, 1), dtype=int)
    full_scale, q = config.full_scale, config.adc_levels
    for active in range(9):
        x = numpy.zeros((1, 8), dtype=int)
        x[0, :active] = 1
        code = min((2 * active * q + full_scale) // (2 * full_scale), q)
        assert CrossbarArray(weights, config).matmul(x)[0, 0] == code * full_scale / q


@pytest.mark.parametrize("devices", [DeviceModel(), DeviceModel.generic_reram(), DeviceModel.reram_wan2022()])
def test_batch_splitting_and_blocking_never_change_the_bits(np_rng, devices):
    config = ReramConfig(CrossbarGeometry(32, 32), adc=AdcConfig(bits=5), devices=devices)
    x, weights = random_operands(np_rng, config, 37, 100, 20)
    crossbars = CrossbarArray(weights, config, seed=9)
    whole = crossbars.matmul(x, read_index=3)
    for block in (1, 5, 37, 64):
        numpy.testing.assert_array_equal(crossbars.matmul(x, read_index=3, batch_block=block), whole)
    split = numpy.concatenate([crossbars.matmul(x[:10], read_index=3),
                               crossbars.matmul(x[10:], read_index=3, row_offset=10)])
    numpy.testing.assert_array_equal(split, whole)


def test_read_noise_is_fresh_per_read_and_seeded():
    config = ReramConfig(CrossbarGeometry(32, 32), devices=DeviceModel(read_noise=0.05))
    rng = numpy.random.default_rng(1)
    x, weights = random_operands(rng, config, 8, 64, 10)
    first, second = CrossbarArray(weights, config, seed=4), CrossbarArray(weights, config, seed=4)
    a, b = first.matmul(x), first.matmul(x)
    assert not numpy.array_equal(a, b)  # a new read, new noise
    numpy.testing.assert_array_equal(second.matmul(x), a)  # same seed, same reads, same bits
    numpy.testing.assert_array_equal(second.matmul(x, read_index=1), b)
    assert not numpy.array_equal(CrossbarArray(weights, config, seed=5).matmul(x, read_index=0), a)


def test_signed_inputs_are_exact_at_the_extremes():
    config = ReramConfig(inputs=InputEncoding(8, 2, signed=True))
    weights = numpy.array([[127, -127], [-127, 127], [0, 1]])
    x = numpy.array([[-128, 127, -128], [127, -128, 0], [0, 0, 0]])
    crossbars = CrossbarArray(weights, config)
    numpy.testing.assert_array_equal(crossbars.matmul(x, method="pipeline"), x @ weights)


def test_configurations_that_overflow_float64_are_refused():
    config = ReramConfig(CrossbarGeometry(65536, 128), WeightMapping(32, 8), InputEncoding(32, 16))
    with pytest.raises(ValueError, match="2\\*\\*53"):
        CrossbarArray(numpy.zeros((4, 4), dtype=int), config)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda c: c.matmul(numpy.zeros((2, 5), dtype=int)), r"shape \(K,\) or \(B, K\) with K = 4"),
        (lambda c: c.matmul(numpy.full((2, 4), 256)), r"x must lie in \[0, 255\]"),
        (lambda c: c.matmul(numpy.full((2, 4), -1)), r"x must lie in \[0, 255\]"),
        (lambda c: c.matmul(numpy.full((2, 4), numpy.nan)), "NaN"),
        (lambda c: c.matmul(numpy.full((2, 4), 0.5)), "fractions"),
        (lambda c: c.matmul(numpy.zeros((2, 4), dtype=int), read_index=-1), "read_index"),
        (lambda c: c.matmul(numpy.zeros((2, 4), dtype=int), batch_block=0), "batch_block"),
        (lambda c: c.matmul(numpy.zeros((2, 4), dtype=int), method="fast"), "method"),
        (lambda c: c.at_time(-1), "t_seconds"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, message):
    crossbars = CrossbarArray(numpy.zeros((4, 3), dtype=int))
    with pytest.raises(ValueError, match=message):
        call(crossbars)


def test_bad_weights_raise_clear_errors():
    with pytest.raises(ValueError, match=r"weights must lie in \[-127, 127\]"):
        CrossbarArray(numpy.full((2, 2), 128))
    with pytest.raises(ValueError, match="2-D"):
        CrossbarArray(numpy.zeros(3, dtype=int))
    with pytest.raises(TypeError, match="integer array"):
        CrossbarArray(numpy.zeros((2, 2), dtype=complex))
    with pytest.raises(ValueError, match="seed"):
        CrossbarArray(numpy.zeros((2, 2), dtype=int), seed=-1)
    with pytest.raises(TypeError, match="ReramConfig"):
        CrossbarArray(numpy.zeros((2, 2), dtype=int), config=dataclasses.asdict(ReramConfig()))


@pytest.mark.parametrize("mapping", MAPPINGS)
def test_large_batch_lossless_pipeline_is_exact(np_rng, mapping):
    config = ReramConfig(CrossbarGeometry(100, 64), mapping, InputEncoding(7, 3))
    x, weights = random_operands(np_rng, config, 1500, 230, 17)
    y = CrossbarArray(weights, config).matmul(x, method="pipeline")
    numpy.testing.assert_array_equal(y, x @ weights)


def test_float_products_on_a_gpu_refuse_tf32(monkeypatch):
    """CUPY_TF32 would round cuBLAS's float32 inputs to 10-bit mantissas: the GPU's float paths
    refuse it (any array module but numpy stands for CuPy here); numpy ignores it."""
    from cim_emu.reram.gpu_path import require_exact_float_products

    monkeypatch.setenv("CUPY_TF32", "1")
    device = stand_in_backend()
    with pytest.raises(RuntimeError, match="CUPY_TF32"):
        require_exact_float_products(device)
    require_exact_float_products(NUMPY_BACKEND)
    monkeypatch.setenv("CUPY_TF32", "0")
    require_exact_float_products(device)


def test_host_inputs_pass_in_row_blocks_only_past_the_memory_share():
    from cim_emu import backend as backends
    from cim_emu.gpu.memory import DEVICE_MEMORY_SHARE

    crossbars = CrossbarArray(numpy.ones((40, 30), int), ReramConfig(crossbar=CrossbarGeometry(16, 16)))
    per_row = 8 * (40 + 2 * 2 * 16)  # int64 inputs, and twice the outputs of two 16-column tiles
    gpu = stand_in_backend(free_bytes=int(100 * per_row / DEVICE_MEMORY_SHARE))
    assert crossbars._rows_per_device_pass(numpy.zeros((100, 40)), gpu) is None
    assert crossbars._rows_per_device_pass(numpy.zeros((101, 40)), gpu) == 100
    assert crossbars._rows_per_device_pass(numpy.zeros((10**6, 40)), backends.NUMPY_BACKEND) is None
