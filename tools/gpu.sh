#!/usr/bin/env bash
# tools/gpu.sh — the one entry point on the GPU machine (DESIGN.md).
#
# Configures the `cuda` preset for sm_90a, builds with every core, runs the C++ test suite
# (CPU tests plus the CUDA kernel tests), runs compute-sanitizer on the CUDA tests where it works,
# and runs any extra step asked for. Logs and results go to $OUT (default ./gpu-out).
#
#   tools/gpu.sh                 build + tests + sanitizer
#   tools/gpu.sh --quick         build + CUDA kernel tests only
#   tools/gpu.sh --golden        also regenerate tests/data/golden with HF transformers (torch there)
#   tools/gpu.sh --bench-cpu     also time `tessera generate` on the llama-3.2-1b preset on the CPU
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
quick=0 golden=0 bench_cpu=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --golden) golden=1 ;;
    --bench-cpu) bench_cpu=1 ;;
    *) echo "gpu.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
status=0
step() { echo "== $*" | tee -a "$OUT/summary.txt"; }

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv; nvcc --version | tail -1; } \
  > "$OUT/machine.txt" 2>&1

# The GPU image has no OpenBLAS: the Debian packages that tools/fetch_debs.sh downloads into .debs/
# (carried there) are unpacked into a prefix.
if [ -d .debs ] && ! ldconfig -p | grep -q libopenblas; then
  for f in .debs/*.deb; do dpkg -x "$f" /opt/tessera-deps; done
  export CMAKE_PREFIX_PATH=/opt/tessera-deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export LD_LIBRARY_PATH=/opt/tessera-deps/usr/lib/x86_64-linux-gnu/openblas-pthread:/opt/tessera-deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

step "configure + build (cuda preset, sm_90a)"
cmake --preset cuda > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build/cuda -j "$(nproc)" > "$OUT/build.log" 2>&1 || { grep -E "error" "$OUT/build.log" | head -40; exit 1; }

if [ "$quick" = 1 ]; then
  step "cuda kernel tests"
  ./build/cuda/tests/cpp/cuda_kernel_tests 2>&1 | tee "$OUT/cuda_tests.log" | tail -5 || status=1
else
  step "ctest (all C++ tests, CUDA included)"
  (cd build/cuda && ctest --output-on-failure -j 8) > "$OUT/ctest.log" 2>&1 || status=1
  tail -15 "$OUT/ctest.log"
  step "compute-sanitizer memcheck + racecheck on the CUDA kernel tests"
  for tool in memcheck racecheck; do
    compute-sanitizer --tool "$tool" --error-exitcode 1 ./build/cuda/tests/cpp/cuda_kernel_tests \
      > "$OUT/sanitizer_$tool.log" 2>&1 && echo "$tool: clean" || { echo "$tool: FAILED (see sanitizer_$tool.log)"; tail -5 "$OUT/sanitizer_$tool.log"; status=1; }
  done | tee -a "$OUT/summary.txt"
fi

if [ "$golden" = 1 ]; then
  step "golden data from HF transformers"
  python3 tools/make_golden.py --out tests/data/golden 2>&1 | tee "$OUT/golden.log" || status=1
  tar czf "$OUT/golden.tgz" tests/data/golden
fi

if [ "$bench_cpu" = 1 ]; then
  step "CPU generate on llama-3.2-1b (random weights)"
  ./build/cuda/tessera make-model --preset llama-3.2-1b --out /tmp/llama-3.2-1b > /dev/null 2> "$OUT/make_model.log"
  TESSERA_NUM_THREADS="$(nproc)" ./build/cuda/tessera generate --model /tmp/llama-3.2-1b -n 16 --temperature 0 \
    > "$OUT/bench_cpu.out" 2> "$OUT/bench_cpu.log"
  tail -2 "$OUT/bench_cpu.log"
fi
exit $status
