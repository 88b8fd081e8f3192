// kernels/attention/decode/append.cu — paged_kv_append: the new tokens' K and V into their cache
// slots, RoPE applied to K on the way and to Q (into q_out) in the same launch.
//
// One CTA per token, threads over (head, 16-byte chunk): a chunk is 8 elements. Rotate-half pairs
// element i with i + rotary_dim / 2, so the thread that owns chunk c of the first half also owns
// its partner chunk and writes both (rotary_dim % 16 == 0 keeps both halves chunk-aligned);
// interleaved pairs (2i, 2i + 1) sit inside one chunk. Everything is 16-byte loads and stores.
// The rotation is fp32 with each product rounded on its own (__fmul_rn / __fadd_rn / __fsub_rn
// cannot be contracted into FMAs), so a torch fp32 reference matches it bit for bit.
//
// Slots < 0 (padding) and slots past the cache are not written; positions are clamped into the
// cos/sin table. Nothing allocates or synchronizes: capturable in a CUDA graph.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/attention/decode/decode.h"
#include "kernels/attention/decode/launch_util.h"
#include "kernels/common/mma.cuh"

namespace tessera::kernels {
namespace {

constexpr int kAppendThreads = 128;

template <typename T>
struct Chunk {
  uint4 raw;
  __device__ __forceinline__ float2 pair(int j) const {
    const uint32_t w = j == 0 ? raw.x : j == 1 ? raw.y : j == 2 ? raw.z : raw.w;
    return mma::ElementTraits<T>::unpack(w);
  }
  __device__ __forceinline__ float get(int e) const {
    const float2 p = pair(e / 2);
    return e % 2 == 0 ? p.x : p.y;
  }
};

template <typename T>
__device__ __forceinline__ uint4 pack8(const float (&x)[8]) {
  uint4 r;
  r.x = mma::ElementTraits<T>::pack(x[0], x[1]);
  r.y = mma::ElementTraits<T>::pack(x[2], x[3]);
  r.z = mma::ElementTraits<T>::pack(x[4], x[5]);
  r.w = mma::ElementTraits<T>::pack(x[6], x[7]);
  return r;
}

// (x, y) rotated by the angle whose cosine and sine are (c, s).
__device__ __forceinline__ void rotate(float x, float y, float c, float s, float& ox, float& oy) {
  ox = __fsub_rn(__fmul_rn(x, c), __fmul_rn(y, s));
  oy = __fadd_rn(__fmul_rn(y, c), __fmul_rn(x, s));
}

// Rotate (or copy) chunk `c` of one head vector `src` into `dst`. Returns without writing for the
// second-half chunks of rotate-half (their first-half partner writes them).
template <typename T>
__device__ __forceinline__ void rope_chunk(const T* src, T* dst, int c, RopeLayout layout, int rotary_dim,
                                           const float* cos_row, const float* sin_row) {
  const int rot_chunks = layout == RopeLayout::kNone ? 0 : rotary_dim / 8;
  if (c >= rot_chunks) {  // past the rotary part: a copy
    *reinterpret_cast<uint4*>(dst + c * 8) = *reinterpret_cast<const uint4*>(src + c * 8);
    return;
  }
  if (layout == RopeLayout::kInterleaved) {
    Chunk<T> in{*reinterpret_cast<const uint4*>(src + c * 8)};
    float out[8];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 p = in.pair(j);
      const int i = c * 4 + j;
      rotate(p.x, p.y, cos_row[i], sin_row[i], out[2 * j], out[2 * j + 1]);
    }
    *reinterpret_cast<uint4*>(dst + c * 8) = pack8<T>(out);
    return;
  }
  const int half_chunks = rot_chunks / 2;
  if (c >= half_chunks) return;
  Chunk<T> lo{*reinterpret_cast<const uint4*>(src + c * 8)};
  Chunk<T> hi{*reinterpret_cast<const uint4*>(src + (c + half_chunks) * 8)};
  float out_lo[8], out_hi[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    const int i = c * 8 + e;
    rotate(lo.get(e), hi.get(e), cos_row[i], sin_row[i], out_lo[e], out_hi[e]);
  }
  *reinterpret_cast<uint4*>(dst + c * 8) = pack8<T>(out_lo);
  *reinterpret_cast<uint4*>(dst + (c + half_chunks) * 8) = pack8<T>(out_hi);
}

__device__ __forceinline__ int clamp_position(const int32_t* positions, int64_t t, int max_position) {
  const int p = positions[t];
  return p < 0 ? 0 : (p >= max_position ? max_position - 1 : p);
}

template <typename T>
__global__ void __launch_bounds__(kAppendThreads) paged_kv_append_kernel(const KvAppendParams p) {
  const int64_t t = blockIdx.x;
  const int d = p.layout.head_dim;
  const int chunks = d / 8;
  const int half_rot = p.rotary_dim / 2;
  const bool rope = p.rope != RopeLayout::kNone;

  // PagedKvLayout's helpers are host functions: the launcher resolved every stride into the layout.
  const int64_t token_stride = p.layout.token_stride_elems, head_stride = p.layout.head_stride_elems;
  const int64_t block_stride = p.layout.block_stride_elems;
  const int64_t num_slots = static_cast<int64_t>(p.layout.num_blocks) * p.layout.block_size;
  if (t < p.num_tokens) {
    const float* cos_row = nullptr;
    const float* sin_row = nullptr;
    if (rope) {
      const int pos = clamp_position(p.k_positions, t, p.max_position);
      cos_row = p.cos + static_cast<int64_t>(pos) * half_rot;
      sin_row = p.sin + static_cast<int64_t>(pos) * half_rot;
    }
    const int64_t slot = p.slot_mapping[t];
    if (slot >= 0 && slot < num_slots) {
      const T* k = static_cast<const T*>(p.k) + t * p.k_token_stride;
      const T* v = static_cast<const T*>(p.v) + t * p.v_token_stride;
      const int64_t row = slot / p.layout.block_size * block_stride + slot % p.layout.block_size * token_stride;
      T* kc = static_cast<T*>(p.k_cache) + row;
      T* vc = static_cast<T*>(p.v_cache) + row;
      const int items = p.layout.num_kv_heads * chunks;
      for (int i = threadIdx.x; i < items; i += kAppendThreads) {
        const int h = i / chunks, c = i % chunks;
        rope_chunk<T>(k + h * p.k_head_stride, kc + h * head_stride, c, p.rope, p.rotary_dim, cos_row, sin_row);
        *reinterpret_cast<uint4*>(vc + h * head_stride + c * 8) =
            *reinterpret_cast<const uint4*>(v + h * p.v_head_stride + c * 8);
      }
    }
    if (p.k_out != nullptr) {
      const T* k = static_cast<const T*>(p.k) + t * p.k_token_stride;
      T* ko = static_cast<T*>(p.k_out) + t * p.k_out_token_stride;
      // In place (k_out == k) is safe: the loop above read k through the same thread's chunks, and
      // a thread reads exactly the chunks it writes (rotate-half pairs included).
      const int items = p.layout.num_kv_heads * chunks;
      for (int i = threadIdx.x; i < items; i += kAppendThreads) {
        const int h = i / chunks, c = i % chunks;
        rope_chunk<T>(k + h * p.k_head_stride, ko + h * p.k_out_head_stride, c, p.rope, p.rotary_dim, cos_row, sin_row);
      }
    }
  }
  if (p.q != nullptr && t < p.num_q_tokens) {
    const float* cos_row = nullptr;
    const float* sin_row = nullptr;
    if (rope) {
      const int pos = clamp_position(p.q_positions != nullptr ? p.q_positions : p.k_positions, t, p.max_position);
      cos_row = p.cos + static_cast<int64_t>(pos) * half_rot;
      sin_row = p.sin + static_cast<int64_t>(pos) * half_rot;
    }
    const T* q = static_cast<const T*>(p.q) + t * p.q_token_stride;
    T* qo = static_cast<T*>(p.q_out) + t * p.q_out_token_stride;
    const int items = p.num_heads * chunks;
    // In place (q_out == q) is safe: a thread reads exactly the chunks it writes.
    for (int i = threadIdx.x; i < items; i += kAppendThreads) {
      const int h = i / chunks, c = i % chunks;
      rope_chunk<T>(q + h * p.q_head_stride, qo + h * p.q_out_head_stride, c, p.rope, p.rotary_dim, cos_row, sin_row);
    }
  }
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

}  // namespace

cudaError_t paged_kv_append(const KvAppendParams& in, cudaStream_t stream) {
  using decode::invalid;
  KvAppendParams p = in;
  const PagedKvLayout& L = p.layout;
  if (p.dtype != FloatType::kF16 && p.dtype != FloatType::kBF16) return invalid("paged_kv_append: dtype must be fp16 or bf16");
  if (L.head_dim < 8 || L.head_dim % 8 != 0 || L.head_dim > 1024)
    return invalid("paged_kv_append: head_dim %lld must be a multiple of 8 in [8, 1024]", L.head_dim);
  if (L.num_blocks < 1 || L.block_size < 1 || L.num_kv_heads < 1)
    return invalid("paged_kv_append: cache layout needs num_blocks, block_size and num_kv_heads >= 1");
  if (const cudaError_t err = decode::check_cache_strides("paged_kv_append", L); err != cudaSuccess) return err;
  if (p.num_tokens < 0 || p.num_q_tokens < 0) return invalid("paged_kv_append: negative token count");
  if (p.num_tokens > 0 && (!p.k || !p.v || !p.slot_mapping || !p.k_cache || !p.v_cache))
    return invalid("paged_kv_append: k, v, slot_mapping, k_cache and v_cache must be non-null");
  if (p.q != nullptr) {
    if (p.q_out == nullptr) return invalid("paged_kv_append: q_out must be non-null when q is given (it may be q)");
    if (p.num_heads < 1) return invalid("paged_kv_append: num_heads %lld must be >= 1 when q is given", p.num_heads);
  } else {
    p.num_q_tokens = 0;
  }
  if (p.rope != RopeLayout::kNone) {
    if (p.rope != RopeLayout::kRotateHalf && p.rope != RopeLayout::kInterleaved)
      return invalid("paged_kv_append: unknown rope layout %lld", static_cast<long long>(p.rope));
    if (p.rotary_dim == 0) p.rotary_dim = L.head_dim;
    const int align = p.rope == RopeLayout::kRotateHalf ? 16 : 8;
    if (p.rotary_dim < 0 || p.rotary_dim > L.head_dim || p.rotary_dim % align != 0)
      return invalid(p.rope == RopeLayout::kRotateHalf
                         ? "paged_kv_append: rotary_dim %lld must be a multiple of 16 in [16, head_dim %lld] (rotate-half)"
                         : "paged_kv_append: rotary_dim %lld must be a multiple of 8 in [8, head_dim %lld] (interleaved)",
                     p.rotary_dim, L.head_dim);
    if (!p.cos || !p.sin || p.max_position < 1)
      return invalid("paged_kv_append: RoPE needs cos and sin tables with max_position >= 1 (got %lld)", p.max_position);
    if (p.num_tokens > 0 && !p.k_positions) return invalid("paged_kv_append: RoPE needs k_positions");
    if (p.num_q_tokens > 0 && !p.q_positions && (!p.k_positions || p.num_q_tokens > p.num_tokens))
      return invalid("paged_kv_append: RoPE of %lld query tokens needs q_positions (k_positions covers %lld tokens)",
                     p.num_q_tokens, p.num_tokens);
  }
  for (const int64_t s : {p.k_token_stride, p.k_head_stride, p.v_token_stride, p.v_head_stride, p.q_token_stride,
                          p.q_head_stride, p.q_out_token_stride, p.q_out_head_stride, p.k_out_token_stride,
                          p.k_out_head_stride})
    if (s % 8 != 0) return invalid("paged_kv_append: strides must be multiples of 8 elements (16 bytes), got %lld", s);
  for (const void* ptr : {p.k, p.v, static_cast<const void*>(p.k_cache), static_cast<const void*>(p.v_cache), p.q,
                          static_cast<const void*>(p.q_out), static_cast<const void*>(p.k_out)})
    if (!aligned16(ptr)) return invalid("paged_kv_append: tensors must be 16-byte aligned");
  const int64_t grid = p.num_tokens > p.num_q_tokens ? p.num_tokens : p.num_q_tokens;
  if (grid == 0) return cudaSuccess;
  if (grid > 0x7fffffff) return invalid("paged_kv_append: %lld tokens is too many for one launch", grid);
  const int64_t block_stride = L.block_stride(), token_stride = L.token_stride(), head_stride = L.head_stride();
  p.layout.block_stride_elems = block_stride;  // resolved for the kernel
  p.layout.token_stride_elems = token_stride;
  p.layout.head_stride_elems = head_stride;
  if (p.dtype == FloatType::kBF16) {
    paged_kv_append_kernel<__nv_bfloat16><<<static_cast<unsigned>(grid), kAppendThreads, 0, stream>>>(p);
  } else {
    paged_kv_append_kernel<__half><<<static_cast<unsigned>(grid), kAppendThreads, 0, stream>>>(p);
  }
  return cudaGetLastError();
}

}  // namespace tessera::kernels
