#!/usr/bin/env bash
# dev/model/gpu_iter.sh — one GPU iteration on the runtime: build the CUDA model tests and the CLI,
# run the model tests, then whatever $AFTER says (e.g. a bench command). Logs under $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
if [ -d .debs ] && ! ldconfig -p | grep -q libopenblas; then
  for f in .debs/*.deb; do dpkg -x "$f" /opt/tessera-deps; done
  export CMAKE_PREFIX_PATH=/opt/tessera-deps/usr
  export LD_LIBRARY_PATH=/opt/tessera-deps/usr/lib/x86_64-linux-gnu/openblas-pthread:/opt/tessera-deps/usr/lib/x86_64-linux-gnu
fi
cmake --preset cuda > "$OUT/configure.log" 2>&1 || { tail -20 "$OUT/configure.log"; exit 1; }
time cmake --build build/cuda -j16 --target ${TARGETS:-cuda_model_tests tessera} > "$OUT/build.log" 2>&1 || { grep -E "error" -A3 "$OUT/build.log" | head -40; exit 1; }
if [ "${TESTS:-1}" = 1 ]; then
  timeout 300 ./build/cuda/tests/cpp/cuda_model_tests ${GTEST_ARGS:-} 2>&1 | tail -${TAILN:-30}
fi
if [ -n "${AFTER:-}" ]; then bash -c "$AFTER" 2>&1 | tail -${AFTER_TAIL:-60}; fi
