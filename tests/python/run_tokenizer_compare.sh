#!/bin/sh
# tests/python/run_tokenizer_compare.sh BINARY SHARED_DATA — runs compare_tokenizers_hf.py with
# $PYTHON; exits 77 (CTest: skipped) when that Python lacks `tokenizers`, unless
# TESSERA_REQUIRE_HF=1, which makes a missing `tokenizers` a failure.
here=$(dirname "$0")
py=${PYTHON:-python3}
if ! [ -x "$py" ] || ! "$py" -c "import tokenizers" 2>/dev/null; then
  if [ "${TESSERA_REQUIRE_HF:-0}" = 1 ]; then
    echo "tokenizer_hf_compare: $py has no 'tokenizers' (run tools/setup.sh)" >&2
    exit 1
  fi
  echo "SKIP tokenizer_hf_compare: $py has no 'tokenizers' (tools/setup.sh makes build/venv with it)"
  exit 77
fi
exec "$py" "$here/compare_tokenizers_hf.py" "$@"
