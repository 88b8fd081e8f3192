#!/usr/bin/env bash
# One GPU iteration of the paged decode kernels: build the Python extension only, then
# dev/kernels/decode_check.py (correctness cases + the three timing shapes vs SDPA).
#   ARGS="--no-check" dev/kernels/decode_iter.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
for f in .debs/*.deb; do dpkg -x "$f" /opt/tessera-deps; done
export CMAKE_PREFIX_PATH=/opt/tessera-deps/usr
export LD_LIBRARY_PATH=/opt/tessera-deps/usr/lib/x86_64-linux-gnu/openblas-pthread:/opt/tessera-deps/usr/lib/x86_64-linux-gnu
cmake --preset cuda -DTESSERA_PYTHON=ON -DPython_EXECUTABLE="$(command -v python3)" > "$OUT/configure.log" 2>&1 \
  || { tail -20 "$OUT/configure.log"; exit 1; }
time cmake --build build/cuda -j16 --target tessera_python_ext > "$OUT/build.log" 2>&1 \
  || { grep -E "error" "$OUT/build.log" | head -30; exit 1; }
PYTHONPATH=python timeout 400 python3 dev/kernels/decode_check.py ${ARGS:-} 2>&1 | tee "$OUT/decode_check.txt"
