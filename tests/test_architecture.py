"""The package's structure, held as tests: layers import only downwards, no import cycles, no
private names across packages, no module over 400 lines, and CuPy never imported at the top.

Layers, lowest first (a module may import its own layer's modules and those below):

====  ===========================================================================
0     ``_version``, ``_checks``, ``_memory``, ``_optional``, ``parallel``
1     ``gpu`` (kernel sources, the provider protocol, CuPy's and the CPU shim's providers)
2     ``backend``
3     ``rng``
4     ``bits``
5     the engines ``ambit`` and ``reram``
6     ``simdram`` (on the Ambit engine)
7     ``nn`` (PyTorch layers)
8     ``studies``
9     ``sweep`` (studies over parameter grids and seeds, on Dask, into SQLite)
10    ``cli``
====  ===========================================================================
"""

import ast
import collections
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cim_emu"

LAYERS = {"_version": 0, "_checks": 0, "_memory": 0, "_optional": 0, "parallel": 0, "gpu": 1, "backend": 2, "rng": 3,
          "bits": 4, "ambit": 5, "reram": 5, "simdram": 6, "nn": 7, "studies": 8, "sweep": 9,
          "cli": 10}
MAX_LINES = 400


def modules():
    """``dotted name -> path`` of every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("cim_emu",) + path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name, path, known):
    """``(imported module, imported names, at module level)`` of every cim_emu import in a module."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
            for module in submodules or [target]:
                if module.startswith("cim_emu"):
                    yield module, names, id(node) in top_level
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], id(node) in top_level


def layer(module):
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


MODULES = modules()
GRAPH = collections.defaultdict(set)
for _name, _path in MODULES.items():
    for _target, _, _ in imports(_name, _path, MODULES):
        if _target in MODULES and _target != _name and not (_path.name == "__init__.py" and _target.startswith(_name)):
            GRAPH[_name].add(_target)


def test_every_subpackage_and_top_module_has_a_layer():
    tops = {name.split(".")[1] for name in MODULES if name.count(".") >= 1}
    assert tops - {"kernels"} <= set(LAYERS), sorted(tops - set(LAYERS))


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_go_down_the_layers(name):
    upward = [target for target in GRAPH[name] if layer(target) is not None and layer(target) > layer(name)]
    assert not upward, f"{name} imports from a higher layer: {upward}"


def test_no_import_cycles():
    """Tarjan's strongly connected components of the module graph: none larger than one module."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in GRAPH.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in MODULES:
        if module not in index:
            visit(module)
    assert not cycles


def test_no_private_names_across_packages():
    crossings = []
    for name, path in MODULES.items():
        for target, names, _ in imports(name, path, MODULES):
            if target.split(".")[:2] != name.split(".")[:2]:
                crossings += [f"{name} <- {target}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
    assert not crossings


def test_no_module_over_the_line_limit():
    long = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    assert {name: n for name, n in long.items() if n > MAX_LINES} == {}


def test_cupy_and_torch_are_never_imported_at_module_level_outside_their_homes():
    """CuPy is optional and imported only when used; torch only by cim_emu.nn."""
    offenders = []
    for name, path in MODULES.items():
        for target, _, top_level in imports(name, path, MODULES):
            if top_level and (target.split(".")[0] == "cupy" or (target.split(".")[0] == "torch"
                                                                 and not name.startswith("cim_emu.nn"))):
                offenders.append(f"{name} imports {target}")
    assert not offenders


def test_the_checks_see_a_violation():
    """The graph is read right: a known downward edge is there, and a made-up upward one would fail."""
    assert "cim_emu.backend" in GRAPH["cim_emu.rng.philox"]
    assert layer("cim_emu.cli.bench") > layer("cim_emu.reram.crossbar")
