"""Backend selection: where the arithmetic runs (numpy on the host, CuPy on a GPU).

A *backend* is an array namespace plus a name. Every public entry point of cim-emu takes a
``backend=`` argument with one of three values:

``"numpy"``
    Compute on the host with numpy.
``"cupy"``
    Compute on the current CUDA device with CuPy (raises :class:`BackendUnavailableError`
    when CuPy does not import or no GPU answers).
``"auto"``
    Follow the arrays: CuPy arrays are computed with CuPy and numpy arrays with numpy. With
    no arrays to follow (e.g. when an operation makes its own data), CuPy is used when it
    imports and a GPU answers, numpy otherwise.

``backend=None`` means the default backend, which is ``"auto"`` unless changed with
:func:`set_default_backend` (process-wide), the :func:`default_backend` context manager
(scoped, thread- and task-local through :mod:`contextvars`), or the ``CIM_EMU_BACKEND``
environment variable read at import.

Arrays come back in the kind they came in: numpy in, numpy out; CuPy in, CuPy out. When an
explicit backend differs from the arrays' kind the inputs are moved to the backend and the
results moved back (an explicit request, never a silent one). Mixing numpy and CuPy arrays in
one call raises :class:`TypeError` at the entry, not deep inside a computation.

CuPy is never imported by ``import cim_emu``; only asking for the CuPy backend (or ``auto``
with nothing to follow) imports it.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import os
import sys
from types import ModuleType
from typing import Any, Iterator, Optional

import numpy

BACKEND_NAMES = ("auto", "numpy", "cupy")


class BackendUnavailableError(RuntimeError):
    """Raised when the CuPy backend is requested but CuPy or a CUDA device is missing."""


@dataclasses.dataclass(frozen=True)
class Backend:
    """An array namespace with a name: ``Backend("numpy", numpy)`` or ``Backend("cupy", cupy)``."""

    name: str
    xp: ModuleType

    def asarray(self, array: Any) -> Any:
        """Move ``array`` to this backend (a no-op when it is already there)."""
        if self.name == "numpy" and is_cupy_array(array):
            return array.get()
        return self.xp.asarray(array)

    def to_kind_of(self, array: Any, like_cupy: bool) -> Any:
        """Move a result of this backend to numpy (``like_cupy=False``) or CuPy."""
        if like_cupy:
            return array if is_cupy_array(array) else _import_cupy().asarray(array)
        return array.get() if is_cupy_array(array) else array


NUMPY_BACKEND = Backend("numpy", numpy)


def _check_name(name: str) -> str:
    if name not in BACKEND_NAMES:
        raise ValueError(f"backend must be one of {', '.join(BACKEND_NAMES)}; got {name!r}")
    return name


_DEFAULT = contextvars.ContextVar(
    "cim_emu_default_backend", default=_check_name(os.environ.get("CIM_EMU_BACKEND", "auto"))
)


def is_cupy_array(array: Any) -> bool:
    """True for a ``cupy.ndarray``; never imports CuPy (checks ``sys.modules``)."""
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(array, cupy.ndarray)


def _import_cupy() -> ModuleType:
    try:
        import cupy  # noqa: PLC0415 - CuPy is optional and imported only on request
    except Exception as exc:  # ImportError, or a broken CUDA installation
        raise BackendUnavailableError(
            f"backend 'cupy' needs CuPy (pip install 'cim-emu[gpu]'): {exc}"
        ) from exc
    return cupy


#: Share of a GPU's free memory one pass of host data may take (cim-emu streams larger host
#: inputs through the GPU in passes: ReRAM batches by rows, Ambit and SIMDRAM rows by words).
DEVICE_MEMORY_SHARE = 0.25


def units_per_device_pass(xp: ModuleType, unit_bytes: int, units: int) -> Optional[int]:
    """Units of host data (batch rows, row words) per pass through ``xp``'s GPU: ``None`` when
    all ``units`` of ``unit_bytes`` each fit in :data:`DEVICE_MEMORY_SHARE` of its free memory
    (and always for numpy), else as many as fit, at least 1."""
    if xp is numpy:
        return None
    budget = DEVICE_MEMORY_SHARE * device_free_bytes(xp)
    return None if unit_bytes * units <= budget else max(1, int(budget // unit_bytes))


def device_free_bytes(xp: ModuleType) -> int:
    """Memory a computation on ``xp``'s current GPU can still take: the device's free bytes plus
    what CuPy's memory pool holds unused. Meaningful for CuPy only (numpy has no such limit)."""
    free, _ = xp.cuda.runtime.memGetInfo()
    return int(free) + int(xp.get_default_memory_pool().free_bytes())


@functools.lru_cache(maxsize=None)
def cupy_available() -> bool:
    """True when CuPy imports and at least one CUDA device answers."""
    try:
        cupy = _import_cupy()
        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except Exception:
        return False


def get_backend(name: Optional[str] = None) -> Backend:
    """The :class:`Backend` for ``name`` (``None``: the default), with nothing to follow."""
    name = _check_name(_DEFAULT.get() if name is None else name)
    if name == "numpy" or (name == "auto" and not cupy_available()):
        return NUMPY_BACKEND
    if not cupy_available():
        raise BackendUnavailableError(
            "backend 'cupy' was requested but no CUDA device answers "
            "(use backend='numpy' or 'auto')"
        )
    return Backend("cupy", _import_cupy())


def resolve(backend: Optional[str], *arrays: Any) -> tuple[Backend, bool]:
    """Choose the backend for a call on ``arrays``; also say whether the inputs were CuPy.

    Raises :class:`TypeError` when numpy and CuPy arrays are mixed. ``None`` entries and
    Python scalars are ignored.
    """
    kinds = {is_cupy_array(a) for a in arrays if a is not None and hasattr(a, "shape")}
    if len(kinds) > 1:
        raise TypeError("arrays mix numpy and CuPy; move them to one library first")
    inputs_on_gpu = kinds == {True}
    name = _check_name(_DEFAULT.get() if backend is None else backend)
    if name == "auto" and kinds:
        name = "cupy" if inputs_on_gpu else "numpy"
    return get_backend(name), inputs_on_gpu


def set_default_backend(name: str) -> None:
    """Set the default backend of this context (``"auto"``, ``"numpy"`` or ``"cupy"``)."""
    _DEFAULT.set(_check_name(name))


def get_default_backend() -> str:
    """The name of the default backend of this context."""
    return _DEFAULT.get()


@contextlib.contextmanager
def default_backend(name: str) -> Iterator[None]:
    """Use ``name`` as the default backend inside a ``with`` block."""
    token = _DEFAULT.set(_check_name(name))
    try:
        yield
    finally:
        _DEFAULT.reset(token)
