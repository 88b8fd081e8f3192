// kernels/norm/rmsnorm.cu — one CTA per token row; each thread keeps its slice of the row in
// registers between the reduction and the write, so the row is read from global memory once.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/common/float_convert.cuh"
#include "kernels/norm/rmsnorm.h"

namespace tessera::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxPerThread = 32;  // hidden <= 8192 stays in registers; larger rows re-read

__device__ float block_sum(float v) {
  __shared__ float partial[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  float total = 0.f;
  for (int i = 0; i < kThreads / 32; ++i) total += partial[i];
  return total;
}

template <typename T, bool kHasResidual>
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(RmsNormParams p) {
  const int64_t row = blockIdx.x;
  const T* x = static_cast<const T*>(p.x) + row * p.x_row_stride;
  T* res = kHasResidual ? static_cast<T*>(p.residual) + row * p.residual_row_stride : nullptr;
  T* y = static_cast<T*>(p.y) + row * p.y_row_stride;
  const T* w = static_cast<const T*>(p.weight);

  float vals[kMaxPerThread];
  float sum_sq = 0.f;
  int n = 0;
  for (int64_t i = threadIdx.x; i < p.hidden; i += kThreads, ++n) {
    float v = to_f32(x[i]);
    if constexpr (kHasResidual) {
      // Round the sum to T, as the unfused `residual = residual + x` in T would.
      const T s = from_f32<T>(v + to_f32(res[i]));
      res[i] = s;
      v = to_f32(s);
    }
    if (n < kMaxPerThread) vals[n] = v;
    sum_sq += v * v;
  }
  const float inv = rsqrtf(block_sum(sum_sq) / static_cast<float>(p.hidden) + p.eps);
  n = 0;
  for (int64_t i = threadIdx.x; i < p.hidden; i += kThreads, ++n) {
    float v;
    if (n < kMaxPerThread) {
      v = vals[n];
    } else {
      v = kHasResidual ? to_f32(res[i]) : to_f32(x[i]);
    }
    // HF: weight * (x * inv).to(dtype)
    y[i] = from_f32<T>(to_f32(w[i]) * to_f32(from_f32<T>(v * inv)));
  }
}

// The common case (rows of whole 16-byte vectors, aligned, at most kMaxVec vectors per thread):
// every load of the row is issued before the first store, so the row costs one memory round trip.
// (The generic kernel above interleaves loads with the residual's stores, which the compiler cannot
// reorder past each other: one round trip per element a thread owns — 16 of them at hidden 4096.)
constexpr int kMaxVec = 4;

template <typename T, bool kHasResidual>
__global__ void __launch_bounds__(kThreads) rms_norm_vec_kernel(RmsNormParams p) {
  constexpr int kPer = 16 / sizeof(T);
  const int64_t row = blockIdx.x;
  const int64_t nvec = p.hidden / kPer;
  const int4* x = reinterpret_cast<const int4*>(static_cast<const T*>(p.x) + row * p.x_row_stride);
  int4* res = kHasResidual ? reinterpret_cast<int4*>(static_cast<T*>(p.residual) + row * p.residual_row_stride) : nullptr;
  int4* y = reinterpret_cast<int4*>(static_cast<T*>(p.y) + row * p.y_row_stride);
  const int4* w = reinterpret_cast<const int4*>(p.weight);

  int4 xv[kMaxVec], rv[kMaxVec];
#pragma unroll
  for (int j = 0; j < kMaxVec; ++j) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(j) * kThreads;
    if (i < nvec) {
      xv[j] = x[i];
      if constexpr (kHasResidual) rv[j] = res[i];
    }
  }
  float vals[kMaxVec][kPer];
  float sum_sq = 0.f;
#pragma unroll
  for (int j = 0; j < kMaxVec; ++j) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(j) * kThreads;
    if (i >= nvec) continue;
    const T* xe = reinterpret_cast<const T*>(&xv[j]);
    T* re = reinterpret_cast<T*>(&rv[j]);
#pragma unroll
    for (int e = 0; e < kPer; ++e) {
      float v = to_f32(xe[e]);
      if constexpr (kHasResidual) {
        const T s = from_f32<T>(v + to_f32(re[e]));  // rounded to T, as the unfused add would be
        re[e] = s;
        v = to_f32(s);
      }
      vals[j][e] = v;
      sum_sq += v * v;
    }
    if constexpr (kHasResidual) res[i] = rv[j];
  }
  const float inv = rsqrtf(block_sum(sum_sq) / static_cast<float>(p.hidden) + p.eps);
#pragma unroll
  for (int j = 0; j < kMaxVec; ++j) {
    const int64_t i = threadIdx.x + static_cast<int64_t>(j) * kThreads;
    if (i >= nvec) continue;
    const int4 wv = w[i];
    const T* we = reinterpret_cast<const T*>(&wv);
    int4 out;
    T* oe = reinterpret_cast<T*>(&out);
#pragma unroll
    for (int e = 0; e < kPer; ++e) oe[e] = from_f32<T>(to_f32(we[e]) * to_f32(from_f32<T>(vals[j][e] * inv)));
    y[i] = out;
  }
}

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0; }

template <typename T>
cudaError_t launch(const RmsNormParams& p, cudaStream_t stream) {
  constexpr int64_t kPer = 16 / sizeof(T);
  const int64_t es = sizeof(T);
  const bool vec = p.hidden % kPer == 0 && p.hidden / kPer <= kThreads * kMaxVec && aligned16(p.x) && aligned16(p.y) &&
                   aligned16(p.weight) && (p.x_row_stride * es) % 16 == 0 && (p.y_row_stride * es) % 16 == 0 &&
                   (!p.residual || (aligned16(p.residual) && (p.residual_row_stride * es) % 16 == 0));
  const unsigned grid = static_cast<unsigned>(p.num_tokens);
  if (vec) {
    if (p.residual) {
      rms_norm_vec_kernel<T, true><<<grid, kThreads, 0, stream>>>(p);
    } else {
      rms_norm_vec_kernel<T, false><<<grid, kThreads, 0, stream>>>(p);
    }
  } else if (p.residual) {
    rms_norm_kernel<T, true><<<grid, kThreads, 0, stream>>>(p);
  } else {
    rms_norm_kernel<T, false><<<grid, kThreads, 0, stream>>>(p);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t rms_norm(const RmsNormParams& p, cudaStream_t stream) {
  if (p.num_tokens == 0) return cudaSuccess;
  if (p.num_tokens < 0 || p.hidden <= 0 || p.num_tokens > 0x7fffffff || !p.x || !p.y || !p.weight)
    return cudaErrorInvalidValue;
  switch (p.dtype) {
    case FloatType::kF32: return launch<float>(p, stream);
    case FloatType::kF16: return launch<__half>(p, stream);
    case FloatType::kBF16: return launch<__nv_bfloat16>(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace tessera::kernels
