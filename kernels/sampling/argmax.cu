// kernels/sampling/argmax.cu — greedy_argmax (sampling.h): the sampler's temperature-0 rule spread
// over many CTAs per row. Each CTA reduces a chunk of the row to one 64-bit key, (value in an
// order-preserving unsigned form) << 32 | (~index), and folds it into the row's slot with
// atomicMax: the largest value wins and, between equal values, the lowest index (its complement is
// the largest). NaN never competes; -0 counts as +0, as a float comparison sees them.
#include <cstdint>

#include "kernels/sampling/sampling.h"

namespace tessera::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kPerThread = 16;
constexpr int64_t kChunk = static_cast<int64_t>(kThreads) * kPerThread;

__device__ __forceinline__ unsigned long long key_of(float v, int64_t index) {
  if (v == 0.f) v = 0.f;  // -0 → +0
  const uint32_t bits = __float_as_uint(v);
  const uint32_t ordered = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (static_cast<unsigned long long>(ordered) << 32) | (0xffffffffu - static_cast<uint32_t>(index));
}

__global__ void __launch_bounds__(kThreads) argmax_chunk_kernel(GreedyParams p) {
  const int64_t row = blockIdx.y;
  const float* logits = p.logits + row * p.logits_row_stride;
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * kChunk;
  unsigned long long best = 0;  // 0: nothing seen (every real key is larger)
  float v[kPerThread];
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int64_t i = begin + threadIdx.x + static_cast<int64_t>(j) * kThreads;
    v[j] = i < p.vocab ? logits[i] : __int_as_float(0x7fffffff);  // NaN past the end: skipped
  }
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int64_t i = begin + threadIdx.x + static_cast<int64_t>(j) * kThreads;
    if (v[j] == v[j]) best = max(best, key_of(v[j], i));
  }
  for (int o = 16; o > 0; o >>= 1) best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
  __shared__ unsigned long long warp_best[kThreads / 32];
  if (threadIdx.x % 32 == 0) warp_best[threadIdx.x / 32] = best;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreads / 32; ++w) best = max(best, warp_best[w]);
    if (best != 0) atomicMax(p.scratch + row, best);
  }
}

__global__ void argmax_finish_kernel(GreedyParams p) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (row >= p.num_rows) return;
  const unsigned long long k = p.scratch[row];
  // A row of NaN only: token 0, as the CPU twin's argmax.
  p.out_tokens[row] = k == 0 ? 0 : static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(k & 0xffffffffu));
}

}  // namespace

cudaError_t greedy_argmax(const GreedyParams& p, cudaStream_t stream) {
  if (p.num_rows == 0) return cudaSuccess;
  if (p.num_rows < 0 || p.num_rows > 65535 || p.vocab <= 0 || p.vocab > 0x7fffffff || p.logits_row_stride < p.vocab ||
      !p.logits || !p.scratch || !p.out_tokens)
    return cudaErrorInvalidValue;
  if (cudaError_t e = cudaMemsetAsync(p.scratch, 0, static_cast<size_t>(p.num_rows) * sizeof(unsigned long long), stream);
      e != cudaSuccess)
    return e;
  const dim3 grid(static_cast<unsigned>((p.vocab + kChunk - 1) / kChunk), static_cast<unsigned>(p.num_rows));
  argmax_chunk_kernel<<<grid, kThreads, 0, stream>>>(p);
  argmax_finish_kernel<<<static_cast<unsigned>((p.num_rows + 127) / 128), 128, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace tessera::kernels
