"""Stage 1, the DACs: integer inputs streamed into the word lines as bit-serial chunks.

An input ``x`` (``ib`` bits) is streamed in ``C = ceil(ib / dac)`` chunks of ``dac`` bits,
least significant first:

    x' = x + offset,      x'_c = (x' >> (c * dac)) & (2**dac - 1),      x' = sum_c x'_c * 2**(c * dac)

Signed inputs use offset encoding, ``offset = 2**(ib - 1)`` (0 for unsigned inputs), so that
every chunk is a non-negative word-line value; the pipeline subtracts ``offset * sum_k W[k, n]``
digitally and exactly at the end (:meth:`cim_emu.reram.pipeline.Pipeline.finish`). The shift-and-add
weighs chunk ``c``'s codes by its place value ``2**(c * dac)`` (:meth:`Dac.place_values`).

The full specification is ``docs/spec/reram.md`` (section *Inputs*).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy

from .config import ReramConfig

__all__ = ["Dac"]


@dataclasses.dataclass(frozen=True)
class Dac:
    """The DACs of one configuration: ``chunks`` chunks of ``bits`` bits of ``x + offset``."""

    bits: int
    """DAC resolution (``dac``): bits per chunk."""
    chunks: int
    """``C``: chunks streamed per input."""
    offset: int
    """What is added to an input before streaming: ``2**(ib - 1)`` for signed inputs, else 0."""

    @classmethod
    def from_config(cls, config: ReramConfig) -> "Dac":
        """The DACs of ``config`` (its :class:`~cim_emu.reram.config.InputEncoding`)."""
        inputs = config.inputs
        return cls(inputs.dac_bits, inputs.chunks, inputs.input_offset)

    @property
    def max_chunk(self) -> int:
        """Largest chunk value, ``2**dac - 1``."""
        return 2**self.bits - 1

    def place_values(self, xp: Any) -> Any:
        """``2**(c * dac)`` for ``c = 0 .. C - 1``, float64 (exact: below ``2**53``)."""
        return 2.0 ** (xp.arange(self.chunks, dtype=numpy.float64) * self.bits)


    def convert(self, x: Any, xp: Any) -> Any:
        """Chunks ``(C, B, K)`` of integer inputs ``x`` ``(B, K)``: ``x'_c`` above, in the smallest
        unsigned integer type that holds ``x'`` (``0 <= x' < 2**(C * dac)``, checked by the caller)."""
        bits = self.chunks * self.bits
        dtype = next(t for t, width in ((numpy.uint8, 8), (numpy.uint16, 16), (numpy.uint32, 32), (numpy.uint64, 64))
                     if bits <= width)
        shifted = (x + self.offset if self.offset else x).astype(dtype, copy=False)
        chunks = xp.empty((self.chunks,) + tuple(x.shape), dtype=dtype)
        shifts = xp.arange(0, bits, self.bits, dtype=dtype).reshape((-1,) + (1,) * x.ndim)
        xp.right_shift(shifted[None], shifts, out=chunks)
        xp.bitwise_and(chunks, self.max_chunk, out=chunks)
        return chunks
