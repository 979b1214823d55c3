"""IR drop: its effect on products and on the digits CNN, and what it costs (issue 17).

* :func:`product_errors`: the relative error of crossbar products ``x @ W`` (random full-range
  weights and inputs) against the exact product, for square tiles of each size and each wire
  resistance (``r_wire_row = r_wire_col``), ideal cells otherwise: of the currents themselves
  (IR drop's alone), and through the crossbars (fixed point, lossless ADC);
* :func:`cnn_accuracies`: the digits CNN of :mod:`cim_emu.studies.digits_cnn` converted with
  each tile size and wire resistance (8-bit ADC, input scales calibrated), its test accuracy;
* :func:`ir_drop_timing`: programming a ``K x N`` layer with and without IR drop, and reading
  it, timed by :mod:`cim_emu.studies.timing` (interleaved rounds, medians, threads stated): the
  measurement of ``bench/test_reram_ir_drop.py``.

``scripts/ir_drop_study.py`` writes the first two to ``docs/ir_drop/``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Sequence

import numpy

from ..gpu.host_native import chosen
from ..reram import AdcConfig, CrossbarArray, CrossbarGeometry, DeviceModel, ReramConfig, WireModel, ir_drop_native
from ..reram.ir_drop import effective_conductances
from .timing import Driver, interleaved, pinned_threads, plausibility

#: Cell resistance at g_max used by the study: 25 kOhm (Wan et al. 2022's g_max of 40 uS).
STUDY_R_ON = 25e3


def study_config(rows: int, r_wire: float, adc_bits: Optional[int] = None, r_on: float = STUDY_R_ON) -> ReramConfig:
    """ISAAC-like defaults with square ``rows x rows`` tiles and wire segments of ``r_wire`` ohms."""
    return ReramConfig(crossbar=CrossbarGeometry(rows, rows), adc=AdcConfig(bits=adc_bits),
                       wires=WireModel(r_wire_row=r_wire, r_wire_col=r_wire, r_on=r_on))


def product_errors(tile_sizes: Sequence[int], resistances: Sequence[float], *, K: int = 256, N: int = 256,
                   batch: int = 64, seed: int = 0, r_on: float = STUDY_R_ON) -> list:
    """``[{rows, r_wire, r_wire_over_r_on, analog_relative_rms_error, relative_rms_error,
    relative_mean_error}]`` of one random ``(batch, K) @ (K, N)`` (8-bit inputs and weights) for
    every tile size and wire resistance, relative to the exact product's RMS:

    * ``analog_...``: the currents themselves, ``x @ W_eff`` in float64 with ``W_eff`` the
      weights the effective conductances hold (``sum_s 2**(s bpc) L (M+_s - M-_s)``), before the
      fixed point and the ADC;
    * the others: the crossbars' products (fixed point, lossless unit-step ADC, which rounds each
      partial sum to whole level steps and so hides drops under half a step); ``mean`` keeps the
      sign (IR drop lowers the currents, so the products shrink towards 0)."""
    rng = numpy.random.default_rng(seed)
    W = rng.integers(-127, 128, (K, N))
    x = rng.integers(0, 256, (batch, K))
    exact = x @ W
    scale = float(numpy.sqrt(numpy.mean(exact.astype(numpy.float64) ** 2)))
    rows_out = []
    for rows in tile_sizes:
        for r_wire in resistances:
            config = study_config(rows, r_wire, r_on=r_on)
            crossbars = CrossbarArray(W, config, seed=seed)
            y = crossbars.matmul(x)
            mapping = config.mapping
            g = crossbars.levels.astype(numpy.float64) / mapping.max_level
            if not config.wires.ideal:
                g = effective_conductances(g, config.wires, rows=rows, cols=rows, columns=N)
            W_eff = mapping.max_level * sum(2.0 ** (s * mapping.bits_per_cell) * (g[0, s] - g[1, s])
                                            for s in range(mapping.slices))
            error = (y - exact).astype(numpy.float64)
            shrink = float(numpy.sum(error * numpy.sign(exact)) / numpy.sum(numpy.abs(exact)))
            rows_out.append({"rows": rows, "r_wire": r_wire, "r_wire_over_r_on": r_wire / r_on,
                             "analog_relative_rms_error": float(numpy.sqrt(numpy.mean((x @ W_eff - exact) ** 2)))
                             / scale,
                             "relative_rms_error": float(numpy.sqrt(numpy.mean(error**2))) / scale,
                             "relative_mean_error": shrink})
    return rows_out


def cnn_accuracies(tile_sizes: Sequence[int], resistances: Sequence[float], *, epochs: int = 15, seed: int = 0,
                   adc_bits: int = 8, r_on: float = STUDY_R_ON) -> dict:
    """``{"float": accuracy, "points": [{rows, r_wire, accuracy}]}`` of the digits CNN converted
    with every tile size and wire resistance (ideal cells, ``adc_bits`` ADC, input scales
    calibrated on the training set)."""
    from ..nn import calibrate, convert  # noqa: PLC0415 - needs torch
    from .digits_cnn import accuracy, load_digits_tensors, require_torch, small_cnn, train  # noqa: PLC0415

    require_torch().manual_seed(seed)
    x_train, y_train, x_test, y_test = load_digits_tensors(seed)
    model = train(small_cnn(), x_train, y_train, epochs, 0.01, seed)
    points = []
    for rows in tile_sizes:
        for r_wire in resistances:
            converted = convert(model, study_config(rows, r_wire, adc_bits, r_on), seed=seed)
            calibrate(converted, x_train)
            points.append({"rows": rows, "r_wire": r_wire, "r_wire_over_r_on": r_wire / r_on,
                           "accuracy": accuracy(converted, x_test, y_test)})
    return {"float": accuracy(model, x_test, y_test), "adc_bits": adc_bits, "points": points}


def _by_python_sweep(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` with IR drop solved by the Python sweep (``CIM_EMU_NATIVE=0``)."""
    with chosen("0"):
        return function(*args, **kwargs)


def ir_drop_timing(*, batch: int = 256, K: int = 1024, N: int = 1024, rows: int = 128, r_wire: float = 1.0,
                   program_rounds: int = 7, read_rounds: int = 7, threads: Optional[int] = None,
                   driver: Optional[Driver] = None, seed: int = 0) -> dict:
    """Programming and reading a ``K x N`` layer of ``rows x rows`` tiles with IR drop (wire
    segments of ``r_wire`` ohms, ``r_on`` 25 kOhm) and without, with programming noise 0.01 in
    both so that the two reads take the same path (fixed-point cells, 6-bit ADC); and the read
    of ideal cells (integer levels, packed sums) for reference. Interleaved rounds, medians.

    Returns ``programming`` (IR drop against none: ``emulator_s``, ``baseline_s``, ...; and the
    solve alone (``effective_conductances`` of random conductances), the sweep that runs against
    the Python sweep in its own interleaved rounds: ``solve_emulator_s``, ``solve_baseline_s``,
    ``solve_ratio_to_baseline``, ...; no warm-up round, ``None`` when ``program_rounds`` is 0) and
    ``read`` (the read with IR drop against the same read without, ``ratio_to_baseline``; and
    ``ideal_cells_s``), ``correct`` (the read with zero wire resistance equals the baseline's
    bits, and IR drop changes them), ``threads``, ``sweep`` (which solved IR drop: native or
    Python, :func:`cim_emu.reram.ir_drop_native.status`)."""
    rng = numpy.random.default_rng(seed)
    W = rng.integers(-127, 128, (K, N))
    x = rng.integers(0, 256, (batch, K))
    noisy = dataclasses.replace(study_config(rows, 0.0, adc_bits=6), devices=DeviceModel(programming_noise=0.01))
    wired = dataclasses.replace(noisy, wires=dataclasses.replace(noisy.wires, r_wire_row=r_wire, r_wire_col=r_wire))
    ideal = study_config(rows, 0.0, adc_bits=6)
    with pinned_threads(threads) as pinned:
        programming = None
        if program_rounds:
            programming = interleaved({"baseline": lambda: CrossbarArray(W, noisy, seed=seed),
                                       "emulator": lambda: CrossbarArray(W, wired, seed=seed)}, program_rounds,
                                      warmup=False).record()
            g = rng.uniform(0.0, 1.0, (noisy.mapping.polarities, noisy.mapping.slices, K, N))
            solve = interleaved({"baseline": lambda: _by_python_sweep(effective_conductances, g, wired.wires,
                                                                       rows=rows, cols=rows, columns=N),
                                 "emulator": lambda: effective_conductances(g, wired.wires, rows=rows, cols=rows,
                                                                            columns=N)}, program_rounds,
                                warmup=False).record()
            programming.update({f"solve_{key}": value for key, value in solve.items()})
        plain, drop, exact = (CrossbarArray(W, config, seed=seed) for config in (noisy, wired, ideal))
        same = CrossbarArray(W, dataclasses.replace(wired, wires=WireModel(r_on=STUDY_R_ON)), seed=seed)
        y_plain = plain.matmul(x, read_index=0)
        correct = bool(numpy.array_equal(same.matmul(x, read_index=0), y_plain)
                       and not numpy.array_equal(drop.matmul(x, read_index=0), y_plain))
        reads = interleaved({"baseline": lambda: plain.matmul(x, read_index=0),
                             "ideal_cells": lambda: exact.matmul(x, read_index=0, method="pipeline"),
                             "emulator": lambda: drop.matmul(x, read_index=0)}, read_rounds, driver=driver)
    read = reads.record()
    read.update(ideal_cells_s=reads.wall("ideal_cells"), ratio_to_ideal_cells=reads.wall("emulator")
                / reads.wall("ideal_cells"), **plausibility(read["ratio_to_baseline"], 1.0,
                                                            "the same products, ADC and shift-and-add"))
    tiles = -(-K // rows) * -(-N // rows) * noisy.mapping.slices * noisy.mapping.polarities
    return {"shape": [batch, K, N], "rows": rows, "r_wire": r_wire, "r_on": STUDY_R_ON, "tiles_solved": tiles,
            "programming": programming, "read": read, "correct": correct, "threads": pinned,
            "sweep": ir_drop_native.status()}
