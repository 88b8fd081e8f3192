#!/usr/bin/env bash
# tools/setup.sh — installs what tessera needs to build and test on Debian/Ubuntu, from Debian's
# packages. Idempotent and quick when everything is already there (no apt-get update then).
set -euo pipefail
pkgs=(g++ cmake ninja-build pkg-config libopenblas-dev nlohmann-json3-dev libgtest-dev)
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
