"""Device non-idealities: each one's statistics match its parameters on large samples."""

import math

import numpy
import pytest

from cim_emu.reram import CrossbarArray, CrossbarGeometry, DeviceModel, InputEncoding, ReramConfig, WeightMapping
from cim_emu.reram.devices import _PcmJoshi2020, _ReramWan2022

CELLS = 200_000


def programmed(model, level, max_level=3, t=None, seed=1):
    levels = numpy.full(CELLS, level, dtype=numpy.uint8)
    target = model.g_min + level / max_level * (1 - model.g_min)
    return model.program(levels, max_level, seed, t), target


def within(sample_value, expected, relative=0.03):
    assert abs(sample_value - expected) <= relative * abs(expected), (sample_value, expected)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_programming_noise_constant_and_proportional(level):
    g, target = programmed(DeviceModel(programming_noise=0.04), level)
    within((g - target).std(), 0.04)
    assert abs((g - target).mean()) < 5 * 0.04 / math.sqrt(CELLS)
    g, target = programmed(DeviceModel(programming_noise_proportional=0.05), level)
    within((g - target).std(), 0.05 * target)


def test_stuck_cells_fractions_and_values():
    model = DeviceModel(stuck_at_low=0.0175, stuck_at_high=0.0904, on_off_ratio=10)
    g, _ = programmed(model, 2)
    within((g == 0.1).mean(), 0.0175, 0.05)
    within((g == 1.0).mean(), 0.0904, 0.05)
    assert DeviceModel.stuck_cells_chen2015() == DeviceModel(stuck_at_low=0.0175, stuck_at_high=0.0904)


def test_finite_on_off_ratio_sets_the_low_state():
    g, _ = programmed(DeviceModel(on_off_ratio=20), 0)
    assert numpy.all(g == 1 / 20)
    g, _ = programmed(DeviceModel(on_off_ratio=20), 3)
    assert numpy.all(g == 1.0)


def test_generic_drift_is_a_power_law_with_normal_exponent():
    model = DeviceModel(drift_nu_mean=0.05, drift_nu_std=0.01)
    t = 86400.0
    g, target = programmed(model, 3, t=t)
    exponent = -numpy.log(g / target) / math.log((t + model.drift_t0) / model.drift_t0)
    within(exponent.mean(), 0.05, 0.01)
    within(exponent.std(), 0.01, 0.03)
    fresh, _ = programmed(model, 3)
    assert numpy.all(fresh == target)  # no drift without a read time


@pytest.mark.parametrize("t", [None, 3600.0, 86400.0, 172800.0, 3.15e7])
def test_wan2022_deviation_follows_its_fit(t):
    model = DeviceModel.reram_wan2022()
    for level in (1, 3):
        g, target = programmed(model, level, t=t)
        expected = _ReramWan2022.sigma_at(1.0 if t is None else t, numpy.array([target]))[0]
        within((g - target).std(), expected)


def test_wan2022_is_read_at_any_time_by_log_time_interpolation():
    x = numpy.linspace(0, 1, 11)
    curve = {t: numpy.polynomial.polynomial.polyval(x, c) / 40 for t, c in _ReramWan2022.CURVES.items()}
    hour, year = 3600.0, 365.25 * 86400
    w = math.log(hour) / math.log(86400)  # between 1 s (ln 1 = 0) and 1 day
    numpy.testing.assert_allclose(_ReramWan2022.sigma_at(hour, x), (1 - w) * curve[1.0] + w * curve[86400.0],
                                  rtol=1e-12)
    w = (math.log(year) - math.log(86400)) / math.log(2)  # extrapolated along 1 day -> 2 days
    numpy.testing.assert_allclose(_ReramWan2022.sigma_at(year, x),
                                  numpy.maximum((1 - w) * curve[86400.0] + w * curve[172800.0], 0), rtol=1e-12)
    for t in _ReramWan2022.CURVES:  # continuous at the measured times
        numpy.testing.assert_allclose(_ReramWan2022.sigma_at(t * (1 + 1e-9), x), curve[t], rtol=1e-6, atol=1e-9)
    model = DeviceModel.reram_wan2022()
    g, _ = programmed(model, 2, t=0.5)
    assert numpy.array_equal(g, programmed(model, 2)[0])  # before the first measurement: as programmed


def test_wan2022_fit_values():
    sigma_us = _ReramWan2022.sigma_at(1.0, numpy.array([0.0, 1.0])) * 40
    numpy.testing.assert_allclose(sigma_us, [0.348, 0.348 + 16.030 - 43.853 + 45.393 - 16.815])


def test_pcm_programming_noise_and_drift_exponent():
    model = DeviceModel.pcm_joshi2020()
    g, target = programmed(model, 3)
    within((g - target).std(), (0.26348 + 1.9650 - 1.1731) / 25)
    t = 3600.0
    drifted, _ = programmed(model, 3, t=t)
    # at g = g_max: mu = 0.049 (clipped), spread 0.008; 1/f noise adds a few percent
    median_exponent = -numpy.log(numpy.median(drifted) / numpy.median(g)) / math.log((t + 20) / 20)
    within(median_exponent, 0.049, 0.1)
    assert _PcmJoshi2020.T_READ == 250e-9


def test_read_noise_variance_of_outputs_matches_sum_over_cells():
    rows, sigma = 64, 0.02
    config = ReramConfig(CrossbarGeometry(rows, 8), WeightMapping(2, 2, "offset"), InputEncoding(1, 1),
                         devices=DeviceModel(read_noise=sigma))
    weights = numpy.ones((rows, 1), dtype=int)  # stored W + B = 2: level 2 of 3
    x = numpy.ones((4000, rows), dtype=int)
    y = CrossbarArray(weights, config, seed=2).matmul(x)
    level_sigma = sigma * 3  # units of g_max -> level steps
    expected_variance = rows * level_sigma**2 + 1 / 12  # read noise + ADC rounding
    within(y.astype(float).var(), expected_variance, 0.08)
    within(y.astype(float).mean(), rows, 0.01)


def test_same_seed_same_bits_different_seed_different():
    config = ReramConfig(devices=DeviceModel.reram_wan2022())
    rng = numpy.random.default_rng(0)
    weights, x = rng.integers(-127, 128, (200, 30)), rng.integers(0, 256, (5, 200))
    a = CrossbarArray(weights, config, seed=11).matmul(x)
    numpy.testing.assert_array_equal(CrossbarArray(weights, config, seed=11).matmul(x), a)
    assert not numpy.array_equal(CrossbarArray(weights, config, seed=12).matmul(x), a)


def test_all_non_idealities_zero_is_bit_identical_to_the_integer_pipeline():
    rng = numpy.random.default_rng(3)
    weights, x = rng.integers(-127, 128, (300, 20)), rng.integers(0, 256, (7, 300))
    zero = DeviceModel(programming_noise=0.0, read_noise=0.0, stuck_at_low=0.0, drift_nu_mean=0.0)
    assert zero.ideal
    y = CrossbarArray(weights, ReramConfig(devices=zero)).at_time(1e6).matmul(x, method="pipeline")
    numpy.testing.assert_array_equal(y, x @ weights)


def test_global_drift_compensation_recovers_the_scale():
    config = ReramConfig(devices=DeviceModel(drift_nu_mean=0.1))
    rng = numpy.random.default_rng(4)
    weights, x = rng.integers(-127, 128, (256, 64)), rng.integers(0, 256, (16, 256))
    crossbars = CrossbarArray(weights, config)
    exact = x @ weights
    late = crossbars.at_time(1e7)
    compensated = crossbars.at_time(1e7, drift_compensation=True)
    error = numpy.linalg.norm(late.matmul(x) - exact) / numpy.linalg.norm(exact)
    corrected = numpy.linalg.norm(compensated.matmul(x) - exact) / numpy.linalg.norm(exact)
    factor = ((1e7 + 20) / 20) ** 0.1  # the drift every cell saw
    assert compensated.output_scale == pytest.approx(factor, rel=0.05)
    ideal_rescale = numpy.linalg.norm(late.matmul(x) * factor - exact) / numpy.linalg.norm(exact)
    # what remains is the ADC rounding of the shrunken partial sums, as with a perfect rescale
    assert error > 0.5 and corrected < error / 4 and corrected < 1.2 * ideal_rescale


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"programming_noise": -0.1}, "programming_noise"),
        ({"read_noise": float("nan")}, "read_noise"),
        ({"stuck_at_low": 1.5}, "stuck_at_low"),
        ({"stuck_at_low": 0.6, "stuck_at_high": 0.6}, "stuck_at_low \\+ stuck_at_high"),
        ({"on_off_ratio": 1.0}, "on_off_ratio"),
        ({"drift_t0": 0}, "drift_t0"),
        ({"model": "sonos"}, "model"),
    ],
)
def test_invalid_device_parameters_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DeviceModel(**kwargs)
