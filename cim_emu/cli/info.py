"""``cim-emu info``: versions, the backends this machine offers, and the default choices."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Optional

import click

from .._version import __version__
from ..backend import Backend, BackendUnavailableError, get_backend, get_default_backend
from ._output import format_fields, json_option, report


def _cupy_status() -> dict:
    """CuPy's version and the CUDA devices it sees; never raises (CuPy is optional)."""
    try:
        import cupy  # noqa: PLC0415 - optional, probed only here
    except Exception as exc:  # ImportError, or a broken CUDA installation
        return {"cupy": None, "cuda_devices": [], "cupy_problem": f"CuPy does not import ({exc})"}
    status = {"cupy": cupy.__version__, "cuda_devices": [], "cupy_problem": None}
    try:
        for index in range(int(cupy.cuda.runtime.getDeviceCount())):
            properties = cupy.cuda.runtime.getDeviceProperties(index)
            name = properties["name"]
            status["cuda_devices"].append({
                "index": index,
                "name": name.decode() if isinstance(name, bytes) else str(name),
                "memory_bytes": int(properties["totalGlobalMem"]),
            })
    except Exception as exc:  # no driver, no device
        status["cupy_problem"] = f"no CUDA device answers ({exc})"
    if not status["cuda_devices"] and status["cupy_problem"] is None:
        status["cupy_problem"] = "no CUDA device answers"
    return status


def _default_backend() -> tuple[str, Optional[str]]:
    """The default backend's name and what it computes on now (``None``: unavailable).

    The default is a name, or a :class:`~cim_emu.backend.Backend` set as the default: its name.
    """
    default = get_default_backend()
    name = default.name if isinstance(default, Backend) else default
    try:
        return name, get_backend().name
    except BackendUnavailableError:
        return name, None


def _device_text(device: dict) -> str:
    return f"{device['index']}: {device['name']}, {device['memory_bytes'] / 2**30:.1f} GiB"


@click.command()
@json_option
def info(json_path: Optional[str]) -> None:
    """Versions, backends and devices cim-emu can use here.

    Lists the versions of cim-emu, Python and numpy; whether CuPy imports and which CUDA
    devices it sees (name and memory); the default backend and what it resolves to; and the
    host threads of the fast Ambit executor (CIM_EMU_THREADS overrides); how the numpy backend
    draws its random numbers (native: the generator's CUDA twin compiled for the host, when a
    C++ compiler is found; numpy: its array Philox; CIM_EMU_NATIVE=0 forces numpy); which sweep
    solves IR drop (native: kernels/ir_drop_sweep.cpp, same bits as the Python one); which
    product multiplies the input bits of 1-bit DACs on the host (native: kernels/binary_product.cpp,
    BLAS's bits; BLAS on float tiles otherwise); and where
    compiled kernels are cached (CuPy's CUPY_CACHE_DIR, the CPU shim's CIM_EMU_SHIM_CACHE).
    Works without CuPy.

    The JSON document (--json) holds one record with these fields.
    """
    import numpy  # noqa: PLC0415

    from ..gpu import cpu_shim  # noqa: PLC0415
    from ..parallel import default_threads  # noqa: PLC0415
    from ..reram import bit_tiles, ir_drop_native  # noqa: PLC0415
    from ..rng import native  # noqa: PLC0415

    default, resolved = _default_backend()
    record = {
        "cim_emu": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        **_cupy_status(),
        "default_backend": default,
        "default_backend_resolves_to": resolved,
        "fast_executor_threads": default_threads(),
        "host_draws": native.status(),
        "ir_drop_sweep": ir_drop_native.status(),
        "input_bit_product": bit_tiles.status(),
        "kernel_cache_cupy": os.environ.get("CUPY_CACHE_DIR") or str(Path.home() / ".cupy" / "kernel_cache"),
        "kernel_cache_cpu_shim": str(cpu_shim.cache_location()),
    }
    devices = [_device_text(d) for d in record["cuda_devices"]] or [f"none: {record['cupy_problem']}"]
    text = format_fields({
        "cim-emu": record["cim_emu"],
        "python": record["python"],
        "numpy": record["numpy"],
        "cupy": record["cupy"] or "not available",
        "cuda devices": "\n".join(devices),
        "backends": ", ".join(["numpy", *(["cupy"] if record["cupy_problem"] is None else [])]),
        "default backend": f"{default} (computes on {resolved or 'nothing: unavailable'})",
        "fast executor": f"{record['fast_executor_threads']} host thread(s)",
        "host draws": record["host_draws"],
        "ir drop sweep": record["ir_drop_sweep"],
        "bit product": record["input_bit_product"],
        "kernel cache": f"CuPy {record['kernel_cache_cupy']}; CPU shim {record['kernel_cache_cpu_shim']}",
    })
    report(text, [record], json_path=json_path, backend=resolved, seed=None)
