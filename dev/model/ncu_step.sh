#!/usr/bin/env bash
# dev/model/ncu_step.sh — per-kernel GPU time of one decode step of the llama-3-8b preset (random
# weights) under Nsight Compute, summed by kernel name: where a batch-B decode step spends its time.
#   dev/model/ncu_step.sh [B=1]   (after dev/model/gpu_iter.sh built build/cuda)
set -uo pipefail
B=${1:-1}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
dev/model/build_timing.sh
[ -d build/models/m8b ] || ./build/cuda/tessera make-model --preset llama-3-8b --out build/models/m8b > /dev/null 2>&1
# Eager steps (no graphs) so each kernel is its own launch: skip the two reps' first prefill and one
# decode step, then take one whole step.
timeout 500 ncu --metrics gpu__time_duration.sum --csv --launch-skip ${SKIP:-420} --launch-count ${COUNT:-340} \
  /tmp/runner_timing build/models/m8b "$B" 512 2 0 > "$OUT/ncu.csv" 2> "$OUT/ncu.err"
tail -2 "$OUT/ncu.err"
python3 - "$OUT/ncu.csv" <<'PY'
import csv, collections, sys
hdr, agg = None, collections.defaultdict(lambda: [0, 0.0])
for r in csv.reader(open(sys.argv[1])):
    if 'Kernel Name' in r:
        hdr = r
        continue
    if hdr is None or len(r) != len(hdr):
        continue
    d = dict(zip(hdr, r))
    if d.get('Metric Name') != 'gpu__time_duration.sum':
        continue
    v = float(d['Metric Value'].replace(',', ''))
    v *= {'nsecond': 1e-3, 'ns': 1e-3, 'usecond': 1.0, 'us': 1.0, 'msecond': 1e3, 'ms': 1e3}.get(d.get('Metric Unit', ''), 1.0)
    a = agg[d['Kernel Name'][:100]]
    a[0] += 1
    a[1] += v
for k, v in sorted(agg.items(), key=lambda kv: -kv[1][1]):
    print(f"{v[1]:9.1f} us {v[0]:4d}x  {k}")
print('total us', round(sum(v[1] for v in agg.values()), 1))
PY
