"""Backends: where the arithmetic runs (numpy on the host, CuPy on a GPU), and with which kernels.

A :class:`Backend` is an array namespace, a name and a kernel provider
(:class:`~cim_emu.gpu.provider.KernelProvider`, or ``None``). Engines ask the backend, never
the array library: with a provider they run the CUDA kernels of ``kernels/`` (on a GPU through
CuPy; on the host through the CPU shim), without one the numpy implementation. Both give the
same bits.

Every public entry point of cim-emu takes a ``backend=`` argument, resolved once there
(:func:`resolve`) and passed down as the object:

``"numpy"``
    Compute on the host with numpy.
``"cupy"``
    Compute on the current CUDA device with CuPy and its kernels (raises
    :class:`BackendUnavailableError` when CuPy does not import or no GPU answers).
``"auto"``
    Follow the arrays: CuPy arrays are computed with CuPy and numpy arrays with numpy. With
    no arrays to follow (e.g. when an operation makes its own data), CuPy is used when it
    imports and a GPU answers, numpy otherwise.
a :class:`Backend`
    Exactly that backend: e.g. :func:`shim_backend` (numpy arrays, the kernels compiled for
    the host), or the tests' stand-in for CuPy.

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
from typing import Any, Iterator, Optional, Union

import numpy

from .gpu import CpuKernels, CupyKernels, KernelProvider, units_per_pass

__all__ = ["BACKEND_NAMES", "Backend", "BackendLike", "BackendUnavailableError", "NUMPY_BACKEND", "is_cupy_array",
           "cupy_available", "get_backend", "shim_backend", "resolve", "set_default_backend", "get_default_backend",
           "default_backend"]

BACKEND_NAMES = ("auto", "numpy", "cupy")


class BackendUnavailableError(RuntimeError):
    """Raised when the CuPy backend is requested but CuPy or a CUDA device is missing."""


@dataclasses.dataclass(frozen=True)
class Backend:
    """An array namespace with a name and the provider of its kernels.

    ``Backend("numpy", numpy)`` computes with numpy alone; ``Backend("cupy", cupy,
    CupyKernels())`` on a GPU; ``Backend("numpy", numpy, CpuKernels())`` runs the CUDA kernels
    on the host (:func:`shim_backend`). ``name`` says where arrays live: ``"numpy"`` on the
    host, any other name in device memory, as arrays of ``xp.ndarray``.
    """

    name: str
    xp: ModuleType
    kernels: Optional[KernelProvider] = None

    @property
    def on_device(self) -> bool:
        """Whether this backend's arrays live in device memory (not host numpy arrays)."""
        return self.name != "numpy"

    def owns(self, array: Any) -> bool:
        """Whether ``array`` is a device array of this backend (always ``False`` on the host)."""
        return self.on_device and isinstance(array, self.xp.ndarray)

    def asarray(self, array: Any, dtype: Any = None) -> Any:
        """Move ``array`` to this backend (a no-op when it is already there)."""
        if not self.on_device and is_cupy_array(array):
            array = array.get()
        return self.xp.asarray(array, dtype=dtype)

    def to_host(self, array: Any) -> Any:
        """``array`` as a numpy array (a no-op for host arrays)."""
        return array.get() if self.owns(array) else array

    def to_kind_of(self, array: Any, on_device: bool) -> Any:
        """A result of this backend moved to the device (``on_device``) or the host."""
        return self.xp.asarray(array) if on_device else self.to_host(array)

    def free_bytes(self) -> Optional[int]:
        """Device memory a computation can still take; ``None`` on the host."""
        if not self.on_device or self.kernels is None:
            return None
        return self.kernels.free_bytes()

    def units_per_device_pass(self, unit_bytes: int, units: int) -> Optional[int]:
        """Units of host data (batch rows, row words) per pass through this backend's device,
        or ``None`` when they go in one (see :func:`cim_emu.gpu.memory.units_per_pass`)."""
        return units_per_pass(self.free_bytes(), unit_bytes, units)


BackendLike = Union[None, str, Backend]
"""What ``backend=`` takes: ``None`` (the default), a name of :data:`BACKEND_NAMES`, a :class:`Backend`."""

NUMPY_BACKEND = Backend("numpy", numpy)


def _check(backend: Union[str, Backend]) -> Union[str, Backend]:
    if isinstance(backend, Backend):
        return backend
    if backend not in BACKEND_NAMES:
        raise ValueError(f"backend must be one of {', '.join(BACKEND_NAMES)} or a Backend; got {backend!r}")
    return backend


_ENVIRONMENT_DEFAULT = _check(os.environ.get("CIM_EMU_BACKEND", "auto"))  # a name: an immutable str
_DEFAULT: contextvars.ContextVar[Union[str, Backend]] = contextvars.ContextVar("cim_emu_default_backend",
                                                                              default=_ENVIRONMENT_DEFAULT)


def is_cupy_array(array: Any) -> bool:
    """True for a ``cupy.ndarray``; never imports CuPy (checks ``sys.modules``)."""
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(array, cupy.ndarray)


def _import_cupy() -> ModuleType:
    try:
        import cupy  # noqa: PLC0415 - CuPy is optional and imported only on request
    except Exception as exc:  # ImportError, or a broken CUDA installation
        raise BackendUnavailableError(
            f"backend 'cupy' needs CuPy (pip install 'cim-emu[gpu-cuda12]' for a CUDA 12 driver, "
            f"'cim-emu[gpu-cuda13]' for CUDA 13): {exc}"
        ) from exc
    return cupy


@functools.lru_cache(maxsize=None)
def cupy_available() -> bool:
    """True when CuPy imports and at least one CUDA device answers."""
    try:
        cupy = _import_cupy()
        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except Exception:
        return False


@functools.lru_cache(maxsize=None)
def _cupy_backend() -> Backend:
    return Backend("cupy", _import_cupy(), CupyKernels())


def shim_backend() -> Backend:
    """numpy arrays with the CUDA kernels compiled for the host (:mod:`cim_emu.gpu.cpu_shim`):
    the GPU's algorithms on the CPU, with the numpy backend's bits."""
    return Backend("numpy", numpy, CpuKernels())


def get_backend(backend: BackendLike = None) -> Backend:
    """The :class:`Backend` for ``backend`` (``None``: the default), with no arrays to follow."""
    chosen = _check(_DEFAULT.get() if backend is None else backend)
    if isinstance(chosen, Backend):
        return chosen
    if chosen == "numpy" or (chosen == "auto" and not cupy_available()):
        return NUMPY_BACKEND
    if not cupy_available():
        raise BackendUnavailableError(
            "backend 'cupy' was requested but no CUDA device answers "
            "(use backend='numpy' or 'auto')"
        )
    return _cupy_backend()


def resolve(backend: BackendLike, *arrays: Any) -> tuple[Backend, bool]:
    """Choose the backend for a call on ``arrays``; also say whether the inputs were device arrays.

    Raises :class:`TypeError` when host and device arrays are mixed. ``None`` entries and
    Python scalars are ignored.
    """
    chosen = _check(_DEFAULT.get() if backend is None else backend)
    shaped = [a for a in arrays if a is not None and hasattr(a, "shape")]
    if isinstance(chosen, Backend) and chosen.on_device:
        kinds = {chosen.owns(a) or is_cupy_array(a) for a in shaped}
    else:
        kinds = {is_cupy_array(a) for a in shaped}
    if len(kinds) > 1:
        raise TypeError("arrays mix numpy and CuPy; move them to one library first")
    inputs_on_device = kinds == {True}
    if chosen == "auto" and kinds:
        chosen = "cupy" if inputs_on_device else "numpy"
    return get_backend(chosen), inputs_on_device


def set_default_backend(backend: Union[str, Backend]) -> None:
    """Set the default backend of this context (``"auto"``, ``"numpy"``, ``"cupy"`` or a :class:`Backend`)."""
    _DEFAULT.set(_check(backend))


def get_default_backend() -> Union[str, Backend]:
    """The default backend of this context (a name, or a :class:`Backend` set as the default)."""
    return _DEFAULT.get()


@contextlib.contextmanager
def default_backend(backend: Union[str, Backend]) -> Iterator[None]:
    """Use ``backend`` as the default backend inside a ``with`` block."""
    token = _DEFAULT.set(_check(backend))
    try:
        yield
    finally:
        _DEFAULT.reset(token)
