#!/usr/bin/env bash
# Per-instruction (SASS) stall samples of tessera's attention kernels at one bf16 paper shape, as
# gzipped CSV in $OUT (analyse with dev/kernels/ncu_stalls.py). Needs build/cuda/libtessera_kernels_cuda.a.
#   D=128 S=4096 CAUSAL=0 dev/kernels/ncu_source.sh fwd bwd
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
D=${D:-128} S=${S:-4096} CAUSAL=${CAUSAL:-0}
nvcc -std=c++17 -O3 -I. -Iinclude dev/kernels/attention_timing.cu build/cuda/libtessera_kernels_cuda.a -o /tmp/at_ncu || exit 1
for what in "$@"; do
  case $what in
    fwd) kernel=attention_fwd_kernel ;;
    bwd) kernel=attention_bwd_dkdv_kernel ;;
  esac
  TIMING_D=$D TIMING_S=$S TIMING_CAUSAL=$CAUSAL timeout 240 ncu --clock-control none --set full --import-source no \
    -k regex:$kernel --launch-skip 2 --launch-count 1 -o /tmp/src_$what -f /tmp/at_ncu > /tmp/ncu_$what.log 2>&1 \
    || tail -5 /tmp/ncu_$what.log
  ncu --import /tmp/src_$what.ncu-rep --page source --print-source sass --csv 2>/dev/null | gzip > "$OUT/src_${what}_d${D}.csv.gz"
  ncu --import /tmp/src_$what.ncu-rep --page details 2>/dev/null | grep -E "Duration|Executed Ipc A|Executed Instructions  " \
    | sed "s/^/$what: /"
done
