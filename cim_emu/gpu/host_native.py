"""Host code built with the CPU shim's compiler, and the switch that chooses it: ``CIM_EMU_NATIVE``.

Two of cim-emu's host paths have a native twin with the same bits: the random draws
(:mod:`cim_emu.rng.native`, ``kernels/philox_draws.cu``) and the IR-drop sweep
(:mod:`cim_emu.reram.ir_drop_native`, ``kernels/ir_drop_sweep.cpp``). One environment variable,
read at every use, chooses for both:

``auto`` (or unset)
    Native when a C++ compiler is found (``$CXX``, ``g++``, ``c++`` or ``clang++``), the
    reference path otherwise. A missing compiler is a documented fallback, not an error, and is
    silent; a compiler that fails on the source warns once (:class:`RuntimeWarning`).
``0``
    The reference path, always (numpy's array Philox; the Python sweep).
``1``
    Native, or :class:`~cim_emu.gpu.ShimUnavailableError` when it cannot be built.

:class:`NativeBuild` builds a native twin once per process (thread-safe; the compiled library is
kept in the shim's disk cache across processes) and remembers why it could not.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from typing import Callable, Generic, Iterator, Optional, TypeVar

from .cpu_shim import ShimUnavailableError

__all__ = ["NATIVE_ENV", "NATIVE_CHOICES", "choice", "chosen", "NativeBuild"]

NATIVE_ENV = "CIM_EMU_NATIVE"
"""The environment variable that chooses the host's native paths (see the module docstring)."""

NATIVE_CHOICES = ("auto", "0", "1")
"""Its values (unset means ``auto``)."""

Built = TypeVar("Built")


def choice() -> str:
    """``CIM_EMU_NATIVE`` (``auto`` when unset); :class:`ValueError` for any other value."""
    value = os.environ.get(NATIVE_ENV, "").strip() or "auto"
    if value not in NATIVE_CHOICES:
        raise ValueError(f"{NATIVE_ENV} must be one of {', '.join(NATIVE_CHOICES)} (unset: auto); got {value!r}")
    return value


@contextlib.contextmanager
def chosen(value: str) -> Iterator[None]:
    """``CIM_EMU_NATIVE`` set to ``value`` (one of :data:`NATIVE_CHOICES`) inside the block, restored
    after: e.g. a benchmark timing the reference path beside the native one. It is the process's
    environment: every thread sees it."""
    if value not in NATIVE_CHOICES:
        raise ValueError(f"{NATIVE_ENV} must be one of {', '.join(NATIVE_CHOICES)}; got {value!r}")
    before = os.environ.get(NATIVE_ENV)
    os.environ[NATIVE_ENV] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[NATIVE_ENV]
        else:
            os.environ[NATIVE_ENV] = before


class NativeBuild(Generic[Built]):
    """A native twin, built by ``build()`` once per process, chosen by ``CIM_EMU_NATIVE``.

    ``what`` names it in messages (``"the native draws"``), ``reference`` names the path that
    runs in its place (``"numpy"``), ``instead`` says what a failed build falls back to in its
    warning (``"drawing with numpy"``). ``build`` raises :class:`ShimUnavailableError` when there
    is no compiler (the silent fallback), :class:`RuntimeError` or :class:`OSError` when the
    compiler fails or the cache cannot be written (a warning, once)."""

    def __init__(self, build: Callable[[], Built], what: str, reference: str, instead: str) -> None:
        self._build, self.what, self.reference, self.instead = build, what, reference, instead
        self._lock = threading.Lock()
        self._result: Optional[tuple[Optional[Built], str]] = None

    def built(self) -> tuple[Optional[Built], str]:
        """``(the built twin, "")``, or ``(None, why not)``: built on the first call only."""
        with self._lock:
            if self._result is None:
                try:
                    self._result = (self._build(), "")
                except ShimUnavailableError as error:  # the documented fallback: silent
                    self._result = (None, str(error))
                except (RuntimeError, OSError) as error:  # a compiler that fails, an unwritable cache
                    reason = f"{self.what} could not be built: {error}"
                    warnings.warn(f"{reason}; {self.instead}", RuntimeWarning, stacklevel=4)
                    self._result = (None, reason)
            return self._result

    def forget(self) -> None:
        """Forget the build (the next use builds again, or finds the library in the disk cache)."""
        with self._lock:
            self._result = None

    def chosen(self) -> Optional[Built]:
        """The twin when ``CIM_EMU_NATIVE`` chooses it and it builds, else ``None`` (the reference
        path runs); :class:`ShimUnavailableError` when ``CIM_EMU_NATIVE=1`` and it cannot be built."""
        chosen = choice()
        if chosen == "0":
            return None
        built, reason = self.built()
        if built is None and chosen == "1":
            raise ShimUnavailableError(f"{NATIVE_ENV}=1 but {reason}")
        return built

    def status(self, native: str) -> str:
        """Which path runs and why, for ``cim-emu info``: ``native`` when the twin does, else the
        reference path's name with the reason."""
        if choice() == "0":
            return f"{self.reference} ({NATIVE_ENV}=0)"
        built, reason = self.built()
        return native if built is not None else f"{self.reference} ({reason})"
