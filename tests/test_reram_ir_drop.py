"""IR drop (cim_emu.reram.ir_drop): the effective conductances against badcrossbar and a dense
nodal solve, their tiling in programmed crossbars, the configuration, and the read path."""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings

import numpy
import pytest

from cim_emu.reram import AdcConfig, CrossbarArray, CrossbarGeometry, DeviceModel, ReramConfig, WeightMapping, WireModel
from cim_emu.reram.devices import FRACTION_BITS, to_fixed
from cim_emu.reram.ir_drop import _bit_lines, _sweep, effective_conductances, transfer_matrix

pytest.importorskip("scipy.linalg")


def dense_reference(G, r_row, r_col, r_driver=0.0, r_sense=0.0):
    """``M_eff`` by a dense nodal solve of the whole circuit (every resistance > 0): nodes
    ``u[i, j]`` (word lines) and ``w[i, j]`` (bit lines), one unit voltage per word line."""
    R, C = G.shape
    n = 2 * R * C
    A = numpy.zeros((n, n))
    u = numpy.arange(R * C).reshape(R, C)
    w = u + R * C

    def connect(a, b, g):
        A[a, a] += g
        A[b, b] += g
        A[a, b] -= g
        A[b, a] -= g

    for i in range(R):
        for j in range(C):
            connect(u[i, j], w[i, j], G[i, j])
            if j + 1 < C:
                connect(u[i, j], u[i, j + 1], 1 / r_row)
            if i + 1 < R:
                connect(w[i, j], w[i + 1, j], 1 / r_col)
    g_d, g_s = 1 / (r_row + r_driver), 1 / (r_col + r_sense)
    A[u[:, 0], u[:, 0]] += g_d
    A[w[R - 1], w[R - 1]] += g_s
    sources = numpy.zeros((n, R))
    sources[u[:, 0], numpy.arange(R)] = g_d
    v = numpy.linalg.solve(A, sources)
    return (v[w[R - 1]] * g_s).T


def test_matches_badcrossbar_on_random_crossbars():
    badcrossbar = pytest.importorskip("badcrossbar")
    logging.getLogger("badcrossbar").setLevel(logging.WARNING)
    rng = numpy.random.default_rng()
    worst = 0.0
    for trial in range(30):
        R, C = (int(v) for v in rng.integers(2, 65, 2))
        resistances = 10 ** rng.uniform(2.0, 7.0, (R, C))  # ohms: 100 ohms to 10 megaohms
        r_row, r_col = (float(10**v) for v in rng.uniform(-4.0, 3.0, 2))  # 0.1 milliohm to 1 kiloohm
        if trial % 5 == 0:
            r_row = 0.0  # one wire ideal: badcrossbar solves half the circuit
        elif trial % 5 == 1:
            r_col = 0.0
        V = rng.uniform(-1.0, 1.0, (R, 3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = badcrossbar.compute(V, resistances, r_i_word_line=r_row, r_i_bit_line=r_col).currents.output
        got = V.T @ transfer_matrix(1 / resistances, r_row, r_col)
        error = numpy.abs(got - expected) / numpy.abs(expected)
        assert error.max() < 1e-9, (R, C, r_row, r_col, error.max())
        worst = max(worst, float(error.max()))
    assert worst > 0  # the two solvers are different computations


def test_driver_and_sense_resistances_match_a_dense_nodal_solve():
    rng = numpy.random.default_rng()
    for _ in range(6):
        R, C = (int(v) for v in rng.integers(1, 13, 2))
        G = rng.uniform(0.0, 1.0, (R, C)) * (rng.random((R, C)) > 0.2)  # some open cells
        r_row, r_col, r_driver, r_sense = (float(v) for v in rng.uniform(0.001, 2.0, 4))
        expected = dense_reference(G, r_row, r_col, r_driver, r_sense)
        got = transfer_matrix(G, r_row, r_col, r_driver=r_driver, r_sense=r_sense)
        numpy.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * numpy.abs(expected).max())


def test_long_lossy_bit_lines_match_a_dense_nodal_solve():
    """Bit-line segments 10**4 times a cell's resistance over 90 rows: the chain's ratios multiply
    to below e**-600, where the inverse is formed without its two factors (no overflow)."""
    G = numpy.random.default_rng().uniform(0.5, 1.0, (90, 3))
    expected = dense_reference(G, 1e-3, 1e4)
    got = transfer_matrix(G, 1e-3, 1e4)
    assert numpy.isfinite(got).all()
    numpy.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-12 * numpy.abs(expected).max())


def test_rank_one_columns_give_the_materialised_columns_result():
    """The sweep adds each column's K as diag(d) plus one dger (never materialised), or the
    materialised K: the same M_eff to rounding, and the same output currents h."""
    rng = numpy.random.default_rng()
    G = rng.uniform(0.0, 1.0, (40, 33)) * (rng.random((40, 33)) > 0.1)
    r_row, r_col, r_sense, r_driver = 0.01, 0.02, 0.5, 0.3
    K, h = _bit_lines(G, r_col, r_sense)
    factors, h_rank_one = _bit_lines(G, r_col, r_sense, rank_one=True)
    assert isinstance(factors, tuple) and isinstance(K, numpy.ndarray)
    numpy.testing.assert_array_equal(h_rank_one, h)
    g_r, g_d = 1 / r_row, 1 / (r_row + r_driver)
    expected = _sweep(K, h, g_r, g_d)
    numpy.testing.assert_allclose(_sweep(factors, h, g_r, g_d), expected, rtol=1e-12, atol=1e-15)
    numpy.testing.assert_allclose(expected, dense_reference(G, r_row, r_col, r_driver, r_sense), rtol=1e-9)


def test_lossy_bit_lines_with_rank_one_columns_stay_finite_and_quiet():
    """66 lossy rows (chain ratios down to about e**-580): the rank-one updates leave values up to
    about e**580 in the lower triangles the sweep never reads; they stay finite and raise no
    warning. Scaled by 1e50 (conductances up, resistances down, M_eff up alike) their bound passes
    1e300 and the columns are materialised without the factors: the same M_eff, scaled."""
    G = numpy.random.default_rng().uniform(0.5, 1.0, (66, 3))
    expected = dense_reference(G, 1e-3, 1e4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(_bit_lines(G, 1e4, 0.0, rank_one=True)[0], tuple)
        assert isinstance(_bit_lines(G * 1e50, 1e-46, 0.0, rank_one=True)[0], numpy.ndarray)
        got = transfer_matrix(G, 1e-3, 1e4)
        scaled = transfer_matrix(G * 1e50, 1e-53, 1e-46)
    numpy.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-12 * numpy.abs(expected).max())
    numpy.testing.assert_allclose(scaled / 1e50, expected, rtol=1e-8, atol=1e-12 * numpy.abs(expected).max())


@pytest.mark.parametrize("r_row, r_col, r_driver, r_sense", [
    (0.0, 0.3, 0.0, 0.0), (0.0, 0.3, 0.2, 0.0), (0.3, 0.0, 0.0, 0.2), (0.0, 0.0, 0.2, 0.0), (0.0, 0.0, 0.0, 0.2),
    (0.0, 0.0, 0.2, 0.2)])
def test_a_zero_resistance_is_the_limit_of_small_ones(r_row, r_col, r_driver, r_sense):
    """Zero resistances join nodes (separate code paths); they agree with 1e-7 (of a cell's 1)."""
    G = numpy.random.default_rng().uniform(0.0, 1.0, (7, 5))
    tiny = [r or 1e-7 for r in (r_row, r_col, r_driver, r_sense)]
    expected = dense_reference(G, tiny[0], tiny[1], tiny[2] if r_driver else 0.0, tiny[3] if r_sense else 0.0)
    got = transfer_matrix(G, r_row, r_col, r_driver=r_driver, r_sense=r_sense)
    numpy.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * numpy.abs(expected).max())


def test_zero_resistance_gives_the_conductances_exactly():
    rng = numpy.random.default_rng()
    G = rng.uniform(0.0, 1.0, (3, 17, 9))
    V = rng.uniform(-1.0, 1.0, (4, 17))
    M = transfer_matrix(G, 0.0, 0.0)
    numpy.testing.assert_array_equal(M, G)
    numpy.testing.assert_array_equal(V @ M[1], V @ G[1])


def test_more_wire_resistance_never_draws_more_current():
    """Rayleigh's monotonicity: with every input at 1 V, each column gets at most its ideal
    current, and the total falls as any resistance grows; effective conductances are >= 0."""
    rng = numpy.random.default_rng()
    G = rng.uniform(0.0, 1.0, (20, 24))
    totals = []
    for r in (0.0, 1e-4, 1e-3, 1e-2, 1e-1):
        M = transfer_matrix(G, r, 2 * r, r_driver=r / 2, r_sense=r)
        assert M.min() > -1e-15
        currents = M.sum(axis=0)
        assert (currents <= G.sum(axis=0) * (1 + 1e-12)).all()
        totals.append(currents.sum())
    assert all(a > b for a, b in zip(totals, totals[1:]))


def test_bad_arguments_raise_with_their_names():
    with pytest.raises(ValueError, match="r_wire_row"):
        transfer_matrix(numpy.ones((2, 2)), -1.0, 0.0)
    with pytest.raises(ValueError, match="r_sense"):
        transfer_matrix(numpy.ones((2, 2)), 1.0, 1.0, r_sense=math.inf)
    with pytest.raises(ValueError, match="conductances"):
        transfer_matrix(-numpy.ones((2, 2)), 1.0, 1.0)
    with pytest.raises(ValueError, match="conductances"):
        transfer_matrix(numpy.ones(3), 1.0, 1.0)


@pytest.mark.parametrize("field, value", [("r_wire_row", -1.0), ("r_wire_col", math.nan), ("r_driver", math.inf),
                                          ("r_sense", "1"), ("r_on", 0.0)])
def test_wire_model_rejects_bad_values_naming_section_and_field(field, value):
    with pytest.raises((ValueError, TypeError), match=f"wires.{field}"):
        ReramConfig.from_dict({"wires": {field: value}})
    with pytest.raises((ValueError, TypeError), match=field):
        WireModel(**{field: value})


def test_wires_round_trip_and_leave_default_configs_alone():
    config = ReramConfig(wires=WireModel(r_wire_row=2.5, r_wire_col=1.0, r_sense=10.0, r_on=1e5))
    assert ReramConfig.from_json(config.to_json()) == config
    assert "wires.r_wire_row=2.5" in str(config)
    assert not config.ideal_cells and not config.exact
    assert ReramConfig().wires.ideal and ReramConfig().exact
    assert ReramConfig.from_dict({}) == ReramConfig()
    assert WireModel(r_on=50.0).ideal  # r_on alone is a unit, not a resistance in the circuit


def test_programmed_tiles_hold_each_tiles_effective_conductances():
    """Every tile (row tile x column tile, reference column as its last bit line, partial tiles as
    smaller crossbars) of every slice and polarity holds transfer_matrix of its own cells."""
    rng = numpy.random.default_rng()
    K, columns, rows, cols = 11, 7, 4, 3  # 3 row tiles (the last of 3 rows), 3 column tiles (the last of 1)
    N = columns + -(-columns // cols)  # one reference column per column tile
    g = rng.uniform(0.0, 1.0, (2, 3, K, N))
    wires = WireModel(r_wire_row=3.0, r_wire_col=7.0, r_driver=1.0, r_on=1000.0)
    out = effective_conductances(g, wires, rows=rows, cols=cols, columns=columns, threads=2)
    for p in range(2):
        for s in range(3):
            for t0 in range(0, K, rows):
                for c, n0 in enumerate(range(0, columns, cols)):
                    index = list(range(n0, min(columns, n0 + cols))) + [columns + c]
                    expected = transfer_matrix(g[p, s, t0:t0 + rows][:, index], 3e-3, 7e-3, r_driver=1e-3)
                    numpy.testing.assert_array_equal(out[p, s, t0:t0 + rows][:, index], expected)


def ir_config(**wires):
    return ReramConfig(crossbar=CrossbarGeometry(16, 8), adc=AdcConfig(bits=16), wires=WireModel(**wires))


def test_crossbars_with_ir_drop_read_their_rounded_effective_conductances():
    """With a lossless ADC the product is the fixed-point effective matrix's product, exactly:
    y = sum over tiles, slices, chunks of x_c @ rint(M_eff * L * 2**8) * 2**(s bpc + c) / 2**8."""
    rng = numpy.random.default_rng()
    config = ReramConfig(crossbar=CrossbarGeometry(16, 8), mapping=WeightMapping(4, 1), adc=AdcConfig(bits=16),
                         wires=WireModel(r_wire_row=5.0, r_wire_col=5.0, r_on=1000.0))
    W = rng.integers(-7, 8, (37, 19))
    x = rng.integers(0, 256, (6, 37))
    crossbars = CrossbarArray(W, config, seed=int(rng.integers(2**32)))
    levels = crossbars.levels.astype(numpy.float64)
    fixed = to_fixed(effective_conductances(levels / config.mapping.max_level, config.wires, rows=16, cols=8,
                                            columns=19), config.mapping.max_level)
    weights = sum(2.0 ** (s * config.mapping.bits_per_cell) * (fixed[0, s] - fixed[1, s])
                  for s in range(config.mapping.slices))
    # each partial sum is converted with round-half-up of p / 2**8: compare within half a code each
    y = crossbars.matmul(x)
    ideal = x @ weights / 2**FRACTION_BITS
    bound = 3 * 2 * 7 * 255 / 2  # 1/2 code per conversion: tiles x polarities x sum 2**s x sum 2**c / 2
    assert 0 < numpy.abs(y - ideal).max() <= bound
    assert numpy.abs(y - x @ W).max() > 10  # and IR drop is visible
    zero = CrossbarArray(W, dataclasses.replace(config, wires=WireModel()), seed=1)
    numpy.testing.assert_array_equal(zero.matmul(x), x @ W)


def test_ir_drop_error_grows_with_wire_resistance_and_tile_size():
    rng = numpy.random.default_rng()
    W = rng.integers(-127, 128, (64, 16))
    x = rng.integers(0, 256, (8, 64))
    exact = x @ W

    def error(rows, r):
        config = ReramConfig(crossbar=CrossbarGeometry(rows, 16), adc=AdcConfig(bits=14),
                             wires=WireModel(r_wire_row=r, r_wire_col=r, r_on=1e4))
        y = CrossbarArray(W, config).matmul(x)
        return float(numpy.abs(y - exact).mean())

    assert error(64, 0.0) == 0.0
    assert error(64, 0.5) < error(64, 2.0) < error(64, 8.0)
    assert error(16, 2.0) < error(64, 2.0)


def test_ir_drop_composes_with_device_noise_and_at_time():
    rng = numpy.random.default_rng()
    W = rng.integers(-127, 128, (40, 10))
    x = rng.integers(0, 256, (3, 40))
    devices = DeviceModel(programming_noise=0.02, drift_nu_mean=0.05)
    config = dataclasses.replace(ir_config(r_wire_row=1.0, r_wire_col=1.0), devices=devices)
    crossbars = CrossbarArray(W, config, seed=5)
    later = crossbars.at_time(1e6)
    y0, y1 = crossbars.matmul(x, read_index=0), later.matmul(x, read_index=0)
    assert not numpy.array_equal(y0, y1)
    again = CrossbarArray(W, config, seed=5).matmul(x, read_index=0)
    numpy.testing.assert_array_equal(y0, again)  # programming is deterministic
