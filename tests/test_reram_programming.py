"""Programming in one pass (cim_emu.reram.programming): the bits of DeviceModel.program, to_fixed
and read_sigma_fixed, without their float64 arrays, in blocks over threads; int16 cells where
they fit; a read-noise deviation shared by every cell as one broadcast value."""

from unittest import mock

import numpy
import pytest

from cim_emu import parallel
from cim_emu.reram import CrossbarArray, CrossbarGeometry, DeviceModel, ReramConfig
from cim_emu.reram import crossbar as crossbar_module
from cim_emu.reram import devices as devices_module
from cim_emu.reram.devices import read_sigma_fixed, to_fixed
from cim_emu.reram.programming import program_fixed

MODELS = {
    "wan2022": DeviceModel.reram_wan2022(),  # read noise shared by every cell
    "pcm": DeviceModel.pcm_joshi2020(),  # no read noise
    "state-dependent": DeviceModel.generic_reram(programming_noise=0.02, read_noise_proportional=0.03),
    "drift-and-stuck": DeviceModel.generic_reram(drift_nu_mean=0.05, drift_nu_std=0.02, stuck_at_low=0.05,
                                                 stuck_at_high=0.1, programming_noise_proportional=0.04),
    "ideal": DeviceModel(),
}


def separate_passes(model, levels, max_level, seed, t_seconds):
    g = model.program(levels, max_level, seed, t_seconds)
    return to_fixed(g, max_level), read_sigma_fixed(model, g, max_level)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("t_seconds", [None, 86400.0])
@pytest.mark.parametrize("max_level", [3, 255])
def test_one_pass_gives_the_bits_of_the_separate_passes(name, t_seconds, max_level, np_rng):
    model = MODELS[name]
    levels = np_rng.integers(0, max_level + 1, (2, 3, 41, 29)).astype(numpy.uint8)
    seed = int(np_rng.integers(2**32))
    fixed, sigma = separate_passes(model, levels, max_level, seed, t_seconds)
    with mock.patch.object(devices_module, "PROGRAM_BLOCK", 192), mock.patch.object(
            parallel, "default_threads", lambda: 3):
        one_fixed, one_sigma = program_fixed(model, levels, max_level, seed, t_seconds)
    numpy.testing.assert_array_equal(one_fixed, fixed)
    assert one_fixed.shape == levels.shape
    assert one_fixed.dtype == (numpy.int16 if max_level == 3 else numpy.float64)  # 2 * 255 * 2**8 >= 2**15
    if sigma is None:
        assert one_sigma is None and not model.has_read_noise
        return
    numpy.testing.assert_array_equal(one_sigma, sigma)
    assert one_sigma.shape == levels.shape and one_sigma.dtype == numpy.float64
    shared = model.shared_read_sigma is not None
    assert (not any(one_sigma.strides)) == shared  # one broadcast value exactly where sigma_read is constant
    assert shared == (name in ("wan2022", "drift-and-stuck"))  # generic_reram: read noise 1 % of g_max


def test_shared_read_sigma_is_the_constant_deviation():
    assert DeviceModel.reram_wan2022().shared_read_sigma == 0.01
    assert DeviceModel.generic_reram(read_noise_proportional=0.01).shared_read_sigma is None
    g = numpy.linspace(0.0, devices_module.G_CLIP, 101)
    for model in (DeviceModel.reram_wan2022(), DeviceModel.generic_reram()):
        numpy.testing.assert_array_equal(model.read_sigma(g), numpy.full_like(g, model.shared_read_sigma))


def test_crossbars_read_the_same_bits_programmed_either_way(np_rng, monkeypatch):
    """A noisy read of crossbars programmed in one pass against crossbars programmed in separate
    passes (program_fixed replaced by them): the same outputs."""
    config = ReramConfig(CrossbarGeometry(32, 16), devices=DeviceModel.reram_wan2022())
    weights = np_rng.integers(-127, 128, (70, 12))
    x = np_rng.integers(0, 256, (5, 70))
    one_pass = CrossbarArray(weights, config, seed=3)
    assert one_pass.pipeline.operand.cells.dtype == numpy.int16
    monkeypatch.setattr(crossbar_module, "program_fixed", separate_passes)
    separate = CrossbarArray(weights, config, seed=3)
    numpy.testing.assert_array_equal(one_pass.matmul(x, read_index=2), separate.matmul(x, read_index=2))
