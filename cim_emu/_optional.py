"""Optional dependencies: import one, or say which package is missing and how to install it.

cim-emu needs only numpy and click; the rest comes in extras (``setup.py``): ``gpu-cuda12`` and
``gpu-cuda13`` (CuPy's wheel for a CUDA 12 or 13 driver; ``gpu`` is ``gpu-cuda12``),
``torch`` (PyTorch), ``data`` (scikit-learn), ``plot`` (matplotlib) and ``irdrop`` (SciPy,
for IR drop). Every place that needs
one calls :func:`require`, so that a missing package always reads the same way::

    PACKAGE is not installed: install cim-emu[EXTRA] (pip install 'cim-emu[EXTRA]') (REASON)
    CONTEXT PACKAGE, which is not installed: install cim-emu[EXTRA] (pip install 'cim-emu[EXTRA]') (REASON)

where REASON is the import's own error (e.g. ``No module named 'torch'``). :func:`optional`
imports a module that only improves something (``None`` when it is missing).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Callable, Optional

#: The package a top-level module comes from, as its users know it.
PACKAGES = {"torch": "PyTorch", "sklearn": "scikit-learn", "matplotlib": "matplotlib", "cupy": "CuPy",
            "scipy": "SciPy"}

#: The extra of ``setup.py`` that installs each top-level module.
EXTRAS = {"torch": "torch", "sklearn": "data", "matplotlib": "plot", "cupy": "gpu-cuda12", "scipy": "irdrop"}


class MissingDependencyError(ImportError):
    """An optional dependency does not import; the message names the package and the extra."""


def missing_message(module_name: str, reason: object, *, context: Optional[str] = None,
                    extra: Optional[str] = None) -> str:
    """The text :func:`require` raises for ``module_name`` (see the module docstring).

    ``context`` leads the sentence (``"--plot needs"``, ``"the digits dataset ships with"``);
    ``extra`` defaults to the one that installs the module's top-level package (a module no
    extra installs is named as itself: ``pip install NAME``)."""
    top = module_name.partition(".")[0]
    package = PACKAGES.get(top, top)
    extra = extra or EXTRAS.get(top)
    subject = f"{context} {package}, which" if context else package
    if extra is None:
        return f"{subject} is not installed: pip install {top} ({reason})"
    return f"{subject} is not installed: install cim-emu[{extra}] (pip install 'cim-emu[{extra}]') ({reason})"


def require(module_name: str, *, context: Optional[str] = None, extra: Optional[str] = None,
            error: Callable[[str], Exception] = MissingDependencyError) -> ModuleType:
    """``module_name`` imported, or ``error(message)`` raised (by default
    :class:`MissingDependencyError`, an ``ImportError``) with :func:`missing_message`'s text.

    ``error`` lets a caller keep its own exception type (one a command turns into a skip or a
    usage error)."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise error(missing_message(module_name, exc, context=context, extra=extra)) from None


def optional(module_name: str) -> Optional[ModuleType]:
    """``module_name`` imported, or ``None`` when it does not import."""
    try:
        return importlib.import_module(module_name)
    except ImportError:
        return None
