"""The TRA fault model: rates, reproducibility, chunk independence, weak-cell map."""

import math

import numpy
import pytest

from cim_emu.ambit import Subarray, TraFaultModel, bulk_op, program_for
from cim_emu.bits import random_row


def maj_flips(faults, n_bits, seed=0, executor="fast", chunk_words=None, repeats=1):
    """Flipped output bits of MAJ (one TRA whose result is the output), per repeat."""
    s = Subarray(n_bits, data_rows=4, faults=faults)
    for row in range(3):
        s.write_words(row, random_row(seed, row, n_bits))
    a, b, c = (s.read_bits(r) for r in range(3))
    exact = (a & b) | (b & c) | (a & c)
    flips = []
    for _ in range(repeats):
        s.run(program_for("maj", ["D0", "D1", "D2"], "D3"), executor=executor, chunk_words=chunk_words)
        flips.append(s.read_bits(3) ^ exact)
    return flips, (a ^ b) | (b ^ c)


@pytest.mark.parametrize("p", [0.0029, 0.0601, 0.5])
def test_flip_rate_matches_p_within_five_sigma(p):
    n = 200_000
    (flips,), _ = maj_flips(TraFaultModel(flip_probability=p, seed=11), n)
    assert abs(flips.mean() - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_flips_only_where_inputs_disagree():
    n = 100_000
    (flips,), disagree = maj_flips(TraFaultModel(flip_probability=0.3, only_when_inputs_disagree=True), n)
    assert not flips[~disagree].any()
    rate = flips[disagree].mean()
    assert abs(rate - 0.3) < 5 * math.sqrt(0.21 / disagree.sum())


def test_same_seed_same_bits_on_both_executors_and_any_chunking():
    faults = TraFaultModel(flip_probability=0.1, weak_column_fraction=0.05, seed=2024)
    reference, _ = maj_flips(faults, 5000, executor="reference", repeats=2)
    for chunk_words in (1, 7, 100):
        fast, _ = maj_flips(faults, 5000, chunk_words=chunk_words, repeats=2)
        for r, f in zip(reference, fast):
            numpy.testing.assert_array_equal(r, f)
    assert not numpy.array_equal(reference[0], reference[1])  # fresh draws for every TRA
    other, _ = maj_flips(TraFaultModel(flip_probability=0.1, weak_column_fraction=0.05, seed=2025), 5000)
    assert not numpy.array_equal(reference[0], other[0])


def test_weak_cell_map_fails_the_same_columns_every_time():
    faults = TraFaultModel(weak_column_fraction=0.02, weak_column_flip_probability=1.0, seed=5)
    flips, _ = maj_flips(faults, 50_000, repeats=3)
    numpy.testing.assert_array_equal(flips[0], flips[1])
    numpy.testing.assert_array_equal(flips[0], flips[2])
    assert abs(flips[0].mean() - 0.02) < 5 * math.sqrt(0.02 * 0.98 / 50_000)


def test_default_model_is_error_free_and_presets_cite_their_figures():
    assert not TraFaultModel().enabled
    assert TraFaultModel.ambit_spice(15).flip_probability == 0.0601
    assert TraFaultModel.ambit_spice(15).only_when_inputs_disagree
    assert not TraFaultModel.ambit_spice(5).enabled
    assert TraFaultModel.simra_ddr4_maj3().weak_column_fraction == 0.01
    with pytest.raises(ValueError, match="variation_percent"):
        TraFaultModel.ambit_spice(12)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"flip_probability": 1.5}, "flip_probability"),
        ({"flip_probability": -0.1}, "flip_probability"),
        ({"weak_column_fraction": 2}, "weak_column_fraction"),
        ({"weak_column_flip_probability": -1}, "weak_column_flip_probability"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
    ],
)
def test_invalid_parameters_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TraFaultModel(**kwargs)


def test_faults_reach_bulk_ops_and_not_the_constant_free_copy():
    a = numpy.ones(10_000, bool)
    faulty = bulk_op("and", a, a, faults=TraFaultModel(flip_probability=0.5, seed=1))
    assert 0.4 < 1 - faulty.value.mean() < 0.6
    copied = bulk_op("copy", a, faults=TraFaultModel(flip_probability=1.0))  # no TRA, no fault
    assert copied.value.all()
