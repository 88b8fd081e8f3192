#!/usr/bin/env bash
# Sweep forward tile configs (tile_config.h override), timing bf16 paper shapes of that head dim.
# Each argument is "head_dim block_m block_n warps m_tiles". Needs build/cuda/libtessera_kernels_cuda.a.
#   dev/kernels/sweep_fwd.sh "128 128 64 4 2" "64 128 128 4 2"
set -uo pipefail
for cfg in "$@"; do
  read -r d bm bn w mt <<< "$cfg"
  echo "== fwd d=$d tiles block_m=$bm block_n=$bn warps=$w m_tiles=$mt"
  nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr -I. -Iinclude \
    -DTESSERA_FWD_SWEEP_D="$d" -DTESSERA_FWD_SWEEP_BM="$bm" -DTESSERA_FWD_SWEEP_BN="$bn" \
    -DTESSERA_FWD_SWEEP_WARPS="$w" -DTESSERA_FWD_SWEEP_MT="$mt" \
    -Xptxas -v -c "kernels/attention/instantiations/fwd_hdim${d}_bf16.cu" -o /tmp/fsweep.o > /tmp/fsweep.log 2>&1 \
    || { grep error /tmp/fsweep.log | head -5; continue; }
  grep -E "registers|spill" /tmp/fsweep.log | head -2
  nvcc -std=c++17 -O3 -I. -Iinclude dev/kernels/attention_timing.cu /tmp/fsweep.o build/cuda/libtessera_kernels_cuda.a \
    -o /tmp/at_sweep
  TIMING_D="$d" TIMING_NO_BWD=1 /tmp/at_sweep
done
