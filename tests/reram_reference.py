"""The ReRAM read as the specification writes it, shared by the tests that hold the pipeline to it.

:class:`RecordingPipeline` keeps the programmed cells and read-noise sigmas a pipeline was built
from (tests patch it in with ``monkeypatch.setattr(crossbar_module, "Pipeline", RecordingPipeline)``);
:func:`partial_sums` computes every partial sum of a read in int64 (``einsum`` over each tile's
rows) with its read noise; :func:`finish` is stage 6: reference columns, the step, the digital
corrections.
"""

import numpy

from cim_emu.backend import NUMPY_BACKEND
from cim_emu.reram import pipeline as pipeline_module


class RecordingPipeline(pipeline_module.Pipeline):
    """A pipeline that keeps the programmed cells and read-noise sigmas it was built from."""

    def __init__(self, config, levels, fixed, sigma, **options):
        super().__init__(config, levels, fixed, sigma, **options)
        self.recorded = (fixed, sigma)


def partial_sums(crossbars, x, read_index, row_offset):
    """Every partial sum ``(T, C, B, N', P, S)`` (int64) of a read of ``x``, read noise added
    (the noise of :meth:`Pipeline.read_noise`, unscaled, rounded)."""
    pipeline = crossbars.pipeline
    dac, layout = pipeline.dac, pipeline.layout
    fixed, sigma = pipeline.recorded
    fixed = numpy.rint(fixed).astype(numpy.int64)  # (P, S, K, N')
    P, S, K, N = fixed.shape
    T, rows, C, B = layout.tiles, layout.rows, dac.chunks, x.shape[0]
    chunks = dac.convert(x, numpy)  # (C, B, K)
    sums = numpy.zeros((T, C, B, N, P, S), dtype=numpy.int64)
    for t in range(T):
        k = slice(t * rows, min(K, (t + 1) * rows))
        sums[t] = numpy.einsum("cbk,pskn->cbnps", chunks[:, :, k], fixed[:, :, k])
    if sigma is not None:
        noise = pipeline.read_noise(pipeline.input_tiles(x, numpy), 0, N, row_offset, read_index, NUMPY_BACKEND)
        if pipeline.prescaled:
            noise = noise / pipeline.adc.scale
        sums += numpy.rint(noise).astype(numpy.int64).reshape(T, C, B, N, P, S)
    return sums


def finish(crossbars, acc, x, step):
    """``y`` from the shift-added codes ``acc`` ``(B, N')``: reference columns subtracted, times
    ``step``, minus the exact digital corrections."""
    config, dac = crossbars.config, crossbars.pipeline.dac
    mapping, N = config.mapping, crossbars.shape[1]
    if mapping.uses_reference_columns:
        acc = acc[:, :N] - acc[:, N:][:, numpy.arange(N) // config.crossbar.cols]
    y = acc if step == 1 else acc * step
    if config.inputs.signed:
        y = y - dac.offset * crossbars.weights.sum(axis=0)
    if mapping.scheme == "offset" and not mapping.uses_reference_columns:
        y = y - mapping.offset * (x + dac.offset).sum(axis=1, keepdims=True)
    return y
