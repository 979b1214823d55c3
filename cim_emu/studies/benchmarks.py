"""Emulator throughput against the backend's native operation, timed in the same run, beside
what the modelled hardware would take (``cim-emu bench``).

Absolute times vary between machines; the ratio to a native baseline measured in the same run
does not vary much, so every measurement carries both.

:func:`ambit_throughput`
    The fast Ambit executor runs the paper's AND or XOR program on two random rows of
    ``row_bytes`` bytes (``scratch="drop"``: only the destination row is materialised, as
    numpy materialises only its result), against the backend's ``bitwise_and`` /
    ``bitwise_xor`` on the same rows, as one call that allocates its result and as one call
    into a preallocated array (the memory-traffic floor: read two rows, write one). Beside
    it: the Ambit cost model's latency, energy and throughput for that row length.
:func:`reram_throughput`
    A crossbar product of 8-bit unsigned inputs (``batch x k``) and signed 8-bit weights
    (``k x n``), 2-bit cells, 1-bit DACs, 128-row crossbars, against a float32 ``matmul`` of
    the same shape. ``"lossy"`` (a :data:`LOSSY_ADC_BITS`-bit ADC) runs the full pipeline,
    whose inherent work is input chunks x weight slices x polarities binary products (8 x 4
    x 2 = 64); ``"lossless"`` (the default lossless ADC, ideal devices) takes one exact
    integer product; ``"signed"`` reads the lossy case with one signed ADC per slice (one
    ``W+ - W-`` operand per slice: 8 x 4 = 32 products), timed beside the per-polarity read.
    Beside it: the ReRAM cost model's latency, energy and MAC/s (ISAAC).

Every measurement follows :mod:`~cim_emu.studies.timing`: the baselines and the emulator
interleaved round by round after a warm-up round, medians of ``rounds`` rounds (wall clock and
CPU time), threads pinned (``threads=``, default every usable core, for both sides) and stated,
and the ratio held against a floor below which it is implausible: Ambit's in-place native call
(the memory traffic the emulator cannot avoid); a lossy ReRAM read's products, input chunks x
the slice and polarity columns of a weight column as the pipeline packs them
(:attr:`Pipeline.width`: 8 x 4 = 32 at the defaults), each as much work as the float32
``matmul`` of the shape (from :data:`FLOOR_MIN_MACS` on: a smaller matmul runs below its full
rate), or a quarter of one where the input bits are multiplied by look-up tables (one addition
for four word lines, :data:`cim_emu.reram.bit_tiles.GROUP_ROWS`); one such product when lossless. The ReRAM
floors hold on the host (no kernel provider); with kernels (int8 tensor cores on a device) none
is set. On CuPy each run ends with a stream synchronise. ``driver=`` hands the rounds to a
benchmark harness (``bench/`` passes pytest-benchmark's, so that the same measurement feeds both
``cim-emu bench`` and the benchmark suites). Every measurement also checks its result: Ambit
against numpy's bits, lossless ReRAM against the exact integer product, lossy ReRAM
within the ADC's error bound (``correct``).
"""

from __future__ import annotations

import dataclasses
import os
import platform
from typing import Any, Callable, Optional

import numpy

from .. import backend as backends
from .._checks import positive_int
from ..ambit import AmbitCostModel, Subarray, program_for
from ..reram import AdcConfig, CrossbarArray, ReramConfig, ReramCostModel
from ..reram.bit_tiles import GROUP_ROWS
from .timing import ROUNDS, Driver, interleaved, pinned_threads, plausibility

#: The Ambit operations measured, with the native baseline of each.
AMBIT_OPS = {"and": "bitwise_and", "xor": "bitwise_xor"}

#: The ReRAM cases measured by ``cim-emu bench``.
RERAM_PATHS = ("lossy", "lossless")

#: Every ReRAM case :func:`reram_throughput` takes: ``"signed"`` is the lossy case read by one
#: signed ADC per slice (``differential_readout="subtract"``), timed beside the per-polarity one.
READOUT_PATHS = RERAM_PATHS + ("signed",)

#: ADC resolution of the lossy ReRAM case (below the 9 bits that are lossless).
LOSSY_ADC_BITS = 6


@dataclasses.dataclass(frozen=True)
class Throughput:
    """One emulator measurement, its native baseline and the modelled hardware.

    ``work`` counts what one run produces, in ``unit``: bytes of result (Ambit) or
    multiply-accumulates (ReRAM); rates are ``work`` per second.
    """

    engine: str
    """``"ambit"`` or ``"reram"``."""

    case: str
    """The Ambit operation (``"and"``, ``"xor"``) or the ReRAM path (``"lossy"``, ``"lossless"``)."""

    size: str
    """The size in words, e.g. ``"16 MiB rows"`` or ``"256x1024x1024"`` (batch x k x n)."""

    work: int
    unit: str
    """``"B"`` (bytes of result) or ``"MAC"``."""

    emulator_s: float
    """Median time of one emulator run (seconds)."""

    baseline: str
    """The native operation compared with, e.g. ``"numpy.bitwise_and"``."""

    baseline_s: float
    """Median time of one baseline run (seconds), in the same rounds."""

    correct: bool
    """Whether the emulator's result checked out (see the module docstring)."""

    modelled_latency_ns: float
    """Latency of the same work on the modelled hardware (ns)."""

    modelled_energy_nj: float
    """Energy of the same work on the modelled hardware (nJ)."""

    details: dict = dataclasses.field(default_factory=dict)
    """Engine-specific figures (see :func:`ambit_throughput`, :func:`reram_throughput`)."""

    method: dict = dataclasses.field(default_factory=dict)
    """How it was measured: :meth:`Timings.record`'s keys but the two medians (``rounds``,
    ``emulator_cpu_s``, ``baseline_cpu_s``, ``ratio_rounds_min``, ``ratio_rounds_max``),
    ``threads`` (the pinned count) and :func:`plausibility`'s keys (``floor_ratio``,
    ``floor_basis``, ``plausible``, ``implausible_reason``)."""

    @property
    def plausible(self) -> bool:
        """Whether the ratio is at least its floor (within measurement noise): see :mod:`.timing`."""
        return bool(self.method.get("plausible", True))

    @property
    def ratio_to_baseline(self) -> float:
        """Emulator time / baseline time (1: as fast as the native operation)."""
        return self.emulator_s / self.baseline_s

    @property
    def emulator_per_s(self) -> float:
        return self.work / self.emulator_s

    @property
    def baseline_per_s(self) -> float:
        return self.work / self.baseline_s

    @property
    def modelled_per_s(self) -> float:
        """Work per second on the modelled hardware."""
        return self.work / (self.modelled_latency_ns * 1e-9)

    @property
    def modelled_energy_pj_per_unit(self) -> float:
        """Modelled energy per byte (Ambit) or per MAC (ReRAM), in pJ."""
        return self.modelled_energy_nj * 1e3 / self.work

    def as_dict(self) -> dict:
        """A flat record: the fields, the derived rates, then ``details`` and ``method`` merged in."""
        record = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                  if field.name not in ("details", "method")}
        record.update(ratio_to_baseline=self.ratio_to_baseline, emulator_per_s=self.emulator_per_s,
                      baseline_per_s=self.baseline_per_s, modelled_per_s=self.modelled_per_s,
                      modelled_energy_pj_per_unit=self.modelled_energy_pj_per_unit, **self.details, **self.method)
        return record


def _synchronizer(chosen: backends.Backend) -> Callable[[], None]:
    """What ends a timed run: a stream synchronise on a device (launches are asynchronous), nothing on the host."""
    if not chosen.on_device:
        return lambda: None
    return lambda: chosen.xp.cuda.get_current_stream().synchronize()


def _check_positive(**sizes: int) -> None:
    for name, value in sizes.items():
        positive_int(name, value)


def _measure(sides: dict, rounds: int, threads: Optional[int], synchronize: Callable[[], None],
             driver: Optional[Driver], floor: Callable[[Any], tuple]) -> tuple:
    """``(timings, method)``: ``sides`` timed by :func:`interleaved` with pinned threads, and the
    record's ``method`` keys; ``floor(timings)`` is ``(floor_ratio or None, basis)``."""
    with pinned_threads(threads) as pinned:
        timings = interleaved(sides, rounds, synchronize=synchronize, driver=driver)
    shared = timings.record()
    method = {key: shared[key] for key in ("rounds", "emulator_cpu_s", "baseline_cpu_s", "ratio_rounds_min",
                                           "ratio_rounds_max")}
    method["threads"] = pinned["threads"]
    method.update(plausibility(shared["ratio_to_baseline"], *floor(timings)))
    return timings, method


def ambit_throughput(op: str, row_bytes: int, *, seed: int = 0, backend: backends.BackendLike = None,
                     rounds: int = ROUNDS, cost_model: Optional[AmbitCostModel] = None,
                     scratch: str = "drop", threads: Optional[int] = None, driver: Optional[Driver] = None
                     ) -> Throughput:
    """The fast executor's ``op`` on rows of ``row_bytes`` bytes against the native bitwise call.

    ``row_bytes`` must be a multiple of 8 (whole 64-bit words). ``scratch`` is the
    :meth:`Subarray.run` option (``"drop"``: only the destination row materialised; ``"keep"``:
    every row the program changes). ``details``: ``row_bytes``, ``baseline_in_place_s`` (the
    native call writing into a preallocated array), ``ratio_to_baseline_in_place``, and
    ``modelled_peak_per_s`` (every bank busy: Ambit Figure 9). Floor: the in-place call.
    """
    if op not in AMBIT_OPS:
        raise ValueError(f"op must be one of {', '.join(AMBIT_OPS)}; got {op!r}")
    _check_positive(row_bytes=row_bytes)
    if row_bytes % 8:
        raise ValueError(f"row_bytes must be a multiple of 8 (whole 64-bit words); got {row_bytes}")
    chosen = backends.get_backend(backend)
    xp, synchronize = chosen.xp, _synchronizer(chosen)
    rng = numpy.random.default_rng(seed)
    a, b = (chosen.asarray(rng.integers(0, 2**64, row_bytes // 8, dtype=numpy.uint64)) for _ in range(2))
    subarray = Subarray(8 * row_bytes, data_rows=3, cost_model=cost_model, backend=chosen)
    subarray.write_words(0, a)
    subarray.write_words(1, b)
    program = program_for(op, ["D0", "D1"], "D2")
    native = getattr(xp, AMBIT_OPS[op])
    out = xp.empty_like(a)

    sides = {"baseline": lambda: native(a, b), "baseline_in_place": lambda: native(a, b, out=out),
             "emulator": lambda: subarray.run(program, scratch=scratch)}
    timings, method = _measure(sides, rounds, threads, synchronize, driver, lambda t: (
        t.wall("baseline_in_place") / t.wall("baseline"),
        "the in-place native call: the memory traffic of reading two rows and writing one"))
    emulator, single_call, in_place = (timings.wall(side) for side in ("emulator", "baseline", "baseline_in_place"))
    cost = subarray.cost_model.program_cost(program, subarray.row_bits)
    return Throughput(
        engine="ambit", case=op, size=f"{_format_bytes(row_bytes)} rows", work=row_bytes, unit="B",
        emulator_s=emulator, baseline=f"{chosen.name}.{AMBIT_OPS[op]}", baseline_s=single_call,
        correct=bool(xp.array_equal(subarray.read_words("D2"), native(a, b))),
        modelled_latency_ns=cost.latency_ns, modelled_energy_nj=cost.energy_nj,
        details={"row_bytes": row_bytes, "baseline_in_place_s": in_place,
                 "ratio_to_baseline_in_place": emulator / in_place,
                 "modelled_peak_per_s": subarray.cost_model.peak_throughput_bytes_per_s(program)},
        method=method,
    )


def _format_bytes(n_bytes: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= size and n_bytes % size == 0:
            return f"{n_bytes // size} {unit}"
    return f"{n_bytes} B"


def reram_config(path: str) -> ReramConfig:
    """The configuration of a ReRAM case: ``"lossy"``, ``"lossless"`` or ``"signed"`` (see the module docstring)."""
    if path not in READOUT_PATHS:
        raise ValueError(f"path must be one of {', '.join(READOUT_PATHS)}; got {path!r}")
    if path == "lossless":
        return ReramConfig()
    lossy = ReramConfig(adc=AdcConfig(bits=LOSSY_ADC_BITS))
    if path == "signed":
        return dataclasses.replace(lossy, mapping=dataclasses.replace(lossy.mapping, differential_readout="subtract"))
    return lossy


def reram_throughput(path: str, batch: int, k: int, n: int, *, seed: int = 0, backend: backends.BackendLike = None,
                     rounds: int = ROUNDS, cost_model: Optional[ReramCostModel] = None,
                     threads: Optional[int] = None, driver: Optional[Driver] = None,
                     config: Optional[ReramConfig] = None) -> Throughput:
    """A ``batch x k`` by ``k x n`` crossbar product on ``path`` against float32 ``matmul``.

    ``config``: crossbars of this configuration instead of ``path``'s (``cim-emu bench --config``;
    ``path`` then only names the case, e.g. ``"configured"``). ``correct``: the largest error
    within the ADC's error bound where one holds (ideal cells; ``details["error_bound"]``), true
    where none holds (other devices, IR drop: ``error_bound`` ``None``).

    ``details``: ``batch``, ``k``, ``n``, ``adc_bits``, ``inherent_products`` (binary products
    of the full shape the pipeline cannot avoid: 1 when lossless; one signed operand per slice
    when signed), ``ratio_to_inherent`` (emulator time / (inherent products x baseline time)),
    ``crossbars`` and ``conversions`` (ADC conversions) of the modelled hardware; for
    ``"signed"`` also ``per_polarity_s`` (the lossy case's read, timed in the same rounds) and
    ``ratio_to_per_polarity``. Floor (numpy, no kernels): ``chunks x`` :attr:`Pipeline.width`
    float32 matmuls when lossy or signed (the inherent products, packed as the pipeline packs
    its columns), one when lossless; none with kernels.
    """
    config = config if config is not None else reram_config(path)
    _check_positive(batch=batch, k=k, n=n)
    chosen = backends.get_backend(backend)
    xp, synchronize = chosen.xp, _synchronizer(chosen)
    rng = numpy.random.default_rng(seed)
    weights = rng.integers(-config.mapping.max_weight, config.mapping.max_weight + 1, (k, n))
    x = rng.integers(config.inputs.min_input, config.inputs.max_input + 1, (batch, k))
    crossbars = CrossbarArray(chosen.asarray(weights), config, seed=seed, backend=chosen)
    x_device = chosen.asarray(x)
    x_float, w_float = (chosen.asarray(a.astype(numpy.float32)) for a in (x, weights))

    sides = {"baseline": lambda: xp.matmul(x_float, w_float), "emulator": lambda: crossbars.matmul(x_device)}
    extra: dict = {}
    if path == "signed":  # the same weights read per polarity, in the same rounds
        per_polarity = CrossbarArray(chosen.asarray(weights), reram_config("lossy"), seed=seed, backend=chosen)
        sides["per_polarity"] = lambda: per_polarity.matmul(x_device)
    timings, method = _measure(sides, rounds, threads, synchronize, driver, lambda _: reram_floor(crossbars, chosen,
                                                                                                   batch * k * n))
    emulator, matmul = timings.wall("emulator"), timings.wall("baseline")
    if path == "signed":
        extra = {"per_polarity_s": timings.wall("per_polarity"),
                 "ratio_to_per_polarity": emulator / timings.wall("per_polarity")}
    exact = x.astype(numpy.float64) @ weights.astype(numpy.float64)  # integers below 2**53: exact
    error = float(numpy.abs(backends.NUMPY_BACKEND.asarray(crossbars.matmul(x_device)) - exact).max())
    bound = crossbars.adc_error_bound() if config.ideal_cells else None
    inherent = 1 if config.adc_lossless else (config.inputs.chunks * config.mapping.slices
                                              * (1 if config.signed_adc else config.mapping.polarities))
    cost = (cost_model or ReramCostModel()).product_cost(crossbars, batch)
    return Throughput(
        engine="reram", case=path, size=f"{batch}x{k}x{n}", work=cost.macs, unit="MAC",
        emulator_s=emulator, baseline=f"{chosen.name}.matmul float32", baseline_s=matmul,
        correct=bound is None or error <= bound,
        modelled_latency_ns=cost.latency_ns, modelled_energy_nj=cost.total_energy_pj * 1e-3,
        details={"batch": batch, "k": k, "n": n, "adc_bits": config.adc_bits, "inherent_products": inherent,
                 "ratio_to_inherent": emulator / (inherent * matmul), "crossbars": cost.crossbars,
                 "conversions": cost.conversions, "max_abs_error": error, "error_bound": bound, **extra},
        method=method,
    )


#: MACs from which a float32 matmul runs at its full rate: below, the floor of a lossy read
#: (whose products are larger) does not hold.
FLOOR_MIN_MACS = 2**26


def reram_floor(crossbars: CrossbarArray, chosen: backends.Backend, macs: int) -> tuple:
    """``(floor_ratio or None, basis)`` of a read of ``crossbars`` against one float32 matmul of its shape."""
    config = crossbars.config
    if chosen.kernels is not None:
        return None, "none: kernels (int8 tensor cores on a device) can outrun float32 products"
    if config.exact:
        return 1.0, "one exact product of the shape, at least a float32 matmul's work"
    if macs < FLOOR_MIN_MACS:
        return None, (f"none below {FLOOR_MIN_MACS} MACs: a matmul this small runs below its full rate, "
                      "so the read's larger products may outrun it per MAC")
    chunks, width = config.inputs.chunks, crossbars.pipeline.width
    basis = (f"the read's products: {chunks} input chunks x {width} slice and polarity columns (as packed) per "
             "weight column, each a matmul of the shape")
    if crossbars.pipeline.bit_products(chosen) is not None:  # rows / 4 additions an output instead of rows FMAs
        return chunks * width / GROUP_ROWS, (f"{basis}, each 1/{GROUP_ROWS} of one: input bits multiplied by "
                                            f"look-up tables ({GROUP_ROWS} word lines an addition)")
    return float(chunks * width), basis


def machine_info(backend: backends.BackendLike = None) -> dict:
    """What the figures were measured on: CPU, core count, numpy version, and the GPU if any."""
    chosen = backends.get_backend(backend)
    device = None
    if chosen.name == "cupy":
        name = chosen.xp.cuda.runtime.getDeviceProperties(chosen.xp.cuda.Device().id)["name"]
        device = name.decode() if isinstance(name, bytes) else str(name)
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "numpy": numpy.__version__,
            "backend": chosen.name, "device": device}
