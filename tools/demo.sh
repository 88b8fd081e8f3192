#!/usr/bin/env bash
# tools/demo.sh — the README's first command: set up, build, and run tessera's main job on the
# built-in demo model (random weights, created on first use). Extra arguments go to
# `tessera generate` (e.g. tools/demo.sh -n 64 --temperature 0).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake --preset cpu > build-cpu-configure.log 2>&1 || { cat build-cpu-configure.log; exit 1; }
rm -f build-cpu-configure.log
cmake --build build/cpu --target tessera
# With no arguments, a text prompt through the demo tokenizer (the weights are random: so is the text).
if [ $# -eq 0 ]; then set -- --prompt "Once upon a time"; fi
echo "+ build/cpu/tessera generate $*" >&2
exec build/cpu/tessera generate "$@"
