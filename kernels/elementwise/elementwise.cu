// kernels/elementwise/elementwise.cu — embedding gather, SiLU·mul and row gather (elementwise.h).
// Each is bandwidth-bound: rows are moved in 16-byte vectors where the row (and its strides) are
// aligned for it, element by element otherwise; one CTA per row (or a 2-D grid over wide rows).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "kernels/common/float_convert.cuh"
#include "kernels/elementwise/elementwise.h"

namespace tessera::kernels {
namespace {

constexpr int kThreads = 256;

size_t size_of(FloatType t) { return t == FloatType::kF32 ? 4 : 2; }

// True when every row start is 16-byte aligned and the row is a whole number of 16-byte vectors.
bool vectorizable(const void* a, int64_t a_stride, const void* b, int64_t b_stride, int64_t width, size_t esize) {
  const auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  return aligned(a) && aligned(b) && (width * esize) % 16 == 0 && (a_stride * esize) % 16 == 0 &&
         (b_stride * esize) % 16 == 0;
}

// Copies `bytes` from src to dst with the CTA: 16-byte vectors when kVec, else bytes in elements
// of `esize` (the caller guarantees alignment for kVec).
template <bool kVec>
__device__ __forceinline__ void copy_row(const char* src, char* dst, int64_t bytes, int esize) {
  if constexpr (kVec) {
    const int4* s = reinterpret_cast<const int4*>(src);
    int4* d = reinterpret_cast<int4*>(dst);
    for (int64_t i = threadIdx.x; i < bytes / 16; i += blockDim.x) d[i] = s[i];
  } else if (esize == 2) {
    const uint16_t* s = reinterpret_cast<const uint16_t*>(src);
    uint16_t* d = reinterpret_cast<uint16_t*>(dst);
    for (int64_t i = threadIdx.x; i < bytes / 2; i += blockDim.x) d[i] = s[i];
  } else {
    const uint32_t* s = reinterpret_cast<const uint32_t*>(src);
    uint32_t* d = reinterpret_cast<uint32_t*>(dst);
    for (int64_t i = threadIdx.x; i < bytes / 4; i += blockDim.x) d[i] = s[i];
  }
}

template <bool kVec>
__global__ void __launch_bounds__(kThreads) embedding_kernel(EmbeddingParams p, int esize) {
  const int64_t t = blockIdx.x;
  const int64_t id = p.ids[t];
  const char* src = static_cast<const char*>(p.table) + id * p.hidden * esize;
  char* dst = static_cast<char*>(p.out) + t * p.out_row_stride * esize;
  copy_row<kVec>(src, dst, p.hidden * esize, esize);
}

template <bool kVec>
__global__ void __launch_bounds__(kThreads) gather_rows_kernel(GatherRowsParams p, int esize) {
  const int64_t r = blockIdx.x;
  const int64_t row = p.rows ? p.rows[r] : p.cu_seqlens[r + 1] - 1;
  const char* src = static_cast<const char*>(p.src) + row * p.src_row_stride * esize;
  char* dst = static_cast<char*>(p.dst) + r * p.dst_row_stride * esize;
  copy_row<kVec>(src, dst, p.width * esize, esize);
}

// 8 elements per thread per step when kVec (16 bytes of 2-byte types), else one.
template <typename T, bool kVec>
__global__ void __launch_bounds__(kThreads) silu_mul_kernel(SiluMulParams p) {
  const int64_t t = blockIdx.y;
  const T* gate = static_cast<const T*>(p.gate_up) + t * p.in_row_stride;
  const T* up = gate + p.inter;
  T* out = static_cast<T*>(p.out) + t * p.out_row_stride;
  const auto f = [](T g, T u) {
    const float x = to_f32(g);
    // silu(x) = x / (1 + e^-x); __expf saturates to inf for very negative x, giving -0 as torch does.
    return from_f32<T>(x / (1.f + __expf(-x)) * to_f32(u));
  };
  if constexpr (kVec) {
    constexpr int kPer = 16 / sizeof(T);
    const int64_t vec = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (vec * kPer >= p.inter) return;
    int4 g4 = reinterpret_cast<const int4*>(gate)[vec];
    int4 u4 = reinterpret_cast<const int4*>(up)[vec];
    int4 o4;
    const T* g = reinterpret_cast<const T*>(&g4);
    const T* u = reinterpret_cast<const T*>(&u4);
    T* o = reinterpret_cast<T*>(&o4);
#pragma unroll
    for (int j = 0; j < kPer; ++j) o[j] = f(g[j], u[j]);
    reinterpret_cast<int4*>(out)[vec] = o4;
  } else {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < p.inter) out[i] = f(gate[i], up[i]);
  }
}

template <typename T>
cudaError_t launch_silu_mul(const SiluMulParams& p, cudaStream_t stream) {
  const bool vec = sizeof(T) == 2 && vectorizable(p.gate_up, p.in_row_stride, p.out, p.out_row_stride, p.inter, 2) &&
                   (p.inter * 2) % 16 == 0;
  const int64_t per_thread = vec ? 16 / static_cast<int64_t>(sizeof(T)) : 1;
  const int64_t threads_needed = (p.inter + per_thread - 1) / per_thread;
  const dim3 grid(static_cast<unsigned>((threads_needed + kThreads - 1) / kThreads), static_cast<unsigned>(p.num_tokens));
  if (vec) {
    silu_mul_kernel<T, true><<<grid, kThreads, 0, stream>>>(p);
  } else {
    silu_mul_kernel<T, false><<<grid, kThreads, 0, stream>>>(p);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t embedding(const EmbeddingParams& p, cudaStream_t stream) {
  if (p.num_tokens == 0) return cudaSuccess;
  if (p.num_tokens < 0 || p.num_tokens > 0x7fffffff || p.hidden <= 0 || p.out_row_stride < p.hidden || !p.ids ||
      !p.table || !p.out)
    return cudaErrorInvalidValue;
  const size_t es = size_of(p.dtype);
  const bool vec = vectorizable(p.table, p.hidden, p.out, p.out_row_stride, p.hidden, es);
  const unsigned grid = static_cast<unsigned>(p.num_tokens);
  if (vec) {
    embedding_kernel<true><<<grid, kThreads, 0, stream>>>(p, static_cast<int>(es));
  } else {
    embedding_kernel<false><<<grid, kThreads, 0, stream>>>(p, static_cast<int>(es));
  }
  return cudaGetLastError();
}

cudaError_t gather_rows(const GatherRowsParams& p, cudaStream_t stream) {
  if (p.num_rows == 0) return cudaSuccess;
  if (p.num_rows < 0 || p.num_rows > 0x7fffffff || p.width <= 0 || p.dst_row_stride < p.width || !p.src || !p.dst ||
      (!p.rows && !p.cu_seqlens))
    return cudaErrorInvalidValue;
  const size_t es = size_of(p.dtype);
  const bool vec = vectorizable(p.src, p.src_row_stride, p.dst, p.dst_row_stride, p.width, es);
  const unsigned grid = static_cast<unsigned>(p.num_rows);
  if (vec) {
    gather_rows_kernel<true><<<grid, kThreads, 0, stream>>>(p, static_cast<int>(es));
  } else {
    gather_rows_kernel<false><<<grid, kThreads, 0, stream>>>(p, static_cast<int>(es));
  }
  return cudaGetLastError();
}

cudaError_t silu_mul(const SiluMulParams& p, cudaStream_t stream) {
  if (p.num_tokens == 0) return cudaSuccess;
  if (p.num_tokens < 0 || p.num_tokens > 65535 * 1024 || p.inter <= 0 || p.in_row_stride < 2 * p.inter ||
      p.out_row_stride < p.inter || !p.gate_up || !p.out)
    return cudaErrorInvalidValue;
  if (p.num_tokens > 65535) {
    // gridDim.y is limited to 65535 rows: split the launch.
    SiluMulParams part = p;
    for (int64_t begin = 0; begin < p.num_tokens; begin += 65535) {
      part.num_tokens = std::min<int64_t>(65535, p.num_tokens - begin);
      part.gate_up = static_cast<const char*>(p.gate_up) + begin * p.in_row_stride * static_cast<int64_t>(size_of(p.dtype));
      part.out = static_cast<char*>(p.out) + begin * p.out_row_stride * static_cast<int64_t>(size_of(p.dtype));
      if (cudaError_t e = silu_mul(part, stream); e != cudaSuccess) return e;
    }
    return cudaSuccess;
  }
  switch (p.dtype) {
    case FloatType::kF32: return launch_silu_mul<float>(p, stream);
    case FloatType::kF16: return launch_silu_mul<__half>(p, stream);
    case FloatType::kBF16: return launch_silu_mul<__nv_bfloat16>(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace tessera::kernels
