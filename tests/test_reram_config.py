"""Configuration: validation, derived values, presets, JSON; mapping; cost model."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cim_emu.reram import (
    AdcConfig,
    CrossbarArray,
    CrossbarGeometry,
    DeviceModel,
    InputEncoding,
    ReramConfig,
    ReramCostModel,
    WeightMapping,
)
from cim_emu.reram.mapping import cell_levels


def test_defaults_are_isaac_like_and_lossless():
    config = ReramConfig()
    assert (config.crossbar.rows, config.crossbar.cols) == (128, 128)
    assert config.mapping.bits_per_cell == 2 and config.inputs.dac_bits == 1
    assert config.max_partial_sum == 128 * 1 * 3 and config.adc_bits == 9
    assert config.adc_lossless and config.exact and config.adc_step == 1.0
    assert str(config) == "ReramConfig()"


def test_presets_cite_their_designs():
    isaac, prime = ReramConfig.isaac(), ReramConfig.prime()
    assert isaac.mapping.scheme == "offset" and isaac.mapping.slices == 8 and isaac.inputs.input_bits == 16
    assert prime.crossbar.rows == 256 and prime.mapping.bits_per_cell == 4 and prime.inputs.dac_bits == 3
    assert prime.adc_bits == 6 and not prime.adc_lossless
    assert prime.adc_step == pytest.approx(256 * 7 * 15 / 63)
    assert "ISCA 2016" in ReramConfig.isaac.__doc__ and "ISCA 2016" in ReramConfig.prime.__doc__


def test_json_round_trip_and_unknown_fields(tmp_path):
    config = ReramConfig.prime(devices=DeviceModel.reram_wan2022())
    path = tmp_path / "prime.json"
    config.to_json(path)
    assert ReramConfig.from_json(path) == config
    assert ReramConfig.from_json(config.to_json()) == config
    assert '"scheme": "differential"' in config.to_json() and '"model": "reram_wan2022"' in config.to_json()
    with pytest.raises(ValueError, match="unknown field.*colz"):
        ReramConfig.from_dict({"crossbar": {"colz": 3}})
    with pytest.raises(ValueError, match="unknown configuration section"):
        ReramConfig.from_dict({"dac": {}})


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: CrossbarGeometry(rows=0), r"rows must be an integer in \[1, 65536\]"),
        (lambda: WeightMapping(weight_bits=1), r"weight_bits must be an integer in \[2, 32\]"),
        (lambda: WeightMapping(bits_per_cell=9), "bits_per_cell"),
        (lambda: WeightMapping(scheme="twos"), "scheme must be one of"),
        (lambda: WeightMapping(differential_readout="both"), "differential_readout"),
        (lambda: InputEncoding(input_bits=0), "input_bits"),
        (lambda: InputEncoding(dac_bits=17), "dac_bits"),
        (lambda: InputEncoding(signed=1), "signed"),
        (lambda: AdcConfig(bits=25), r"bits must be an integer in \[1, 24\]"),
        (lambda: AdcConfig(full_scale=0), "full_scale"),
        (lambda: ReramConfig(adc=3), "adc must be a AdcConfig"),
    ],
)
def test_invalid_configurations_name_the_field_and_range(make, name):
    with pytest.raises((ValueError, TypeError), match=name):
        make()


@given(st.sampled_from([2, 5, 8, 12, 15, 16, 17, 31, 32]), st.integers(1, 6),
       st.sampled_from(["differential", "offset"]), st.integers(0, 2**32))
def test_cell_levels_reconstruct_the_weights(weight_bits, bits_per_cell, scheme, seed):
    """Also at the widths where the computation's integer type changes (16 and 32 bits)."""
    mapping = WeightMapping(weight_bits, bits_per_cell, scheme)
    weights = numpy.random.default_rng(seed).integers(-mapping.max_weight, mapping.max_weight + 1, (7, 5))
    weights[0, :2] = mapping.max_weight, -mapping.max_weight  # the extremes
    levels = cell_levels(weights, mapping).astype(numpy.int64)
    assert levels.shape == (mapping.polarities, mapping.slices, 7, 5)
    assert levels.max() <= mapping.max_level
    shifts = 2 ** (numpy.arange(mapping.slices) * bits_per_cell)
    magnitudes = numpy.tensordot(shifts, levels, axes=(0, 1))  # (P, K, N)
    if scheme == "differential":
        numpy.testing.assert_array_equal(magnitudes[0] - magnitudes[1], weights)
        assert not (magnitudes[0] * magnitudes[1]).any()  # one polarity per weight
    else:
        numpy.testing.assert_array_equal(magnitudes[0] - mapping.offset, weights)


def test_cost_counts_for_the_isaac_like_default():
    crossbars = CrossbarArray(numpy.zeros((1024, 1024), dtype=int))
    cost = ReramCostModel().product_cost(crossbars, batch=256)
    T, S, P, C = 8, 4, 2, 8
    assert cost.crossbars == T * 8 * S * P
    assert cost.read_cycles == 256 * C and cost.latency_ns == 256 * C * 100
    assert cost.conversions == 256 * C * T * S * P * 1024
    assert cost.energy_pj["adc"] == pytest.approx(cost.conversions * 16e-3 / 9.6e9 * 1e12 * 2)  # 9-bit ADC
    assert cost.macs == 256 * 1024 * 1024 and cost.energy_per_mac_pj > 0
    with pytest.raises(ValueError, match="batch"):
        ReramCostModel().product_cost(crossbars, 0)
    with pytest.raises(ValueError, match="cycle_ns"):
        ReramCostModel(cycle_ns=0)
