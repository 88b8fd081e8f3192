// kernels/attention/bwd/bwd_dq_kernel.cuh — dQ of the backward as its own row-parallel pass, used in
// deterministic mode: one CTA owns block_m query rows of one head and walks the visible key blocks
// (same order and masking as the forward), recomputing P and dS to accumulate dQ = scale * dS K in
// registers. No atomics, a fixed summation order: bitwise reproducible. It costs two extra matmuls
// per tile (Q K^T and dO V^T are recomputed here as well as in the dK/dV pass), the price of
// determinism. K/V tiles are double-buffered.
#pragma once

#include <cstdint>

#include "kernels/attention/bwd/bwd_kernel.cuh"

namespace tessera::kernels::attention {

template <typename T, int kHeadDim, int kBlockM, int kBlockN, int kNumWarps>
struct BwdDqTraits {
  static constexpr int kThreads = kNumWarps * 32;
  static_assert(kBlockM == 16 * kNumWarps, "each warp owns 16 query rows");
  using QTile = SmemTile<kBlockM, kHeadDim>;
  using KvTile = SmemTile<kBlockN, kHeadDim>;
  static constexpr int kSmemBytes = 2 * QTile::kBytes + 4 * KvTile::kBytes;
};

template <typename T, int kHeadDim, int kBlockM, int kBlockN, int kNumWarps>
__global__ void __launch_bounds__(kNumWarps * 32)
    attention_bwd_dq_kernel(const __grid_constant__ AttentionBwdParams p, const float* dsum) {
  using Traits = BwdDqTraits<T, kHeadDim, kBlockM, kBlockN, kNumWarps>;
  using QTile = typename Traits::QTile;
  using KvTile = typename Traits::KvTile;
  constexpr int kNTiles = kBlockN / 8;
  constexpr int kDTiles = kHeadDim / 8;

  const AttentionShape& shape = p.shape;
  const int m_block = gridDim.x - 1 - blockIdx.x;
  const int head = blockIdx.y;
  const int batch = blockIdx.z;
  const int kv_head = head / (shape.num_heads / shape.num_kv_heads);
  const SeqSlice q_seq = seq_slice(p.q_strides, shape.cu_seqlens_q, shape.seqlen_q, batch, head);
  const int m0 = m_block * kBlockM;
  if (m0 >= q_seq.len) return;
  const SeqSlice do_seq = seq_slice(p.dout_strides, shape.cu_seqlens_q, shape.seqlen_q, batch, head);
  const SeqSlice k_seq = seq_slice(p.k_strides, shape.cu_seqlens_k, shape.seqlen_k, batch, kv_head);
  const SeqSlice v_seq = seq_slice(p.v_strides, shape.cu_seqlens_k, shape.seqlen_k, batch, kv_head);
  const SeqSlice dq_seq = seq_slice(p.dq_strides, shape.cu_seqlens_q, shape.seqlen_q, batch, head);
  const int seqlen_q = q_seq.len, seqlen_k = k_seq.len;
  const int causal_offset = seqlen_k - seqlen_q;
  const int n_blocks = visible_key_blocks(m0, kBlockM, kBlockN, seqlen_k, causal_offset, shape.is_causal);

  extern __shared__ __align__(kSmemAlign) unsigned char smem_raw[];
  check_smem_alignment(smem_raw);
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* sdO = sQ + QTile::kElements;
  T* sK = sdO + QTile::kElements;  // [2]
  T* sV = sK + 2 * KvTile::kElements;  // [2]

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int row0 = warp * 16;

  // This thread's two rows (g, g + 8): lse in log2 units and dsum.
  float lse[2], ds[2];
  const int64_t stat0 = row_stat_offset(shape, batch, head);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = m0 + row0 + h * 8 + lane / 4;
    lse[h] = row < seqlen_q ? p.lse[stat0 + row] * kLog2e : INFINITY;
    ds[h] = row < seqlen_q ? dsum[stat0 + row] : 0.f;
  }

  float dq[1][kDTiles][4];
  zero(dq);
  if (n_blocks > 0) {
    const float scale_log2 = shape.softmax_scale * kLog2e;
    const T* k = static_cast<const T*>(p.k) + k_seq.offset;
    const T* v = static_cast<const T*>(p.v) + v_seq.offset;
    auto load_kv = [&](int n_block, int buf) {
      load_tile_async<kBlockN, kHeadDim, Traits::kThreads>(sK + buf * KvTile::kElements, k, k_seq.row_stride,
                                                            n_block * kBlockN, seqlen_k);
      load_tile_async<kBlockN, kHeadDim, Traits::kThreads>(sV + buf * KvTile::kElements, v, v_seq.row_stride,
                                                            n_block * kBlockN, seqlen_k);
      mma::cp_async_commit();
    };
    load_tile_async<kBlockM, kHeadDim, Traits::kThreads>(sQ, static_cast<const T*>(p.q) + q_seq.offset,
                                                          q_seq.row_stride, m0, seqlen_q);
    load_tile_async<kBlockM, kHeadDim, Traits::kThreads>(sdO, static_cast<const T*>(p.dout) + do_seq.offset,
                                                          do_seq.row_stride, m0, seqlen_q);
    load_kv(n_blocks - 1, 0);

    for (int step = 0; step < n_blocks; ++step) {
      const int n_block = n_blocks - 1 - step;
      const int buf = step & 1;
      if (n_block > 0) {
        load_kv(n_block - 1, buf ^ 1);
        mma::cp_async_wait<1>();
      } else {
        mma::cp_async_wait<0>();
      }
      __syncthreads();
      const T* sKb = sK + buf * KvTile::kElements;
      const T* sVb = sV + buf * KvTile::kElements;

      float s[1][kNTiles][4];
      zero(s);
      warp_gemm_ss<T, ALayout::kMK, BLayout::kNT, QTile, KvTile, kHeadDim / 16>(s, sQ, row0, 0, sKb, 0, 0);
      const int n0 = n_block * kBlockN;
      const bool needs_mask = n0 + kBlockN > seqlen_k || (shape.is_causal && n0 + kBlockN - 1 > m0 + causal_offset);
#pragma unroll
      for (int j = 0; j < kNTiles; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = s[0][j][e] * scale_log2;
          if (needs_mask && is_masked(m0 + row0 + c_row(e), n0 + j * 8 + c_col(e), seqlen_k, causal_offset,
                                      shape.is_causal))
            x = -INFINITY;
          s[0][j][e] = fast_exp2(x - lse[e / 2]);
        }
      float dp[1][kNTiles][4];
      zero(dp);
      warp_gemm_ss<T, ALayout::kMK, BLayout::kNT, QTile, KvTile, kHeadDim / 16>(dp, sdO, row0, 0, sVb, 0, 0);
#pragma unroll
      for (int j = 0; j < kNTiles; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) dp[0][j][e] = s[0][j][e] * (dp[0][j][e] - ds[e / 2]);
      warp_gemm_rs<T, BLayout::kNN, KvTile, kBlockN / 16>(dq, dp, sKb, 0, 0);
      __syncthreads();  // buffer `buf` is free for the load two steps on
    }
  }

  store_c_rows<T>(static_cast<T*>(p.dq) + dq_seq.offset, dq_seq.row_stride, m0 + row0, seqlen_q, dq[0],
                  shape.softmax_scale, shape.softmax_scale);
}

}  // namespace tessera::kernels::attention
