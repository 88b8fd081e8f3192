#!/usr/bin/env bash
# tools/demo.sh — the README's first command: set up, build, and start `tessera serve` on the
# built-in demo model (random weights, created on first use). It prints the URL: the web UI is at
# /, the OpenAI API under /v1. Ctrl-C stops it.
#
#   tools/demo.sh [serve flags]        e.g. --port 9000, --host 0.0.0.0, --api-key KEY
#   tools/demo.sh generate [flags]     the one-shot mode: `tessera generate` streams a completion
#                                      to the terminal (default prompt "Once upon a time")
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake --preset cpu > build-cpu-configure.log 2>&1 || { cat build-cpu-configure.log; exit 1; }
rm -f build-cpu-configure.log
cmake --build build/cpu --target tessera
mode=serve
case "${1:-}" in
  generate) mode=generate; shift ;;
  serve) shift ;;
esac
if [ "$mode" = generate ]; then
  # With no arguments, a text prompt through the demo tokenizer (the weights are random: so is the text).
  if [ $# -eq 0 ]; then set -- --prompt "Once upon a time"; fi
  echo "+ build/cpu/tessera generate $*" >&2
  exec build/cpu/tessera generate "$@"
fi
echo "+ build/cpu/tessera serve $*" >&2
exec build/cpu/tessera serve "$@"
