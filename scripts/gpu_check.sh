#!/usr/bin/env bash
# Prove cim-emu's GPU backend on a machine with a CUDA GPU, in one command:
#
#     scripts/gpu_check.sh OUT_DIR
#
# It writes to OUT_DIR (created if missing):
#   gpu_check.log   everything printed below
#   device.json     the GPU (name, compute capability, multiprocessors, memory), driver and CUDA
#                   versions, CuPy, numpy and cim-emu versions
#   ptxas.txt       the resource report (registers, stack, spills) of every kernel, built for the
#                   device's own architecture (when nvcc is there)
#   gpu-tests.xml   JUnit results of every test marked `gpu` (numpy against CuPy, bit for bit)
#   sanitizer-*.txt compute-sanitizer's memcheck, racecheck and synccheck logs of the kernel
#                   tests (when compute-sanitizer is on the PATH; a finding fails the check)
#   bench.json      pytest-benchmark JSON of the GPU benchmarks, with the ratios to the limits
#                   measured in the same run in each benchmark's extra_info
#   models.json     pytest-benchmark JSON of the model benchmark (bench/test_models.py) with the
#                   models on the GPU and their crossbars on CuPy, against the float models on the
#                   GPU (needs torch with CUDA; skipped without it)
#   summary.txt     the short table printed last
# and exits non-zero when the device is missing, a GPU test fails or a benchmark misses its
# target. Needs python3 with CuPy, numpy, click, pytest, pytest-benchmark and hypothesis (the
# device image has them all); cim-emu itself is installed from this checkout, without
# dependencies or network, when it does not import. PYTHON overrides the interpreter.
set -uo pipefail

out=${1:?usage: scripts/gpu_check.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
exec > >(tee "$out/gpu_check.log") 2>&1
status=0

echo "== cim-emu GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! "$python" -c "import cim_emu.kernels" 2>/dev/null; then
  echo "== installing cim-emu from this checkout (no dependencies, no network)"
  "$python" -m pip install --quiet --no-deps --no-build-isolation -e . || exit 1
fi

echo "== device"
"$python" - "$out/device.json" <<'EOF' || exit 2
import json, platform, sys
import cupy, numpy
import cim_emu
props = cupy.cuda.runtime.getDeviceProperties(0)
info = {
    "gpu": props["name"].decode(),
    "compute_capability": f"{props['major']}.{props['minor']}",
    "multiprocessors": props["multiProcessorCount"],
    "memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
    "driver_version": cupy.cuda.runtime.driverGetVersion(),
    "runtime_version": cupy.cuda.runtime.runtimeGetVersion(),
    "cupy": cupy.__version__, "numpy": numpy.__version__, "cim_emu": cim_emu.__version__,
    "python": platform.python_version(),
}
json.dump(info, open(sys.argv[1], "w"), indent=2)
print(json.dumps(info, indent=2))
EOF

if command -v nvcc >/dev/null; then
  arch=$("$python" -c "import json,sys; print('sm_' + json.load(open(sys.argv[1]))['compute_capability'].replace('.', ''))" "$out/device.json")
  echo "== ptxas report for $arch"
  : > "$out/ptxas.txt"
  for source in kernels/*.cu; do
    echo "-- $source" >> "$out/ptxas.txt"
    nvcc -std=c++17 -arch="$arch" -Ikernels -cubin -Xptxas -v -o /dev/null "$source" >> "$out/ptxas.txt" 2>&1 || status=1
  done
  grep -E "^--|Compiling entry|spill|registers" "$out/ptxas.txt"
fi

echo "== GPU tests (tests/, marked gpu)"
"$python" -m pytest tests -m gpu -p no:cacheprovider -q -rfEs --junitxml="$out/gpu-tests.xml" || status=1

echo "== compute-sanitizer (memcheck, racecheck, synccheck) over the kernel tests (tests/test_kernels_gpu.py)"
if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck synccheck; do
    # the kernels' own tests: every kernel launched on small and edge-case shapes (the whole GPU
    # suite under racecheck would take hours); CuPy's memory pool off (CIM_EMU_CUPY_NO_POOL, read by
    # tests/conftest.py), so that memcheck sees each buffer's own bounds
    CIM_EMU_CUPY_NO_POOL=1 compute-sanitizer --tool "$tool" --error-exitcode 3 \
      --log-file "$out/sanitizer-$tool.txt" \
      "$python" -m pytest tests/test_kernels_gpu.py -m gpu -p no:cacheprovider -q -x >/dev/null 2>&1 \
      && echo "$tool: clean" || { echo "$tool: FAILED (see sanitizer-$tool.txt)"; status=1; }
  done
else
  echo "skipped: compute-sanitizer is not on the PATH"
fi

echo "== GPU benchmarks (bench/, marked gpu)"
"$python" -m pytest bench -m gpu -p no:cacheprovider -q --benchmark-json="$out/bench.json" || status=1

echo "== model benchmark on the GPU (bench/test_models.py, CIM_EMU_BENCH_DEVICE=cuda)"
if "$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  CIM_EMU_BENCH_DEVICE=cuda "$python" -m pytest bench/test_models.py -p no:cacheprovider -q \
    --benchmark-json="$out/models.json" || status=1
else
  echo "skipped: torch with CUDA does not import"
fi

if [ -f "$out/bench.json" ]; then
  "$python" - "$out/bench.json" "$out/models.json" <<'EOF' | tee "$out/summary.txt"
import json, os, sys
results = json.load(open(sys.argv[1]))
benchmarks = results["benchmarks"]
if os.path.exists(sys.argv[2]):
    benchmarks += json.load(open(sys.argv[2]))["benchmarks"]
print(f"device: {results['machine_info'].get('gpu')}")
print(f"{'benchmark':44} {'median ms':>10}  {'correct':7}  ratios")
for bench in benchmarks:
    info = bench["extra_info"]
    ratios = "  ".join(f"{key[6:]}={value:.3g}" for key, value in sorted(info.items())
                       if key.startswith("ratio") and value is not None)
    print(f"{bench['group']:44} {bench['stats']['median'] * 1e3:10.3f}  {str(info.get('correct')):7}  {ratios}")
EOF
fi
echo "== done: status $status (results in $out)"
exit $status
