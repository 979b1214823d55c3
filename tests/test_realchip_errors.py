"""The real-chip error model: fixed capable masks, per-trial flips, the published table, temperature,
seeds and backends."""

import math

import numpy
import pytest

from cim_emu.ambit.realchip import RealChipBank, RealChipErrorModel, open_rows
from cim_emu.ambit.realchip.recipes import group_pair, majority
from cim_emu.ambit.realchip.success import MAJ_SUCCESS, published_success, temperature_penalty
from cim_emu.backend import shim_backend
from cim_emu.bits import pack_bits, unpack_bits


def run_trials(errors, rows, operands, data, trials, backend="numpy"):
    """Per-trial correctness of MAJ``operands`` in a ``rows``-row group, operands rewritten every trial."""
    n = data[0].shape[0]
    bank = RealChipBank(n, errors=errors, backend=backend)
    rf, rs = group_pair(4096 + 100, rows)
    expected = 2 * numpy.sum(data, axis=0) > len(data)
    correct = []
    for _ in range(trials):
        outcome = majority(bank, rf, rs, [pack_bits(d) for d in data])
        correct.append(bank.backend.to_host(bank.read_bits(rf)) == expected)
    return numpy.array(correct), outcome


@pytest.mark.parametrize("rows,operands,pattern", [(8, 3, "random"), (16, 5, "solid"), (32, 7, "random")])
def test_success_in_every_trial_matches_the_table(np_rng, rows, operands, pattern):
    n, trials = 2**15, 12
    if pattern == "solid":
        data = [numpy.full(n, bool(b)) for b in np_rng.integers(0, 2, operands)]
        data[0] = ~data[1]  # keep at least two distinct operands of opposite value
    else:
        data = [np_rng.integers(0, 2, n).astype(bool) for _ in range(operands)]
    correct, outcome = run_trials(RealChipErrorModel(seed=int(np_rng.integers(2**63))), rows, operands, data, trials)
    p = published_success("maj", rows, pattern, operands)
    assert outcome.pattern == pattern and outcome.success_probability == p
    success = correct.all(axis=0).mean()
    expected = p + (1 - p) * 0.5 ** trials
    assert abs(success - expected) < 5 * math.sqrt(p * (1 - p) / n) + 1e-9
    # failures stick to cells: the per-trial error rate is (1 - p) / 2, not spread over the row
    assert abs((~correct).mean() - (1 - p) / 2) < 5 * math.sqrt(0.25 / (n * trials)) + 0.01


def test_capable_masks_are_nested_across_operations_and_fixed_per_group():
    model = RealChipErrorModel(seed=7)
    key = open_rows(256, 287).key
    easy = model.capable_bits("maj", key, 32, "solid", 3, 10000)
    hard = model.capable_bits("maj", key, 32, "solid", 9, 10000)
    assert hard.sum() < easy.sum() and not (hard & ~easy).any()
    other = model.capable_bits("maj", open_rows(0, 31).key, 32, "solid", 3, 10000)
    assert (other != easy).any()


def test_seed_reproduces_and_changes_the_bits(np_rng):
    data = [np_rng.integers(0, 2, 5000).astype(bool) for _ in range(3)]
    a, _ = run_trials(RealChipErrorModel(seed=3), 8, 3, data, 2)
    b, _ = run_trials(RealChipErrorModel(seed=3), 8, 3, data, 2)
    c, _ = run_trials(RealChipErrorModel(seed=4), 8, 3, data, 2)
    numpy.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_kernel_backends_give_the_same_bits(np_rng):
    """The CPU shim (the CUDA kernels compiled for the host) and the GPU stand-in draw the same bits."""
    from fake_cupy import stand_in_backend

    data = [np_rng.integers(0, 2, 3000).astype(bool) for _ in range(5)]
    reference, _ = run_trials(RealChipErrorModel(seed=9), 16, 5, data, 3)
    for backend in (shim_backend(), stand_in_backend()):
        other, _ = run_trials(RealChipErrorModel(seed=9), 16, 5, data, 3, backend=backend)
        numpy.testing.assert_array_equal(reference, other)


def test_every_backend_gives_the_same_bits(np_rng, backend):
    """numpy and CuPy (on a GPU machine: the ``backend`` fixture skips CuPy without one)."""
    data = [np_rng.integers(0, 2, 3000).astype(bool) for _ in range(3)]
    reference, _ = run_trials(RealChipErrorModel(seed=2), 8, 3, data, 3)
    other, _ = run_trials(RealChipErrorModel(seed=2), 8, 3, data, 3, backend=backend)
    numpy.testing.assert_array_equal(reference, other)


def test_temperature_lowers_success_by_at_most_2_13_points():
    assert temperature_penalty(50) == 0 and temperature_penalty(90) == pytest.approx(0.0213)
    # FCDRAM's operations: at most 1.66 points from 50 to 95 degrees C
    assert temperature_penalty(90, "nand") == pytest.approx(0.0166 * 40 / 45)
    assert RealChipErrorModel(temperature_c=90).success_probability("not", 2, "solid") == pytest.approx(
        0.9837 - 0.0166 * 40 / 45)
    cold, hot = RealChipErrorModel(temperature_c=50), RealChipErrorModel(temperature_c=70)
    assert hot.success_probability("copy", 8, "solid") == pytest.approx(0.998 - 0.0213 / 2)
    assert cold.success_probability("copy", 8, "solid") == 0.998
    with pytest.raises(ValueError, match="temperature_c must be a number in \\[50, 90\\]"):
        RealChipErrorModel(temperature_c=120)


def test_table_lookups_and_bad_inputs():
    assert published_success("maj", 32, "random", 9) == MAJ_SUCCESS[9][32][1]
    assert published_success("maj", 8, "solid", 9) == 0.0  # no bar in SiMRA Fig. 7
    assert published_success("maj", 16, "solid", 4) == MAJ_SUCCESS[5][16][0]  # even X measured as X + 1
    assert published_success("maj", 4, "solid", 1) == published_success("copy", 4, "solid")
    assert published_success("nand", 16, "random") == pytest.approx(0.9494 - 0.0139)  # FCDRAM abstract
    assert published_success("or", 16, "random") == pytest.approx(0.9585 - 0.0198)
    with pytest.raises(ValueError, match="pattern must be one of"):
        published_success("maj", 8, "striped")
    with pytest.raises(ValueError, match="op must be one of"):
        published_success("xor", 8)
    with pytest.raises(ValueError, match="flip_probability must be a probability"):
        RealChipErrorModel(flip_probability=2)
    with pytest.raises(ValueError, match="unknown operations"):
        RealChipErrorModel(op_flip_probability=(("xor", 0.1),))
    with pytest.raises(ValueError, match="seed must be an integer"):
        RealChipErrorModel(seed=-1)


def test_flip_probability_one_fails_every_non_capable_bit_every_trial(np_rng):
    data = [np_rng.integers(0, 2, 20000).astype(bool) for _ in range(3)]
    correct, outcome = run_trials(RealChipErrorModel(seed=1, flip_probability=1.0), 8, 3, data, 3)
    assert (correct == correct[0]).all()  # the same bits fail every time
    assert abs(correct[0].mean() - outcome.success_probability) < 0.02
    assert unpack_bits(pack_bits(correct[0]), 20000).sum() == correct[0].sum()
