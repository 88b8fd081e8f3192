#!/usr/bin/env bash
# dev/ab_vs_head.sh — same-card A/B of the working tree against a base commit, for changes that
# must not cost speed (refactors). Run on the GPU machine through the device tool; here, first:
#   mkdir -p .base && git archive <base commit> --prefix=base/ -o .base/base.tar
#   echo /.base/ >> .git/info/exclude; tools/fetch_debs.sh
# then run `bash dev/ab_vs_head.sh [--build-only]` with carry [".debs", ".base"].
#
# Both trees are built with the cuda preset (the base under build/ab-base, which the device tool
# keeps between calls on a warm machine, so a --build-only call can go first and the timed call
# after). Then, interleaved base/new/base/new: the attention forward benchmark (quick shapes,
# against FlashAttention-2 in the same process), `tessera bench` on a llama-3-8b checkpoint with
# random weights (batch 1 and 32 at 512 + 128 tokens, a 4096-token prefill), and
# bench/kernels/decode.py --quick. Everything lands in $OUT/ab.tgz (one file comes back).
set -o pipefail
build_only=0; [ "${1:-}" = --build-only ] && build_only=1
if [ -d .debs ]; then
  for f in .debs/*.deb; do dpkg -x "$f" /opt/tessera-deps; done
  export CMAKE_PREFIX_PATH=/opt/tessera-deps/usr LD_LIBRARY_PATH=/opt/tessera-deps/usr/lib/x86_64-linux-gnu/openblas-pthread:/opt/tessera-deps/usr/lib/x86_64-linux-gnu
fi
T0=$(date +%s)
t() { echo "[$(( $(date +%s)-T0 ))s] $*"; }
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader
AB=/tmp/ab; mkdir -p $AB
BASE=build/ab-base/base
build() {  # $1: tree, $2: label
  (cd "$1" && cmake --preset cuda -DTESSERA_PYTHON=ON -DPython_EXECUTABLE="$(which python3)" \
     > $AB/cfg_$2.log 2>&1 && cmake --build build/cuda -j16 > $AB/build_$2.log 2>&1) \
    || { t "$2 build failed"; grep -E "error" $AB/build_$2.log | head; }
}
build . new
sum=$(sha1sum .base/base.tar | cut -c1-12)
if [ "$(cat build/ab-base/tar.sha1 2>/dev/null)" != "$sum" ]; then
  rm -rf build/ab-base && mkdir -p build/ab-base && tar xf .base/base.tar -C build/ab-base
  echo "$sum" > build/ab-base/tar.sha1
fi
build $BASE base
t "builds done"
[ $build_only = 1 ] && exit 0

fwd() {  # $1 base|new
  local dir=.; [ "$1" = base ] && dir=$BASE
  (cd $dir && PYTHONPATH=python timeout 120 python3 bench/kernels/attention.py --quick --modes fwd \
     --impls tessera,flash --runs 20 --no-plot --out $AB/att_$1_$rep > $AB/att_$1_$rep.log 2>&1)
  echo "--- fwd $1"; grep -E "paper|seed" $AB/att_$1_$rep.log | head -10
}
[ -d /tmp/l8 ] || ./build/cuda/tessera make-model --preset llama-3-8b --out /tmp/l8 --dtype bf16 \
  > /dev/null 2> $AB/make_model.log || tail -3 $AB/make_model.log
t "8B made"
run() {  # $1 base|new, $2 label, rest: bench flags
  local bin=./build/cuda/tessera; [ "$1" = base ] && bin=$BASE/build/cuda/tessera
  local tag=$1 label=$2; shift 2
  $bin bench --model /tmp/l8 --device cuda "$@" --json $AB/e2e_${label}_${tag}_$rep.json \
    > $AB/${label}_${tag}_$rep.out 2>&1
  echo "--- $tag $label"; grep -vE "^loaded|^note" $AB/${label}_${tag}_$rep.out | tail -6
}
for rep in 1 2; do
  fwd base; fwd new
  run base b1b32 --batch 1,32 --input-len 512 --output-len 128
  run new b1b32 --batch 1,32 --input-len 512 --output-len 128
  run base p4k --batch 1 --input-len 4096 --output-len 8
  run new p4k --batch 1 --input-len 4096 --output-len 8
  t "rep $rep done"
done
for side in base new; do
  dir=.; [ $side = base ] && dir=$BASE
  (cd $dir && PYTHONPATH=python timeout 150 python3 bench/kernels/decode.py --quick --out $AB/dec_$side > $AB/dec_$side.log 2>&1)
  echo "--- decode $side"; grep -E "^B=(1|64) " $AB/dec_$side.log | head -12 || tail -15 $AB/dec_$side.log
  t "decode $side"
done
tar czf "$OUT/ab.tgz" -C $AB . 2>/dev/null; t "packed"
