"""The real-chip error model: a fixed capable mask per (row group, bit), and per-trial flips.

Every published success rate counts a bit position correct only when it is correct in every
trial (SiMRA, DSN 2024, Section 4; FCDRAM, HPCA 2024, Section 5), so failures stick to cells.
The model, for an operation ``op`` on the row group ``g`` (its :attr:`RowGroup.key`) at APA
number ``k`` of the bank, and bit (column) ``j``:

* ``capable[g, j] = U[g, j] < p`` with ``U[g, j]`` one uniform draw per (group, bit) from stream
  ``Stream.REALCHIP_CAPABLE | g`` and ``p`` the success of the operation's configuration
  (:func:`success_probability`: published table, temperature). The same ``U`` serves every
  configuration, so a bit capable of a harder operation (lower ``p``) is capable of the easier
  ones on that group: weak cells are weak for everything (a model choice);
* a bit that is not capable flips with probability ``q`` (:attr:`RealChipErrorModel.flip_for`,
  0.5 by default: the papers publish no per-trial failure rate, so a non-capable bit is taken as
  a coin flip) fresh on every APA: ``F[k, j]`` from stream ``Stream.REALCHIP_FLIP | (2k + side)`` (side 1:
  the reference side of N:N logic, else 0).

The measured success over ``T`` trials is therefore ``p + (1 - p) (1 - q)**T`` in expectation:
within ``0.5**T`` of ``p`` for ``q = 0.5``. All draws come from the counter-based generator
(:mod:`cim_emu.rng`), so every backend flips the same bits.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ... import rng
from ..._checks import int_below, probability, shown
from ...backend import NUMPY_BACKEND, Backend
from ...bits import pack_bits
from ...rng import Stream
from .success import OPERATIONS, published_success, temperature_penalty


@dataclasses.dataclass(frozen=True)
class RealChipErrorModel:
    """Seeded errors of real-chip operations (the default: the published success rates at 50 C)."""

    seed: int = 0
    """Key of every draw, 0 <= seed < 2**64."""

    temperature_c: float = 50.0
    """Chip temperature (degrees C, 50..90); see :func:`~cim_emu.ambit.realchip.success.temperature_penalty`."""

    flip_probability: float = 0.5
    """Probability that a non-capable bit flips in one trial (every operation without its own value)."""

    op_flip_probability: tuple[tuple[str, float], ...] = ()
    """Per-operation overrides of :attr:`flip_probability`, as ``(op, q)`` pairs."""

    ideal: bool = False
    """True: every bit is capable (the real-chip semantics without errors)."""

    def __post_init__(self) -> None:
        int_below("seed", self.seed, 2**64, "2**64")
        temperature_penalty(self.temperature_c)
        probability("flip_probability", self.flip_probability)
        pairs = tuple((op, probability(f"op_flip_probability[{op!r}]", q)) for op, q in self.op_flip_probability)
        unknown = [op for op, _ in pairs if op not in OPERATIONS]
        if unknown:
            raise ValueError(f"op_flip_probability names unknown operations {shown(unknown)}; "
                             f"allowed: {', '.join(OPERATIONS)}")
        object.__setattr__(self, "op_flip_probability", pairs)

    @classmethod
    def none(cls) -> "RealChipErrorModel":
        """No errors: every bit of every group is capable."""
        return cls(ideal=True)

    def flip_for(self, op: str) -> float:
        """The per-trial flip probability of a non-capable bit of ``op``."""
        return dict(self.op_flip_probability).get(op, self.flip_probability)

    def success_probability(self, op: str, rows: int, pattern: str, operands: int = 3) -> float:
        """``p`` of a configuration: the published success less the temperature penalty, at least 0."""
        if self.ideal:
            return 1.0
        return max(0.0, published_success(op, rows, pattern, operands) - temperature_penalty(self.temperature_c, op))

    def flip_words(self, op: str, group_key: int, apa_index: int, rows: int, pattern: str, operands: int,
                   row_bits: int, backend: Backend = NUMPY_BACKEND) -> Any:
        """The packed flip mask of one operation: bits that are not capable and flip this trial."""
        p = self.success_probability(op, rows, pattern, operands)
        xp = backend.xp
        if p >= 1.0:
            return xp.zeros(-(-row_bits // 64), dtype=xp.uint64)
        capable = rng.bernoulli(self.seed, Stream.REALCHIP_CAPABLE | group_key, 0, row_bits, p, backend=backend)
        flips = rng.bernoulli(self.seed, Stream.REALCHIP_FLIP | apa_index, 0, row_bits, self.flip_for(op),
                              backend=backend)
        return pack_bits(flips & ~capable, xp=xp)

    def capable_bits(self, op: str, group_key: int, rows: int, pattern: str, operands: int, row_bits: int,
                     backend: Backend = NUMPY_BACKEND) -> Any:
        """The capable mask (a bool array of ``row_bits``) of a configuration on a group."""
        p = self.success_probability(op, rows, pattern, operands)
        return rng.bernoulli(self.seed, Stream.REALCHIP_CAPABLE | group_key, 0, row_bits, p, backend=backend)


def tie_bits(seed: int, apa_index: int, row_bits: int, backend: Backend = NUMPY_BACKEND) -> Any:
    """The packed values a tied vote settles to (fair coins, stream ``REALCHIP_TIE | apa_index``):
    with as much charge for 1 as for 0 the sense amplifier's own offset decides."""
    coins = rng.bernoulli(seed, Stream.REALCHIP_TIE | apa_index, 0, row_bits, 0.5, backend=backend)
    return pack_bits(coins, xp=backend.xp)
