"""Seeded fault model for triple-row activation (TRA).

A TRA senses the majority of three cells that share a bitline. With process variation the
bitline deviation can be too small to sense, and the result bit comes out wrong. cim-emu
models this as bit flips of the TRA result, applied before the result is restored into the
three rows and copied onward, so a flipped bit propagates exactly as it would in the chip:

``flip = R | (W & Q)``, then, if ``only_when_inputs_disagree``, ``flip &= (a ^ b) | (b ^ c)``,

where, for every bit (column) ``j`` of the row and the ``k``-th TRA executed by the subarray,

* ``R[k, j] ~ Bernoulli(flip_probability)``, fresh for every TRA (a *random* failure);
* ``W[j] ~ Bernoulli(weak_column_fraction)``, drawn once per seed: the *weak-cell map*,
  the same columns on every TRA, as measured on real chips where failures stick to
  particular cells and columns;
* ``Q[k, j] ~ Bernoulli(weak_column_flip_probability)``, fresh for every TRA: how often a
  weak column fails.

Restricting flips to columns whose three inputs disagree models the physics: when the three
cells agree the bitline deviation is three times the single-cell deviation and sensing is
safe; the 2-to-1 split is the marginal case (Ambit, MICRO 2017, Section 6).

All draws come from the counter-based generator :mod:`cim_emu.rng`, keyed by
``(seed, stream, j)`` where the stream encodes the draw's purpose and ``k``: the same seed
flips the same bits whatever executor, backend or chunking computes them.

Published figures behind the presets:

* Ambit Table 2 (SPICE Monte Carlo of TRA, 22 nm DRAM): TRA failure rate 0.00 / 0.00 /
  0.29 / 6.01 / 16.36 / 26.19 % at +-0 / 5 / 10 / 15 / 20 / 25 % process variation
  (:meth:`TraFaultModel.ambit_spice`).
* SiMRA (Yuksel et al., "Simultaneous Many-Row Activation in Off-the-Shelf DRAM Chips",
  DSN 2024): MAJ3 succeeds in 99.00 % of cells of real DDR4 chips, with failures tied to
  particular cells (:meth:`TraFaultModel.simra_ddr4_maj3`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import rng
from .._checks import int_below, probability
from ..backend import NUMPY_BACKEND, Backend
from ..bits import WORD_BITS, pack_bits
from ..rng import Stream

#: Ambit Table 2: TRA failure rate (fraction) by process variation (percent).
AMBIT_TABLE2_FAILURE = {0: 0.0, 5: 0.0, 10: 0.0029, 15: 0.0601, 20: 0.1636, 25: 0.2619}


@dataclasses.dataclass(frozen=True)
class TraFaultModel:
    """Bit flips of triple-row-activation results (the default is error-free)."""

    flip_probability: float = 0.0
    """Probability that a TRA result bit flips, fresh per TRA and column (``R``)."""

    only_when_inputs_disagree: bool = False
    """Flip only columns whose three inputs are not all equal (the marginal 2-1 case)."""

    weak_column_fraction: float = 0.0
    """Fraction of columns that are weak, fixed per seed (the weak-cell map ``W``)."""

    weak_column_flip_probability: float = 1.0
    """Probability that a weak column's TRA result flips, fresh per TRA (``Q``)."""

    seed: int = 0
    """Key of every draw, 0 <= seed < 2**64."""

    def __post_init__(self) -> None:
        for name in ("flip_probability", "weak_column_fraction", "weak_column_flip_probability"):
            probability(name, getattr(self, name))
        int_below("seed", self.seed, 2**64, "2**64")

    @property
    def enabled(self) -> bool:
        """True when any bit can flip."""
        return self.flip_probability > 0 or (
            self.weak_column_fraction > 0 and self.weak_column_flip_probability > 0
        )

    @classmethod
    def ambit_spice(cls, variation_percent: int, seed: int = 0) -> "TraFaultModel":
        """Ambit Table 2: random TRA failures at +-``variation_percent`` % process variation.

        Applied where the inputs disagree, since the paper's failures are sensing failures of
        the marginal 2-to-1 charge split.
        """
        if variation_percent not in AMBIT_TABLE2_FAILURE:
            raise ValueError(
                f"variation_percent must be one of {sorted(AMBIT_TABLE2_FAILURE)} (Ambit Table 2); "
                f"got {variation_percent!r}"
            )
        return cls(AMBIT_TABLE2_FAILURE[variation_percent], only_when_inputs_disagree=True, seed=seed)

    @classmethod
    def simra_ddr4_maj3(cls, seed: int = 0) -> "TraFaultModel":
        """SiMRA (DSN 2024), real DDR4: MAJ3 correct in 99.00 % of cells; failures stick to cells.

        Modelled as a weak-cell map covering 1 % of the columns. SiMRA counts a cell as
        successful when it is correct in every trial, and does not give the per-trial failure
        probability of the others; we take 0.5 (a weak cell is a coin flip). Set
        ``weak_column_flip_probability=1.0`` for cells that always fail.
        """
        return cls(weak_column_fraction=0.01, weak_column_flip_probability=0.5, seed=seed)

    def flip_words(self, tra_index: int, a: Any, b: Any, c: Any, word_start: int, row_bits: int,
                   backend: Backend = NUMPY_BACKEND) -> Any:
        """Flip mask (packed words) of TRA number ``tra_index`` for words ``word_start`` onward.

        ``a``, ``b``, ``c`` are the packed inputs of the TRA for that word range (a chunk of
        the row or all of it); the mask covers the same range and is zero in padding bits.
        """
        xp = backend.xp
        start = word_start * WORD_BITS
        count = min(row_bits, start + WORD_BITS * int(a.shape[0])) - start
        flips = None
        if self.flip_probability > 0:
            flips = rng.bernoulli(self.seed, Stream.TRA_FLIP | tra_index, start, count,
                                  self.flip_probability, backend=backend)
        if self.weak_column_fraction > 0 and self.weak_column_flip_probability > 0:
            weak = rng.bernoulli(self.seed, Stream.WEAK_MAP, start, count, self.weak_column_fraction,
                                 backend=backend)
            weak &= rng.bernoulli(self.seed, Stream.WEAK_FLIP | tra_index, start, count,
                                  self.weak_column_flip_probability, backend=backend)
            flips = weak if flips is None else flips | weak
        if flips is None:
            return xp.zeros_like(a)
        mask = pack_bits(flips, xp=xp)
        if self.only_when_inputs_disagree:
            mask &= (a ^ b) | (b ^ c)
        return mask

    def __str__(self) -> str:
        changed = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        ]
        return f"TraFaultModel({', '.join(changed)})"


NO_FAULTS = TraFaultModel()
