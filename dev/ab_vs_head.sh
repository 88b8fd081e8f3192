#!/usr/bin/env bash
# dev/ab_vs_head.sh — same-card A/B of the working tree against a base commit, for changes that
# must not cost speed (refactors). Run on the GPU machine through the device tool; here, first:
#   mkdir -p .base && git archive HEAD --prefix=base/ -o .base/base.tar   # or any commit
#   echo /.base/ >> .git/info/exclude; tools/fetch_debs.sh
# then run `bash dev/ab_vs_head.sh` with carry [".debs", ".base"]. Both trees are built with the
# cuda preset, a llama-3-8b checkpoint with random weights is made, `tessera bench` runs
# interleaved base/new/base/new (batch 1 and 32 at 512 + 128 tokens, a 4096-token prefill), then
# bench/kernels/decode.py --quick for each. Everything lands in $OUT/ab.tgz (one file comes back).
set -o pipefail
for f in .debs/*.deb; do dpkg -x $f /opt/tessera-deps; done
export CMAKE_PREFIX_PATH=/opt/tessera-deps/usr LD_LIBRARY_PATH=/opt/tessera-deps/usr/lib/x86_64-linux-gnu/openblas-pthread:/opt/tessera-deps/usr/lib/x86_64-linux-gnu
T0=$(date +%s)
t() { echo "[$(( $(date +%s)-T0 ))s] $*"; }
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader
(cmake --preset cuda -DTESSERA_PYTHON=ON -DPython_EXECUTABLE=$(which python3) > /tmp/ab_cfg_new.log 2>&1 && cmake --build build/cuda -j16 > /tmp/ab_build_new.log 2>&1) || { t "new build failed"; tail /tmp/ab_build_new.log; }
mkdir -p /tmp/ab && tar xf .base/base.tar -C /tmp/ab && cp -r .debs /tmp/ab/base/ 2>/dev/null
(cd /tmp/ab/base && cmake --preset cuda -DTESSERA_PYTHON=ON -DPython_EXECUTABLE=$(which python3) > /tmp/ab_cfg_base.log 2>&1 && cmake --build build/cuda -j16 > /tmp/ab_build_base.log 2>&1) || { t "base build failed"; tail /tmp/ab_build_base.log; }
t "builds done"
./build/cuda/tessera make-model --preset llama-3-8b --out /tmp/l8 --dtype bf16 > /dev/null 2> /tmp/ab_make_model.log || tail -3 /tmp/ab_make_model.log
t "8B made"
run() {  # $1 base|new, $2 label, rest: bench flags
  local bin=./build/cuda/tessera; [ "$1" = base ] && bin=/tmp/ab/base/build/cuda/tessera
  local tag=$1 label=$2; shift 2
  $bin bench --model /tmp/l8 --device cuda "$@" --json /tmp/ab/e2e_${label}_${tag}.json > /tmp/ab/${label}_${tag}.out 2>&1
  echo "--- $tag $label"; grep -vE "^loaded|^note" /tmp/ab/${label}_${tag}.out | tail -6
}
for rep in 1 2; do
  run base b1b32 --batch 1,32 --input-len 512 --output-len 128
  run new b1b32 --batch 1,32 --input-len 512 --output-len 128
  run base p4k --batch 1 --input-len 4096 --output-len 8
  run new p4k --batch 1 --input-len 4096 --output-len 8
  t "rep $rep done"
done
for side in base new; do
  dir=.; [ $side = base ] && dir=/tmp/ab/base
  (cd $dir && PYTHONPATH=python timeout 150 python3 bench/kernels/decode.py --quick --out /tmp/ab/dec_$side > /tmp/ab/dec_$side.log 2>&1)
  echo "--- decode $side"; grep -E "^\| *(1|64) " /tmp/ab/dec_$side.log | head -12 || tail -15 /tmp/ab/dec_$side.log
  t "decode $side"
done
tar czf $OUT/ab.tgz -C /tmp/ab $(cd /tmp/ab && ls | grep -v "^base$") 2>/dev/null; t "packed"
