#!/usr/bin/env bash
# one GPU iteration: build kernels + tests, run attention tests, time.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
for f in .debs/*.deb; do dpkg -x "$f" /opt/tessera-deps; done
export CMAKE_PREFIX_PATH=/opt/tessera-deps/usr
export LD_LIBRARY_PATH=/opt/tessera-deps/usr/lib/x86_64-linux-gnu/openblas-pthread:/opt/tessera-deps/usr/lib/x86_64-linux-gnu
cmake --preset cuda > $OUT/configure.log 2>&1 || { tail -20 $OUT/configure.log; exit 1; }
time cmake --build build/cuda -j16 --target cuda_kernel_tests > $OUT/build.log 2>&1 || { grep -E "error" $OUT/build.log | head -30; exit 1; }
nvcc -std=c++17 -O3 -I. -Iinclude dev/kernels/attention_timing.cu build/cuda/libtessera_kernels_cuda.a -o /tmp/at || exit 1
timeout 300 ./build/cuda/tests/cpp/cuda_kernel_tests ${GTEST_ARGS:-} 2>&1 | tail -${TAILN:-40}
/tmp/at 2>&1 | tee $OUT/timing.txt
[ "${SDPA:-1}" = 1 ] && python3 dev/kernels/sdpa_timing.py 2>&1 | tee $OUT/sdpa.txt
