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
