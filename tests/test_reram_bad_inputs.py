"""The ReRAM engine's bad and edge inputs: a clear error naming the parameter (and the section of
the configuration), or the right answer where the input is valid; never another exception type."""

import json
import math

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cim_emu.reram import AdcConfig, DeviceModel, ReramConfig
from cim_emu.reram.config import CrossbarGeometry, InputEncoding, WeightMapping
from cim_emu.reram.crossbar import CrossbarArray
from cim_emu.reram.quantize import AnalogLayer, quantize_inputs

LOSSY_AND_NOISY = {
    "exact": ReramConfig(),
    "lossy": ReramConfig(adc=AdcConfig(bits=5)),
    "noisy": ReramConfig(crossbar=CrossbarGeometry(rows=8), adc=AdcConfig(bits=6), devices=DeviceModel.reram_wan2022()),
    "signed-offset": ReramConfig(mapping=WeightMapping(scheme="offset", offset_correction="reference_column"),
                                 inputs=InputEncoding(signed=True), adc=AdcConfig(bits=7)),
}


@pytest.mark.parametrize("name", sorted(LOSSY_AND_NOISY))
def test_empty_batches_give_empty_results(name):
    config = LOSSY_AND_NOISY[name]
    rng = numpy.random.default_rng(0)
    weights = rng.integers(-100, 101, (20, 6))
    crossbars = CrossbarArray(weights, config, seed=2)
    one_row = crossbars.matmul(numpy.zeros((1, 20), dtype=numpy.int64))
    empty = crossbars.matmul(numpy.zeros((0, 20), dtype=numpy.int64))
    assert empty.shape == (0, 6) and empty.dtype == one_row.dtype
    layer = AnalogLayer(weights / 7.0, config, bias=numpy.ones(6))
    y = layer(numpy.zeros((0, 20)))
    assert y.shape == (0, 6) and y.dtype == numpy.float64
    with pytest.raises(ValueError, match="at least one row"):
        crossbars.largest_partial_sum(numpy.zeros((0, 20), dtype=numpy.int64))
    with pytest.raises(ValueError, match="at least one value to calibrate"):
        layer.calibrate(numpy.zeros((0, 20)))


def test_the_float_api_refuses_what_it_cannot_compute():
    weights = numpy.arange(12.0).reshape(4, 3)
    with pytest.raises(TypeError, match="config must be a ReramConfig .*from_dict"):
        AnalogLayer(weights, config={"adc": {"bits": 8}})
    with pytest.raises(TypeError, match="config must be a ReramConfig"):
        AnalogLayer(weights, config={})  # an empty dict is not "no configuration"
    with pytest.raises(TypeError, match="weights must be real; got complex"):
        AnalogLayer(weights + 1j)
    with pytest.raises(TypeError, match="x must be real; got complex"):
        AnalogLayer(weights)(numpy.ones((2, 4)) * (1 + 1j))
    with pytest.raises(TypeError, match="x must be real"):
        quantize_inputs(numpy.ones(3, dtype=numpy.complex64), ReramConfig())
    with pytest.raises(ValueError, match="non-empty 2-D"):
        AnalogLayer(numpy.zeros((0, 3)))


def test_numpy_scalars_are_accepted_where_python_numbers_are():
    crossbars = CrossbarArray(numpy.eye(4, dtype=numpy.int64), ReramConfig(devices=DeviceModel.reram_wan2022()))
    x = numpy.ones((1, 4), dtype=numpy.int64)
    assert numpy.array_equal(crossbars.at_time(numpy.int64(3600)).matmul(x, read_index=0),
                             crossbars.at_time(3600).matmul(x, read_index=0))
    assert numpy.array_equal(crossbars.at_time(numpy.float32(2.5)).matmul(x, read_index=0),
                             crossbars.at_time(2.5).matmul(x, read_index=0))
    config = ReramConfig(adc=AdcConfig(bits=numpy.int64(8)), crossbar=CrossbarGeometry(rows=numpy.int32(64)))
    assert type(config.adc.bits) is int and type(config.crossbar.rows) is int
    assert ReramConfig.from_json(config.to_json()) == config
    assert type(DeviceModel(read_noise=numpy.float32(0.5)).read_noise) is float


@pytest.mark.parametrize("changes, message", [
    ({"read_noise": math.inf}, "read_noise must be a finite number >= 0; got inf"),
    ({"programming_noise": math.nan}, "programming_noise must be a finite number >= 0"),
    ({"drift_t0": math.inf}, "drift_t0 must be a finite number > 0; got inf"),
    ({"drift_nu_mean": -0.1}, "drift_nu_mean must be a finite number >= 0"),
    ({"on_off_ratio": math.nan}, "on_off_ratio must be a number > 1"),
    ({"on_off_ratio": True}, "on_off_ratio must be a number > 1"),
    ({"stuck_at_low": 0.7, "stuck_at_high": 0.7}, "stuck_at_low \\+ stuck_at_high must not exceed 1"),
    ({"model": ["generic"]}, "model must be one of"),
])
def test_device_models_are_checked_at_construction(changes, message):
    with pytest.raises(ValueError, match=message):
        DeviceModel(**changes)
    with pytest.raises(ValueError, match=f"devices.{message}"):  # from JSON, the section is named
        ReramConfig.from_dict({"devices": changes})


def test_a_dac_wider_than_the_inputs_is_refused():
    with pytest.raises(ValueError, match=r"dac_bits must be an integer in \[1, 8\]; got 9"):
        InputEncoding(input_bits=8, dac_bits=9)
    assert InputEncoding(input_bits=4, dac_bits=4).chunks == 1


@pytest.mark.parametrize("source, error, message", [
    ("[1, 2, 3]", TypeError, "a configuration must be a dict .* got list"),
    ('{"devices": null}', TypeError, "section 'devices' must be a dict .* got NoneType"),
    ('{"adc": 8}', TypeError, "section 'adc' must be a dict .* got int"),
    ('{"adc": {"bits": "8"}}', ValueError, r"adc.bits must be an integer in \[1, 24\]; got '8'"),
    ('{"adc": {"bits": 8, "gain": 2}}', ValueError, "unknown field.* in adc: gain"),
    ('{"dac": {}}', ValueError, "unknown configuration section.*: dac; sections: crossbar"),
    ('{"adc": ', ValueError, "not valid JSON"),
])
def test_bad_json_names_the_section(source, error, message):
    with pytest.raises(error, match=message):
        ReramConfig.from_json(source)


def test_from_dict_of_not_a_dict():
    with pytest.raises(TypeError, match="must be a dict .* got NoneType"):
        ReramConfig.from_dict(None)


# -- property: any configuration dictionary is a configuration or a clear error --------------------

_FIELDS = {stage: [field for field in ReramConfig().to_dict()[stage]] for stage in ReramConfig().to_dict()}
_values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=8), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                           st.integers(), max_size=2))
_sections = st.dictionaries(st.sampled_from(sum(_FIELDS.values(), [])) | st.text(max_size=6), _values, max_size=4)
_configs = st.one_of(st.dictionaries(st.sampled_from(list(_FIELDS)) | st.text(max_size=6), _sections | _values,
                                     max_size=5), _values)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_configs)
def test_any_dictionary_is_a_configuration_or_a_clear_error(data):
    try:
        config = ReramConfig.from_dict(data)
    except (ValueError, TypeError) as error:
        assert str(error)  # a message, never empty
        return
    text = config.to_json()  # a configuration always round-trips
    assert ReramConfig.from_json(text) == config
    assert json.loads(text.replace("Infinity", "1e999")) is not None
