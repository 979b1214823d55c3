"""A sweep spec: which study, which parameter values, which seeds; checked whole before any work.

A spec is a TOML or JSON file (or a dict) with these keys (``docs/sweep.md`` has a full example):

``study`` (required)
    A registered study (:data:`cim_emu.sweep.studies.STUDIES`) or ``"module:function"``, a
    function of the user's own taking ``(config, seed)`` and returning a dict of metrics.
``name``, ``description``
    Free text, kept in the database.
``seeds``
    A list of seeds (integers in ``[0, 2**63)``, SQLite's integer range), or a count ``n`` for
    ``0 .. n-1``. Default ``[0]``. Every configuration runs once per seed.
``backend``
    ``"numpy"`` (default), ``"cupy"`` or ``"auto"``: where the studies compute.
``fixed``
    ``parameter = value``: one value for every point.
``grid``
    ``parameter = [values]``: every combination of the lists (in the order written).
``random``
    ``samples`` (count), ``seed`` (of the draws, default 0) and ``parameters``:
    ``parameter = {uniform = [a, b]}``, ``{log_uniform = [a, b]}``, ``{integers = [a, b]}``
    (inclusive) or ``{choice = [values]}``. Each sample is combined with every grid point.

At least one of ``grid`` and ``random`` must be given, and a parameter may appear in only one
of ``fixed``, ``grid`` and ``random``. Each point's configuration holds every parameter of the
study (defaults filled in), so that a stored row says everything that made it.

Identity: the **spec hash** is the SHA-256 of the canonical JSON of the study, backend, seeds
and every point's configuration (not of the name or description); the **point key** is the
SHA-256 (first 32 hex digits) of the canonical JSON of ``{"config": ..., "seed": ...}``. Both are
independent of key order in the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any, NamedTuple, Optional, Union

import numpy

from .._checks import shown
from .params import Param, SpecError, free_value
from .studies import BACKENDS, Study, get_study

#: The keys a spec may have at the top level.
TOP_KEYS = ("study", "name", "description", "seeds", "backend", "fixed", "grid", "random")
#: The keys of the ``random`` table, and the distributions of its parameters.
RANDOM_KEYS = ("samples", "seed", "parameters")
DISTRIBUTIONS = ("uniform", "log_uniform", "integers", "choice")
#: Largest number of points a spec may expand to (a typo such as a 10**9 grid stops here).
MAX_POINTS = 10_000_000
#: Seeds must fit SQLite's signed 64-bit integers.
SEED_LIMIT = 2**63


class Point(NamedTuple):
    """One unit of work: the ``position``-th point of its spec (from 0), with its key, configuration and seed."""

    position: int
    key: str
    config: dict
    seed: int


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces (the text the hashes are taken of)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def point_key(config: dict, seed: int) -> str:
    """The point's identity: the first 32 hex digits of SHA-256 of ``{"config", "seed"}``."""
    return hashlib.sha256(canonical({"config": config, "seed": seed}).encode()).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class Spec:
    """A checked spec (:func:`load_spec`); :attr:`points` lists its work."""

    study: str
    seeds: tuple
    backend: str
    fixed: dict
    grid: dict
    random: Optional[dict]
    name: str = ""
    description: str = ""
    points: tuple = ()
    spec_hash: str = ""

    def as_dict(self) -> dict:
        """The spec as plain data (what the database keeps)."""
        return {"study": self.study, "name": self.name, "description": self.description, "seeds": list(self.seeds),
                "backend": self.backend, "fixed": self.fixed, "grid": self.grid, "random": self.random}


def read_spec_file(path: Union[str, Path]) -> dict:
    """The data of a ``.toml`` or ``.json`` spec file (by its suffix); errors name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read spec {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".toml":
        tomllib = _tomllib()
        try:
            return tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path} is not valid TOML: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(data.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path} is not valid JSON: {exc}") from None
    raise SpecError(f"a spec file must end in .toml or .json; got {path.name!r}")


def _tomllib() -> Any:
    """``tomllib`` (Python 3.11+) or the ``tomli`` backport (installed with cim-emu on 3.9 and 3.10)."""
    try:
        import tomllib  # noqa: PLC0415 - Python 3.11+
    except ImportError:  # pragma: no cover - Python < 3.11
        import tomli as tomllib  # noqa: PLC0415
    return tomllib


def load_spec(source: Union[str, Path, dict]) -> Spec:
    """Read (a path) and check a spec, and expand its points; :class:`SpecError` on any problem."""
    data = read_spec_file(source) if isinstance(source, (str, Path)) else source
    if not isinstance(data, dict):
        raise SpecError(f"a spec must be a table (an object) of keys; got {type(data).__name__}")
    unknown = [k for k in data if k not in TOP_KEYS]
    if unknown:
        raise SpecError(f"unknown spec key {shown(unknown[0])}; keys: {', '.join(TOP_KEYS)}")
    if "study" not in data:
        raise SpecError("the spec names no study (key 'study')")
    study = get_study(data["study"])
    name, description = (_text(data, key) for key in ("name", "description"))
    backend = data.get("backend", "numpy")
    if backend not in BACKENDS:
        raise SpecError(f"backend must be one of {', '.join(map(repr, BACKENDS))}; got {shown(backend)}")
    seeds = _seeds(data.get("seeds", [0]))
    fixed = _table(data, "fixed")
    grid = _table(data, "grid")
    random = _random(data["random"]) if "random" in data else None
    if "grid" not in data and random is None:
        raise SpecError("the spec has neither 'grid' nor 'random': nothing to sweep")
    sections = [("fixed", fixed), ("grid", grid), ("random.parameters", random["parameters"] if random else {})]
    seen: dict = {}
    for section, table in sections:
        for key in table:
            if key in seen:
                raise SpecError(f"parameter {key!r} is set in both {seen[key]} and {section}")
            seen[key] = section
            _param(study, f"{section}.{key}", key)
    fixed = {k: _value(study, f"fixed.{k}", k, v) for k, v in fixed.items()}
    grid = {k: _grid_values(study, k, v) for k, v in grid.items()}
    if "grid" in data and not grid:
        raise SpecError("'grid' is empty: give it at least one parameter with a list of values")
    configs = _configs(study, fixed, grid, random, len(seeds))
    points = tuple(Point(i, point_key(config, seed), config, seed)
                   for i, (config, seed) in enumerate((c, s) for c in configs for s in seeds))
    identity = {"study": study.name, "backend": backend, "seeds": list(seeds), "configs": configs}
    spec_hash = hashlib.sha256(canonical(identity).encode()).hexdigest()
    return Spec(study.name, seeds, backend, fixed, grid, random, name, description, points, spec_hash)


def _text(data: dict, key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise SpecError(f"{key} must be a string; got {shown(value)}")
    return value


def _seeds(value: Any) -> tuple:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_POINTS:
            raise SpecError(f"seeds, as a count, must be in [1, {MAX_POINTS}]; got {shown(value)}")
        return tuple(range(value))
    if not isinstance(value, list) or not value:
        raise SpecError(f"seeds must be a non-empty list of integers or a count; got {shown(value)}")
    for seed in value:
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < SEED_LIMIT:
            raise SpecError(f"seeds must be integers in [0, 2**63); got {shown(seed)}")
    if len(set(value)) != len(value):
        raise SpecError("seeds must not repeat a seed")
    return tuple(value)


def _table(data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(f"{key} must be a table (an object) of parameters; got {shown(value)}")
    return value


def _param(study: Study, key: str, name: str) -> Optional[Param]:
    """The study's parameter ``name`` (``None`` for a user's function, whose parameters are free)."""
    if study.params is None:
        return None
    if name not in study.params:
        raise SpecError(f"{key}: study {study.name!r} has no parameter {name!r}; "
                        f"parameters: {', '.join(study.params)}")
    return study.params[name]


def _value(study: Study, key: str, name: str, value: Any) -> Any:
    param = _param(study, key, name)
    return free_value(key, value) if param is None else param.check(key, value)


def _grid_values(study: Study, name: str, values: Any) -> list:
    key = f"grid.{name}"
    if not isinstance(values, list):
        raise SpecError(f"{key} must be a list of values; got {shown(values)}")
    if not values:
        raise SpecError(f"{key} is an empty list: the grid would have no points")
    checked = [_value(study, key, name, v) for v in values]
    if len({canonical(v) for v in checked}) != len(checked):
        raise SpecError(f"{key} repeats a value")
    return checked


def _random(value: Any) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"random must be a table with {', '.join(RANDOM_KEYS)}; got {shown(value)}")
    unknown = [k for k in value if k not in RANDOM_KEYS]
    if unknown:
        raise SpecError(f"unknown key random.{unknown[0]}; keys: {', '.join(RANDOM_KEYS)}")
    samples, seed = value.get("samples"), value.get("seed", 0)
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= MAX_POINTS:
        raise SpecError(f"random.samples must be an integer in [1, {MAX_POINTS}]; got {shown(samples)}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64:
        raise SpecError(f"random.seed must be an integer in [0, 2**64); got {shown(seed)}")
    parameters = value.get("parameters")
    if not isinstance(parameters, dict) or not parameters:
        raise SpecError("random.parameters must be a non-empty table of parameter = {distribution = ...}")
    for name, draw in parameters.items():
        key = f"random.parameters.{name}"
        if not isinstance(draw, dict) or len(draw) != 1 or next(iter(draw)) not in DISTRIBUTIONS:
            raise SpecError(f"{key} must be one of {{{' | '.join(f'{d} = ...' for d in DISTRIBUTIONS)}}}; "
                            f"got {shown(draw)}")
        kind, args = next(iter(draw.items()))
        if kind == "choice":
            if not isinstance(args, list) or not args:
                raise SpecError(f"{key}.choice must be a non-empty list of values")
            continue
        if (not isinstance(args, list) or len(args) != 2 or any(isinstance(a, bool) for a in args)
                or not all(isinstance(a, (int, float)) and math.isfinite(a) for a in args) or args[0] > args[1]):
            raise SpecError(f"{key}.{kind} must be [low, high] with low <= high; got {shown(args)}")
        if kind == "integers" and not all(isinstance(a, int) for a in args):
            raise SpecError(f"{key}.integers must be two integers; got {shown(args)}")
        if kind == "log_uniform" and args[0] <= 0:
            raise SpecError(f"{key}.log_uniform needs low > 0; got {shown(args)}")
    return {"samples": samples, "seed": seed, "parameters": parameters}


def _samples(study: Study, random: dict) -> list:
    """The random samples, drawn by ``numpy.random.default_rng(seed)``, parameters in sorted order."""
    parameters = random["parameters"]
    for name, draw in parameters.items():  # the ends of every range must be allowed values
        kind, args = next(iter(draw.items()))
        for end in args:
            _value(study, f"random.parameters.{name}.{kind}", name, end)
    rng = numpy.random.default_rng(random["seed"])
    samples = []
    for _ in range(random["samples"]):
        sample = {}
        for name in sorted(parameters):
            kind, args = next(iter(parameters[name].items()))
            if kind == "choice":
                value = args[int(rng.integers(len(args)))]
            elif kind == "integers":
                value = int(rng.integers(args[0], args[1], endpoint=True))
            elif kind == "uniform":
                value = float(rng.uniform(args[0], args[1]))
            else:
                value = float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
            sample[name] = _value(study, f"random.parameters.{name}", name, value)
        samples.append(sample)
    return samples


def _configs(study: Study, fixed: dict, grid: dict, random: Optional[dict], seeds: int) -> list:
    """Every configuration: defaults, then fixed values, then a grid point, then a random sample
    (:class:`SpecError` when there would be more than :data:`MAX_POINTS` points with the seeds)."""
    size = math.prod(len(v) for v in grid.values()) * (random["samples"] if random else 1)
    if size * seeds > MAX_POINTS:
        raise SpecError(f"the spec expands to {size} configurations x {seeds} seeds = {size * seeds} points; "
                        f"at most {MAX_POINTS}")
    defaults = {} if study.params is None else {name: p.default for name, p in study.params.items()}
    samples = _samples(study, random) if random else [{}]
    names = list(grid)
    return [{**defaults, **fixed, **dict(zip(names, values)), **sample}
            for values in itertools.product(*grid.values()) for sample in samples]
