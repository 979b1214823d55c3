"""Compile every CUDA source through CuPy's own NVRTC path, as the GPU backend loads them, with no GPU.

``cim_emu/gpu/cupy_kernels.py`` loads each source with ``cupy.RawModule(code=kernel_source(f),
options=NVRTC_OPTIONS, name_expressions=KERNELS[f])``. On a device CuPy then compiles it with
NVRTC: it appends ``-ftz=true`` to the options (``cupy.cuda.compiler._compile_with_cache_cuda``;
this script checks that CuPy still does so, and ``docs/spec/gpu.md`` says why flushing subnormals
changes no bit here) and passes ``-arch=sm_XX`` for the device's architecture, compiling
straight to a cubin. This script does the same for every architecture of
``CHECKED_ARCHITECTURES`` from each source's minimum compute capability up, without a device:
the architecture is given rather than asked of a driver. It fails on any compile error and on
any name expression that NVRTC does not resolve.

Run it where CuPy and NVRTC are installed (no GPU needed), e.g. as CI does:

    python -m venv /tmp/nvrtc && /tmp/nvrtc/bin/pip install -e '.[gpu-cuda12]' nvidia-cuda-nvrtc-cu12
    /tmp/nvrtc/bin/python scripts/nvrtc_check.py
"""

from __future__ import annotations

import inspect
import io
import sys
import time

import cupy
from cupy.cuda import compiler

from cim_emu.gpu.sources import CHECKED_ARCHITECTURES, KERNELS, NVRTC_OPTIONS, kernel_source, minimum_compute_capability

#: What CuPy appends to a RawModule's options before NVRTC compiles it.
CUPY_APPENDED_OPTIONS = ("-ftz=true",)


def _cubin_for(arch: object = None) -> tuple:
    """CuPy's choice of NVRTC target for a device of ``arch`` that NVRTC supports: a cubin."""
    return f"-arch=sm_{arch}", "cubin"


def main() -> int:
    source_of_cupy = inspect.getsource(compiler._compile_with_cache_cuda)
    if "options += ('-ftz=true',)" not in source_of_cupy:
        print("CuPy no longer appends -ftz=true to NVRTC options: update CUPY_APPENDED_OPTIONS and docs/spec/gpu.md")
        return 1
    # Asked of the driver otherwise (memoized per device): the architecture is given here.
    compiler._get_arch_for_options_for_nvrtc = _cubin_for
    print(f"CuPy {cupy.__version__}, "
          f"NVRTC {'.'.join(map(str, compiler._get_nvrtc_version()))}, "
          f"options {NVRTC_OPTIONS + CUPY_APPENDED_OPTIONS}")
    failures = 0
    for filename, names in KERNELS.items():
        source = kernel_source(filename)
        for arch in (a for a in CHECKED_ARCHITECTURES if a >= minimum_compute_capability(filename)):
            start, log = time.perf_counter(), io.StringIO()
            try:
                cubin, mapping = compiler.compile_using_nvrtc(source, NVRTC_OPTIONS + CUPY_APPENDED_OPTIONS, str(arch),
                                                              "", names, log, True)
            except compiler.CompileException as error:
                failures += 1
                print(f"FAIL {filename} sm_{arch}: {error}")
                continue
            missing = [name for name in names if name not in mapping]
            failures += bool(missing)
            status = f"MISSING {missing}" if missing else "ok"
            print(f"{status:7} {filename:22} sm_{arch}  {len(names):2} kernels  {len(cubin):7} bytes  "
                  f"{time.perf_counter() - start:4.1f} s")
    print("PASS: every source compiles through CuPy's NVRTC path" if not failures else f"FAIL: {failures} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
