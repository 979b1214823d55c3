"""Cases and references shared by the kernel tests (CPU shim and GPU): the kernels' results next
to what the numpy backend computes for the same work.

Arrays go to the provider's kind (numpy for the CPU shim, CuPy for the GPU) on the way in and
come back as numpy for the comparison.
"""

import numpy
from hypothesis import strategies as st

from cim_emu.ambit import AAP, AP, AmbitCommandError, Program, Subarray, TraFaultModel, bulk_op, streaming
from cim_emu.ambit.addresses import DESIGNATED_ROWS
from cim_emu.ambit.compiler import compile_program
from cim_emu.ambit.program_encoding import run_program_kernel
from cim_emu.backend import NUMPY_BACKEND, Backend
from cim_emu.bits import constant_row, n_words, random_row, unpack_bits
from cim_emu.gpu.memory import DEVICE_MEMORY_SHARE
from cim_emu.reram import CrossbarArray
from cim_emu.reram import gpu as reram_gpu
from cim_emu.reram.config import AdcConfig, CrossbarGeometry, InputEncoding, ReramConfig, WeightMapping
from cim_emu.reram.devices import DeviceModel
from cim_emu.reram.ir_drop import WireModel
from cim_emu.simdram import build_operation, simdram_op

from fake_cupy import with_free_bytes

DATA_ROWS = 4
FAULTS = TraFaultModel(flip_probability=0.2, weak_column_fraction=0.3, weak_column_flip_probability=0.5, seed=9)
POISON = numpy.uint64(0xA5A5A5A5A5A5A5A5)


def to_host(array):
    return array.get() if hasattr(array, "get") else numpy.asarray(array)


class LaunchRecorder:
    """A kernel provider that records the kernels launched through it and delegates the rest;
    with ``shared_bytes_limit``, its device gives a block that much shared memory."""

    def __init__(self, kernels, shared_bytes_limit=None):
        self._kernels, self.launched = kernels, []
        if shared_bytes_limit is not None:
            self.shared_bytes_limit = shared_bytes_limit

    def __getattr__(self, name):
        return getattr(self._kernels, name)

    def function(self, filename, name):
        function = self._kernels.function(filename, name)

        def launch(*args, **kwargs):
            self.launched.append(name)
            return function(*args, **kwargs)
        return launch


def recording_launches(backend, shared_bytes_limit=None):
    """``backend`` with its provider wrapped in a :class:`LaunchRecorder` (``.kernels.launched``)."""
    return Backend(backend.name, backend.xp, LaunchRecorder(backend.kernels, shared_bytes_limit))


def program_launches(backend):
    """Launches of the fused Ambit program kernel recorded on ``recording_launches(...)``'s provider."""
    return sum(name.startswith("ambit_program<") for name in backend.kernels.launched)


def random_subarray(n_bits, seed, faults=None, backend="numpy"):
    """A subarray (numpy-backed by default) whose every row holds random bits."""
    subarray = Subarray(n_bits, DATA_ROWS, faults=faults, backend=backend)
    for stream, row in enumerate(subarray.state()):
        subarray.write_words(row, random_row(seed, stream, n_bits))
    return subarray


def kernel_final_state(subarray, program, scratch, kernels, **launch):
    """The state ``subarray.run(program, scratch=scratch)`` leaves, computed by the fused kernel
    on ``kernels``' device (the subarray itself is not changed)."""
    xp = kernels.xp
    state = subarray.state()
    compiled = compile_program(program.instructions, subarray.data_rows, subarray.faults.enabled)
    kept = {row: node for row, node in compiled.outputs.items() if not (scratch == "drop" and row in DESIGNATED_ROWS)}
    computed = {node for node in kept.values() if compiled.nodes[node].op not in ("row", "const")}
    outputs = {node: xp.full(subarray.n_words, POISON, dtype=numpy.uint64) for node in computed}
    if computed:
        run_program_kernel(compiled, computed, {row: xp.asarray(state[row]) for row in compiled.reads}, outputs,
                           subarray.row_bits, faults=subarray.faults, tra_base=subarray.tra_count,
                           kernels=kernels, **launch)
    final = dict(state)
    for row in compiled.outputs:
        node = kept.get(row)
        if node is None:
            final[row] = None
        elif node in outputs:
            final[row] = to_host(outputs[node])
        elif compiled.nodes[node].op == "row":
            final[row] = state[compiled.nodes[node].param]
        else:
            final[row] = constant_row(compiled.nodes[node].param, subarray.row_bits)
    return final


def assert_same_state(got, expected):
    assert got.keys() == expected.keys()
    for row in expected:
        if expected[row] is None:
            assert got[row] is None, row
        else:
            numpy.testing.assert_array_equal(got[row], expected[row], err_msg=row)


def kernel_runs_like_fast_executor(subarray, program, scratch, kernels, **launch):
    """Assert that the kernel leaves the state the fast executor leaves (which then runs on
    ``subarray``); False, checking nothing, when the program is illegal."""
    try:
        got = kernel_final_state(subarray, program, scratch, kernels, **launch)
    except AmbitCommandError:
        return False
    subarray.run(program, scratch=scratch)
    assert_same_state(got, subarray.state())
    return True


SENSEABLE = [f"D{i}" for i in range(DATA_ROWS)] + [f"B{i}" for i in (*range(8), 12, 13, 14, 15)] + ["C0", "C1"]
WRITABLE = [f"D{i}" for i in range(DATA_ROWS)] + [f"B{i}" for i in range(16)]
COMMANDS = st.one_of(st.tuples(st.sampled_from(SENSEABLE), st.sampled_from(WRITABLE)),
                     st.tuples(st.sampled_from(SENSEABLE)))
"""Random AAP/AP commands, mostly legal (only the DCC rule can still be broken)."""


def program_of(command_tuples):
    return Program.of(*(AAP(*c) if len(c) == 2 else AP(*c) for c in command_tuples))


RERAM_CONFIGS = {
    "lossless-packed": ReramConfig(crossbar=CrossbarGeometry(16, 16)),
    "lossy-packed": ReramConfig(crossbar=CrossbarGeometry(16, 16), adc=AdcConfig(bits=4)),
    "clipped": ReramConfig(crossbar=CrossbarGeometry(16, 16), adc=AdcConfig(bits=5, full_scale=20)),
    "signed-adc": ReramConfig(crossbar=CrossbarGeometry(16, 16), mapping=WeightMapping(differential_readout="subtract"),
                              adc=AdcConfig(bits=6), inputs=InputEncoding(6, 2, signed=True)),
    "offset-reference": ReramConfig(crossbar=CrossbarGeometry(16, 8),
                                    mapping=WeightMapping(8, 2, "offset", offset_correction="reference_column")),
    "prime": ReramConfig.prime(crossbar=CrossbarGeometry(32, 32)),
    "float64-prescaled": ReramConfig(crossbar=CrossbarGeometry(1024, 64), mapping=WeightMapping(8, 4),
                                     inputs=InputEncoding(8, 4), adc=AdcConfig(bits=8),
                                     devices=DeviceModel(programming_noise=0.01)),  # sums of 26 bits
    "float32-sums-float64-adc": ReramConfig(crossbar=CrossbarGeometry(1024, 64), mapping=WeightMapping(8, 4),
                                            inputs=InputEncoding(8, 4), adc=AdcConfig(bits=8)),
    "read-noise": ReramConfig(crossbar=CrossbarGeometry(16, 16), adc=AdcConfig(bits=6),
                              devices=DeviceModel.generic_reram()),
    "signed-float64-codes": ReramConfig(crossbar=CrossbarGeometry(16, 16),
                                        mapping=WeightMapping(differential_readout="subtract"), adc=AdcConfig(bits=17)),
    "signed-read-noise": ReramConfig(crossbar=CrossbarGeometry(16, 16),
                                     mapping=WeightMapping(differential_readout="subtract"), adc=AdcConfig(bits=7),
                                     devices=DeviceModel.generic_reram(read_noise=0.05)),
    "ir-drop": ReramConfig(crossbar=CrossbarGeometry(16, 8), adc=AdcConfig(bits=8),
                           wires=WireModel(r_wire_row=2.0, r_wire_col=3.0, r_on=1000.0)),
    "ir-drop-reference-read-noise": ReramConfig(
        crossbar=CrossbarGeometry(16, 8), mapping=WeightMapping(8, 2, "offset", offset_correction="reference_column"),
        adc=AdcConfig(bits=7), devices=DeviceModel.generic_reram(),
        wires=WireModel(r_wire_row=1.0, r_wire_col=1.0, r_driver=5.0, r_sense=5.0)),
}
"""ReRAM configurations covering every path of the epilogue: packed cells (pack > 1), lossy and
clipping ADCs, the signed ADC, reference columns, prescaled float32 and float64 sums, float64
codes of float32 sums, read noise; IR drop (effective conductances in fixed point)."""


def crossbar_for(config, np_rng, K=None, N=37):
    """A crossbar of random full-range weights, ``K`` rows (default: two tiles and a bit)."""
    mapping = config.mapping
    weights = np_rng.integers(-mapping.max_weight, mapping.max_weight + 1, (K or 2 * config.crossbar.rows + 3, N))
    weights[0, 0] = mapping.max_weight  # every cell level is reached
    return CrossbarArray(weights, config, seed=int(np_rng.integers(2**63)), backend="numpy")


def epilogue_against_numpy(config, np_rng, kernels, *, batch=5, K=None, N=37, n0=5, grid=None):
    """Run the epilogue kernel on one column block of a crossbar's partial sums (built with numpy
    for a backend with ``kernels``, moved to their device) into a wider, poisoned accumulator;
    returns ``(got, expected, untouched)``: the kernel's block, the numpy pipeline's
    (``Pipeline.accumulate`` of the same crossbar programmed for numpy, whose operand holds
    ``W+ - W-`` for a signed ADC), and whether the columns outside the block kept their poison."""
    mapping, inputs = config.mapping, config.inputs
    crossbar = crossbar_for(config, np_rng, K, N)
    host_pipeline = crossbar.pipeline
    pipeline = CrossbarArray(crossbar.weights, config, seed=crossbar.seed,
                             backend=Backend("numpy", numpy, kernels)).pipeline
    x = np_rng.integers(inputs.min_input, inputs.max_input + 1, (batch, crossbar.shape[0]))
    tiles = pipeline.input_tiles(x, numpy)
    width = pipeline.width
    read_index, first_row, n1 = 3, 11, pipeline.columns
    sums = numpy.matmul(tiles, pipeline.operand[:, :, n0 * width:n1 * width])
    noise = None
    if pipeline.sigma_squared is not None:
        noise = numpy.ascontiguousarray(pipeline.read_noise(tiles, n0, n1, first_row, read_index, NUMPY_BACKEND))
    xp = kernels.xp
    acc = xp.full((batch, n1 + 2), -1, dtype=numpy.int64)
    reram_gpu.reram_adc_shift_add(
        xp.asarray(sums), acc[:, n0:n1], pipeline.adc, tiles=pipeline.layout.tiles, chunks=inputs.chunks,
        width=width, pack=pipeline.packing.factor, pack_bits=pipeline.packing.bits, polarities=mapping.polarities,
        slices=mapping.slices, bits_per_cell=mapping.bits_per_cell, dac_bits=inputs.dac_bits,
        prescaled=pipeline.prescaled, saturates=pipeline.saturates,
        noise=None if noise is None else xp.asarray(noise), kernels=kernels, grid=grid)
    acc = to_host(acc)
    expected = host_pipeline.accumulate(tiles, n0, n1, first_row, read_index, NUMPY_BACKEND)
    numpy.testing.assert_array_equal(pipeline.accumulate(tiles, n0, n1, first_row, read_index, NUMPY_BACKEND),
                                     expected)  # the array code reads either operand
    untouched = bool((acc[:, :n0] == -1).all() and (acc[:, n1:] == -1).all())
    return acc[:, n0:n1], expected, untouched


def pipeline_against_numpy(config, np_rng, backend, *, batch=7, K=None, N=37, method="pipeline"):
    """One read of a crossbar of random weights on ``backend`` (whose kernels run the GPU
    dispatch: CuPy's, the CPU shim's or the stand-in's) and through the numpy pipeline; returns
    ``(got, expected, tensor_cores)``, the last saying whether the crossbar qualifies for the
    tensor-core kernel."""
    reference = crossbar_for(config, np_rng, K, N)
    crossbars = CrossbarArray(reference.weights, config, seed=reference.seed, backend=backend)
    x = np_rng.integers(config.inputs.min_input, config.inputs.max_input + 1, (batch, reference.shape[0]))
    expected = reference.matmul(x, read_index=3, row_offset=5, method=method)
    got = crossbars.matmul(backend.xp.asarray(x), read_index=3, row_offset=5, method=method)
    return to_host(got), expected, crossbars._tensor_cores


def tile_codes_against_numpy(kernels, np_rng, *, tiles, rows, columns, depth, first_column=0, extra_columns=0,
                             adc=None, grid=None):
    """The tensor-core kernel on random int8 operands (full range without an ADC; chunk- and
    level-sized with one) against numpy: ``(got, expected)``."""
    cell_columns = first_column + columns + extra_columns
    if adc is None:
        inputs = np_rng.integers(-128, 128, (tiles, rows, depth), dtype=numpy.int8)
        cells = np_rng.integers(-128, 128, (tiles, cell_columns, depth), dtype=numpy.int8)
    else:
        inputs = np_rng.integers(0, 4, (tiles, rows, depth), dtype=numpy.int8)
        cells = np_rng.integers(-3 if adc.signed else 0, 4, (tiles, cell_columns, depth), dtype=numpy.int8)
    xp = kernels.xp
    codes = xp.full((rows, columns), -7, dtype=numpy.int32)
    reram_gpu.reram_tile_codes(xp.asarray(inputs), xp.asarray(cells), codes, adc, first_column=first_column,
                                    kernels=kernels, grid=grid)
    sums = numpy.einsum("tmk,tnk->tmn", inputs.astype(numpy.int64),
                        cells[:, first_column:first_column + columns].astype(numpy.int64))
    if adc is not None:
        sums = adc.convert(sums.astype(adc.dtype), numpy, prescaled=False, saturates=True).astype(numpy.int64)
    return to_host(codes), sums.sum(axis=0)


# -- host data larger than the GPU's memory (run on CuPy: a real GPU, or tests/fake_cupy.py) ----

def crossbar_host_inputs_stream(config, np_rng, device, batch=333):
    """A read of host inputs on the device backend ``device`` with its free memory shrunk so that
    they pass in blocks of rows: ``(got, expected)``, ``got`` checked to come back on the host."""
    reference = CrossbarArray(np_rng.integers(-127, 128, (40, 30)), config, seed=4, backend="numpy")
    # about 50 rows a pass: each takes 8 * (40 inputs + 2 * the columns of the crossbar tiles) bytes
    device = with_free_bytes(device, int(50 * 8 * (40 + 2 * 30) / DEVICE_MEMORY_SHARE))
    crossbars = CrossbarArray(reference.weights, config, seed=4, backend=device)
    x = np_rng.integers(0, 256, (batch, 40))
    assert crossbars._rows_per_device_pass(x, device) < batch
    got = crossbars.matmul(x, read_index=2)
    assert type(got) is numpy.ndarray
    return got, reference.matmul(x, read_index=2)


def bulk_host_operands_stream(packed, device, n_bits=64 * 10_000 - 3, pass_words=999):
    """bulk_op (MAJ, with faults) on the device backend ``device`` with host operands that pass in slices of
    ``pass_words`` words: ``(got, expected)``, ``got`` checked to come back on the host."""
    rows = [random_row(5, i, n_bits) for i in range(3)]
    if not packed:
        rows = [unpack_bits(row, n_bits) for row in rows]
    n_bits_argument = n_bits if packed else None
    expected = bulk_op("maj", *rows, n_bits=n_bits_argument, faults=FAULTS, backend="numpy").value
    # 4 rows (three operands and the result) of pass_words words fill the budget
    device = recording_launches(with_free_bytes(device, int(4 * 8 * pass_words / DEVICE_MEMORY_SHARE)))
    assert streaming.words_per_device_pass(device, False, 4, n_bits) == pass_words
    got = bulk_op("maj", *rows, n_bits=n_bits_argument, faults=FAULTS, backend=device).value
    assert type(got) is numpy.ndarray
    assert program_launches(device) == -(-n_words(n_bits) // pass_words)  # one launch a pass
    return got, expected


def simdram_host_operands_stream(np_rng, device, count=100_003):
    """simdram_op (8-bit multiply, with faults) on the device backend ``device`` with host operands that pass
    in slices: ``(got, expected)``, ``got`` checked to come back on the host."""
    a, b = (np_rng.integers(0, 256, count) for _ in range(2))
    faults = TraFaultModel(flip_probability=0.001, seed=8)
    expected = simdram_op("mul", a, b, bits=8, faults=faults, backend="numpy").value
    device = recording_launches(with_free_bytes(device, 2 * count))  # about 15 passes
    rows = build_operation("mul", 8).rows_used + len(DESIGNATED_ROWS)
    assert streaming.words_per_device_pass(device, False, rows, count) < count // 64 // 4
    got = simdram_op("mul", a, b, bits=8, faults=faults, backend=device).value
    assert type(got) is numpy.ndarray
    assert program_launches(device) > 4  # one launch a pass
    return got, expected
