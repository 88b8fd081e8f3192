#!/usr/bin/env bash
# Nsight Compute profiles of tessera's attention kernels and FlashAttention-2's (torch SDPA flash) at
# one bf16 paper shape, written as text reports into $OUT. Needs build/cuda/libtessera_kernels_cuda.a.
#   D=128 S=4096 CAUSAL=0 dev/kernels/ncu_attention.sh fwd bwd
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
D=${D:-128} S=${S:-4096} CAUSAL=${CAUSAL:-0}
NCU="ncu --clock-control none --set full --import-source no"
nvcc -std=c++17 -O3 -I. -Iinclude dev/kernels/attention_timing.cu build/cuda/libtessera_kernels_cuda.a -o /tmp/at_ncu || exit 1
cat > /tmp/fa2_one.py <<PY
import torch, torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend
s, d, causal = $S, $D, bool($CAUSAL)
b, h = 16384 // s, 2048 // d
q, k, v = [torch.randn(b, h, s, d, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3)]
with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
    for _ in range(2):
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        o.backward(torch.randn_like(o))
torch.cuda.synchronize()
PY
for what in "$@"; do
  case $what in
    fwd) ours=attention_fwd_kernel; theirs=flash_fwd_kernel ;;
    bwd) ours=attention_bwd_dkdv_kernel; theirs=flash_bwd_dq_dk_dv ;;
  esac
  TIMING_D=$D TIMING_S=$S TIMING_CAUSAL=$CAUSAL timeout 240 $NCU -k regex:$ours --launch-skip 2 --launch-count 1 \
    -o /tmp/ours_$what -f /tmp/at_ncu > /tmp/ncu_ours_$what.log 2>&1 || tail -5 /tmp/ncu_ours_$what.log
  timeout 240 $NCU -k regex:$theirs --launch-skip 1 --launch-count 1 -o /tmp/fa2_$what -f python3 /tmp/fa2_one.py \
    > /tmp/ncu_fa2_$what.log 2>&1 || tail -5 /tmp/ncu_fa2_$what.log
  for who in ours fa2; do
    ncu --import /tmp/${who}_$what.ncu-rep --page details > "$OUT/ncu_${what}_${who}.txt" 2>&1
  done
done
