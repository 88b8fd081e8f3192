#!/usr/bin/env bash
# Sweep forward tile configs for head dim 128 (tile_config.h override), timing bf16 paper shapes.
# Each argument is "block_m block_n warps m_tiles". Needs build/cuda/libtessera_kernels_cuda.a.
#   dev/kernels/sweep_fwd128.sh "128 64 8 1" "128 32 4 2"
set -uo pipefail
for cfg in "$@"; do
  read -r bm bn w mt <<< "$cfg"
  echo "== fwd d=128 tiles block_m=$bm block_n=$bn warps=$w m_tiles=$mt"
  nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr -I. -Iinclude \
    -DTESSERA_FWD128_BM="$bm" -DTESSERA_FWD128_BN="$bn" -DTESSERA_FWD128_WARPS="$w" -DTESSERA_FWD128_MT="$mt" \
    -Xptxas -v -c kernels/attention/instantiations/fwd_hdim128_bf16.cu -o /tmp/f128.o > /tmp/f128.log 2>&1 \
    || { grep error /tmp/f128.log | head -5; continue; }
  grep -E "registers|spill" /tmp/f128.log | head -2
  nvcc -std=c++17 -O3 -I. -Iinclude dev/kernels/attention_timing.cu /tmp/f128.o build/cuda/libtessera_kernels_cuda.a -o /tmp/at128
  TIMING_D=128 TIMING_NO_BWD=1 /tmp/at128
done
