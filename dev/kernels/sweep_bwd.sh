set -uo pipefail
for f in .debs/*.deb; do dpkg -x "$f" /opt/tessera-deps; done; export CMAKE_PREFIX_PATH=/opt/tessera-deps/usr
cmake --preset cuda > /dev/null 2>&1; cmake --build build/cuda -j16 --target cuda_kernel_tests > /tmp/b.log 2>&1 || { grep error /tmp/b.log | head; exit 1; }
./build/cuda/tests/cpp/cuda_kernel_tests --gtest_brief=1 2>&1 | tail -3
nvcc -std=c++17 -O3 -I. -Iinclude dev/kernels/attention_timing.cu build/cuda/libtessera_kernels_cuda.a -o /tmp/at && /tmp/at | grep -E "^(4096|16384)"
for bm in 32; do
  echo "== bwd block_m=$bm (d=128)"
  nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr -I. -Iinclude -DTESSERA_BWD_BM=$bm -Xptxas -v -c kernels/attention/instantiations/bwd_hdim128_bf16.cu -o /tmp/b128.o > /tmp/b128.log 2>&1 || { grep error /tmp/b128.log|head -3; continue; }
  grep -E "spill" /tmp/b128.log | head -4
  nvcc -std=c++17 -O3 -I. -Iinclude dev/kernels/attention_timing.cu /tmp/b128.o build/cuda/libtessera_kernels_cuda.a -o /tmp/atb && TIMING_D=128 /tmp/atb | grep -E "^(4096|16384)"
done
