"""Device non-idealities of ReRAM (and PCM-like) cells, in fixed point and seeded.

Conductances are normalised to the on-state conductance ``g_max`` (so ``g`` is in ``[0, 1]``
before noise). A cell programmed to level ``l`` of ``L = 2**bits_per_cell - 1`` targets

    g_target = g_min + (l / L) * (1 - g_min),      g_min = 1 / on_off_ratio          (finite on/off)

and then, in this order, for each cell (indexed by polarity, slice, row k, column n):

1. programming noise, once, at programming time:
   ``g = g_target + sigma_prog(g_target) * z``, ``z ~ N(0, 1)``, clipped at 0;
2. the state at read time ``t`` seconds after programming (only when a read time is given,
   :meth:`~cim_emu.reram.crossbar.CrossbarArray.at_time`): generic drift
   ``g(t) = g * ((t + t0) / t0) ** (-nu)`` with a per-cell ``nu = max(nu_mean + nu_std * z', 0)``
   (aihwkit's convention: ``t0`` after programming the conductance is as programmed), or the
   preset's own time model;
3. stuck cells, fixed per seed: with probability ``stuck_at_low`` the cell is stuck in its
   high-resistance state (``g = g_min``), with probability ``stuck_at_high`` in its
   low-resistance state (``g = 1``), whatever was programmed and whenever it is read;
4. ``g`` is clipped to ``[0, G_CLIP]`` (conductance cannot be negative; the upper bound keeps
   the fixed-point range known);
5. read noise, fresh for every read: each cell's conductance is perturbed by an independent
   ``N(0, sigma_read(g)**2)``; the column current of a conversion, ``sum_k x_c[k] g[k, n]``,
   thus gains an exactly Gaussian term of variance ``sum_k x_c[k]**2 sigma_read(g[k, n])**2``,
   which is drawn once per conversion (equal in distribution, far cheaper).

Published defaults, as presets: programming noise and its time evolution of Wan et al. 2022
(:meth:`DeviceModel.reram_wan2022`); PCM programming noise, drift and 1/f read noise of
Nandakumar et al. 2019 / Joshi et al. 2020 (:meth:`DeviceModel.pcm_joshi2020`); stuck-at
rates of Chen et al. 2015 (:meth:`DeviceModel.stuck_cells_chen2015`); on/off ratio 10 and
read noise 1 % (:meth:`DeviceModel.generic_reram`).

The generic model has ``sigma(g) = a + b * g`` for programming and read noise, and constant
``nu_mean``, ``nu_std``. Presets (:meth:`DeviceModel.reram_wan2022`,
:meth:`DeviceModel.pcm_joshi2020`) replace these with the conductance-dependent fits their
sources publish.

Fixed point: a conductance is stored as the integer ``round(g * L * 2**FRACTION_BITS)`` (units
of ``2**-FRACTION_BITS`` of a level step; with ideal devices, exactly ``l * 2**FRACTION_BITS``),
and read-noise standard deviations likewise. Partial sums of such integers are exact in any
order, so every backend gives the same bits. The noise draws come from :mod:`cim_emu.rng`
keyed by ``(seed, stream, cell index)``; per-cell floating-point formulas (noise scaling,
drift's power) are evaluated once, on the host, in float64, and their rounded integers are
what every backend computes with.

The full specification is ``docs/spec/reram.md`` (section *Non-idealities*).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional

import numpy

from .. import rng
from .._checks import finite_nonnegative, finite_positive, is_real, probability
from ..parallel import default_threads, run_jobs
from ..rng import Stream

#: Fractional bits of fixed-point conductances (units of 2**-8 of a level step).
FRACTION_BITS = 8
#: Programmed conductances are clipped to [0, G_CLIP] (in units of g_max).
G_CLIP = 2.0


@dataclasses.dataclass(frozen=True)
class DeviceModel:
    """Cell non-idealities (default: ideal cells). See the module docstring for the formulas."""

    on_off_ratio: float = math.inf
    """``g_max / g_min`` (> 1; ``inf``: level 0 conducts nothing)."""

    programming_noise: float = 0.0
    """``a`` of ``sigma_prog(g) = a + b g``: state-independent programming noise (units of g_max)."""

    programming_noise_proportional: float = 0.0
    """``b`` of ``sigma_prog(g) = a + b g``: programming noise proportional to the target."""

    read_noise: float = 0.0
    """``a`` of ``sigma_read(g) = a + b g``: per-cell read noise, fresh per read (units of g_max)."""

    read_noise_proportional: float = 0.0
    """``b`` of ``sigma_read(g) = a + b g``."""

    stuck_at_low: float = 0.0
    """Probability that a cell is stuck in its high-resistance state (``g = g_min``)."""

    stuck_at_high: float = 0.0
    """Probability that a cell is stuck in its low-resistance state (``g = g_max``)."""

    drift_nu_mean: float = 0.0
    """Mean drift exponent ``nu`` of ``g(t) = g ((t + t0) / t0) ** -nu`` (generic model)."""

    drift_nu_std: float = 0.0
    """Cell-to-cell standard deviation of ``nu``."""

    drift_t0: float = 20.0
    """Drift's reference time ``t0`` in seconds (aihwkit: 20 s)."""

    model: str = "generic"
    """``"generic"`` (the linear formulas above) or a preset's conductance-dependent fit:
    ``"reram_wan2022"``, ``"pcm_joshi2020"``."""

    def __post_init__(self) -> None:
        # Every number is stored as a float (JSON writes numpy scalars no better than it reads them).
        for name in ("programming_noise", "programming_noise_proportional", "read_noise",
                     "read_noise_proportional", "drift_nu_mean", "drift_nu_std"):
            object.__setattr__(self, name, finite_nonnegative(name, getattr(self, name)))
        for name in ("stuck_at_low", "stuck_at_high"):
            object.__setattr__(self, name, probability(name, getattr(self, name)))
        if self.stuck_at_low + self.stuck_at_high > 1:
            raise ValueError("stuck_at_low + stuck_at_high must not exceed 1")
        if not (is_real(self.on_off_ratio) and self.on_off_ratio > 1):
            raise ValueError(f"on_off_ratio must be a number > 1 (or inf); got {self.on_off_ratio!r}")
        object.__setattr__(self, "on_off_ratio", float(self.on_off_ratio))
        object.__setattr__(self, "drift_t0", finite_positive("drift_t0", self.drift_t0))
        if not isinstance(self.model, str) or self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(map(repr, MODELS))}; got {self.model!r}")

    @property
    def ideal(self) -> bool:
        """True when programmed conductances are exactly the levels and reads are noiseless."""
        return (self.model == "generic" and math.isinf(self.on_off_ratio)
                and not (self.programming_noise or self.programming_noise_proportional or self.read_noise
                         or self.read_noise_proportional or self.stuck_at_low or self.stuck_at_high
                         or self.drift_nu_mean or self.drift_nu_std))

    @property
    def g_min(self) -> float:
        return 0.0 if math.isinf(self.on_off_ratio) else 1.0 / self.on_off_ratio

    # -- the conductance-dependent functions (overridden by presets) ---------------------------
    def programming_sigma(self, g: numpy.ndarray) -> numpy.ndarray:
        """Standard deviation of programming noise at target conductance ``g`` (units of g_max)."""
        return MODELS[self.model].programming_sigma(self, g)

    def read_sigma(self, g: numpy.ndarray) -> numpy.ndarray:
        """Per-cell read-noise standard deviation at conductance ``g`` (units of g_max)."""
        return MODELS[self.model].read_sigma(self, g)

    @property
    def has_read_noise(self) -> bool:
        return MODELS[self.model].has_read_noise(self)

    @property
    def shared_read_sigma(self) -> Optional[float]:
        """The read-noise deviation of every cell where it does not depend on the conductance
        (``sigma_read(g) = a``, exactly, for every finite ``g``), else ``None``."""
        return MODELS[self.model].shared_read_sigma(self)

    # -- presets ---------------------------------------------------------------------------------
    @classmethod
    def reram_wan2022(cls, **changes: Any) -> "DeviceModel":
        """ReRAM of Wan et al., Nature 2022, as fitted in IBM aihwkit (see ``_ReramWan2022``),
        with aihwkit's suggested short-term read noise of 1 % of g_max."""
        return dataclasses.replace(cls(model="reram_wan2022", read_noise=0.01), **changes)

    @classmethod
    def pcm_joshi2020(cls, **changes: Any) -> "DeviceModel":
        """PCM of Nandakumar et al. 2019 / Joshi et al. 2020 as in IBM aihwkit (see ``_PcmJoshi2020``)."""
        return dataclasses.replace(cls(model="pcm_joshi2020"), **changes)

    @classmethod
    def stuck_cells_chen2015(cls, **changes: Any) -> "DeviceModel":
        """Stuck-at faults of a 4-Mb HfO2 RRAM test chip (Chen et al., "RRAM defect modeling and
        failure analysis based on march test and a novel squeeze-search scheme", IEEE Trans.
        Computers 64(1), 2015), as widely quoted: stuck-at-0 1.75 % and stuck-at-1 9.04 %, read
        here as stuck in the high-resistance (low-conductance) and low-resistance (high-conductance,
        over-formed) state respectively."""
        return dataclasses.replace(cls(stuck_at_low=0.0175, stuck_at_high=0.0904), **changes)

    @classmethod
    def generic_reram(cls, **changes: Any) -> "DeviceModel":
        """Finite on/off ratio 10 (Sandia CrossSim's default, Rmin 1 kOhm, Rmax 10 kOhm) and
        state-independent read noise of 1 % of g_max (aihwkit's suggestion for Wan 2022)."""
        return dataclasses.replace(cls(on_off_ratio=10.0, read_noise=0.01), **changes)

    # -- programming and reading --------------------------------------------------------------
    def program(self, levels: numpy.ndarray, max_level: int, seed: int,
                t_seconds: Optional[float] = None) -> numpy.ndarray:
        """Conductances (float64, units of g_max) of cells programmed to ``levels`` (any shape),
        as read ``t_seconds`` after programming (``None``: right after; see the module docstring).

        Every step is a function of one cell (its level and its draws, keyed by its flat index),
        so the cells are programmed in blocks of ``PROGRAM_BLOCK`` over the host threads, with
        the bits of one pass over them all."""
        flat = numpy.ascontiguousarray(levels).reshape(-1)
        return _by_blocks(lambda a, out: self.program_into(flat[a:a + out.size], a, max_level, seed, t_seconds, out),
                          flat.size).reshape(levels.shape)

    def program_into(self, levels: numpy.ndarray, first: int, max_level: int, seed: int,
                     t_seconds: Optional[float], out: numpy.ndarray) -> None:
        """:meth:`program` of cells ``first ..`` of the flat cell array, at ``levels``, into ``out``."""
        g_min = self.g_min
        target = g_min + levels.astype(numpy.float64) / max_level * (1.0 - g_min)
        if self.ideal:
            numpy.copyto(out, target)
            return
        g = numpy.maximum(target + self.programming_sigma(target) * _normal(seed, Stream.PROGRAMMING, levels.shape,
                                                                             first), 0)
        if t_seconds is not None:
            g = MODELS[self.model].conductance_at(self, g, target, float(t_seconds), seed, first)
        if self.stuck_at_low or self.stuck_at_high:
            u = rng.uniform_uint32(seed, Stream.STUCK, first, levels.size).reshape(levels.shape).astype(numpy.uint64)
            low = rng.bernoulli_threshold(self.stuck_at_low)
            high = low + rng.bernoulli_threshold(self.stuck_at_high)
            g = numpy.where(u < low, g_min, numpy.where(u < high, 1.0, g))
        numpy.clip(g, 0.0, G_CLIP, out=out)


#: Cells per block of the per-cell formulas (:meth:`DeviceModel.program`, :func:`to_fixed`): a
#: multiple of 64, so that numpy's vector loops meet every cell at the same lane as in one pass.
PROGRAM_BLOCK = 2**16


def _by_blocks(cells: Callable[[int, numpy.ndarray], None], n: int) -> numpy.ndarray:
    """The float64 values of ``n`` cells, ``cells(a, out)`` writing those of cells ``a ..`` into
    ``out``, for blocks of ``PROGRAM_BLOCK`` cells over the shared host threads (on this thread
    inside one of them), as one array."""
    out = numpy.empty(n)

    def block(a: int) -> None:
        cells(a, out[a:a + PROGRAM_BLOCK])

    run_jobs(block, range(0, n, PROGRAM_BLOCK), default_threads())
    return out


def fixed_point(g: numpy.ndarray, max_level: int, out: numpy.ndarray) -> None:
    """``out = round_half_even(g * max_level * 2**FRACTION_BITS)`` (float64; one product, then ``rint``)."""
    numpy.rint(numpy.multiply(g, max_level * 2**FRACTION_BITS, out=out), out=out)


def to_fixed(g: numpy.ndarray, max_level: int) -> numpy.ndarray:
    """Fixed-point conductances: ``round_half_even(g * max_level * 2**FRACTION_BITS)`` as float64."""
    flat = numpy.ascontiguousarray(g).reshape(-1)
    return _by_blocks(lambda a, out: fixed_point(flat[a:a + out.size], max_level, out), flat.size).reshape(g.shape)


class _Generic:
    """``sigma(g) = a + b g`` for programming and read noise; power-law drift with normal ``nu``."""

    @staticmethod
    def programming_sigma(model: DeviceModel, g: numpy.ndarray) -> numpy.ndarray:
        return model.programming_noise + model.programming_noise_proportional * g

    @staticmethod
    def read_sigma(model: DeviceModel, g: numpy.ndarray) -> numpy.ndarray:
        return model.read_noise + model.read_noise_proportional * g

    @staticmethod
    def has_read_noise(model: DeviceModel) -> bool:
        return bool(model.read_noise or model.read_noise_proportional)

    @staticmethod
    def shared_read_sigma(model: DeviceModel) -> Optional[float]:
        return None if model.read_noise_proportional else model.read_noise  # a + 0 * g is a

    @staticmethod
    def conductance_at(model: DeviceModel, g: numpy.ndarray, target: numpy.ndarray, t: float,
                       seed: int, first: int) -> numpy.ndarray:
        """``g ((t + t0) / t0) ** -nu``, ``nu = max(nu_mean + nu_std z, 0)`` per cell (cells ``first ..``)."""
        if not (model.drift_nu_mean or model.drift_nu_std):
            return g
        nu = numpy.maximum(model.drift_nu_mean + model.drift_nu_std * _normal(seed, Stream.DRIFT, g.shape, first), 0.0)
        return g * ((t + model.drift_t0) / model.drift_t0) ** (-nu)


def _polynomial(coefficients: tuple, x: numpy.ndarray) -> numpy.ndarray:
    """``c0 + c1 x + c2 x**2 + ...`` (coefficients lowest order first), evaluated term by term."""
    if len(coefficients) == 1:
        return numpy.full_like(x, coefficients[0])
    total = coefficients[0] + coefficients[1] * x  # the first term as c0 + c1 * (1 * x): 1 * x is x exactly
    power = x
    for c in coefficients[2:]:
        power = power * x
        total += c * power
    return total


def _normal(seed: int, stream: int, shape: tuple, first: int) -> numpy.ndarray:
    """Normal draws of cells ``first ..`` (flat indices), in ``shape``."""
    return rng.normal(seed, stream, first, int(numpy.prod(shape))).reshape(shape)


class _ReramWan2022:
    """ReRAM of Wan et al., "A compute-in-memory chip based on resistive random-access memory"
    (Nature 608, 2022), as fitted in IBM aihwkit (``ReRamWan2022NoiseModel``,
    ``src/aihwkit/inference/noise/reram.py``): the standard deviation of the conductance change
    measured at 1 s, 1 day and 2 days after programming (Extended Data Fig. 3d), as 4th-order
    polynomials of ``x = g_target / g_max`` in uS, referenced to ``g_max = 40 uS``:

    * 1 s:    0.348 + 16.030 x - 43.853 x**2 + 45.393 x**3 - 16.815 x**4
    * 1 day:  0.701 + 22.086 x - 50.773 x**2 + 47.095 x**3 - 16.458 x**4
    * 2 days: 0.782 + 20.274 x - 43.507 x**2 + 37.062 x**3 - 11.934 x**4

    Programming uses the 1 s curve; reading at time ``t`` draws the deviation of that time
    afresh around the target, as aihwkit does (the curves are total deviations, not
    increments). aihwkit takes only the three measured times; here (our choice, stated in
    ``docs/spec/reram.md``) any ``t`` is read: between two measured times the deviation is
    interpolated linearly in ``log t``, beyond 2 days it is extrapolated along the 1 day ->
    2 days segment (clipped at 0), and before 1 s the cells are read as programmed.
    Conductances are clipped at 0. No read noise is fitted; aihwkit's docstring suggests about
    1 % of g_max for short-term read noise, which the preset sets as ``read_noise = 0.01``.
    """

    G_MAX_US = 40.0
    CURVES = {
        1.0: (0.348, 16.030, -43.853, 45.393, -16.815),
        86400.0: (0.701, 22.086, -50.773, 47.095, -16.458),
        172800.0: (0.782, 20.274, -43.507, 37.062, -11.934),
    }

    @classmethod
    def sigma_at(cls, t: float, g: numpy.ndarray) -> numpy.ndarray:
        """The deviation ``t >= 1`` s after programming (units of g_max): a measured curve, or
        two of them weighted by ``w = (ln t - ln t_a) / (ln t_b - ln t_a)`` (``t_a``, ``t_b``
        the measured times around ``t``, or the last two past them), clipped at 0."""
        if t in cls.CURVES:
            return _polynomial(cls.CURVES[t], g) / cls.G_MAX_US
        times = sorted(cls.CURVES)
        t_a, t_b = next(((a, b) for a, b in zip(times, times[1:]) if t < b), (times[-2], times[-1]))
        w = (math.log(t) - math.log(t_a)) / (math.log(t_b) - math.log(t_a))
        sigma = (1 - w) * _polynomial(cls.CURVES[t_a], g) + w * _polynomial(cls.CURVES[t_b], g)
        return numpy.maximum(sigma, 0.0) / cls.G_MAX_US

    @classmethod
    def programming_sigma(cls, model: DeviceModel, g: numpy.ndarray) -> numpy.ndarray:
        return cls.sigma_at(1.0, g)

    read_sigma = staticmethod(_Generic.read_sigma)
    has_read_noise = staticmethod(_Generic.has_read_noise)
    shared_read_sigma = staticmethod(_Generic.shared_read_sigma)

    @classmethod
    def conductance_at(cls, model: DeviceModel, g: numpy.ndarray, target: numpy.ndarray, t: float,
                       seed: int, first: int) -> numpy.ndarray:
        if t < min(cls.CURVES):  # before the first measurement: as programmed
            return g
        return target + cls.sigma_at(t, target) * _normal(seed, Stream.DRIFT, g.shape, first)


class _PcmJoshi2020:
    """PCM of Nandakumar et al. (2019) and Joshi et al., "Accurate deep neural network inference
    using computational phase-change memory" (Nature Communications 11, 2020), as in IBM
    aihwkit's ``PCMLikeNoiseModel`` (``src/aihwkit/inference/noise/pcm.py``), ``g_max = 25 uS``,
    ``x = g / g_max``:

    * programming: ``sigma = (0.26348 + 1.9650 x - 1.1731 x**2) / 25`` (units of g_max), clipped at 0;
    * drift: ``g(t) = g_prog ((t + t0) / t0) ** -nu``, ``t0 = 20 s``,
      ``nu = |mu + s z|``, ``mu = clip(-0.0155 ln x + 0.0244, 0.049, 0.1)``,
      ``s = clip(-0.0125 ln x - 0.0059, 0.008, 0.045)``, ``x`` of the target clipped below at 1e-7;
    * 1/f read noise at the read time (one draw per time, as aihwkit applies it):
      ``g += |g| Q_s sqrt(ln((t + t0 + t_read) / (2 t_read))) z'``,
      ``Q_s = min(0.0088 / max(x_prog ** 0.65, 1e-3), 0.2)``, ``t_read = 250 ns``; clipped at 0.
    """

    T_READ = 250e-9

    @staticmethod
    def programming_sigma(model: DeviceModel, g: numpy.ndarray) -> numpy.ndarray:
        return numpy.maximum(_polynomial((0.26348, 1.9650, -1.1731), g), 0.0) / 25.0

    read_sigma = staticmethod(_Generic.read_sigma)
    has_read_noise = staticmethod(_Generic.has_read_noise)
    shared_read_sigma = staticmethod(_Generic.shared_read_sigma)

    @classmethod
    def conductance_at(cls, model: DeviceModel, g: numpy.ndarray, target: numpy.ndarray, t: float,
                       seed: int, first: int) -> numpy.ndarray:
        t0 = model.drift_t0
        log_x = numpy.log(numpy.maximum(numpy.abs(target), 1e-7))
        mu = numpy.clip(-0.0155 * log_x + 0.0244, 0.049, 0.1)
        spread = numpy.clip(-0.0125 * log_x - 0.0059, 0.008, 0.045)
        nu = numpy.abs(mu + spread * _normal(seed, Stream.DRIFT, g.shape, first))
        drifted = g * ((t + t0) / t0) ** (-nu)
        q_s = numpy.minimum(0.0088 / numpy.maximum(numpy.abs(g) ** 0.65, 1e-3), 0.2)
        sigma = q_s * math.sqrt(math.log((t + t0 + cls.T_READ) / (2 * cls.T_READ)))
        noisy = drifted + numpy.abs(drifted) * sigma * _normal(seed, Stream.READ_1F, g.shape, first)
        return numpy.maximum(noisy, 0.0)


MODELS: dict = {"generic": _Generic, "reram_wan2022": _ReramWan2022, "pcm_joshi2020": _PcmJoshi2020}


def read_sigma_fixed(model: DeviceModel, g: numpy.ndarray, max_level: int) -> Optional[numpy.ndarray]:
    """Integer read-noise standard deviations (fixed point) per cell, or ``None`` without read noise."""
    if not model.has_read_noise:
        return None
    flat = numpy.ascontiguousarray(g).reshape(-1)
    return _by_blocks(lambda a, out: fixed_point(model.read_sigma(flat[a:a + out.size]), max_level, out),
                      flat.size).reshape(g.shape)
