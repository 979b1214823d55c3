"""Sweep specs: TOML and JSON read alike, points expand as documented, identities are stable, and
every bad spec is a clear error naming the key before any work."""

import json

import numpy
import pytest

from cim_emu.sweep import SpecError, load_spec
from cim_emu.sweep.spec import MAX_POINTS, point_key
from cim_emu.sweep.studies import STUDIES

TOML = """
study = "reram-product"
name = "ADC against devices"
seeds = [3, 1]
backend = "numpy"

[fixed]
k = 128

[grid]
adc_bits = [4, 6, "lossless"]
devices = ["ideal", "reram_wan2022"]
"""


def test_toml_and_json_give_the_same_points_and_hash(tmp_path):
    (tmp_path / "s.toml").write_text(TOML)
    data = {"study": "reram-product", "name": "other name", "seeds": [3, 1], "fixed": {"k": 128},
            "grid": {"adc_bits": [4, 6, "lossless"], "devices": ["ideal", "reram_wan2022"]}}
    (tmp_path / "s.json").write_text(json.dumps(data))
    a, b = load_spec(tmp_path / "s.toml"), load_spec(tmp_path / "s.json")
    assert a.points == b.points and a.spec_hash == b.spec_hash  # the name is not part of the identity
    assert len(a.points) == 3 * 2 * 2
    assert [p.position for p in a.points] == list(range(12))
    first = a.points[0]
    assert first.seed == 3 and first.config["adc_bits"] == 4 and first.config["devices"] == "ideal"
    assert first.config["k"] == 128 and first.config["batch"] == 8  # fixed value and a default
    assert set(first.config) == set(STUDIES["reram-product"].params)
    assert [p.seed for p in a.points[:4]] == [3, 1, 3, 1]  # seeds innermost


def test_identity_does_not_depend_on_key_order_and_changes_with_any_value():
    data = {"study": "echo", "grid": {"value": [1.0, 2.0]}, "seeds": 2}
    reordered = {"seeds": 2, "grid": {"value": [1.0, 2.0]}, "study": "echo"}
    assert load_spec(data).spec_hash == load_spec(reordered).spec_hash
    assert load_spec(data).spec_hash != load_spec({**data, "seeds": 3}).spec_hash
    assert point_key({"a": 1, "b": 2}, 0) == point_key({"b": 2, "a": 1}, 0) != point_key({"a": 1, "b": 2}, 1)


def test_a_point_keeps_its_key_when_the_grid_grows():
    small = load_spec({"study": "echo", "grid": {"value": [1, 2]}})
    large = load_spec({"study": "echo", "grid": {"value": [1, 2, 3]}})
    assert {p.key for p in small.points} < {p.key for p in large.points}


def test_random_samples_are_reproducible_in_range_and_combined_with_the_grid():
    seed = int(numpy.random.default_rng().integers(2**32))
    data = {"study": "reram-product", "grid": {"devices": ["ideal", "reram_wan2022"]},
            "random": {"samples": 7, "seed": seed,
                       "parameters": {"drift_time": {"log_uniform": [1.0, 1e6]}, "adc_bits": {"integers": [3, 8]},
                                      "mapping": {"choice": ["differential", "offset-digital"]}}}}
    spec = load_spec(data)
    assert spec.points == load_spec(data).points
    assert len(spec.points) == 2 * 7
    for point in spec.points:
        assert 1.0 <= point.config["drift_time"] <= 1e6 and 3 <= point.config["adc_bits"] <= 8
        assert isinstance(point.config["adc_bits"], int)
        assert point.config["mapping"] in ("differential", "offset-digital")
    assert len({p.config["drift_time"] for p in spec.points}) == 7


def test_a_users_function_takes_any_scalar_parameters():
    spec = load_spec({"study": "math:hypot", "grid": {"x": [1, 2.5, "a", True, None, [1, 2]]}})
    assert [p.config["x"] for p in spec.points] == [1, 2.5, "a", True, None, [1, 2]]


@pytest.mark.parametrize("data, message", [
    ({"grid": {"value": [1]}}, "names no study"),
    ({"study": "nope", "grid": {"value": [1]}}, "unknown study 'nope'; studies: accuracy"),
    ({"study": "no_such_module_xyz:f", "grid": {"value": [1]}}, "cannot import 'no_such_module_xyz'"),
    ({"study": "math:nope", "grid": {"value": [1]}}, "module 'math' has no 'nope'"),
    ({"study": "math:pi", "grid": {"value": [1]}}, "'pi' is not a function"),
    ({"study": "echo", "grid": {"value": [1]}, "sedes": [1]}, "unknown spec key 'sedes'; keys: study"),
    ({"study": "echo"}, "neither 'grid' nor 'random'"),
    ({"study": "echo", "grid": {}}, "'grid' is empty"),
    ({"study": "echo", "grid": {"value": []}}, "grid.value is an empty list"),
    ({"study": "echo", "grid": {"value": 3}}, "grid.value must be a list of values"),
    ({"study": "echo", "grid": {"value": [1, 1.0]}}, "grid.value repeats a value"),
    ({"study": "echo", "grid": {"valu": [1]}}, "grid.valu: study 'echo' has no parameter 'valu'; parameters: value"),
    ({"study": "echo", "grid": {"value": ["x"]}}, "grid.value must be a number; got 'x'"),
    ({"study": "echo", "grid": {"value": [True]}}, "grid.value must be a number; got True"),
    ({"study": "reram-product", "grid": {"adc_bits": [4.5]}}, "grid.adc_bits must be an integer in [1, 24] "
                                                               "(or 'lossless', 'config'); got 4.5"),
    ({"study": "reram-product", "grid": {"adc_bits": [30]}}, "grid.adc_bits must be an integer in [1, 24]"),
    ({"study": "reram-product", "grid": {"devices": ["wan"]}}, "grid.devices must be one of 'config', 'ideal'"),
    ({"study": "reram-product", "fixed": {"k": 0}, "grid": {"n": [1]}}, "fixed.k must be an integer in [1, "),
    ({"study": "reram-product", "fixed": {"k": 8}, "grid": {"k": [1]}}, "'k' is set in both fixed and grid"),
    ({"study": "echo", "grid": {"value": [1]}, "seeds": []}, "seeds must be a non-empty list"),
    ({"study": "echo", "grid": {"value": [1]}, "seeds": [-1]}, "seeds must be integers in [0, 2**63)"),
    ({"study": "echo", "grid": {"value": [1]}, "seeds": [1, 1]}, "must not repeat"),
    ({"study": "echo", "grid": {"value": [1]}, "seeds": 0}, "seeds, as a count, must be in [1, "),
    ({"study": "echo", "grid": {"value": [1]}, "backend": "gpu"}, "backend must be one of 'numpy'"),
    ({"study": "echo", "random": {"samples": 0, "parameters": {"value": {"uniform": [0, 1]}}}}, "random.samples"),
    ({"study": "echo", "random": {"samples": 2, "parameters": {"value": {"normal": [0, 1]}}}},
     "random.parameters.value must be one of {uniform = ..."),
    ({"study": "echo", "random": {"samples": 2, "parameters": {"value": {"uniform": [1, 0]}}}}, "low <= high"),
    ({"study": "echo", "random": {"samples": 2, "parameters": {"value": {"log_uniform": [0, 1]}}}}, "low > 0"),
    ({"study": "echo", "random": {"samples": 2, "parameters": {}}}, "random.parameters must be a non-empty"),
    ({"study": "echo", "random": {"samples": 2, "sample": 1, "parameters": {}}}, "unknown key random.sample"),
    ({"study": "reram-product", "random": {"samples": 2, "parameters": {"adc_bits": {"integers": [0, 8]}}}},
     "random.parameters.adc_bits.integers must be an integer in [1, 24]"),
    ({"study": "echo", "grid": {"value": list(range(4000))}, "seeds": MAX_POINTS // 1000}, "expands to"),
])
def test_bad_specs_are_errors_naming_the_key(data, message):
    with pytest.raises(SpecError) as error:
        load_spec(data)
    assert message in str(error.value)


@pytest.mark.parametrize("name, text, message", [
    ("s.toml", "study = [", "is not valid TOML"),
    ("s.json", "{", "is not valid JSON"),
    ("s.yaml", "study: echo", "must end in .toml or .json"),
    ("s.json", "[1, 2]", "a spec must be a table"),
])
def test_bad_files_are_errors_naming_the_file(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(SpecError) as error:
        load_spec(tmp_path / name)
    assert message in str(error.value)


def test_a_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(SpecError, match="cannot read spec .*missing.toml"):
        load_spec(tmp_path / "missing.toml")


def test_a_random_only_spec_and_fresh_random_grids_expand_to_unique_points():
    random = {"samples": 5, "parameters": {"value": {"uniform": [0, 1]}}}
    spec = load_spec({"study": "echo", "seeds": 3, "random": random})
    assert len(spec.points) == 15 and len({p.key for p in spec.points}) == 15
    rng = numpy.random.default_rng()
    for _ in range(20):
        sizes = rng.integers(1, 5, 3)
        row_bits = [int(v) for v in rng.choice(4096, sizes[1], replace=False) + 1]
        grid = {"op": ["and", "or", "xor", "maj"][:sizes[0]], "row_bits": row_bits,
                "executor": ["fast", "reference"][:min(2, sizes[2])]}
        seeds = sorted({int(s) for s in rng.integers(0, 2**63, int(rng.integers(1, 4)))})
        spec = load_spec({"study": "ambit-faults", "grid": grid, "seeds": seeds})
        expected = numpy.prod([len(v) for v in grid.values()]) * len(seeds)
        assert len(spec.points) == len({p.key for p in spec.points}) == expected
        assert {(p.config["op"], p.config["row_bits"], p.config["executor"], p.seed) for p in spec.points} == {
            (o, r, e, s) for o in grid["op"] for r in grid["row_bits"] for e in grid["executor"] for s in seeds}


def test_the_specs_of_the_docs_and_the_readme_load_with_the_points_they_claim(tmp_path):
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    blocks = [(name, block) for name in ("docs/sweep.md", "README.md")
              for block in re.findall(r"```toml\n(.*?)```", (root / name).read_text(encoding="utf-8"), flags=re.S)]
    points = []
    for index, (name, block) in enumerate(blocks):
        (tmp_path / f"{index}.toml").write_text(block)
        points.append((name, len(load_spec(tmp_path / f"{index}.toml").points)))
    assert points == [("docs/sweep.md", 6 * 3 * 3 * 5), ("docs/sweep.md", 2 * 40 * 3), ("README.md", 4 * 2 * 5)]
