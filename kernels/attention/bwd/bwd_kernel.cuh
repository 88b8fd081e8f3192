// kernels/attention/bwd/bwd_kernel.cuh — FlashAttention backward, mma.sync generation: the row
// kernels (dsum = rowsum(dO * O), dQ accumulator -> dQ) and the dK/dV kernel.
//
// dK/dV kernel: one CTA owns block_n keys of one KV head and walks every (query head of its GQA
// group, query block) pair, recomputing the scores transposed, S^T = K Q^T, so that each warp's 16
// keys are the rows of its tiles and P^T, dS^T feed dV += P^T dO and dK += dS^T Q straight from
// registers. dK and dV stay in registers for the whole walk: no atomics on them, GQA included.
// Unless deterministic, the CTA also writes dS^T to shared memory and adds its share of
// dQ = dS K into an fp32 accumulator with atomics; deterministic mode leaves dQ to bwd_dq_kernel.cuh.
// Q/dO tiles (and their lse/dsum rows) are double-buffered: block i+1 loads while block i computes.
//
// Math (scale = softmax_scale, all in fp32 from fp16/bf16 inputs):
//   P = exp(scale * S - lse)    dP = dO V^T    dS = P * (dP - dsum)    dsum = rowsum(dO * O)
//   dV = P^T dO    dK = scale * dS^T Q    dQ = scale * dS K
#pragma once

#include <cstdint>

#include "kernels/attention/params.h"
#include "kernels/attention/tile.cuh"
#include "kernels/attention/warp_gemm.cuh"
#include "kernels/common/mma.cuh"

namespace tessera::kernels::attention {

constexpr float kLog2e = 1.4426950408889634f;

// Row index of query row `row` of sequence b in [rows, heads, head_dim] fp32 accumulators.
__device__ __forceinline__ int64_t packed_row(const AttentionShape& shape, int b, int row) {
  return shape.cu_seqlens_q != nullptr ? static_cast<int64_t>(shape.cu_seqlens_q[b]) + row
                                       : static_cast<int64_t>(b) * shape.seqlen_q + row;
}

// ---- row kernels: one warp per (row, head); grid (ceil(seqlen_q / 8), heads, batch), 256 threads ----

// dsum[row] = sum_d dO[row, d] * O[row, d]; zeroes the dQ accumulator rows when one is given.
template <typename T, int kHeadDim>
__global__ void __launch_bounds__(256)
    attention_bwd_preprocess_kernel(const __grid_constant__ AttentionBwdParams p, float* dsum, float* dq_accum) {
  const int row = blockIdx.x * 8 + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int head = blockIdx.y, batch = blockIdx.z;
  const SeqSlice o_seq = seq_slice(p.o_strides, p.shape.cu_seqlens_q, p.shape.seqlen_q, batch, head);
  if (row >= o_seq.len) return;
  const SeqSlice do_seq = seq_slice(p.dout_strides, p.shape.cu_seqlens_q, p.shape.seqlen_q, batch, head);
  const T* o = static_cast<const T*>(p.o) + o_seq.offset + row * o_seq.row_stride;
  const T* dout = static_cast<const T*>(p.dout) + do_seq.offset + row * do_seq.row_stride;
  float sum = 0.f;
#pragma unroll
  for (int d = 2 * lane; d < kHeadDim; d += 64) {
    const float2 a = mma::ElementTraits<T>::unpack(*reinterpret_cast<const uint32_t*>(o + d));
    const float2 b = mma::ElementTraits<T>::unpack(*reinterpret_cast<const uint32_t*>(dout + d));
    sum += a.x * b.x + a.y * b.y;
  }
#pragma unroll
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (lane == 0) dsum[row_stat_offset(p.shape, batch, head) + row] = sum;
  if (dq_accum != nullptr) {
    float* acc = dq_accum + (packed_row(p.shape, batch, row) * p.shape.num_heads + head) * kHeadDim;
    for (int d = lane; d < kHeadDim; d += 32) acc[d] = 0.f;
  }
}

// dQ = scale * accumulator, rounded to T.
template <typename T, int kHeadDim>
__global__ void __launch_bounds__(256)
    attention_bwd_convert_dq_kernel(const __grid_constant__ AttentionBwdParams p, const float* dq_accum) {
  const int row = blockIdx.x * 8 + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int head = blockIdx.y, batch = blockIdx.z;
  const SeqSlice dq_seq = seq_slice(p.dq_strides, p.shape.cu_seqlens_q, p.shape.seqlen_q, batch, head);
  if (row >= dq_seq.len) return;
  const float* acc = dq_accum + (packed_row(p.shape, batch, row) * p.shape.num_heads + head) * kHeadDim;
  T* dq = static_cast<T*>(p.dq) + dq_seq.offset + row * dq_seq.row_stride;
  const float scale = p.shape.softmax_scale;
#pragma unroll
  for (int d = 2 * lane; d < kHeadDim; d += 64)
    *reinterpret_cast<uint32_t*>(dq + d) = mma::ElementTraits<T>::pack(acc[d] * scale, acc[d + 1] * scale);
}

// ---- dK/dV kernel ---------------------------------------------------------------------------------

template <typename T, int kHeadDim, int kBlockM, int kBlockN, int kNumWarps>
struct BwdKernelTraits {
  static constexpr int kThreads = kNumWarps * 32;
  static constexpr int kDTiles = kHeadDim / 8;
  static constexpr int kMTilesOfQ = kBlockM / 16;        // 16-row tiles of a query block
  static constexpr int kDqParts = kNumWarps / kMTilesOfQ;  // warps sharing one query tile's dQ columns
  static constexpr int kDqTiles = kDTiles / kDqParts;      // 8-column dQ tiles per warp
  static_assert(kBlockN == 16 * kNumWarps, "each warp owns 16 keys");
  static_assert(kNumWarps % kMTilesOfQ == 0 && kDqTiles % 2 == 0, "dQ work must split evenly over warps");
  using QTile = SmemTile<kBlockM, kHeadDim>;
  using KvTile = SmemTile<kBlockN, kHeadDim>;
  using DsTile = SmemTile<kBlockN, kBlockM>;  // dS^T: [key][query]
  static constexpr int kSmemBytes = 2 * KvTile::kBytes + 4 * QTile::kBytes + DsTile::kBytes + 4 * kBlockM * 4;
};

template <typename T, int kHeadDim, int kBlockM, int kBlockN, int kNumWarps, bool kComputeDq>
__global__ void __launch_bounds__(kNumWarps * 32)
    attention_bwd_dkdv_kernel(const __grid_constant__ AttentionBwdParams p, const float* dsum, float* dq_accum) {
  using Traits = BwdKernelTraits<T, kHeadDim, kBlockM, kBlockN, kNumWarps>;
  using QTile = typename Traits::QTile;
  using KvTile = typename Traits::KvTile;
  using DsTile = typename Traits::DsTile;
  constexpr int kDTiles = Traits::kDTiles;
  constexpr int kQTiles = kBlockM / 8;  // 8-column tiles of S^T (one per 8 queries)

  const AttentionShape& shape = p.shape;
  const int n_block = blockIdx.x;
  const int kv_head = blockIdx.y;
  const int batch = blockIdx.z;
  const int group = shape.num_heads / shape.num_kv_heads;

  const SeqSlice k_seq = seq_slice(p.k_strides, shape.cu_seqlens_k, shape.seqlen_k, batch, kv_head);
  const int n0 = n_block * kBlockN;
  if (n0 >= k_seq.len) return;
  const SeqSlice v_seq = seq_slice(p.v_strides, shape.cu_seqlens_k, shape.seqlen_k, batch, kv_head);
  const int seqlen_k = k_seq.len;
  const int seqlen_q = shape.cu_seqlens_q != nullptr ? shape.cu_seqlens_q[batch + 1] - shape.cu_seqlens_q[batch]
                                                     : shape.seqlen_q;
  const int causal_offset = seqlen_k - seqlen_q;
  int m_block_min = 0;
  if (shape.is_causal) m_block_min = max(0, n0 - causal_offset) / kBlockM;  // first query that sees key n0
  const int m_block_max = (seqlen_q + kBlockM - 1) / kBlockM;
  const int num_m = max(0, m_block_max - m_block_min);
  const int iters = group * num_m;

  extern __shared__ __align__(kSmemAlign) unsigned char smem_raw[];
  check_smem_alignment(smem_raw);
  T* sK = reinterpret_cast<T*>(smem_raw);
  T* sV = sK + KvTile::kElements;
  T* sQ = sV + KvTile::kElements;          // [2] buffers
  T* sdO = sQ + 2 * QTile::kElements;      // [2]
  T* sdS = sdO + 2 * QTile::kElements;
  float* sLse = reinterpret_cast<float*>(sdS + DsTile::kElements);  // [2][kBlockM], log2 units
  float* sDsum = sLse + 2 * kBlockM;                                // [2][kBlockM]

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int key_row0 = warp * 16;  // this warp's keys within the block

  float dk[1][kDTiles][4], dv[1][kDTiles][4];
  zero(dk);
  zero(dv);

  // Loads Q, dO, lse and dsum of walk step `it` into buffer `buf`.
  auto load_step = [&](int it, int buf) {
    const int head = kv_head * group + it / num_m;
    const int m0 = (m_block_min + it % num_m) * kBlockM;
    const SeqSlice q_seq = seq_slice(p.q_strides, shape.cu_seqlens_q, shape.seqlen_q, batch, head);
    const SeqSlice do_seq = seq_slice(p.dout_strides, shape.cu_seqlens_q, shape.seqlen_q, batch, head);
    load_tile_async<kBlockM, kHeadDim, Traits::kThreads>(sQ + buf * QTile::kElements,
                                                          static_cast<const T*>(p.q) + q_seq.offset, q_seq.row_stride,
                                                          m0, seqlen_q);
    load_tile_async<kBlockM, kHeadDim, Traits::kThreads>(sdO + buf * QTile::kElements,
                                                          static_cast<const T*>(p.dout) + do_seq.offset,
                                                          do_seq.row_stride, m0, seqlen_q);
    mma::cp_async_commit();
    if (threadIdx.x < kBlockM) {
      const int row = m0 + threadIdx.x;
      const int64_t stat = row_stat_offset(shape, batch, head) + row;
      sLse[buf * kBlockM + threadIdx.x] = row < seqlen_q ? p.lse[stat] * kLog2e : INFINITY;
      sDsum[buf * kBlockM + threadIdx.x] = row < seqlen_q ? dsum[stat] : 0.f;
    }
  };

  if (iters > 0) {
    const float scale_log2 = shape.softmax_scale * kLog2e;
    load_tile_async<kBlockN, kHeadDim, Traits::kThreads>(sK, static_cast<const T*>(p.k) + k_seq.offset,
                                                          k_seq.row_stride, n0, seqlen_k);
    load_tile_async<kBlockN, kHeadDim, Traits::kThreads>(sV, static_cast<const T*>(p.v) + v_seq.offset,
                                                          v_seq.row_stride, n0, seqlen_k);
    load_step(0, 0);

    for (int it = 0; it < iters; ++it) {
      const int buf = it & 1;
      if (it + 1 < iters) {
        load_step(it + 1, buf ^ 1);
        mma::cp_async_wait<1>();
      } else {
        mma::cp_async_wait<0>();
      }
      __syncthreads();
      const int head = kv_head * group + it / num_m;
      const int m0 = (m_block_min + it % num_m) * kBlockM;
      const T* sQb = sQ + buf * QTile::kElements;
      const T* sdOb = sdO + buf * QTile::kElements;
      const float* lse = sLse + buf * kBlockM;
      const float* ds = sDsum + buf * kBlockM;

      // P^T = exp2(scale_log2 * K Q^T - lse): rows = this warp's keys, columns = the block's queries.
      float pt[1][kQTiles][4];
      zero(pt);
      warp_gemm_ss<T, ALayout::kMK, BLayout::kNT, KvTile, QTile, kHeadDim / 16>(pt, sK, key_row0, 0, sQb, 0, 0);
      const bool needs_mask = n0 + kBlockN > seqlen_k || (shape.is_causal && n0 + kBlockN - 1 > m0 + causal_offset);
#pragma unroll
      for (int j = 0; j < kQTiles; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int qcol = j * 8 + c_col(e);
          float s = pt[0][j][e] * scale_log2;
          if (needs_mask && is_masked(m0 + qcol, n0 + key_row0 + c_row(e), seqlen_k, causal_offset, shape.is_causal))
            s = -INFINITY;
          pt[0][j][e] = fast_exp2(s - lse[qcol]);
        }

      // dP^T = V dO^T, then dS^T = P^T * (dP^T - dsum).
      float dst[1][kQTiles][4];
      zero(dst);
      warp_gemm_ss<T, ALayout::kMK, BLayout::kNT, KvTile, QTile, kHeadDim / 16>(dst, sV, key_row0, 0, sdOb, 0, 0);
#pragma unroll
      for (int j = 0; j < kQTiles; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) dst[0][j][e] = pt[0][j][e] * (dst[0][j][e] - ds[j * 8 + c_col(e)]);

      warp_gemm_rs<T, BLayout::kNN, QTile, kBlockM / 16>(dv, pt, sdOb, 0, 0);
      warp_gemm_rs<T, BLayout::kNN, QTile, kBlockM / 16>(dk, dst, sQb, 0, 0);

      if constexpr (kComputeDq) {
        // dS^T to shared memory ([key][query]), then dQ(block) += dS K split over the warps.
#pragma unroll
        for (int j = 0; j < kQTiles; ++j)
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int key = key_row0 + h * 8 + lane / 4;
            const int q = j * 8 + 2 * (lane % 4);
            *reinterpret_cast<uint32_t*>(sdS + DsTile::offset(key, q / 8) + q % 8) =
                mma::ElementTraits<T>::pack(dst[0][j][2 * h], dst[0][j][2 * h + 1]);
          }
        __syncthreads();
        const int q_tile = warp % Traits::kMTilesOfQ;
        const int d_part = warp / Traits::kMTilesOfQ;
        float dq[1][Traits::kDqTiles][4];
        zero(dq);
        warp_gemm_ss<T, ALayout::kKM, BLayout::kNN, DsTile, KvTile, kBlockN / 16>(dq, sdS, 0, 2 * q_tile, sK, 0,
                                                                                  d_part * Traits::kDqTiles);
        // One 8-byte vector reduction (sm_90) per pair of columns instead of two scalar atomics: the
        // backward went from 29.9 to 25.2 ms at B=1 H=16 S=16k D=128 (docs/perf-notes.md). 16-byte
        // reductions (pairs swapped between lanes) measured no further gain.
        float* acc = dq_accum + static_cast<int64_t>(head) * kHeadDim;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int row = m0 + q_tile * 16 + h * 8 + lane / 4;
          if (row >= seqlen_q) continue;
          float* acc_row = acc + packed_row(shape, batch, row) * shape.num_heads * kHeadDim;
#pragma unroll
          for (int j = 0; j < Traits::kDqTiles; ++j) {
            const int d = (d_part * Traits::kDqTiles + j) * 8 + 2 * (lane % 4);
            atomicAdd(reinterpret_cast<float2*>(acc_row + d), make_float2(dq[0][j][2 * h], dq[0][j][2 * h + 1]));
          }
        }
      }
      __syncthreads();  // buffer `buf` and sdS are free for the next step's loads
    }
  }

  // Epilogue: dK = scale * sum dS^T Q, dV = sum P^T dO, rows of keys inside the sequence.
  const SeqSlice dk_seq = seq_slice(p.dk_strides, shape.cu_seqlens_k, shape.seqlen_k, batch, kv_head);
  const SeqSlice dv_seq = seq_slice(p.dv_strides, shape.cu_seqlens_k, shape.seqlen_k, batch, kv_head);
  store_c_rows<T>(static_cast<T*>(p.dk) + dk_seq.offset, dk_seq.row_stride, n0 + key_row0, seqlen_k, dk[0],
                  shape.softmax_scale, shape.softmax_scale);
  store_c_rows<T>(static_cast<T*>(p.dv) + dv_seq.offset, dv_seq.row_stride, n0 + key_row0, seqlen_k, dv[0], 1.f, 1.f);
}

}  // namespace tessera::kernels::attention
