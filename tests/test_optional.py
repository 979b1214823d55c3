"""cim_emu._optional: one message for every missing optional dependency."""

import sys

import pytest

from cim_emu._optional import MissingDependencyError, missing_message, optional, require


@pytest.fixture
def no_sklearn(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sklearn", None)


def test_require_returns_the_module():
    assert require("json") is sys.modules["json"]
    assert optional("json") is sys.modules["json"]


def test_missing_module_names_the_package_and_the_extra(no_sklearn):
    with pytest.raises(MissingDependencyError) as raised:
        require("sklearn.datasets")
    assert isinstance(raised.value, ImportError)
    assert str(raised.value).startswith(
        "scikit-learn is not installed: install cim-emu[data] (pip install 'cim-emu[data]') (")
    with pytest.raises(MissingDependencyError, match=r"^--plot needs scikit-learn, which is not installed: "):
        require("sklearn", context="--plot needs")
    assert optional("sklearn") is None


def test_callers_keep_their_own_error_type(no_sklearn):
    class Unavailable(RuntimeError):
        pass

    with pytest.raises(Unavailable, match=r"cim-emu\[data\]"):
        require("sklearn", error=Unavailable)


def test_every_extra_named():
    assert "pip install 'cim-emu[torch]'" in missing_message("torch", "x")
    assert "pip install 'cim-emu[gpu-cuda12]'" in missing_message("cupy", "x")
    assert "pip install 'cim-emu[plot]'" in missing_message("matplotlib.figure", "x")
    assert missing_message("torch", "x", extra="test").endswith("(pip install 'cim-emu[test]') (x)")
    assert missing_message("threadpoolctl", "x") == "threadpoolctl is not installed: pip install threadpoolctl (x)"
