#!/usr/bin/env bash
# After a change to the paged decode kernels, on the GPU machine: timings of five shapes against
# SDPA (dev/kernels/decode_check.py, its correctness cases first), the decode test files, the
# sanitizers on tests/gpu/sanitize_decode.py, and the model and engine tests (their decode steps
# replay CUDA graphs that capture the kernels). A cheaper subset of tools/gpu.sh. Logs under $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
ARGS="--shapes ${SHAPES:-1:512,1:4096,1:32768,8:8192,64:8192}" bash dev/kernels/decode_iter.sh 2>&1 | grep "B=\|CHECK\|rror"
PYTHONPATH=python timeout 300 python3 -m pytest -q -x tests/gpu/test_decode.py tests/gpu/test_decode_torch.py 2>&1 | tail -2
for tool in memcheck racecheck; do
  PYTHONPATH=python compute-sanitizer --tool $tool --error-exitcode 1 --target-processes all --kernel-name kns=paged_ \
    python3 tests/gpu/sanitize_decode.py > "$OUT/san_$tool.log" 2>&1 && echo "$tool clean" \
    || { echo "$tool FAILED"; tail -20 "$OUT/san_$tool.log"; }
done
TARGETS="cuda_model_tests engine_tests tessera" TESTS=0 bash dev/model/gpu_iter.sh 2>&1 | tail -2
./build/cuda/tests/cpp/cuda_model_tests --gtest_brief=1 2>&1 | tail -2
./build/cuda/tests/cpp/engine/engine_tests --gtest_brief=1 2>&1 | tail -2
