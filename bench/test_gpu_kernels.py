"""The CUDA kernels of kernels/ against the device's measured limits (skipped without a GPU).

Every benchmark measures its ceiling in the same run and stores the ratio in ``extra_info``;
device times are medians of CUDA-event timings after a warm-up:

* ``ambit-kernel-{and,xor,maj}`` - the fused program kernel running the Ambit library program
  with only the destination row materialised, on rows of ``CIM_EMU_BENCH_GPU_MIB`` MiB (default
  256): ``ratio_to_copy`` = achieved bandwidth (every live input row read once, the result
  written once, over the kernel time) / the bandwidth of a device-to-device copy (bytes read
  plus written; issue 5's target: >= 0.85); ``ratio_to_chained_cupy`` = kernel time / the same
  row computed by chained ``cupy.bitwise_*`` calls.
* ``reram-epilogue`` - the ADC and shift-and-add kernel on one block of partial sums of issue 5's
  configuration (8-bit inputs and weights, 2-bit cells, 1-bit DAC, 8-bit ADC, 128-row tiles):
  ``ratio_to_copy`` = bandwidth reading the partial sums / copy bandwidth, and
  ``ratio_to_products`` = epilogue time / the batched product that made the sums.
* ``reram-pipeline-{lossy,lossless}`` - a whole ``CrossbarArray`` read on CuPy, issue 5's
  configuration (8-bit unsigned inputs and signed weights, 2-bit cells, 1-bit DAC, 128-row tiles,
  batch 4096, K = N = 4096): with an 8-bit ADC (int8 tensor cores, ADC fused),
  ``ratio_to_products`` = time / (C x S x 2 = 64 float32 cuBLAS products of the same shape,
  TF32 off: what the float pipeline would multiply), target <= 1.5; lossless (9-bit ADC, one
  exact product), time / one such product, target <= 1.2. Beside them, the device's ceilings at
  the shape: cuBLAS fp16 and int8 (cublasGemmEx) products, and ``ratio_raw_kernel_to_cublas_int8``
  = the tensor-core kernel's raw product (no ADC) / cuBLAS's int8 one.
* ``philox-normal`` - normal draws by table lookup: draws per second, and the write bandwidth
  over copy bandwidth.

``CIM_EMU_BENCH_QUICK=1`` runs small sizes without targets. Run on a GPU machine with
``scripts/gpu_check.sh`` (which also runs the GPU tests), or
``pytest bench/test_gpu_kernels.py --benchmark-json OUT.json``.
"""

import os

import numpy
import pytest

pytestmark = pytest.mark.gpu
cupy = pytest.importorskip("cupy")

from cim_emu.ambit import OPERATIONS, program_for  # noqa: E402
from cim_emu.ambit import gpu as ambit_gpu  # noqa: E402
from cim_emu.ambit.compiler import compile_program  # noqa: E402
from cim_emu.ambit.program_encoding import encode_program  # noqa: E402
from cim_emu.backend import Backend, cupy_available  # noqa: E402
from cim_emu.gpu import CupyKernels  # noqa: E402
from cim_emu.reram import CrossbarArray  # noqa: E402
from cim_emu.reram import gpu as reram_gpu  # noqa: E402
from cim_emu.reram.config import AdcConfig, ReramConfig  # noqa: E402
from cim_emu.rng import gpu as rng_gpu  # noqa: E402

if not cupy_available():
    pytest.skip("no CUDA device answers", allow_module_level=True)

COPY_TARGET = 0.85


def device_seconds(function, repeats=20, warmup=3):
    """Median device time of ``function()`` (CUDA events on the current stream)."""
    for _ in range(warmup):
        function()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(repeats):
        start.record()
        function()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    return float(numpy.median(times))


def synchronized(function):
    def run():
        function()
        cupy.cuda.get_current_stream().synchronize()
    return run


@pytest.fixture(scope="module")
def kernels():
    return CupyKernels()


@pytest.fixture(scope="module")
def row_mib(quick):
    return int(os.environ.get("CIM_EMU_BENCH_GPU_MIB", "1" if quick else "256"))


@pytest.fixture(scope="module")
def copy_bandwidth(row_mib):
    """Bytes per second of a device-to-device copy of 4 rows' worth (read + written)."""
    nbytes = 4 * row_mib * 2**20
    source, target = cupy.ones(nbytes // 8, dtype=numpy.uint64), cupy.empty(nbytes // 8, dtype=numpy.uint64)
    seconds = device_seconds(lambda: target.data.copy_from_device_async(source.data, nbytes))
    return 2 * nbytes / seconds


@pytest.fixture(scope="module")
def rows(kernels, row_mib):
    words = row_mib * 2**20 // 8
    return [rng_gpu.draw_range("uniform", 1, i, 0, 2 * words, kernels=kernels).view(numpy.uint64)
            for i in range(3)]


def chained_cupy(op, a, b, c, out, temp):
    if op == "and":
        cupy.bitwise_and(a, b, out=out)
    elif op == "xor":
        cupy.bitwise_xor(a, b, out=out)
    else:
        cupy.bitwise_and(a, b, out=out)
        cupy.bitwise_or(a, b, out=temp)
        cupy.bitwise_and(temp, c, out=temp)
        cupy.bitwise_or(out, temp, out=out)


@pytest.mark.parametrize("op", ["and", "xor", "maj"])
def test_ambit_kernel_against_copy_and_chained_cupy(benchmark, kernels, rows, row_mib, copy_bandwidth, quick, op):
    arity = OPERATIONS[op][0]
    program = program_for(op, [f"D{i}" for i in range(arity)], "D3")
    compiled = compile_program(program.instructions, 4, False)
    encoded = encode_program(compiled, {compiled.outputs["D3"]})
    inputs = [rows[int(row[1:])] for row in encoded.input_rows]
    out, reference, temp = (cupy.empty_like(rows[0]) for _ in range(3))
    row_bits = 64 * rows[0].size

    def run():
        ambit_gpu.run_ambit_program(encoded.instructions, encoded.n_slots, inputs, [out], row_bits,
                                         kernels=kernels)

    benchmark.group = f"ambit-kernel-{op}-{row_mib}MiB"
    benchmark.pedantic(synchronized(run), rounds=10, warmup_rounds=2)
    kernel_seconds = device_seconds(run)
    chained_seconds = device_seconds(lambda: chained_cupy(op, *rows, reference, temp))
    moved = (len(inputs) + 1) * rows[0].nbytes
    ratio = moved / kernel_seconds / copy_bandwidth
    correct = bool((out == reference).all())
    benchmark.extra_info.update(
        correct=correct, kernel_seconds=kernel_seconds, bytes_moved=moved, copy_bandwidth=copy_bandwidth,
        ratio_to_copy=ratio, ratio_to_chained_cupy=kernel_seconds / chained_seconds,
        n_instructions=len(encoded.instructions))
    assert correct
    if not quick:
        assert ratio >= COPY_TARGET, f"{op}: {ratio:.2f} of the copy bandwidth (target {COPY_TARGET})"


def test_reram_epilogue_against_copy_and_products(benchmark, kernels, copy_bandwidth, quick):
    batch, K, N = (16, 256, 128) if quick else (256, 4096, 1024)
    config = ReramConfig(adc=AdcConfig(bits=8))
    rng = numpy.random.default_rng(0)
    mapping, inputs = config.mapping, config.inputs
    weights = rng.integers(-mapping.max_weight, mapping.max_weight + 1, (K, N))
    x = cupy.asarray(rng.integers(0, inputs.max_input + 1, (batch, K)))
    pipeline = CrossbarArray(weights, config, backend="cupy").pipeline
    tiles = pipeline.input_tiles(x, cupy)
    products = lambda: cupy.matmul(tiles, pipeline.operand)  # noqa: E731
    sums = products()
    acc = cupy.empty((batch, N), dtype=numpy.int64)

    def run():
        reram_gpu.reram_adc_shift_add(
            sums, acc, pipeline.adc, tiles=pipeline.layout.tiles, chunks=inputs.chunks,
            width=pipeline.width, pack=pipeline.packing.factor, pack_bits=pipeline.packing.bits,
            polarities=mapping.polarities, slices=mapping.slices, bits_per_cell=mapping.bits_per_cell,
            dac_bits=inputs.dac_bits, prescaled=pipeline.prescaled, saturates=pipeline.saturates, kernels=kernels)

    benchmark.group = f"reram-epilogue-{batch}x{K}x{N}"
    benchmark.pedantic(synchronized(run), rounds=10, warmup_rounds=2)
    epilogue_seconds = device_seconds(run)
    product_seconds = device_seconds(products, repeats=5)
    expected = pipeline.accumulate(tiles, 0, N, 0, 0, Backend("cupy", cupy))  # the array code, no kernels
    correct = bool((acc == expected).all())
    benchmark.extra_info.update(
        correct=correct, epilogue_seconds=epilogue_seconds, product_seconds=product_seconds,
        ratio_to_copy=sums.nbytes / epilogue_seconds / copy_bandwidth,
        ratio_to_products=epilogue_seconds / product_seconds)
    assert correct


PIPELINE_TARGETS = {"lossy": 1.5, "lossless": 1.2}


def cublas_int8_product_seconds(batch, K, N):
    """``(seconds, None)`` of one int8 x int8 -> int32 cuBLAS product ``(batch, K) @ (K, N)``
    (cublasGemmEx, the "TN" form its integer tensor-core kernels take), or ``(None, reason)``
    where this CuPy or cuBLAS refuses it: the device's int8 ceiling at the benchmark shape."""
    try:
        from cupy_backends.cuda.libs import cublas

        x = cupy.ones((batch, K), dtype=numpy.int8)
        w_t = cupy.ones((N, K), dtype=numpy.int8)
        y = cupy.zeros((batch, N), dtype=numpy.int32)
        alpha, beta = numpy.ones(1, numpy.int32), numpy.zeros(1, numpy.int32)
        handle = cupy.cuda.device.get_cublas_handle()
        r_8i, r_32i = cupy.cuda.runtime.CUDA_R_8I, cupy.cuda.runtime.CUDA_R_32I
        compute_32i = getattr(cublas, "CUBLAS_COMPUTE_32I", 72)

        def run():  # column-major: y^T (N x batch) = (w_t, K x N)^T (x, K x batch)
            cublas.gemmEx(handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, N, batch, K, alpha.ctypes.data,
                          w_t.data.ptr, r_8i, K, x.data.ptr, r_8i, K, beta.ctypes.data, y.data.ptr, r_32i, N,
                          compute_32i, getattr(cublas, "CUBLAS_GEMM_DEFAULT", -1))

        run()
        if not bool((y == K).all()):
            return None, "cublasGemmEx int8 returned wrong sums"
        return device_seconds(run, repeats=10), None
    except Exception as error:  # an older CuPy or cuBLAS without this path
        return None, f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("path", ["lossy", "lossless"])
def test_reram_pipeline_against_cublas_products(benchmark, kernels, quick, path):
    batch, K, N = (256, 512, 512) if quick else (4096, 4096, 4096)
    config = ReramConfig(adc=AdcConfig(bits=8)) if path == "lossy" else ReramConfig()
    rng = numpy.random.default_rng(0)
    weights = rng.integers(-127, 128, (K, N))
    x = cupy.asarray(rng.integers(0, 256, (batch, K)))
    crossbars = CrossbarArray(weights, config, backend="cupy")
    x_float, w_float = x.astype(numpy.float32), cupy.asarray(weights, dtype=numpy.float32)
    products = config.inputs.chunks * config.mapping.slices * config.mapping.polarities if path == "lossy" else 1

    benchmark.group = f"reram-pipeline-{path}-{batch}x{K}x{N}"
    y = crossbars.matmul(x)
    benchmark.pedantic(synchronized(lambda: crossbars.matmul(x)), rounds=3, warmup_rounds=1)
    pipeline_seconds = device_seconds(lambda: crossbars.matmul(x), repeats=5, warmup=1)
    product_seconds = device_seconds(lambda: cupy.matmul(x_float, w_float), repeats=10)
    # x @ W exactly: float64 sums of integers below 2**53
    reference = (x.astype(numpy.float64) @ cupy.asarray(weights, dtype=numpy.float64)).astype(numpy.int64)
    if path == "lossless":
        correct = bool((y == reference).all())
    else:  # the numpy backend's bits on a slice of the batch, and the ADC's error bound on all of it
        host = CrossbarArray(weights, config, backend="numpy").matmul(x[:64].get())
        within_bound = float(cupy.abs(y - reference).max()) <= crossbars.adc_error_bound()
        correct = bool((y[:64].get() == host).all()) and within_bound
    ratio = pipeline_seconds / (products * product_seconds)
    # The device's ceilings at this shape: cuBLAS fp16 and int8 products, and the tensor-core
    # kernel's own raw product (no ADC) beside cuBLAS's int8 one.
    x_half, w_half = x_float.astype(numpy.float16), w_float.astype(numpy.float16)
    half_seconds = device_seconds(lambda: cupy.matmul(x_half, w_half), repeats=10)
    int8_seconds, int8_unavailable = cublas_int8_product_seconds(batch, K, N)
    raw_inputs = cupy.ones((1, batch, K), dtype=numpy.int8)
    raw_weights, raw_sums = cupy.ones((1, N, K), dtype=numpy.int8), cupy.empty((batch, N), dtype=numpy.int32)
    raw_seconds = device_seconds(lambda: reram_gpu.reram_tile_codes(raw_inputs, raw_weights, raw_sums, None,
                                                                    kernels=kernels),
                                 repeats=10)
    benchmark.extra_info.update(
        correct=correct, shape=[batch, K, N], adc_bits=config.adc_bits, tensor_cores=crossbars._tensor_cores,
        pipeline_seconds=pipeline_seconds, cublas_float32_product_seconds=product_seconds,
        cublas_float16_product_seconds=half_seconds, cublas_int8_product_seconds=int8_seconds,
        cublas_int8_unavailable=int8_unavailable, tile_codes_raw_product_seconds=raw_seconds,
        ratio_raw_kernel_to_cublas_int8=None if int8_seconds is None else raw_seconds / int8_seconds,
        reference_products=products, ratio_to_products=ratio, target_ratio_to_products=PIPELINE_TARGETS[path])
    assert correct
    if not quick:
        target = PIPELINE_TARGETS[path]
        assert ratio <= target, f"{path}: {ratio:.2f}x {products} products, target {target}"


def test_philox_normal_draws(benchmark, kernels, copy_bandwidth, quick):
    count = 2**20 if quick else 2**27

    def run():
        rng_gpu.draw_range("normal", 1, 2, 0, count, kernels=kernels)

    benchmark.group = f"philox-normal-{count}"
    benchmark.pedantic(synchronized(run), rounds=10, warmup_rounds=2)
    seconds = device_seconds(run)
    benchmark.extra_info.update(draws_per_second=count / seconds,
                                ratio_to_copy=8 * count / seconds / copy_bandwidth, correct=True)
