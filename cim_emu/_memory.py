"""Memory an allocation may still take, checked before it is made.

An allocation larger than the memory left does not fail cleanly: the kernel's OOM killer ends
the process, or, under an address-space limit, numpy raises a :class:`MemoryError` with no
message. Whatever asks for memory sized by its caller (a row length, a program file) calls
:func:`require_bytes` first, which raises :class:`InsufficientMemoryError` — a
:class:`ValueError` naming the parameter that asked for too much — when the bytes are not
there.

:func:`available_host_bytes` is the least of what the machine, the process's control group and
its address-space limit leave:

* ``MemAvailable`` of ``/proc/meminfo`` (``os.sysconf`` where there is no ``/proc``);
* the memory control group's limit less its usage (cgroup v2 ``memory.max`` and
  ``memory.current``, or v1 ``memory.limit_in_bytes`` and ``memory.usage_in_bytes``);
* ``RLIMIT_AS`` (``ulimit -v``) less the process's virtual size.

It is ``None`` where none of them can be read; then nothing is refused.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Optional

#: Requests up to this size are never checked: reading the limits costs more than they do.
UNCHECKED_BYTES = 1 << 24

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_CGROUP_FILES = {  # the cgroup version's (limit, usage) files
    2: ("memory.max", "memory.current"),
    1: ("memory.limit_in_bytes", "memory.usage_in_bytes"),
}
_NO_LIMIT = 1 << 60  # cgroup v1 writes "no limit" as a number near 2**63


class InsufficientMemoryError(ValueError):
    """An allocation larger than the memory left: ``parameter`` names what asked for it, ``reason``
    says how much it needs and how much is left."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter, self.reason = parameter, reason


def format_bytes(count: float) -> str:
    """``count`` bytes in the largest binary unit that keeps it >= 1 (``"1.5 GiB"``)."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def _read_int(path: Path) -> Optional[int]:
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeError):
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available() -> Optional[int]:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _cgroup_left() -> Optional[int]:
    """The memory control group's limit less its usage (``None``: no limit found)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except (OSError, UnicodeError):
        return None
    for line in lines:
        parts = line.split(":", 2)  # hierarchy:controllers:group; v2 has no controllers
        if len(parts) != 3 or (parts[1] and "memory" not in parts[1].split(",")):
            continue
        version, group = (1 if parts[1] else 2), parts[2]
        mount = _CGROUP_ROOT if version == 2 else _CGROUP_ROOT / "memory"
        limit_file, usage_file = _CGROUP_FILES[version]
        for folder in (mount / group.lstrip("/"), mount):  # the group, or the namespace's root
            limit, usage = _read_int(folder / limit_file), _read_int(folder / usage_file)
            if limit is not None and usage is not None and limit < _NO_LIMIT:
                return max(0, limit - usage)
    return None


def _address_space_left() -> Optional[int]:
    """``RLIMIT_AS`` less the process's virtual size (``None``: no limit)."""
    try:
        import resource  # noqa: PLC0415 - not on every platform

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm", encoding="ascii") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError, IndexError, AttributeError):
        return None
    return max(0, limit - size)


def available_host_bytes() -> Optional[int]:
    """Host memory an allocation may still take (see the module docstring); ``None``: unknown."""
    known = [left for left in (_meminfo_available(), _cgroup_left(), _address_space_left()) if left is not None]
    return min(known) if known else None


def require_bytes(needed: int, *, parameter: str, what: str,
                  available: Optional[Callable[[], Optional[int]]] = None) -> None:
    """Raise :class:`InsufficientMemoryError` naming ``parameter`` when ``needed`` bytes (for
    ``what``, e.g. ``"2 rows of 10**17 bits"``) exceed what ``available()`` (default:
    :func:`available_host_bytes`) says is left (``None``: unknown, never refused). Requests of at
    most :data:`UNCHECKED_BYTES` always pass and do not call ``available``."""
    if needed <= UNCHECKED_BYTES:
        return
    left = (available or available_host_bytes)()
    if left is None or needed <= left:
        return
    raise InsufficientMemoryError(
        parameter, f"{what} would need {format_bytes(needed)}; only {format_bytes(left)} of memory is available"
    )


def _glibc_malloc_trim() -> Optional[Callable[[int], int]]:
    """glibc's ``malloc_trim``, or ``None`` on another C library or platform."""
    import ctypes  # noqa: PLC0415 - only where memory is returned
    import ctypes.util  # noqa: PLC0415

    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # musl has no malloc_trim
        return None
    return trim


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim(0)``); whether it could.

    Programming crossbars allocates and frees many arrays of a few MiB from several threads.
    glibc serves them from its heaps once its mmap threshold has risen past their size, and
    keeps the freed pages: a programmed ResNet-18 otherwise holds several hundred MiB that it
    no longer uses. Called after programming and after a layer's forward, except in a training
    step: there the next layers and the backward reuse the pages at once, and pages handed back
    would only fault in again (measured: 160,000 page faults and 2.5 s of system time a ResNet-18
    step at batch 8, against 12,000 and 1 s).
    """
    trim = _glibc_malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
