#!/usr/bin/env bash
# tools/gpu.sh — the one entry point on the GPU machine (docs/architecture.md, "How we measure").
#
# Configures the `cuda` preset for sm_90a with the Python extension (-DTESSERA_PYTHON=ON), builds
# with every core, runs the C++ tests (CPU + CUDA kernels) and the GPU pytest suite (tests/gpu),
# runs compute-sanitizer memcheck + racecheck on the CUDA kernel tests and on short attention and
# paged-decode drivers, and runs the attention and decode benchmarks. Nothing is installed: the
# machine has torch, nanobind and pytest, and no package registry.
#
#   tools/gpu.sh                     build + all tests + sanitizer + attention and decode benchmarks
#   tools/gpu.sh --quick             build + CUDA kernel tests + `pytest tests/gpu --quick` (no sanitizer,
#                                    no benchmark unless --bench, which is then the quick one)
#   tools/gpu.sh --tests-only        the full run without the benchmark
#   tools/gpu.sh --bench-only        build + the benchmarks only (with --quick: their quick subsets)
#   tools/gpu.sh --bench             also benchmark in a --quick run
#   tools/gpu.sh --pytest-args "-k varlen -x"   extra arguments for pytest tests/gpu
#   tools/gpu.sh --benches decode,e2e  which benchmarks run (default attention,decode,e2e)
#   tools/gpu.sh --golden            also regenerate tests/data/golden with HF transformers (torch there)
#   tools/gpu.sh --bench-cpu         also time `tessera generate` on the llama-3.2-1b preset on the CPU
#
# Output ($OUT, default ./gpu-out). Only a few files come back from the machine, so the top level
# holds: summary.txt (machine, every step's result, test and benchmark summaries), logs.tgz (every
# log: configure, build, ctest, pytest, sanitizer, benchmark), attention_bench.json,
# attention_bench.md (the docs/benchmarks.md tables), attention_fwd.png, attention_fwd_bwd.png,
# decode_bench.json, decode_bench.md, decode_bandwidth.png, e2e_decode.json, e2e_decode.md,
# e2e_decode.png (the PNGs when matplotlib is there) and golden.tgz (--golden). Environment: PYTHON (default python3).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
OUT="${OUT:-$PWD/gpu-out}"
PYTHON="${PYTHON:-python3}"
quick=0 golden=0 bench_cpu=0 tests=1 bench=default pytest_args="" benches="attention,decode,e2e"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --golden) golden=1 ;;
    --bench-cpu) bench_cpu=1 ;;
    --tests-only) bench=0 ;;
    --bench-only) tests=0; bench=1 ;;
    --bench) bench=1 ;;
    --pytest-args) shift; pytest_args="${1:-}" ;;
    --pytest-args=*) pytest_args="${1#--pytest-args=}" ;;
    --benches) shift; benches="${1:-}" ;;
    --benches=*) benches="${1#--benches=}" ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "gpu.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$bench" = default ]; then bench=$((1 - quick)); fi
quick_flag=""
if [ "$quick" = 1 ]; then quick_flag="--quick"; fi

mkdir -p "$OUT"
LOGS="$OUT/logs"
rm -rf "$LOGS" "$OUT/summary.txt"
mkdir -p "$LOGS"

status=0
step() { echo "== $*" | tee -a "$OUT/summary.txt"; }
note() { echo "$*" | tee -a "$OUT/summary.txt"; }
# Pack the logs into one archive whatever happens (few files come back from $OUT).
# shellcheck disable=SC2317 # called through the trap
pack_logs() { tar czf "$OUT/logs.tgz" -C "$OUT" logs 2>/dev/null && rm -rf "$LOGS"; }
trap pack_logs EXIT

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv; nvcc --version | tail -1
  "$PYTHON" -c "import torch, nanobind; print('python', __import__('sys').version.split()[0], 'torch', torch.__version__, 'nanobind', nanobind.__version__)"
  git log -1 --format='commit %h %s' 2>/dev/null; } > "$LOGS/machine.txt" 2>&1
cat "$LOGS/machine.txt" >> "$OUT/summary.txt"

# The GPU image has no OpenBLAS: the Debian packages that tools/fetch_debs.sh downloads into .debs/
# (carried there) are unpacked into a prefix.
if [ -d .debs ] && ! ldconfig -p | grep -q libopenblas; then
  for f in .debs/*.deb; do dpkg -x "$f" /opt/tessera-deps; done
  export CMAKE_PREFIX_PATH=/opt/tessera-deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export LD_LIBRARY_PATH=/opt/tessera-deps/usr/lib/x86_64-linux-gnu/openblas-pthread:/opt/tessera-deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

step "configure + build (cuda preset, sm_90a, TESSERA_PYTHON=ON)"
cmake --preset cuda -DTESSERA_PYTHON=ON -DPython_EXECUTABLE="$(command -v "$PYTHON")" \
  > "$LOGS/configure.log" 2>&1 || { tail -30 "$LOGS/configure.log" | tee -a "$OUT/summary.txt"; exit 1; }
# A quick run builds only what it runs: the CUDA kernel tests and the Python extension.
build_targets=()
if [ "$quick" = 1 ]; then build_targets=(--target cuda_kernel_tests cuda_model_tests tessera_python_ext tessera); fi
cmake --build build/cuda -j "$(nproc)" "${build_targets[@]}" > "$LOGS/build.log" 2>&1 \
  || { grep -E "error" "$LOGS/build.log" | head -40 | tee -a "$OUT/summary.txt"; exit 1; }
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"

if [ "$tests" = 1 ]; then
  if [ "$quick" = 1 ]; then
    step "cuda kernel and model tests"
    ./build/cuda/tests/cpp/cuda_kernel_tests > "$LOGS/cuda_tests.log" 2>&1 || status=1
    tail -5 "$LOGS/cuda_tests.log" | tee -a "$OUT/summary.txt"
    ./build/cuda/tests/cpp/cuda_model_tests > "$LOGS/cuda_model_tests.log" 2>&1 || status=1
    tail -5 "$LOGS/cuda_model_tests.log" | tee -a "$OUT/summary.txt"
  else
    # The python_* entries (the server through the openai client, the browser UI) need openai,
    # selenium and chromium, which only the CPU machines have (tools/setup.sh): not run here.
    step "ctest (all C++ tests, CUDA included)"
    (cd build/cuda && ctest --output-on-failure -j 8 -E '^python_') > "$LOGS/ctest.log" 2>&1 || status=1
    tail -15 "$LOGS/ctest.log" | tee -a "$OUT/summary.txt"
  fi

  step "pytest tests/gpu $quick_flag $pytest_args"
  # shellcheck disable=SC2086 # pytest_args is a list of words on purpose
  "$PYTHON" -m pytest tests/gpu -q -rfEs -p no:cacheprovider -s --durations=15 \
    $quick_flag $pytest_args > "$LOGS/pytest_gpu.log" 2>&1 || status=1
  grep -E "^\[memory\]|^\[model-hf\]|^(FAILED|ERROR) |passed|failed|error" "$LOGS/pytest_gpu.log" | tail -60 \
    | tee -a "$OUT/summary.txt"
  # The Python package's plumbing only: the rest of tests/python (the server through the openai
  # client, the browser UI) runs on the CPU machines, where tools/setup.sh installs openai, selenium
  # and chromium; this machine has none of them.
  step "pytest tests/python/test_attention_api.py (package plumbing, CPU)"
  "$PYTHON" -m pytest tests/python/test_attention_api.py -q -p no:cacheprovider > "$LOGS/pytest_python.log" 2>&1 \
    || status=1
  tail -3 "$LOGS/pytest_python.log" | tee -a "$OUT/summary.txt"

  if [ "$quick" = 0 ]; then
    step "compute-sanitizer memcheck + racecheck (CUDA kernel and model tests; attention, decode via Python)"
    for tool in memcheck racecheck; do
      compute-sanitizer --tool "$tool" --error-exitcode 1 ./build/cuda/tests/cpp/cuda_kernel_tests \
        > "$LOGS/sanitizer_${tool}_cpp.log" 2>&1 && note "$tool (C++ kernel tests): clean" \
        || { note "$tool (C++ kernel tests): FAILED (logs/sanitizer_${tool}_cpp.log)"
             tail -5 "$LOGS/sanitizer_${tool}_cpp.log" | tee -a "$OUT/summary.txt"; status=1; }
      # The GPU runtime end to end (elementwise kernels, cuBLASLt, graphs) on a small model.
      compute-sanitizer --tool "$tool" --error-exitcode 1 ./build/cuda/tests/cpp/cuda_model_tests \
        > "$LOGS/sanitizer_${tool}_model.log" 2>&1 && note "$tool (C++ model tests): clean" \
        || { note "$tool (C++ model tests): FAILED (logs/sanitizer_${tool}_model.log)"
             tail -5 "$LOGS/sanitizer_${tool}_model.log" | tee -a "$OUT/summary.txt"; status=1; }
      # Only tessera's kernels are instrumented (torch's own are not ours to check).
      compute-sanitizer --tool "$tool" --error-exitcode 1 --target-processes all \
        --kernel-name kns=attention_ "$PYTHON" tests/gpu/sanitize_attention.py \
        > "$LOGS/sanitizer_${tool}_py.log" 2>&1 && note "$tool (attention via Python): clean" \
        || { note "$tool (attention via Python): FAILED (logs/sanitizer_${tool}_py.log)"
             tail -5 "$LOGS/sanitizer_${tool}_py.log" | tee -a "$OUT/summary.txt"; status=1; }
      # The paged KV cache kernels: paged_attention_*, paged_attention_combine_*, paged_kv_append_*.
      compute-sanitizer --tool "$tool" --error-exitcode 1 --target-processes all \
        --kernel-name kns=paged_ "$PYTHON" tests/gpu/sanitize_decode.py \
        > "$LOGS/sanitizer_${tool}_decode.log" 2>&1 && note "$tool (decode via Python): clean" \
        || { note "$tool (decode via Python): FAILED (logs/sanitizer_${tool}_decode.log)"
             tail -5 "$LOGS/sanitizer_${tool}_decode.log" | tee -a "$OUT/summary.txt"; status=1; }
    done
  fi
fi

want_bench() { [ "$bench" = 1 ] && [[ ",$benches," == *",$1,"* ]]; }

if want_bench attention; then
  step "attention benchmark $quick_flag"
  # shellcheck disable=SC2086 # empty or one word
  "$PYTHON" bench/kernels/attention.py --out "$OUT" $quick_flag \
    > "$LOGS/bench_attention.log" 2>&1 || status=1
  grep -vE "^wrote|^no plots" "$LOGS/bench_attention.log" | tee -a "$OUT/summary.txt" > /dev/null
  grep -E "^wrote|^no plots|Error" "$LOGS/bench_attention.log" | tee -a "$OUT/summary.txt"
  if [ -f "$OUT/attention_bench.json" ]; then
    "$PYTHON" bench/kernels/attention_report.py "$OUT/attention_bench.json" \
      > "$OUT/attention_bench.md" 2> "$LOGS/attention_report.log" || status=1
  fi
fi

if want_bench decode; then
  step "decode benchmark $quick_flag"
  # Writes decode_bench.json, decode_bench.md and decode_bandwidth.png into $OUT itself.
  # shellcheck disable=SC2086 # empty or one word
  "$PYTHON" bench/kernels/decode.py --out "$OUT" $quick_flag \
    > "$LOGS/bench_decode.log" 2>&1 || status=1
  grep -vE "^wrote|^no plot" "$LOGS/bench_decode.log" | tee -a "$OUT/summary.txt" > /dev/null
  grep -E "^wrote|^no plot|Error" "$LOGS/bench_decode.log" | tee -a "$OUT/summary.txt"
fi

if want_bench e2e; then
  step "e2e decode benchmark (tessera vs HF transformers) $quick_flag"
  # Writes e2e_decode.json, e2e_decode.md and e2e_decode.png into $OUT; subprocess logs into logs.tgz.
  # shellcheck disable=SC2086 # empty or one word
  "$PYTHON" bench/e2e/decode.py --out "$OUT" --logs "$LOGS/e2e" --binary ./build/cuda/tessera $quick_flag \
    > "$LOGS/bench_e2e_decode.log" 2>&1 || status=1
  grep -E "^\| |^wrote|^no plot|^e2e decode|failed" "$LOGS/bench_e2e_decode.log" | tee -a "$OUT/summary.txt"
fi

if [ "$golden" = 1 ]; then
  step "golden data from HF transformers"
  "$PYTHON" tools/make_golden.py --out tests/data/golden > "$LOGS/golden.log" 2>&1 || status=1
  tail -5 "$LOGS/golden.log"
  tar czf "$OUT/golden.tgz" tests/data/golden
fi

if [ "$bench_cpu" = 1 ]; then
  step "CPU generate on llama-3.2-1b (random weights)"
  ./build/cuda/tessera make-model --preset llama-3.2-1b --out /tmp/llama-3.2-1b > /dev/null 2> "$LOGS/make_model.log"
  TESSERA_NUM_THREADS="$(nproc)" ./build/cuda/tessera generate --model /tmp/llama-3.2-1b -n 16 --temperature 0 \
    > "$LOGS/bench_cpu.out" 2> "$LOGS/bench_cpu.log"
  tail -2 "$LOGS/bench_cpu.log" | tee -a "$OUT/summary.txt"
fi
note "== exit status $status"
exit $status
