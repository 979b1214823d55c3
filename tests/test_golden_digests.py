"""Golden digests: the bits every public entry point gives today, pinned before the redesign.

Written once, before the redesign of issue 13, from the code as it stood then (commit fa1c611,
computed on a clean ``git archive`` of it, as the working tree was already being edited).
Each case below computes the outputs of one public entry point over fixed inputs — drawn from
``numpy.random.default_rng`` with fixed seeds — with faults and noise switched on wherever the
entry point has them, and ``tests/golden_digests.json`` holds the sha256 of those outputs. The
redesign must leave every digest unchanged: bit-exact is the contract, floats included.

**Never regenerate the JSON to make this test pass.** A changed digest means changed bits (or a
changed dtype or shape): find out why, and fix the code. The only edit a case may need after
the redesign is the import line at its top (e.g. ``cim_emu.torch`` becoming ``cim_emu.nn``) or
an attribute that was renamed; the inputs, the options and the returned values stay as they
are. A case whose outputs *must* change (a deliberate, documented change of the bits) is
removed from the table and from the JSON by hand, with the reason in the commit message; new
cases go in another file, since they cannot have a digest from before the redesign.

Regenerating (only for a table extended *before* the redesign lands, on the pre-redesign code)::

    python tests/test_golden_digests.py --write   # rewrites tests/golden_digests.json
    python tests/test_golden_digests.py           # lists the cases whose digest differs

Digest of a value (:func:`digest`): the value is a leaf (numpy array, torch tensor, Python
number, bool, str or None) or a dict / tuple / list of values. Every leaf becomes a numpy array
in C order converted to a canonical dtype (bool; signed integers to ``<i8``; unsigned to
``<u8``; floats to ``<f8``, exactly). The hash takes, per leaf in order (dict keys sorted), the
text ``path|original dtype|canonical dtype|shape`` and then the canonical bytes.

Input caveat: the inputs come from ``numpy.random.default_rng`` (``random``, ``integers``,
``standard_normal``). NumPy does not promise that a Generator's streams never change between
releases; the case ``inputs/numpy_default_rng_streams`` pins them, so that if it fails along
with many others after a numpy upgrade, the inputs moved, not cim-emu.

The checks beside the digests make sure the table cannot pass vacuously: every engine's faulty
or noisy case differs from its fault-free twin, cases that must agree (the two Ambit executors,
a batch split over calls, the column blocks spread over threads) do, and the hard-coded lists
of operations still match the library's.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy
import pytest

GOLDEN_PATH = Path(__file__).with_name("golden_digests.json")


# --------------------------------------------------------------------------- digests


def _leaves(value: Any, path: str = "") -> Any:
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key], f"{path}/{key}")
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


_CANONICAL = {"b": numpy.dtype(bool), "i": numpy.dtype("<i8"), "u": numpy.dtype("<u8"), "f": numpy.dtype("<f8")}


def _canonical(value: Any) -> tuple[str, numpy.ndarray]:
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    array = numpy.asarray(value)
    if array.dtype.kind not in _CANONICAL:
        raise TypeError(f"cannot digest an array of dtype {array.dtype}")
    return array.dtype.name, numpy.ascontiguousarray(array, dtype=_CANONICAL[array.dtype.kind])


def digest(value: Any) -> str:
    """sha256 (hex) of ``value``: see the module docstring."""
    sha = hashlib.sha256()
    for path, leaf in _leaves(value):
        if leaf is None or isinstance(leaf, str):
            sha.update(f"{path}|{type(leaf).__name__}|{leaf}\n".encode())
            continue
        original, array = _canonical(leaf)
        sha.update(f"{path}|{original}|{array.dtype.str}|{array.shape}\n".encode())
        sha.update(array.tobytes())
    return sha.hexdigest()


def _rng(label: str) -> numpy.random.Generator:
    """The input generator of one case: ``default_rng`` seeded with the CRC-32 of a fixed label."""
    return numpy.random.default_rng(zlib.crc32(label.encode()))


def _bits(rng: numpy.random.Generator, n: int) -> numpy.ndarray:
    return rng.random(n) < 0.5


# --------------------------------------------------------------------------- inputs sentinel


def inputs_numpy_default_rng_streams() -> dict:
    rng = _rng("inputs")
    return {"random": rng.random(64), "integers": rng.integers(-128, 128, 64),
            "uint8": rng.integers(0, 256, 64, dtype=numpy.uint8), "normal": rng.standard_normal(64),
            "crc32": numpy.array([zlib.crc32(b"ambit/bulk/and")], dtype=numpy.uint64)}


# --------------------------------------------------------------------------- cim_emu.rng

_BIG_SEED = 2**64 - 12345
_BIG_STREAM = 0xA1 << 56 | 77


def _rng_index() -> numpy.ndarray:
    low = numpy.arange(0, 41, dtype=numpy.uint64)
    high = numpy.uint64(2**64 - 1) - numpy.arange(0, 23, dtype=numpy.uint64)
    scattered = _rng("rng/index").integers(0, 2**63, 200, dtype=numpy.uint64) * numpy.uint64(2) + numpy.uint64(1)
    return numpy.concatenate([low, high, scattered]).reshape(-1, 8)


def rng_philox4x32_known_and_random() -> tuple:
    from cim_emu.rng import philox4x32

    rng = _rng("rng/philox")
    counter = tuple(rng.integers(0, 2**32, 37, dtype=numpy.uint32) for _ in range(4))
    key = tuple(rng.integers(0, 2**32, 37, dtype=numpy.uint32) for _ in range(2))
    return philox4x32((0, 0, 0, 0), (0, 0)), philox4x32(counter, key), philox4x32(counter, (2**32 - 1, 12345))


def rng_uniform_uint32_ranges() -> tuple:
    from cim_emu.rng import uniform_uint32

    return (uniform_uint32(0, 0, 0, 1001), uniform_uint32(_BIG_SEED, _BIG_STREAM, 3, 999),
            uniform_uint32(7, 2**64 - 1, 2**64 - 77, 77), uniform_uint32(1, 2, 5, 0))


def rng_random_uint32_at_indices() -> tuple:
    from cim_emu.rng import random_uint32

    index = _rng_index()
    return random_uint32(0, 0, index), random_uint32(_BIG_SEED, _BIG_STREAM, index)


def rng_bernoulli_ranges() -> tuple:
    from cim_emu.rng import bernoulli

    return tuple(bernoulli(_BIG_SEED, 3, 5, 2003, p) for p in (0.0, 2**-32, 0.01, 0.3, 0.5, 0.999, 1.0))


def rng_bernoulli_at_indices() -> tuple:
    from cim_emu.rng import bernoulli_at

    return tuple(bernoulli_at(11, _BIG_STREAM, _rng_index(), p) for p in (0.01, 0.5, 1 - 2**-20))


def rng_bernoulli_thresholds() -> numpy.ndarray:
    from fractions import Fraction

    from cim_emu.rng import bernoulli_threshold

    ps = [0, 1, 0.5, 1 / 3, 2**-33, 3 * 2**-33, 0.1, 0.999999999, numpy.float32(0.1), Fraction(1, 7)]
    return numpy.array([bernoulli_threshold(p) for p in ps], dtype=numpy.int64)


def rng_normal_ranges() -> tuple:
    from cim_emu.rng import normal

    return normal(0, 0, 0, 1001), normal(_BIG_SEED, _BIG_STREAM, 2**40 + 1, 4099)


def rng_normal_at_indices() -> tuple:
    from cim_emu.rng import normal_at

    return normal_at(0, 0, _rng_index()), normal_at(_BIG_SEED, 5, _rng_index())


def rng_normal_table() -> numpy.ndarray:
    from cim_emu.rng import normal_table

    return normal_table()


def rng_draws_cover_both_tails() -> numpy.ndarray:
    """Normal draws whose uint32 falls in the two outer cells (the table's tail entries)."""
    from cim_emu.rng import normal, uniform_uint32

    u = uniform_uint32(3, 9, 0, 400_000)
    tails = numpy.flatnonzero((u >> 16 == 0) | (u >> 16 == 65535))
    return numpy.stack([tails, normal(3, 9, 0, 400_000)[tails].view(numpy.int64)])


def bits_random_row_and_packing() -> tuple:
    from cim_emu.bits import constant_row, pack_bits, random_row, unpack_bits

    bits = _bits(_rng("bits/pack"), 1000)
    words = pack_bits(bits)
    return (random_row(_BIG_SEED, 4, 3001), words, unpack_bits(words, 1000), constant_row(1, 3001),
            constant_row(1, 3001, word_offset=40, count=7))


# --------------------------------------------------------------------------- Ambit

#: The library's operations and their number of inputs (checked against ambit.library.OPERATIONS).
AMBIT_OPS = {"copy": 1, "not": 1, "and": 2, "or": 2, "nand": 2, "nor": 2, "xor": 2, "xnor": 2, "maj": 3}
AMBIT_EXECUTORS = ("fast", "reference")
AMBIT_BITS = 3001  # rows of a few thousand bits, the last word partly padding


def _ambit_faults(**changes: Any) -> Any:
    from cim_emu.ambit import TraFaultModel

    options = dict(flip_probability=0.01, weak_column_fraction=0.05, weak_column_flip_probability=0.5,
                   seed=0xC0FFEE)
    return TraFaultModel(**{**options, **changes})


def _ambit_cost(cost: Any) -> dict:
    return {"AAP": cost.commands.get("AAP", 0), "AP": cost.commands.get("AP", 0),
            "other_commands": sum(n for op, n in cost.commands.items() if op not in ("AAP", "AP")),
            "row_bits": cost.row_bits, "physical_rows": cost.physical_rows, "commands_issued": cost.commands_issued,
            "latency_ns": cost.latency_ns, "energy_nj": cost.energy_nj,
            "throughput_bytes_per_s": cost.throughput_bytes_per_s}


def ambit_bulk(op: str, executor: str, faults: str = "flips_and_weak_columns", packed: bool = False,
               n_bits: int = AMBIT_BITS) -> dict:
    from cim_emu.ambit import TraFaultModel, bulk_op
    from cim_emu.bits import pack_bits

    model = {"none": None, "flips_and_weak_columns": _ambit_faults(),
             "ambit_spice_15": TraFaultModel.ambit_spice(15, seed=99),
             "simra_ddr4_maj3": TraFaultModel.simra_ddr4_maj3(seed=2**64 - 3)}[faults]
    rng = _rng(f"ambit/bulk/{op}")
    operands = [_bits(rng, n_bits) for _ in range(AMBIT_OPS[op])]
    if packed:
        operands = [pack_bits(bits) for bits in operands]
        result = bulk_op(op, *operands, n_bits=n_bits, faults=model, executor=executor)
    else:
        result = bulk_op(op, *operands, faults=model, executor=executor)
    return {"value": result.value, "cost": _ambit_cost(result.cost), "cpu_energy_nj": result.cpu_energy_nj,
            "commands": len(result.program)}


#: A random legal program (fixed text), generated once from default_rng(20240613) with TRAs on
#: B12..B15, dual-contact rows and constants (a comment, a blank line and a lower-case line added
#: by hand); run twice, so that the second run's TRAs are numbered on from the first's.
AMBIT_PROGRAM = """\
# random program of 40 commands over D0..D5
AP B15
AAP D2 B11
AAP D0 B2
AAP B12 D3   # triple-row activation
AAP B0 B9
AAP C0 B1
AAP B1 B1
AAP B6 D4
AAP C1 D2
AAP B14 B4
AAP B0 D2
AAP B5 B12
AP B15
AP B15
AP B13
AAP B2 B0
AP B15
AAP C0 B11
AAP B4 D5
AP B13
AP B14
AAP D1 B1
AP B12
AAP B2 D3
aap d2 b0
AAP D3 B0
AP B12
AP B14
AAP B0 B6
AAP B14 D3
AP B14
AAP B6 B15
AP B12
AAP B13 B3
AAP D4 B8

AAP B14 D2
AAP B4 B12
AAP D0 B12
AP B13
AAP B14 D3
"""


def ambit_subarray_program(executor: str, faulty: bool = True, chunk_words: Any = None) -> dict:
    from cim_emu.ambit import Subarray

    n_bits, data_rows = 2500, 6
    rng = _rng("ambit/subarray")
    subarray = Subarray(n_bits, data_rows, faults=_ambit_faults(seed=2**63 + 5) if faulty else None)
    for row in [*range(data_rows), "T0", "T1", "T2", "T3", "DCC0", "DCC1"]:
        subarray.write_bits(row, _bits(rng, n_bits))
    first = subarray.run(AMBIT_PROGRAM, executor=executor, chunk_words=chunk_words)
    second = subarray.run(AMBIT_PROGRAM, executor=executor, chunk_words=chunk_words)
    tra_after_runs = subarray.tra_count
    subarray.aap("D0", "B0")  # the single-command API: a MAJ into D5 and a NOT into D4
    subarray.aap("D1", "B1")
    subarray.aap("D2", "B2")
    subarray.ap("B12")
    subarray.aap("B12", "D5")
    subarray.aap("D5", "B5")
    subarray.aap("B4", "D4")
    state = subarray.state()
    return {"rows": {name: words for name, words in state.items()}, "tra_count": [tra_after_runs, subarray.tra_count],
            "cost": [_ambit_cost(first), _ambit_cost(second)]}


# --------------------------------------------------------------------------- SIMDRAM

#: SIMDRAM operations: (number of operands, whether the first is a bool condition); checked
#: against simdram.OPERATIONS.
SIMDRAM_OPS = {
    "add": (2, False), "sub": (2, False), "mul": (2, False), "div": (2, False), "neg": (1, False),
    "abs": (1, False), "relu": (1, False), "equal": (2, False), "greater": (2, False),
    "greater_equal": (2, False), "min": (2, False), "max": (2, False), "if_else": (3, True),
    "bitcount": (1, False), "and_reduce": (1, False), "or_reduce": (1, False), "xor_reduce": (1, False),
}  # fmt: skip
SIMDRAM_ELEMENTS = 1000
#: Operations also run on the reference executor with faults (the others on the fast one only).
SIMDRAM_BOTH_EXECUTORS = ("add", "mul", "div", "abs", "greater", "max", "if_else", "bitcount", "xor_reduce")


def _simdram_faults() -> Any:
    from cim_emu.ambit import TraFaultModel

    return TraFaultModel(flip_probability=0.003, weak_column_fraction=0.02, weak_column_flip_probability=0.25,
                         seed=0x5D5D)


def _simdram_operands(op: str, signed: bool) -> list:
    arity, condition_first = SIMDRAM_OPS[op]
    rng = _rng(f"simdram/{op}/{'signed' if signed else 'unsigned'}")
    operands = []
    for index in range(arity):
        if condition_first and index == 0:
            operands.append(_bits(rng, SIMDRAM_ELEMENTS))
        elif signed:  # 6-bit two's complement, zeros and the extremes included
            operands.append(rng.integers(-32, 32, SIMDRAM_ELEMENTS, dtype=numpy.int8))
        else:
            operands.append(rng.integers(0, 256, SIMDRAM_ELEMENTS, dtype=numpy.uint8))
    return operands


def simdram(op: str, signed: bool, faulty: bool, executor: str = "fast") -> dict:
    from cim_emu.simdram import simdram_op

    result = simdram_op(op, *_simdram_operands(op, signed), bits=6 if signed else 8, signed=signed,
                        executor=executor, faults=_simdram_faults() if faulty else None)
    return {"value": result.value, "cost": _ambit_cost(result.cost), "rows_used": result.rows_used,
            "commands": result.commands, "elements_per_second": result.elements_per_second}


def simdram_modelled_costs() -> dict:
    from cim_emu.simdram import modelled_cost

    costs = {f"{op}/{bits}/{signed}": _ambit_cost(modelled_cost(op, bits, 10**6, signed=signed))
             for op in SIMDRAM_OPS for bits, signed in ((8, False), (6, True))}  # the programs run above
    costs["add/32/False/65537"] = _ambit_cost(modelled_cost("add", 32, 65537))
    return costs


def simdram_layout_roundtrip() -> tuple:
    from cim_emu.simdram import from_vertical, to_vertical

    values = _rng("simdram/layout").integers(-(2**12), 2**12, 777)
    planes = to_vertical(values, 13, True)
    return planes, from_vertical(planes, 777, signed=True)


def simdram_bitmap_query() -> dict:
    from cim_emu.simdram.applications import bitmap_query

    bitmaps = _rng("simdram/bitmap").random((6, 2000)) < 0.6
    result = bitmap_query(bitmaps, all_of=[0, 2], any_of=[1, 4], none_of=[5])
    return {"answer": result.answer, "cost": _ambit_cost(result.cost)}


def simdram_bitweaving_scan() -> dict:
    from cim_emu.simdram.applications import bitweaving_scan

    column = _rng("simdram/bitweaving").integers(0, 2**10, 1500)
    result = bitweaving_scan(column, 10, 357, ">=")
    return {"answer": result.answer, "cost": _ambit_cost(result.cost)}


def simdram_bnn_layer() -> dict:
    from cim_emu.simdram.applications import bnn_layer

    rng = _rng("simdram/bnn")
    result = bnn_layer(rng.random((12, 20)) < 0.5, rng.random((7, 20)) < 0.5)
    return {"answer": result.answer, "cost": _ambit_cost(result.cost)}


# --------------------------------------------------------------------------- ReRAM

#: (K, N, batch) of the integer products: smaller with device noise, whose draws dominate the time.
RERAM_SHAPE = {"ideal": (300, 64, 24), "noisy": (300, 32, 8)}


def _reram_config(name: str) -> Any:
    from cim_emu.reram import AdcConfig, CrossbarGeometry, DeviceModel, InputEncoding, ReramConfig, WeightMapping

    return {
        "lossless_ideal": lambda: ReramConfig(),
        "adc6_per_polarity": lambda: ReramConfig(adc=AdcConfig(bits=6)),
        "adc5_full_scale_clipping": lambda: ReramConfig(adc=AdcConfig(bits=5, full_scale=150)),
        "signed_adc_subtract": lambda: ReramConfig(mapping=WeightMapping(differential_readout="subtract"),
                                                   adc=AdcConfig(bits=7)),
        "offset_digital_adc7": lambda: ReramConfig(mapping=WeightMapping(scheme="offset"), adc=AdcConfig(bits=7)),
        "offset_reference_column": lambda: ReramConfig(
            CrossbarGeometry(128, 32), WeightMapping(scheme="offset", offset_correction="reference_column"),
            adc=AdcConfig(bits=6)),
        "signed_inputs_adc6": lambda: ReramConfig(inputs=InputEncoding(signed=True), adc=AdcConfig(bits=6)),
        "dac2_bpc3_rows100": lambda: ReramConfig(CrossbarGeometry(100, 64), WeightMapping(8, 3),
                                                 InputEncoding(8, 2), AdcConfig(bits=8)),
        "prime": ReramConfig.prime,
        "isaac": ReramConfig.isaac,
        "wan2022_read_noise": lambda: ReramConfig(adc=AdcConfig(bits=8), devices=DeviceModel.reram_wan2022()),
        "generic_reram_stuck_cells": lambda: ReramConfig(
            adc=AdcConfig(bits=7), devices=DeviceModel.generic_reram(stuck_at_low=0.0175, stuck_at_high=0.0904,
                                                                     programming_noise=0.02)),
        "generic_drift": lambda: ReramConfig(devices=DeviceModel(programming_noise=0.01, drift_nu_mean=0.05,
                                                                 drift_nu_std=0.01, read_noise=0.005)),
        "pcm_joshi2020": lambda: ReramConfig(adc=AdcConfig(bits=8),
                                             devices=DeviceModel.pcm_joshi2020(read_noise=0.005)),
    }[name]()


def _reram_operands(name: str, config: Any) -> tuple:
    rng = _rng(f"reram/{name}")
    top = config.mapping.max_weight
    k, n, batch = RERAM_SHAPE["ideal" if config.devices.ideal else "noisy"]
    weights = rng.integers(-top, top + 1, (k, n))
    inputs = config.inputs
    x = rng.integers(inputs.min_input, inputs.max_input + 1, (batch, k))
    x[0] = inputs.max_input  # a full-scale row: every partial sum at its largest
    x[1] = inputs.min_input
    return weights, x


def _crossbars(name: str, seed: int = 1234, ideal_devices: bool = False) -> tuple:
    import dataclasses

    from cim_emu.reram import CrossbarArray, DeviceModel

    config = _reram_config(name)
    weights, x = _reram_operands(name, config)
    if ideal_devices:  # a fault-free twin: the same ADC, weights and inputs on ideal cells
        config = dataclasses.replace(config, devices=DeviceModel())
    return CrossbarArray(weights, config, seed=seed), x


def reram_matmul(name: str, method: str = "auto", reads: int = 1, ideal_devices: bool = False) -> tuple:
    crossbars, x = _crossbars(name, ideal_devices=ideal_devices)
    return tuple(crossbars.matmul(x, method=method) for _ in range(reads))


def reram_without_drift(name: str) -> tuple:
    """The fault-free twin of :func:`reram_at_time`: the read at programming time, scale 1."""
    crossbars, x = _crossbars(name)
    return crossbars.matmul(x, read_index=0), 1.0


def reram_matmul_vector_and_rmatmul(name: str) -> tuple:
    crossbars, x = _crossbars(name)
    return crossbars.matmul(x[5], read_index=3), x[:4] @ crossbars


def reram_matmul_split_batch(name: str) -> numpy.ndarray:
    """The batch in two calls with the same read index and matching row offsets: one call's bits."""
    crossbars, x = _crossbars(name)
    return numpy.concatenate([crossbars.matmul(x[:3], read_index=0, row_offset=0),
                              crossbars.matmul(x[3:], read_index=0, row_offset=3)])


def reram_matmul_threaded_column_blocks(name: str) -> numpy.ndarray:
    """A batch block so large that the columns are cut into many blocks, spread over the host
    threads (CIM_EMU_THREADS): the bits of one block."""
    crossbars, x = _crossbars(name)
    return crossbars.matmul(x, read_index=0, batch_block=4096)


def reram_at_time(name: str, seconds: float, compensate: bool) -> tuple:
    crossbars, x = _crossbars(name)
    drifted = crossbars.at_time(seconds, drift_compensation=compensate)
    return drifted.matmul(x, read_index=0), drifted.output_scale


def reram_largest_partial_sum(name: str) -> numpy.ndarray:
    crossbars, x = _crossbars(name)
    x = x[:12]
    return numpy.array([crossbars.largest_partial_sum(x), crossbars.largest_partial_sum(x[3]),
                        crossbars.largest_partial_sum(x, percentile=99.0),
                        crossbars.largest_partial_sum(x, percentile=50)], dtype=numpy.int64)


def reram_adc_error_bound() -> numpy.ndarray:
    names = ("lossless_ideal", "adc6_per_polarity", "signed_adc_subtract", "offset_reference_column", "prime")
    return numpy.array([_crossbars(name)[0].adc_error_bound() for name in names])


def reram_product_cost(name: str, batch: int) -> dict:
    from cim_emu.reram import ReramCostModel

    crossbars, _ = _crossbars(name)
    cost = ReramCostModel().product_cost(crossbars, batch)
    return {"crossbars": cost.crossbars, "read_cycles": cost.read_cycles, "conversions": cost.conversions,
            "latency_ns": cost.latency_ns, "energy_pj": dict(cost.energy_pj), "macs": cost.macs,
            "total_energy_pj": cost.total_energy_pj, "energy_per_mac_pj": cost.energy_per_mac_pj,
            "macs_per_s": cost.macs_per_s}


def _float_operands(label: str, signed: bool) -> tuple:
    rng = _rng(label)
    k, n, batch = RERAM_SHAPE["noisy"]
    weights = rng.standard_normal((k, n)) * 0.1
    bias = rng.standard_normal(n)
    x = rng.standard_normal((batch, k)) if signed else rng.random((batch, k))
    return weights, bias, x


def reram_analog_layer(noisy: bool, per_channel: bool = True, signed: bool = False) -> dict:
    import dataclasses

    from cim_emu.reram import AdcConfig, AnalogLayer, DeviceModel, InputEncoding, ReramConfig

    config = ReramConfig(adc=AdcConfig(bits=8), inputs=InputEncoding(signed=signed))
    if noisy:
        config = dataclasses.replace(config, devices=DeviceModel.generic_reram(programming_noise=0.01))
    weights, bias, x = _float_operands(f"reram/analog/{signed}", signed)
    layer = AnalogLayer(weights, config, bias=bias, per_channel=per_channel, seed=77)
    dynamic = layer(x)
    max_scale = layer.calibrate(x[:4])
    calibrated_max = layer(x)
    percentile_scale = layer.calibrate(x, "percentile", 99.0)
    calibrated_percentile = layer(x)
    return {"quantized_weights": layer.quantized_weights, "weight_scale": layer.weight_scale, "dynamic": dynamic,
            "max": [max_scale, calibrated_max], "percentile": [percentile_scale, calibrated_percentile],
            "vector": layer(x[3])}


def reram_analog_matmul_and_quantizers() -> dict:
    from cim_emu.reram import AdcConfig, DeviceModel, ReramConfig, analog_matmul, quantize_inputs, quantize_weights

    config = ReramConfig(adc=AdcConfig(bits=6), devices=DeviceModel.reram_wan2022())
    weights, _, x = _float_operands("reram/analog_matmul", False)
    return {"analog_matmul": analog_matmul(x, weights, config, seed=5),
            "per_tensor": analog_matmul(x, weights, config, per_channel=False, input_scale=0.004, seed=6),
            "quantize_weights": quantize_weights(weights, config), "quantize_inputs": quantize_inputs(x, config),
            "quantize_inputs_fixed": quantize_inputs(x, config, 0.003)}


# --------------------------------------------------------------------------- torch layers


def torch_converted_sequential(noisy: bool, adc_calibration: Any = "max", percentile: bool = False) -> dict:
    pytest.importorskip("torch")
    import dataclasses

    import torch
    from torch import nn

    from cim_emu.nn import calibrate, convert, crossbar_layers
    from cim_emu.reram import AdcConfig, DeviceModel, ReramConfig

    # Weights k/64 and inputs j/256: every float sum the calibration pass forms is exact in
    # float32, so the recorded rows (and hence the scales) cannot depend on torch's kernels.
    rng = _rng("torch/sequential")
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    with torch.no_grad():
        for parameter in model.parameters():
            values = rng.integers(-64, 65, tuple(parameter.shape)) / 64
            parameter.copy_(torch.from_numpy(values.astype(numpy.float32)))
    x = torch.from_numpy((rng.integers(0, 256, (5, 3, 6, 6)) / 256).astype(numpy.float32))
    config = ReramConfig(adc=AdcConfig(bits=8))
    if noisy:
        config = dataclasses.replace(config, devices=DeviceModel.generic_reram(programming_noise=0.01))
    converted = convert(model, config, seed=11)
    scales = calibrate(converted, [x[:3], (x[3:],)], method="percentile" if percentile else "max",
                       percentile=99.5, adc=adc_calibration)
    converted.eval()
    with torch.no_grad():
        y = converted(x)
        y64 = converted.double()(x.double())
    layers = crossbar_layers(converted)
    return {"y": y, "y_float64": y64, "scales": [scales[name] for name, _ in layers],
            "full_scales": [layer.config.adc.full_scale for _, layer in layers],
            "layer_names": ",".join(name for name, _ in layers)}


# --------------------------------------------------------------------------- the table


def _table() -> dict[str, Callable[[], Any]]:
    p = functools.partial
    cases: dict[str, Callable[[], Any]] = {
        "inputs/numpy_default_rng_streams": inputs_numpy_default_rng_streams,
        "rng/philox4x32/known_answer_and_random_counters": rng_philox4x32_known_and_random,
        "rng/uniform_uint32/ranges_unaligned_and_at_2**64": rng_uniform_uint32_ranges,
        "rng/random_uint32/at_indices": rng_random_uint32_at_indices,
        "rng/bernoulli/ranges_p0_to_p1": rng_bernoulli_ranges,
        "rng/bernoulli_at/indices": rng_bernoulli_at_indices,
        "rng/bernoulli_threshold/exact_rounding": rng_bernoulli_thresholds,
        "rng/normal/ranges": rng_normal_ranges,
        "rng/normal_at/indices": rng_normal_at_indices,
        "rng/normal_table": rng_normal_table,
        "rng/normal/tail_cells": rng_draws_cover_both_tails,
        "bits/random_row_pack_unpack_constant": bits_random_row_and_packing,
    }
    for op in AMBIT_OPS:
        for executor in AMBIT_EXECUTORS:
            cases[f"ambit/bulk_op/{op}/{executor}/flips_and_weak_columns"] = p(ambit_bulk, op, executor)
        cases[f"ambit/bulk_op/{op}/fast/no_faults"] = p(ambit_bulk, op, "fast", "none")
    for executor in AMBIT_EXECUTORS:
        cases[f"ambit/bulk_op/xor/{executor}/packed_words"] = p(ambit_bulk, "xor", executor, packed=True)
        cases[f"ambit/bulk_op/and/{executor}/ambit_spice_15"] = p(ambit_bulk, "and", executor, "ambit_spice_15")
        cases[f"ambit/bulk_op/maj/{executor}/simra_ddr4_maj3"] = p(ambit_bulk, "maj", executor, "simra_ddr4_maj3")
        cases[f"ambit/Subarray.run/random_program/{executor}/faults"] = p(ambit_subarray_program, executor)
    cases["ambit/Subarray.run/random_program/fast/faults/chunk_words_5_threads"] = p(
        ambit_subarray_program, "fast", chunk_words=5)
    cases["ambit/Subarray.run/random_program/fast/no_faults"] = p(ambit_subarray_program, "fast", False)
    for op in SIMDRAM_OPS:
        for signed in (False, True):
            kind = "signed6" if signed else "unsigned8"
            cases[f"simdram/simdram_op/{op}/{kind}/no_faults"] = p(simdram, op, signed, False)
            for executor in AMBIT_EXECUTORS if op in SIMDRAM_BOTH_EXECUTORS else ("fast",):
                cases[f"simdram/simdram_op/{op}/{kind}/{executor}/faults"] = p(simdram, op, signed, True, executor)
    cases["simdram/modelled_cost/all_ops"] = simdram_modelled_costs
    cases["simdram/layout/to_from_vertical_signed13"] = simdram_layout_roundtrip
    cases["simdram/applications/bitmap_query"] = simdram_bitmap_query
    cases["simdram/applications/bitweaving_scan"] = simdram_bitweaving_scan
    cases["simdram/applications/bnn_layer"] = simdram_bnn_layer
    for name in ("lossless_ideal", "adc6_per_polarity", "adc5_full_scale_clipping", "signed_adc_subtract",
                 "offset_digital_adc7", "offset_reference_column", "signed_inputs_adc6", "dac2_bpc3_rows100", "prime",
                 "isaac", "generic_reram_stuck_cells", "pcm_joshi2020"):
        cases[f"reram/CrossbarArray.matmul/{name}"] = p(reram_matmul, name)
    cases["reram/CrossbarArray.matmul/lossless_ideal/method_pipeline"] = p(reram_matmul, "lossless_ideal", "pipeline")
    cases["reram/CrossbarArray.matmul/signed_inputs_adc6/vector_and_rmatmul"] = p(
        reram_matmul_vector_and_rmatmul, "signed_inputs_adc6")
    cases["reram/CrossbarArray.matmul/wan2022_read_noise/two_reads"] = p(reram_matmul, "wan2022_read_noise", reads=2)
    cases["reram/CrossbarArray.matmul/wan2022_read_noise/split_batch_row_offset"] = p(
        reram_matmul_split_batch, "wan2022_read_noise")
    cases["reram/CrossbarArray.matmul/wan2022_read_noise/threaded_column_blocks"] = p(
        reram_matmul_threaded_column_blocks, "wan2022_read_noise")
    cases["reram/CrossbarArray.matmul/wan2022_read_noise/vector_and_rmatmul"] = p(
        reram_matmul_vector_and_rmatmul, "wan2022_read_noise")
    cases["reram/at_time/wan2022/86400s_drift_compensation"] = p(reram_at_time, "wan2022_read_noise", 86400, True)
    cases["reram/at_time/wan2022/172800s_uncompensated"] = p(reram_at_time, "wan2022_read_noise", 172800, False)
    cases["reram/at_time/generic_drift/3600s_drift_compensation"] = p(reram_at_time, "generic_drift", 3600.0, True)
    cases["reram/at_time/pcm_joshi2020/86400s_drift_compensation"] = p(reram_at_time, "pcm_joshi2020", 86400, True)
    for name in ("adc6_per_polarity", "signed_adc_subtract", "offset_reference_column"):
        cases[f"reram/largest_partial_sum/{name}"] = p(reram_largest_partial_sum, name)
    cases["reram/adc_error_bound/configs"] = reram_adc_error_bound
    for name, batch in (("lossless_ideal", 24), ("signed_adc_subtract", 7), ("offset_reference_column", 1000),
                        ("prime", 3), ("isaac", 64)):
        cases[f"reram/ReramCostModel.product_cost/{name}/batch{batch}"] = p(reram_product_cost, name, batch)
    cases["reram/AnalogLayer/ideal_adc8"] = p(reram_analog_layer, False)
    cases["reram/AnalogLayer/generic_reram_noise_adc8"] = p(reram_analog_layer, True)
    cases["reram/AnalogLayer/ideal_adc8/per_tensor"] = p(reram_analog_layer, False, False)
    cases["reram/AnalogLayer/generic_reram_noise_adc8/signed_inputs"] = p(reram_analog_layer, True, True, True)
    cases["reram/analog_matmul_and_quantizers/wan2022_adc6"] = reram_analog_matmul_and_quantizers
    # Removed after the redesign (issue 17, a deliberate change of the bits): the cases
    # ideal_adc_max, generic_reram_noise_adc_max and generic_reram_noise_percentile_adc_percentile
    # calibrate ADC full scales below the top code, where the ADC now saturates at its full scale
    # (docs/spec/reram.md; tests/test_reram_adc_ranges.py holds the new rule).
    cases["torch/convert_calibrate_forward/conv_linear/ideal_no_adc_calibration"] = p(
        torch_converted_sequential, False, None)
    return cases


CASES = _table()

#: Faulty or noisy cases and their fault-free twins (same inputs, faults or noise off): at least
#: one per engine, so that a case whose faults stopped doing anything fails here.
FAULT_FREE_TWINS: dict[str, Callable[[], Any]] = {
    "ambit/bulk_op/and/fast/flips_and_weak_columns": functools.partial(ambit_bulk, "and", "fast", "none"),
    "ambit/bulk_op/maj/reference/flips_and_weak_columns": functools.partial(ambit_bulk, "maj", "reference", "none"),
    "ambit/bulk_op/xor/fast/flips_and_weak_columns": functools.partial(ambit_bulk, "xor", "fast", "none"),
    "ambit/bulk_op/and/fast/ambit_spice_15": functools.partial(ambit_bulk, "and", "fast", "none"),
    "ambit/bulk_op/maj/fast/simra_ddr4_maj3": functools.partial(ambit_bulk, "maj", "fast", "none"),
    "ambit/Subarray.run/random_program/reference/faults": functools.partial(ambit_subarray_program, "reference", False),
    "simdram/simdram_op/add/unsigned8/fast/faults": functools.partial(simdram, "add", False, False),
    "simdram/simdram_op/div/signed6/reference/faults": functools.partial(simdram, "div", True, False),
    "reram/CrossbarArray.matmul/wan2022_read_noise/two_reads": functools.partial(
        reram_matmul, "wan2022_read_noise", reads=2, ideal_devices=True),
    "reram/CrossbarArray.matmul/generic_reram_stuck_cells": functools.partial(
        reram_matmul, "generic_reram_stuck_cells", ideal_devices=True),
    "reram/CrossbarArray.matmul/pcm_joshi2020": functools.partial(reram_matmul, "pcm_joshi2020", ideal_devices=True),
    "reram/at_time/wan2022/86400s_drift_compensation": functools.partial(reram_without_drift, "wan2022_read_noise"),
    "reram/at_time/generic_drift/3600s_drift_compensation": functools.partial(reram_without_drift, "generic_drift"),
    "reram/AnalogLayer/generic_reram_noise_adc8": functools.partial(reram_analog_layer, False),
}

#: Cases whose digests must be equal (the two Ambit executors, chunking and threads, two ways to
#: one product, programs without a TRA that faults cannot reach), checked in the JSON itself.
MUST_AGREE = [
    *[[f"ambit/bulk_op/{op}/{executor}/flips_and_weak_columns" for executor in AMBIT_EXECUTORS] for op in AMBIT_OPS],
    *[[f"ambit/bulk_op/{case}" for case in (f"xor/{e}/packed_words" for e in AMBIT_EXECUTORS)]],
    *[[f"ambit/bulk_op/and/{executor}/ambit_spice_15" for executor in AMBIT_EXECUTORS]],
    *[[f"ambit/bulk_op/maj/{executor}/simra_ddr4_maj3" for executor in AMBIT_EXECUTORS]],
    ["ambit/Subarray.run/random_program/fast/faults", "ambit/Subarray.run/random_program/reference/faults",
     "ambit/Subarray.run/random_program/fast/faults/chunk_words_5_threads"],
    ["ambit/bulk_op/copy/fast/flips_and_weak_columns", "ambit/bulk_op/copy/fast/no_faults"],
    ["ambit/bulk_op/not/fast/flips_and_weak_columns", "ambit/bulk_op/not/fast/no_faults"],
    *[[f"simdram/simdram_op/{op}/{kind}/{executor}/faults" for executor in AMBIT_EXECUTORS]
      for op in SIMDRAM_BOTH_EXECUTORS for kind in ("unsigned8", "signed6")],
    ["reram/CrossbarArray.matmul/lossless_ideal", "reram/CrossbarArray.matmul/lossless_ideal/method_pipeline"],
    ["reram/CrossbarArray.matmul/wan2022_read_noise/split_batch_row_offset",
     "reram/CrossbarArray.matmul/wan2022_read_noise/threaded_column_blocks"],
]


# --------------------------------------------------------------------------- tests


@functools.lru_cache(maxsize=None)
def _golden() -> dict:
    return json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def _value(name: str) -> Any:
    """The outputs of case ``name``, computed once per session."""
    return CASES[name]()


@pytest.mark.parametrize("name", list(CASES))
def test_golden_digest(name):
    golden = _golden()
    assert name in golden, f"{name} has no golden digest: new cases belong in another file (see the docstring)"
    assert digest(_value(name)) == golden[name], (
        f"{name}: the bits changed. Do not regenerate {GOLDEN_PATH.name}: find what changed them.")


@pytest.mark.parametrize("name", list(FAULT_FREE_TWINS))
def test_faults_and_noise_change_the_bits(name):
    assert name in CASES
    assert digest(_value(name)) != digest(FAULT_FREE_TWINS[name]()), (
        f"{name}: the same bits with faults or noise off; the case no longer exercises them")


def test_golden_file_lists_exactly_the_cases():
    golden = _golden()
    assert not set(CASES) - set(golden), "cases without a digest"
    assert not set(golden) - set(CASES), "digests without a case"


@pytest.mark.parametrize("names", MUST_AGREE, ids=lambda names: names[0])
def test_cases_that_must_agree_have_one_digest(names):
    golden = _golden()
    assert len({golden[name] for name in names}) == 1, names


def test_split_and_threaded_reads_give_the_bits_of_one_call():
    one_call = _value("reram/CrossbarArray.matmul/wan2022_read_noise/two_reads")[0]
    assert digest(one_call) == _golden()["reram/CrossbarArray.matmul/wan2022_read_noise/split_batch_row_offset"]


def test_every_read_draws_fresh_noise():
    first, second = _value("reram/CrossbarArray.matmul/wan2022_read_noise/two_reads")
    assert not numpy.array_equal(first, second)


def test_operation_lists_match_the_library():
    from cim_emu.ambit.library import OPERATIONS as AMBIT_LIBRARY
    from cim_emu.simdram import OPERATIONS as SIMDRAM_LIBRARY

    assert {op: arity for op, (arity, _) in AMBIT_LIBRARY.items()} == AMBIT_OPS
    assert {op: (o.arity, o.condition_first) for op, o in SIMDRAM_LIBRARY.items()} == SIMDRAM_OPS


def test_digest_sees_dtype_shape_and_every_bit():
    base = numpy.zeros(4, dtype=numpy.int8)
    variants = [base, base.astype(numpy.int16), base.reshape(2, 2), numpy.zeros(4, numpy.float64),
                numpy.array([0.0, 0.0, 0.0, -0.0]), numpy.array([0, 0, 0, 1], numpy.int8), (base,), {"a": base},
                {"b": base}, [base, None], numpy.zeros(4, bool), numpy.array([0, 0, 0, 2**63], numpy.uint64)]
    assert len({digest(v) for v in variants}) == len(variants)
    assert digest(numpy.asfortranarray(numpy.arange(6).reshape(2, 3))) == digest(numpy.arange(6).reshape(2, 3))


# --------------------------------------------------------------------------- regeneration


def _compute(names: list) -> dict:
    digests = {}
    for name in names:
        try:
            digests[name] = digest(CASES[name]())
        except pytest.skip.Exception as skipped:
            raise SystemExit(f"{name} was skipped ({skipped}); install every dependency (e.g. torch) first") from None
    return digests


def main(argv: list) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package next to tests/
    digests = _compute(list(CASES))
    if "--write" in argv:
        GOLDEN_PATH.write_text(json.dumps(digests, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {len(digests)} digests to {GOLDEN_PATH}")
        return 0
    golden = json.loads(GOLDEN_PATH.read_text(encoding="utf-8")) if GOLDEN_PATH.exists() else {}
    changed = [name for name in digests if golden.get(name) != digests[name]]
    for name in changed:
        print(f"CHANGED {name}")
    print(f"{len(digests) - len(changed)} of {len(digests)} digests as recorded")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
