#!/usr/bin/env bash
# dev/engine/gpu_engine.sh — the engine and the server on the GPU: build the CLI and the engine /
# model tests, run the GPU engine tests, then the H200 benchmarks of [engine] and [server] on the
# llama-3-8b preset (random bf16 weights, made once into build/models/):
#   tessera bench --offline   1000 requests of 1024 + 128 tokens, all at once   → $OUT/offline_8b.json
#   bench/serving/bench_serving.py  over HTTP at concurrency 1,16,64,256        → $OUT/serving/
# Environment: OUT (default /tmp/out), STAGES (default "tests offline serving"), NUM_PROMPTS (1000),
# CONCURRENCY (1,16,64,256), OFFLINE_FLAGS / SERVE_FLAGS (extra flags).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
STAGES=${STAGES-tests offline serving}  # set but empty: build only
if [ -d .debs ] && ! ldconfig -p | grep -q libopenblas; then
  for f in .debs/*.deb; do dpkg -x "$f" /opt/tessera-deps; done
  export CMAKE_PREFIX_PATH=/opt/tessera-deps/usr
  export LD_LIBRARY_PATH=/opt/tessera-deps/usr/lib/x86_64-linux-gnu/openblas-pthread:/opt/tessera-deps/usr/lib/x86_64-linux-gnu
fi
cmake --preset cuda > "$OUT/configure.log" 2>&1 || { tail -20 "$OUT/configure.log"; exit 1; }
time cmake --build build/cuda -j16 --target ${TARGETS:-tessera engine_tests cuda_model_tests} > "$OUT/build.log" 2>&1 \
  || { grep -E "error" -A3 "$OUT/build.log" | head -40; exit 1; }
model=build/models/llama-3-8b
if [ ! -f "$model/config.json" ]; then
  mkdir -p build/models
  ./build/cuda/tessera make-model --preset llama-3-8b --out "$model" > /dev/null 2> "$OUT/make_model.log" || { tail "$OUT/make_model.log"; exit 1; }
fi
for stage in $STAGES; do
  case $stage in
    tests)
      timeout 300 ./build/cuda/tests/cpp/engine/engine_tests --gtest_brief=1 2>&1 | tail -8
      timeout 300 ./build/cuda/tests/cpp/cuda_model_tests --gtest_brief=1 2>&1 | tail -8 ;;
    offline)
      echo "== tessera bench --offline, llama-3-8b"
      timeout 400 ./build/cuda/tessera bench --offline --device cuda --model "$model" --num-prompts "${NUM_PROMPTS:-1000}" \
        --input-len 1024 --output-len 128 --max-num-seqs 256 --max-num-batched-tokens 8192 --temperature 0 \
        --json "$OUT/offline_8b.json" ${OFFLINE_FLAGS:-} 2>&1 | tail -14 ;;
    serving)
      echo "== bench/serving/bench_serving.py, llama-3-8b"
      timeout 500 python3 bench/serving/bench_serving.py --binary build/cuda/tessera --model "$model" \
        --concurrency "${CONCURRENCY:-1,16,64,256}" --out "$OUT/serving" -- --device cuda --max-num-seqs 256 --max-num-batched-tokens 8192 ${SERVE_FLAGS:-} 2>&1 | tail -16
      tail -5 "$OUT/serving/bench_serving_server.log" ;;
  esac
done
