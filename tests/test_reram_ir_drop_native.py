"""The native IR-drop sweep (``kernels/ir_drop_sweep.cpp`` through cim_emu.reram.ir_drop_native):
the very bits of the Python sweep on every branch of the solve, on fresh random tiles; the same
programmed layer whatever the path and the thread count; and the choice between the paths."""

from __future__ import annotations

import os
from unittest import mock

import numpy
import pytest

from cim_emu.gpu import ShimUnavailableError, cpu_shim
from cim_emu.gpu.host_native import chosen
from cim_emu.reram import ir_drop_native
from cim_emu.reram.ir_drop import WireModel, _bit_lines, _sweep, effective_conductances, transfer_matrix

pytest.importorskip("scipy.linalg")

NO_COMPILER = cpu_shim.skip_reason()
needs_compiler = pytest.mark.skipif(NO_COMPILER is not None, reason=str(NO_COMPILER))


def both(function, *args, **kwargs):
    """``function(*args, **kwargs)`` by the Python sweep and by the native one."""
    with chosen("0"):
        python = function(*args, **kwargs)
    with chosen("1"):
        native = function(*args, **kwargs)
    return python, native


def tiles(rng):
    """Random conductances (a tenth of the cells off) of random shapes, the edge shapes included."""
    shapes = [(1, 1), (1, int(rng.integers(2, 40))), (int(rng.integers(2, 40)), 1),
              tuple(int(v) for v in rng.integers(2, 90, 2)), (128, 128)]
    return [rng.uniform(0.0, 1.0, shape) * (rng.random(shape) > 0.1) for shape in shapes]


#: (r_wire_row, r_wire_col, r_driver, r_sense), in units of r_on: each reaches another branch of the
#: solve (rank-one columns; bit lines as one node or as ground, materialised; word lines so much
#: better conductors than the cells that the admittance update is the exact product, for all
#: columns or for the first few; drivers and sense amplifiers of their own resistance).
WIRES = [(0.01, 0.02, 0.0, 0.0), (0.3, 0.0, 0.0, 0.2), (0.3, 0.0, 0.0, 0.0), (1e-6, 1e-6, 0.0, 0.0),
         (1e-5, 4e-5, 0.1, 0.05), (4e-5, 4e-5, 0.0, 0.0), (1.0, 0.5, 2.0, 3.0)]


@needs_compiler
@pytest.mark.parametrize("wires", WIRES)
def test_the_native_sweep_gives_the_python_sweeps_bits(wires):
    r_row, r_col, r_driver, r_sense = wires
    for G in tiles(numpy.random.default_rng()):
        python, native = both(transfer_matrix, G, r_row, r_col, r_driver=r_driver, r_sense=r_sense)
        assert numpy.isfinite(python).all()
        numpy.testing.assert_array_equal(native, python)


@needs_compiler
def test_materialised_columns_give_the_same_bits_on_both_paths():
    """The columns' K materialised (the form of chains too long or lossy for the rank-one factors)."""
    rng = numpy.random.default_rng()
    for G in tiles(rng)[2:]:
        K, h = _bit_lines(G, 0.02, 0.5)
        assert isinstance(K, numpy.ndarray)
        python, native = both(_sweep, K, h, 1 / 0.01, 1 / 0.3)
        numpy.testing.assert_array_equal(native, python)
    G = rng.uniform(0.5, 1.0, (66, 3)) * 1e50  # past the rank-one form's bound: materialised without the factors
    python, native = both(transfer_matrix, G, 1e-53, 1e-46)
    numpy.testing.assert_array_equal(native, python)


@needs_compiler
def test_a_matrix_that_is_not_positive_definite_is_the_same_error_on_both_paths():
    R, C = 9, 4
    K = numpy.zeros((C, R, R))
    K[:, numpy.arange(R), numpy.arange(R)] = -10.0  # cells of negative conductance: no crossbar has them
    h = numpy.ones((C, R))
    for choice in ("0", "1"):
        with chosen(choice), pytest.raises(ValueError, match="not positive definite"):
            _sweep(K, h, 1.0, 1.0)


@needs_compiler
def test_a_programmed_layer_is_the_same_on_either_path_and_any_thread_count():
    rng = numpy.random.default_rng()
    g = rng.uniform(0.0, 1.0, (2, 2, 70, 45))  # polarities, slices, rows, columns + reference columns
    wires = WireModel(r_wire_row=20.0, r_wire_col=30.0, r_sense=5.0)
    with chosen("0"):
        python = effective_conductances(g, wires, rows=32, cols=16, columns=42, threads=1)
    with chosen("1"):
        native = effective_conductances(g, wires, rows=32, cols=16, columns=42, threads=2)
    numpy.testing.assert_array_equal(native, python)
    assert not numpy.array_equal(native, g)


@pytest.fixture
def fresh_build(monkeypatch):
    """The native build forgotten, to be made again in this test (restored afterwards)."""
    monkeypatch.setattr(ir_drop_native.BUILD, "_result", None)


def test_without_a_compiler_python_sweeps_silently_unless_native_is_required(fresh_build, monkeypatch, recwarn):
    monkeypatch.setattr(cpu_shim, "host_library", mock.Mock(side_effect=ShimUnavailableError("no compiler here")))
    G = numpy.random.default_rng().uniform(0.0, 1.0, (12, 7))
    with chosen("0"):
        expected = transfer_matrix(G, 0.01, 0.02)
    with chosen("auto"):
        numpy.testing.assert_array_equal(transfer_matrix(G, 0.01, 0.02), expected)
        assert ir_drop_native.status() == "Python (no compiler here)" and not recwarn.list
    with chosen("1"), pytest.raises(ShimUnavailableError, match="CIM_EMU_NATIVE=1"):
        transfer_matrix(G, 0.01, 0.02)


@needs_compiler
def test_a_failing_build_warns_once_and_python_sweeps(fresh_build, monkeypatch):
    monkeypatch.setattr(cpu_shim, "host_library", mock.Mock(side_effect=RuntimeError("compiler exploded")))
    G = numpy.random.default_rng().uniform(0.0, 1.0, (12, 7))
    with chosen("0"):
        expected = transfer_matrix(G, 0.01, 0.02)
    with chosen("auto"):
        with pytest.warns(RuntimeWarning, match="compiler exploded"):
            numpy.testing.assert_array_equal(transfer_matrix(G, 0.01, 0.02), expected)
        numpy.testing.assert_array_equal(transfer_matrix(G, 0.01, 0.02), expected)
    assert cpu_shim.host_library.call_count == 1


def test_status_names_the_path(monkeypatch):
    monkeypatch.setenv(ir_drop_native.NATIVE_ENV, "0")
    assert ir_drop_native.status() == "Python (CIM_EMU_NATIVE=0)"
    monkeypatch.setenv(ir_drop_native.NATIVE_ENV, "auto")
    assert ir_drop_native.status().split()[0] == ("Python" if NO_COMPILER else "native")


def test_info_says_which_sweep(invoke, monkeypatch):
    monkeypatch.setenv(ir_drop_native.NATIVE_ENV, "0")
    assert "ir drop sweep    Python (CIM_EMU_NATIVE=0)" in invoke("info").stdout
    monkeypatch.setenv(ir_drop_native.NATIVE_ENV, "auto")
    assert invoke("info").stdout.split("ir drop sweep")[1].split()[0] == ("Python" if NO_COMPILER else "native")


def test_the_choice_is_set_for_a_block_and_restored(monkeypatch):
    monkeypatch.setenv(ir_drop_native.NATIVE_ENV, "auto")
    with chosen("0"):
        assert ir_drop_native.status() == "Python (CIM_EMU_NATIVE=0)"
    assert ir_drop_native.status().split()[0] == ("Python" if NO_COMPILER else "native")
    monkeypatch.delenv(ir_drop_native.NATIVE_ENV)
    with chosen("1"):
        pass
    assert ir_drop_native.NATIVE_ENV not in os.environ
    with pytest.raises(ValueError, match="CIM_EMU_NATIVE must be one of auto, 0, 1"):
        with chosen("yes"):
            pass
