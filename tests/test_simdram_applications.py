"""The applications give the answers of their numpy versions, with a modelled DRAM cost."""

import numpy
import pytest

from cim_emu.simdram.applications import bitmap_query, bitweaving_scan, bnn_layer, digits_bnn


def assert_same_answer(result):
    for got, expected in zip(result.answer, result.numpy_answer):
        assert numpy.asarray(got).tolist() == numpy.asarray(expected).tolist()
    assert result.cost.latency_ns > 0 and result.cost.energy_nj > 0
    assert result.numpy_seconds > 0 and result.emulator_seconds > 0
    assert {command.op for command in result.program} <= {"AAP", "AP"}


@pytest.mark.parametrize("all_of, any_of, none_of", [([0], [], []), ([0, 1, 2, 3], [], []), ([1], [2, 4], []),
                                                     ([0, 2], [1, 3, 4], [5]), ([5], [], [0, 1])])
@pytest.mark.parametrize("executor", ["fast", "reference"])
def test_bitmap_query_matches_numpy(np_rng, all_of, any_of, none_of, executor):
    bitmaps = np_rng.random((6, 3001)) < 0.7
    result = bitmap_query(bitmaps, all_of, any_of, none_of, executor=executor)
    assert_same_answer(result)
    assert result.answer[1] == int(result.answer[0].sum())


def test_bitmap_query_refuses_bad_indices():
    with pytest.raises(ValueError, match=r"any_of must hold bitmap indices in 0\.\.2"):
        bitmap_query(numpy.zeros((3, 10), bool), [0], [3])
    with pytest.raises(ValueError, match="all_of must name at least one bitmap"):
        bitmap_query(numpy.zeros((3, 10), bool), [])


@pytest.mark.parametrize("bits, constant", [(1, 0), (1, 1), (4, 0), (4, 15), (4, 7), (12, 1000), (32, 2**31 + 5)])
@pytest.mark.parametrize("relation", ["<", ">="])
def test_bitweaving_scan_matches_numpy(np_rng, bits, constant, relation):
    column = np_rng.integers(0, 2**bits, 5000, dtype=numpy.uint64)
    column[:3] = [0, 2**bits - 1, constant]
    result = bitweaving_scan(column, bits, constant, relation)
    assert_same_answer(result)
    assert len(result.program) == 3 * bits + 1


def test_bitweaving_scan_refuses_a_constant_wider_than_the_column():
    with pytest.raises(ValueError, match=r"constant must be an integer in 0\.\.15 for a 4-bit column"):
        bitweaving_scan(numpy.arange(5), 4, 16)
    with pytest.raises(ValueError, match="relation must be one of <, >="):
        bitweaving_scan(numpy.arange(5), 4, 3, "<=")


@pytest.mark.parametrize("features", [1, 2, 7, 64])
@pytest.mark.parametrize("executor", ["fast", "reference"])
def test_bnn_layer_matches_numpy(np_rng, features, executor):
    x_bits = np_rng.random((13, features)) < 0.5
    w_bits = np_rng.random((5, features)) < 0.5
    result = bnn_layer(x_bits, w_bits, executor=executor)
    assert_same_answer(result)


def test_bnn_layer_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="must share K"):
        bnn_layer(numpy.zeros((2, 3), bool), numpy.zeros((2, 4), bool))


def test_digits_bnn_classifies_like_numpy():
    pytest.importorskip("sklearn")
    result = digits_bnn()
    assert_same_answer(result.layer)
    assert result.accuracy == result.numpy_accuracy > 0.7
