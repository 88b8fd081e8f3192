// dev/kernels/attention_timing.cu — quick timing of the attention launchers alone (no torch), for
// iterating on tile sizes on the GPU machine. Not part of the build; the benchmark of record is
// bench/kernels/attention.py (tessera against SDPA in the same run).
//   nvcc -std=c++17 -O3 -I. -Iinclude dev/kernels/attention_timing.cu build/cuda/libtessera_kernels_cuda.a -o /tmp/at
//   /tmp/at            # FA3-paper shapes, bf16: B*S = 16k, H*D = 2048
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/attention/params.h"

using namespace tessera::kernels;

#define CHECK(x)                                                                         \
  do {                                                                                   \
    cudaError_t e = (x);                                                                 \
    if (e != cudaSuccess) {                                                              \
      std::printf("%s:%d %s (%s)\n", __FILE__, __LINE__, cudaGetErrorString(e), attention_last_error()); \
      return 1;                                                                          \
    }                                                                                    \
  } while (0)

template <typename F>
float median_ms(F&& f, int reps = 20) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < 3; ++i) f();
  std::vector<float> t;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(a);
    f();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(ms);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

__global__ void fill(unsigned short* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    unsigned x = (unsigned)i * 2654435761u ^ seed;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    const float v = ((x & 0xffff) / 65535.f - 0.5f) * 2.f;
    p[i] = (unsigned short)(__float_as_uint(v) >> 16);  // bf16 by truncation
  }
}

int main() {
  const char* only_d = std::getenv("TIMING_D");      // e.g. "128": one head dim only
  const bool skip_bwd = std::getenv("TIMING_NO_BWD") != nullptr;
  const bool det = std::getenv("TIMING_DETERMINISTIC") != nullptr;
  const char* only_s = std::getenv("TIMING_S");       // e.g. "4096": one sequence length only
  const char* only_causal = std::getenv("TIMING_CAUSAL");  // "0" or "1"
  std::printf("%-6s %-4s %-6s %-6s %10s %10s %10s %10s\n", "S", "D", "causal", "B", "fwd ms", "fwd TF/s", "bwd ms",
              "bwd TF/s");
  for (int d : {64, 128}) {
    if (only_d != nullptr && std::atoi(only_d) != d) continue;
    for (bool causal : {false, true}) {
      if (only_causal != nullptr && std::atoi(only_causal) != int(causal)) continue;
      for (int s : {512, 1024, 2048, 4096, 8192, 16384}) {
        if (only_s != nullptr && std::atoi(only_s) != s) continue;
        const int b = 16384 / s, h = 2048 / d;
        const size_t n = size_t(b) * s * h * d;
        unsigned short *q, *k, *v, *o, *dout, *dq, *dk, *dv;
        float* lse;
        void* ws;
        for (unsigned short** p : {&q, &k, &v, &o, &dout, &dq, &dk, &dv}) CHECK(cudaMalloc(p, n * 2));
        fill<<<1024, 256>>>(q, n, 1);
        fill<<<1024, 256>>>(k, n, 2);
        fill<<<1024, 256>>>(v, n, 3);
        fill<<<1024, 256>>>(dout, n, 4);
        CHECK(cudaMalloc(&lse, size_t(b) * h * s * 4));
        AttentionFwdParams f;
        f.shape.batch = b;
        f.shape.num_heads = f.shape.num_kv_heads = h;
        f.shape.head_dim = d;
        f.shape.seqlen_q = f.shape.seqlen_k = s;
        f.shape.softmax_scale = 1.f / sqrtf(float(d));
        f.shape.is_causal = causal;
        f.shape.dtype = FloatType::kBF16;
        f.q = q, f.k = k, f.v = v, f.o = o, f.lse = lse;
        const AttentionStrides st{int64_t(s) * h * d, int64_t(h) * d, d};
        f.q_strides = f.k_strides = f.v_strides = f.o_strides = st;
        AttentionBwdParams g;
        g.shape = f.shape;
        g.q = q, g.k = k, g.v = v, g.o = o, g.dout = dout, g.lse = lse, g.dq = dq, g.dk = dk, g.dv = dv;
        g.q_strides = g.k_strides = g.v_strides = g.o_strides = g.dout_strides = g.dq_strides = g.dk_strides =
            g.dv_strides = st;
        CHECK(cudaMalloc(&ws, attention_bwd_workspace(g.shape)));
        g.workspace = ws;
        g.deterministic = det;
        CHECK(attention_fwd(f, nullptr));
        CHECK(cudaDeviceSynchronize());
        const float fwd = median_ms([&] { attention_fwd(f, nullptr); });
        const float bwd = skip_bwd ? 1.f : median_ms([&] { attention_bwd(g, nullptr); });
        CHECK(cudaGetLastError());
        const double flops = 4.0 * b * h * double(s) * s * d / (causal ? 2 : 1);
        std::printf("%-6d %-4d %-6d %-6d %10.3f %10.1f %10.3f %10.1f\n", s, d, int(causal), b, fwd, flops / fwd / 1e9,
                    bwd, 2.5 * flops / bwd / 1e9);
        for (void* p : {(void*)q, (void*)k, (void*)v, (void*)o, (void*)dout, (void*)dq, (void*)dk, (void*)dv, (void*)lse, ws})
          cudaFree(p);
      }
    }
  }
  return 0;
}
