// dev/kernels/cta_times.cu — when each CTA of the paged decode kernel starts and ends, and on which
// SM (%globaltimer and %smid through the kernel's TESSERA_DECODE_CTA_TIMES hook), for one decode
// launch of B sequences of L keys (Hq 32, Hkv 8, D 128, bf16, block size 16, shuffled table): the
// spread of CTA durations, of end times, the per-SM busy time and how much of the 2-per-SM slot time
// the grid used. Not part of the build.
//   nvcc -std=c++20 -O3 -arch=sm_90a -I. -Iinclude dev/kernels/cta_times.cu -o /tmp/cta && /tmp/cta 64 8192
#include <cuda_runtime.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <numeric>
#include <random>
constexpr unsigned kDecodeCtaTimesCapacity = 4096;
__device__ unsigned long long g_decode_cta_times[kDecodeCtaTimesCapacity][3];  // start ns, end ns, SM
#define TESSERA_DECODE_CTA_TIMES 1
#include "kernels/attention/decode/decode_kernel.cuh"
using namespace tessera::kernels::attention::decode;
__global__ void fill(unsigned short* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    unsigned x = (unsigned)i * 2654435761u ^ seed; x ^= x >> 13; x *= 0x5bd1e995u; x ^= x >> 15;
    const float v = ((x & 0xffff) / 65535.f - 0.5f) * 2.f;
    p[i] = (unsigned short)(__float_as_uint(v) >> 16);
  }
}
int main(int argc, char** argv) {
  const int B = argc > 1 ? atoi(argv[1]) : 64, L = argc > 2 ? atoi(argv[2]) : 8192;
  if (B < 1 || L < 16 || L % 16 != 0 || B * 8 > 4096) { printf("usage: cta_times B L (B * 8 <= 4096, L a multiple of 16)\n"); return 2; }
  const int Hq = 32, Hkv = 8, D = 128, bs = 16;
  const int nb_per = L / bs, nblocks = B * nb_per;
  size_t cache_elems = size_t(nblocks) * bs * Hkv * D;
  unsigned short *k, *v, *q, *o;
  cudaMalloc(&k, cache_elems * 2); cudaMalloc(&v, cache_elems * 2);
  cudaMalloc(&q, size_t(B) * Hq * D * 2); cudaMalloc(&o, size_t(B) * Hq * D * 2);
  fill<<<1024, 256>>>(k, cache_elems, 1); fill<<<1024, 256>>>(v, cache_elems, 2); fill<<<64, 256>>>(q, size_t(B) * Hq * D, 3);
  std::vector<int> perm(nblocks); std::iota(perm.begin(), perm.end(), 0); std::shuffle(perm.begin(), perm.end(), std::mt19937(5));
  std::vector<int> cu(B + 1), sl(B, L);
  for (int i = 0; i <= B; ++i) cu[i] = i;
  int *dtab, *dcu, *dsl; cudaMalloc(&dtab, nblocks * 4); cudaMalloc(&dcu, (B + 1) * 4); cudaMalloc(&dsl, B * 4);
  cudaMemcpy(dtab, perm.data(), nblocks * 4, cudaMemcpyHostToDevice); cudaMemcpy(dcu, cu.data(), (B + 1) * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dsl, sl.data(), B * 4, cudaMemcpyHostToDevice);
  DecodeArgs a{}; a.q = q; a.out = o; a.lse = nullptr; a.k_cache = k; a.v_cache = v; a.cu_seqlens_q = dcu; a.seq_lens = dsl;
  a.block_table = dtab; a.q_token_stride = Hq * D; a.q_head_stride = D; a.out_token_stride = Hq * D; a.out_head_stride = D;
  a.cache_token_stride = Hkv * D; a.cache_block_stride = static_cast<int64_t>(bs) * Hkv * D;
  a.cache_head_stride = D;
  a.max_total_q = B; a.num_seqs = B; a.num_heads = Hq; a.group = Hq / Hkv; a.block_size = bs;
  a.num_blocks = nblocks; a.max_blocks_per_seq = nb_per; a.num_splits = 1; a.row_blocks = 1; a.scale_log2 = 0.088f * 1.4427f;
  a.causal = true;
  dim3 grid(1, Hkv, B);
  for (int i = 0; i < 5; ++i) launch_paged_attention<__nv_bfloat16, 128, 4>(a, grid, 0);
  cudaDeviceSynchronize();
  cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
  cudaEventRecord(e0); launch_paged_attention<__nv_bfloat16, 128, 4>(a, grid, 0); cudaEventRecord(e1); cudaEventSynchronize(e1);
  float ms; cudaEventElapsedTime(&ms, e0, e1);
  printf("err %s; kernel %.1f us (event)\n", cudaGetErrorString(cudaGetLastError()), ms * 1e3);
  int n = B * Hkv;
  std::vector<unsigned long long> t(4096 * 3);
  cudaMemcpyFromSymbol(t.data(), g_decode_cta_times, sizeof(unsigned long long) * 4096 * 3);
  unsigned long long t0 = ~0ull, t1 = 0;
  for (int i = 0; i < n; ++i) { t0 = std::min(t0, t[i * 3]); t1 = std::max(t1, t[i * 3 + 1]); }
  std::vector<double> ends, durs, starts;
  for (int i = 0; i < n; ++i) { starts.push_back((t[i*3] - t0) / 1e3); ends.push_back((t[i * 3 + 1] - t0) / 1e3); durs.push_back((t[i * 3 + 1] - t[i * 3]) / 1e3); }
  auto pct = [](std::vector<double> x, double p) {
    if (x.empty()) return 0.0;
    std::sort(x.begin(), x.end());
    return x[size_t(p * (x.size() - 1))];
  };
  printf("span %.1f us; CTA duration p0 %.1f p10 %.1f p50 %.1f p90 %.1f p100 %.1f\n", (t1 - t0) / 1e3, pct(durs, 0), pct(durs, .1), pct(durs, .5), pct(durs, .9), pct(durs, 1));
  printf("end times p0 %.1f p10 %.1f p50 %.1f p90 %.1f p99 %.1f p100 %.1f\n", pct(ends, 0), pct(ends, .1), pct(ends, .5), pct(ends, .9), pct(ends, .99), pct(ends, 1));
  printf("start times p50 %.1f p90 %.1f p100 %.1f\n", pct(starts, .5), pct(starts, .9), pct(starts, 1));
  // per SM busy time vs span
  std::vector<double> busy(200, 0.0); std::vector<int> cnt(200, 0);
  for (int i = 0; i < n; ++i) { busy[t[i*3+2]] += durs[i]; cnt[t[i*3+2]]++; }
  std::vector<double> b; for (int s = 0; s < 132; ++s) b.push_back(busy[s] / 2.0);
  printf("per-SM busy (sum of CTA durations / 2 slots) p0 %.1f p10 %.1f p50 %.1f p90 %.1f p100 %.1f us\n", pct(b, 0), pct(b, .1), pct(b, .5), pct(b, .9), pct(b, 1));
  // active CTA count over time: fraction of slot-time used
  double used = 0; for (double d : durs) used += d;
  printf("slot utilisation %.3f (sum of CTA durations / (264 x span))\n", used / (264.0 * (t1 - t0) / 1e3));
  // duration by wave: first 264 starters vs rest
  std::vector<int> idx(n); std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int x, int y) { return starts[x] < starts[y]; });
  std::vector<double> w1, w2; for (int i = 0; i < n; ++i) (i < 264 ? w1 : w2).push_back(durs[idx[i]]);
  printf("wave 1 durations p10 %.1f p50 %.1f p90 %.1f max %.1f; wave 2 p10 %.1f p50 %.1f p90 %.1f max %.1f\n", pct(w1,.1), pct(w1,.5), pct(w1,.9), pct(w1,1), pct(w2,.1), pct(w2,.5), pct(w2,.9), pct(w2,1));
  return 0;
}
