#!/usr/bin/env bash
# tools/fetch_debs.sh — downloads the Debian packages the GPU machine lacks (OpenBLAS and its
# Fortran runtime) into .debs/ (git-ignored), to be carried there; tools/gpu.sh unpacks them.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs
cd .debs
apt-get download libopenblas0-pthread libopenblas-pthread-dev libgfortran5
