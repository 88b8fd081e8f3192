// kernels/attention/fwd/fwd_kernel.cuh — FlashAttention forward, mma.sync generation (sm_80+).
//
// One CTA computes block_m query rows of one (sequence, head): it walks the visible key blocks from
// the last to the first (so the blocks that need masking come first and the rest run mask-free),
// keeping S = Q K^T and P = softmax(S) in registers and O in fp32 registers. Q stays in shared memory
// and is read with ldmatrix at each step; K and V tiles alternate in single buffers so that the load
// of V(j) overlaps S = Q K(j)^T and the load of K(j-1) overlaps the softmax and O += P V(j).
//
// Grid: (query blocks, heads, batch), query blocks in reverse so that under a causal mask the CTAs
// with the most key blocks start first. Invariants: every row of O and lse of the sequence is written
// (rows with no visible key get O = 0, lse = +inf); no S x S buffer exists anywhere.
#pragma once

#include <cstdint>

#include "kernels/attention/online_softmax.cuh"
#include "kernels/attention/params.h"
#include "kernels/attention/tile.cuh"
#include "kernels/attention/warp_gemm.cuh"
#include "kernels/common/mma.cuh"

namespace tessera::kernels::attention {

template <typename T, int kHeadDim, int kBlockM, int kBlockN, int kNumWarps>
struct FwdKernelTraits {
  static constexpr int kThreads = kNumWarps * 32;
  static constexpr int kMTiles = kBlockM / (16 * kNumWarps);  // 16-row tiles per warp
  static constexpr int kNTiles = kBlockN / 8;                 // 8-column tiles of S
  static constexpr int kDTiles = kHeadDim / 8;                // 8-column tiles of O
  static_assert(kMTiles * 16 * kNumWarps == kBlockM, "block_m must be num_warps * 16 * m_tiles");
  static_assert(kBlockN % 16 == 0 && kHeadDim % 16 == 0, "tiles are multiples of 16");
  using QTile = SmemTile<kBlockM, kHeadDim>;
  using KvTile = SmemTile<kBlockN, kHeadDim>;
  static constexpr int kSmemBytes = QTile::kBytes + 2 * KvTile::kBytes;
};

// O = acc / rowsum and lse for this warp's rows (row_base: the warp's first row in the sequence).
// O goes through the warp's own rows of the Q tile (no other warp reads them, so a __syncwarp is the
// only barrier): C fragments in, then 16-byte rows out, every store instruction covering whole rows.
// Written straight from the fragments, each store instruction touched 8 rows with 16 bytes each.
template <typename T, typename Traits>
__device__ __forceinline__ void fwd_store_rows(const AttentionFwdParams& p, const SeqSlice& o_seq, float* lse_row0,
                                               int row_base, T* sQ, int warp_row0,
                                               const float (&acc)[Traits::kMTiles][Traits::kDTiles][4],
                                               const ThreadSoftmax<Traits::kMTiles>& softmax) {
  using QTile = typename Traits::QTile;
  constexpr int kRows = Traits::kMTiles * 16;        // this warp's rows
  constexpr int kChunks = Traits::kDTiles;           // 16-byte chunks (8 columns) per row
  const int lane = threadIdx.x % 32;
  __syncwarp();  // every lane's last ldmatrix of the warp's Q rows has completed
#pragma unroll
  for (int m = 0; m < Traits::kMTiles; ++m) {
    const SoftmaxState& lo = softmax.row[2 * m];
    const SoftmaxState& hi = softmax.row[2 * m + 1];
    const float inv[2] = {lo.sum > 0.f ? 1.f / lo.sum : 0.f, hi.sum > 0.f ? 1.f / hi.sum : 0.f};
#pragma unroll
    for (int d = 0; d < Traits::kDTiles; ++d)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = warp_row0 + m * 16 + h * 8 + lane / 4, col = d * 8 + 2 * (lane % 4);
        *reinterpret_cast<uint32_t*>(sQ + QTile::offset(row, col / 8) + col % 8) =
            mma::ElementTraits<T>::pack(acc[m][d][2 * h] * inv[h], acc[m][d][2 * h + 1] * inv[h]);
      }
    if (lane % 4 == 0) {
      const int row = row_base + m * 16 + lane / 4;
      if (row < o_seq.len) lse_row0[row] = lo.lse();
      if (row + 8 < o_seq.len) lse_row0[row + 8] = hi.lse();
    }
  }
  __syncwarp();
  T* o = static_cast<T*>(p.o) + o_seq.offset;
#pragma unroll
  for (int i = lane; i < kRows * kChunks; i += 32) {
    const int r = i / kChunks, c = i % kChunks;
    if (row_base + r < o_seq.len)
      *reinterpret_cast<uint4*>(o + static_cast<int64_t>(row_base + r) * o_seq.row_stride + c * 8) =
          *reinterpret_cast<const uint4*>(sQ + QTile::offset(warp_row0 + r, c));
  }
}

template <typename T, int kHeadDim, int kBlockM, int kBlockN, int kNumWarps>
__global__ void __launch_bounds__(kNumWarps * 32)
    attention_fwd_kernel(const __grid_constant__ AttentionFwdParams p) {
  using Traits = FwdKernelTraits<T, kHeadDim, kBlockM, kBlockN, kNumWarps>;
  constexpr int kMTiles = Traits::kMTiles;
  constexpr int kNTiles = Traits::kNTiles;
  constexpr int kDTiles = Traits::kDTiles;
  using QTile = typename Traits::QTile;
  using KvTile = typename Traits::KvTile;

  const AttentionShape& shape = p.shape;
  const int m_block = gridDim.x - 1 - blockIdx.x;
  const int head = blockIdx.y;
  const int batch = blockIdx.z;
  const int kv_head = head / (shape.num_heads / shape.num_kv_heads);

  const SeqSlice q_seq = seq_slice(p.q_strides, shape.cu_seqlens_q, shape.seqlen_q, batch, head);
  if (m_block * kBlockM >= q_seq.len) return;
  const SeqSlice k_seq = seq_slice(p.k_strides, shape.cu_seqlens_k, shape.seqlen_k, batch, kv_head);
  const SeqSlice v_seq = seq_slice(p.v_strides, shape.cu_seqlens_k, shape.seqlen_k, batch, kv_head);
  const SeqSlice o_seq = seq_slice(p.o_strides, shape.cu_seqlens_q, shape.seqlen_q, batch, head);
  float* lse_row0 = p.lse + row_stat_offset(shape, batch, head);

  const int seqlen_k = k_seq.len;
  const int causal_offset = seqlen_k - q_seq.len;  // query row i sees keys <= i + causal_offset
  const int n_blocks = visible_key_blocks(m_block * kBlockM, kBlockM, kBlockN, seqlen_k, causal_offset, shape.is_causal);

  extern __shared__ __align__(kSmemAlign) unsigned char smem_raw[];
  check_smem_alignment(smem_raw);
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* sK = sQ + QTile::kElements;
  T* sV = sK + KvTile::kElements;

  const int warp = threadIdx.x / 32;
  const int warp_row0 = warp * kMTiles * 16;  // first row of this warp within the CTA's block

  float acc[kMTiles][kDTiles][4];
  zero(acc);
  ThreadSoftmax<kMTiles> softmax;
  softmax.init();

  if (n_blocks > 0) {
    const T* q = static_cast<const T*>(p.q) + q_seq.offset;
    const T* k = static_cast<const T*>(p.k) + k_seq.offset;
    const T* v = static_cast<const T*>(p.v) + v_seq.offset;
    // The softmax folds a positive scale into its exponent; a negative one is moved onto Q.
    const float scale_log2 = fabsf(shape.softmax_scale) * 1.4426950408889634f;

    load_tile_async<kBlockM, kHeadDim, Traits::kThreads>(sQ, q, q_seq.row_stride, m_block * kBlockM, q_seq.len);
    mma::cp_async_commit();
    load_tile_async<kBlockN, kHeadDim, Traits::kThreads>(sK, k, k_seq.row_stride, (n_blocks - 1) * kBlockN,
                                                          seqlen_k);
    mma::cp_async_commit();
    if (shape.softmax_scale < 0.f) {
      mma::cp_async_wait<1>();  // this thread's Q chunks landed; the loop's barrier publishes them
      negate_tile_own_chunks<kBlockM, kHeadDim, Traits::kThreads>(sQ);
    }

    // Blocks that need a mask: the partial last one, and under causal those crossing the diagonal of
    // the CTA's first row. Walking backwards, they are exactly the first few iterations.
    const int first_row = m_block * kBlockM;
    for (int n_block = n_blocks - 1; n_block >= 0; --n_block) {
      mma::cp_async_wait<0>();
      __syncthreads();  // K(n_block) is in shared memory; everyone is done with V(n_block + 1)
      load_tile_async<kBlockN, kHeadDim, Traits::kThreads>(sV, v, v_seq.row_stride, n_block * kBlockN, seqlen_k);
      mma::cp_async_commit();

      // S = Q K^T for this warp's rows: s[m][n] is the 16x8 tile (rows m*16.., keys n*8..).
      float s[kMTiles][kNTiles][4];
      zero(s);
      warp_gemm_ss<T, ALayout::kMK, BLayout::kNT, QTile, KvTile, kHeadDim / 16>(s, sQ, warp_row0, 0, sK, 0, 0);

      const bool needs_mask = (n_block + 1) * kBlockN > seqlen_k ||
                              (shape.is_causal && (n_block + 1) * kBlockN - 1 > first_row + causal_offset);
      if (needs_mask) {
#pragma unroll
        for (int m = 0; m < kMTiles; ++m)
#pragma unroll
          for (int n = 0; n < kNTiles; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int row = first_row + warp_row0 + m * 16 + c_row(e);
              const int col = n_block * kBlockN + n * 8 + c_col(e);
              if (is_masked(row, col, seqlen_k, causal_offset, shape.is_causal)) s[m][n][e] = -INFINITY;
            }
      }

      mma::cp_async_wait<0>();
      __syncthreads();  // V(n_block) landed; everyone is done reading K(n_block)
      if (n_block > 0) {
        load_tile_async<kBlockN, kHeadDim, Traits::kThreads>(sK, k, k_seq.row_stride, (n_block - 1) * kBlockN,
                                                              seqlen_k);
        mma::cp_async_commit();
      }

      float rescale[2 * kMTiles];
      softmax.update(s, scale_log2, rescale);
#pragma unroll
      for (int m = 0; m < kMTiles; ++m)
#pragma unroll
        for (int d = 0; d < kDTiles; ++d) {
          acc[m][d][0] *= rescale[2 * m];
          acc[m][d][1] *= rescale[2 * m];
          acc[m][d][2] *= rescale[2 * m + 1];
          acc[m][d][3] *= rescale[2 * m + 1];
        }

      // O += P V: P straight from the S registers (rounded to T), V through ldmatrix.trans.
      warp_gemm_rs<T, BLayout::kNN, KvTile, kBlockN / 16>(acc, s, sV, 0, 0);
    }
  }

  softmax.finalize();
  fwd_store_rows<T, Traits>(p, o_seq, lse_row0, m_block * kBlockM + warp_row0, sQ, warp_row0, acc, softmax);
}

}  // namespace tessera::kernels::attention
