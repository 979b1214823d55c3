"""cim-emu: a bit-exact functional emulator of compute-in-memory hardware.

* :mod:`cim_emu.ambit` — Ambit-style DRAM logic (triple-row activation, AAP/AP programs);
* :mod:`cim_emu.rng` — the counter-based random generator behind every noise and fault;
* :mod:`cim_emu.backend` — numpy / CuPy backend selection;
* :mod:`cim_emu.bits` — the bit-packed row layout.

``import cim_emu`` needs only numpy; CuPy is imported only when the CuPy backend is used.
"""

from ._version import __version__
from .backend import get_backend, get_default_backend, set_default_backend

__all__ = ["__version__", "get_backend", "get_default_backend", "set_default_backend"]
