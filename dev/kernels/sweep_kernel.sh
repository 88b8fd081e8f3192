#!/usr/bin/env bash
# Kernel variants against the built library: each argument is "fwd|bwd D FLAGS...", the bf16 kernel of
# head dim D recompiled with FLAGS (e.g. -DTESSERA_BWD_AHEAD=2, -DTESSERA_BWD_BM=64) and linked ahead
# of build/cuda/libtessera_kernels_cuda.a (run dev/kernels/gpu_iter.sh first), then timed with
# dev/kernels/attention_timing (TIMING_S / TIMING_CAUSAL pass through). FLAGS come before -I., so
# "-I/some/checkout" times the kernels of another checkout against this one in the same run.
#   dev/kernels/sweep_kernel.sh "bwd 64 -DTESSERA_BWD_AHEAD=2" "fwd 128 -I/tmp/head" "fwd 128"
set -uo pipefail
for spec in "$@"; do
  read -r dir d flags <<< "$spec"
  echo "== $dir d=$d $flags"
  nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr $flags -I. -Iinclude -Xptxas -v \
    -c kernels/attention/instantiations/${dir}_hdim${d}_bf16.cu -o /tmp/ksweep.o > /tmp/ksweep.log 2>&1 \
    || { grep error /tmp/ksweep.log | head -3; continue; }
  grep -E "spill" /tmp/ksweep.log | head -2
  skip=""; [ "$dir" = fwd ] && skip=1
  nvcc -std=c++17 -O3 -I. -Iinclude dev/kernels/attention_timing.cu /tmp/ksweep.o build/cuda/libtessera_kernels_cuda.a \
    -o /tmp/at_ksweep && env TIMING_D=$d ${skip:+TIMING_NO_BWD=1} /tmp/at_ksweep | tail -n +2
done
