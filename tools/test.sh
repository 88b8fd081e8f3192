#!/usr/bin/env bash
# tools/test.sh — the README's second command: set up, build everything with warnings as errors
# (CUDA kernels too where nvcc exists), and run the test suite: the C++ tests and the Python tests
# of `tessera serve` (tests/python, through ctest). Exits non-zero if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake --preset ci
cmake --build build/ci
cd build/ci
# The HF tokenizer comparison and the server tests must run here, not skip: setup.sh made their venv.
TESSERA_REQUIRE_HF=1 TESSERA_REQUIRE_SERVER_TESTS=1 ctest --output-on-failure
