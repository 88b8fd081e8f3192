#!/usr/bin/env bash
# Builds dev/model/runner_timing.cpp into /tmp/runner_timing with the link line of cuda_model_tests
# (build/cuda must have that target built).
set -euo pipefail
c++ -std=c++20 -O2 -I. -Iinclude -I/usr/local/cuda/include -DTESSERA_WITH_CUDA=1 -c dev/model/runner_timing.cpp -o /tmp/runner_timing.o
cd build/cuda
link=$(ninja -t commands tests/cpp/cuda_model_tests | tail -1)
link=${link//tests\/cpp\/CMakeFiles\/cuda_model_tests.dir\/test_model_cuda.cpp.o//tmp/runner_timing.o}
link=${link//-o tests\/cpp\/cuda_model_tests/-o /tmp/runner_timing}
link=$(echo "$link" | sed -E 's#[^ ]*libgtest_main[^ ]*##g; s#[^ ]*gtest_main[^ ]*##g')
eval "$link"
