// kernels/attention/bwd/bwd_kernel.cuh — FlashAttention backward, mma.sync generation: the row
// kernels (dsum = rowsum(dO * O), dQ accumulator -> dQ) and the dK/dV kernel.
//
// dK/dV kernel: one CTA owns block_n keys of one KV head and walks every (query head of its GQA
// group, query block) pair. Per step it recomputes S = Q K^T and dP = dO V^T tiled 2-D over the
// warps, writes P and dS to shared memory, and accumulates dV += P^T dO and dK += dS^T Q with a
// key-major warp tiling; dK and dV stay in registers for the whole walk: no atomics on them, GQA
// included. Unless deterministic, the CTA also adds its share of dQ = dS K into an fp32
// accumulator with atomics; deterministic mode leaves dQ to bwd_dq_kernel.cuh.
// Q/dO tiles (and their lse/dsum rows) are double-buffered: block i+1 loads while block i computes.
//
// Math (scale = softmax_scale, all in fp32 from fp16/bf16 inputs):
//   P = exp(scale * S - lse)    dP = dO V^T    dS = P * (dP - dsum)    dsum = rowsum(dO * O)
//   dV = P^T dO    dK = scale * dS^T Q    dQ = scale * dS K
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/attention/params.h"
#include "kernels/attention/tile.cuh"
#include "kernels/attention/tile_config.h"
#include "kernels/attention/warp_gemm.cuh"
#include "kernels/common/mma.cuh"

namespace tessera::kernels::attention {

constexpr float kLog2e = 1.4426950408889634f;

// fp32 dQ accumulator element (row 0 of sequence b, head, column 0): [heads][dq_accum_rows][head_dim]
// with kDqAccumRowPad rows of padding per sequence (tile_config.h).
template <int kHeadDim, typename F>
__device__ __forceinline__ F* dq_accum_seq(F* dq_accum, const AttentionShape& shape, int b, int head) {
  const int64_t first = shape.cu_seqlens_q != nullptr
                            ? static_cast<int64_t>(shape.cu_seqlens_q[b]) + static_cast<int64_t>(b) * kDqAccumRowPad
                            : static_cast<int64_t>(b) * ((shape.seqlen_q + kDqAccumRowPad - 1) / kDqAccumRowPad *
                                                         kDqAccumRowPad);
  return dq_accum + (static_cast<int64_t>(head) * dq_accum_rows(shape) + first) * kHeadDim;
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
    float* acc = dq_accum_seq<kHeadDim>(dq_accum, p.shape, batch, head) + static_cast<int64_t>(row) * kHeadDim;
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
  const float* acc = dq_accum_seq<kHeadDim>(dq_accum, p.shape, batch, head) +
                     static_cast<int64_t>(row) * kHeadDim;
  T* dq = static_cast<T*>(p.dq) + dq_seq.offset + row * dq_seq.row_stride;
  const float scale = p.shape.softmax_scale;
#pragma unroll
  for (int d = 2 * lane; d < kHeadDim; d += 64)
    *reinterpret_cast<uint32_t*>(dq + d) = mma::ElementTraits<T>::pack(acc[d] * scale, acc[d + 1] * scale);
}

// ---- dK/dV kernel ---------------------------------------------------------------------------------

// Warp tiling of the dK/dV kernel (8 warps, block_n = 128 keys, block_m = 64 or 128 queries). Each
// product splits 2-D over the warps so that every warp reads only the part of each shared tile its
// outputs need; P and dS go through shared memory once to switch from the query-major S/dP tiling
// to the key-major dK/dV one.
//   S, dP  [block_m queries x block_n keys]  (block_m / 32) x (8 / that) warps, 32 queries each
//   dK, dV [block_n keys x head_dim]         4 x 2 warps (32 keys x head_dim / 2 each)
//   dQ     [block_m queries x head_dim]      as S, or twice as many warps along the queries when
//                                            the head-dim split would leave an odd n-tile count (96)
template <int kBlockM, int kHeadDim, int kNumWarps>
constexpr int bwd_dq_warps_m() {
  const int m = kBlockM / 32;
  return (kHeadDim / (kNumWarps / m) / 8) % 2 == 0 ? m : 2 * m;
}

template <typename T, int kHeadDim, int kBlockM, int kBlockN, int kNumWarps>
struct BwdKernelTraits {
  static constexpr int kThreads = kNumWarps * 32;
  static_assert(kNumWarps == 8 && kBlockN == 128 && (kBlockM == 64 || kBlockM == 128),
                "the warp tiling below is for 8 warps, 128 keys and 64 or 128 queries");
  static constexpr int kSdpWarpsM = kBlockM / 32, kSdpWarpsN = kNumWarps / kSdpWarpsM;
  static constexpr int kSdpMTiles = 2, kSdpNTiles = kBlockN / kSdpWarpsN / 8;
  static constexpr int kKvWarpsN = 4, kKvWarpsD = 2;
  static constexpr int kKvMTiles = kBlockN / kKvWarpsN / 16, kKvNTiles = kHeadDim / kKvWarpsD / 8;
  static constexpr int kDqWarpsM = bwd_dq_warps_m<kBlockM, kHeadDim, kNumWarps>(), kDqWarpsD = kNumWarps / kDqWarpsM;
  static constexpr int kDqMTiles = kBlockM / kDqWarpsM / 16, kDqNTiles = kHeadDim / kDqWarpsD / 8;
  static_assert(kSdpNTiles % 2 == 0 && kKvNTiles % 2 == 0 && kDqNTiles % 2 == 0 && kDqMTiles >= 1,
                "n-tiles are loaded in pairs");
  using QTile = SmemTile<kBlockM, kHeadDim>;
  using KvTile = SmemTile<kBlockN, kHeadDim>;
  using PTile = SmemTile<kBlockM, kBlockN>;  // P and dS: [query][key]
  static constexpr int kSmemBytes = 2 * KvTile::kBytes + 4 * QTile::kBytes + 2 * PTile::kBytes + 4 * kBlockM * 4;
};

// Rows (g, g + 8) of the m-tiles of a C-tile stack, as (tile, half) -> row within the warp's tile.
__device__ __forceinline__ int c_tile_row(int m_tile, int half) { return m_tile * 16 + half * 8 + (threadIdx.x % 32) / 4; }

// Write a warp's C tiles c[m][n][4] as T into a [rows][cols] shared tile at (row0, col0).
template <typename T, typename Tile, int kMTiles, int kNTiles>
__device__ __forceinline__ void store_c_smem(T* tile, int row0, int col0, const float (&c)[kMTiles][kNTiles][4]) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int m = 0; m < kMTiles; ++m)
#pragma unroll
    for (int n = 0; n < kNTiles; ++n)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int col = col0 + n * 8 + 2 * (lane % 4);
        *reinterpret_cast<uint32_t*>(tile + Tile::offset(row0 + c_tile_row(m, h), col / 8) + col % 8) =
            mma::ElementTraits<T>::pack(c[m][n][2 * h], c[m][n][2 * h + 1]);
      }
}

// Where a warp's S tile sits, for the mask: query and key of its element (0, 0).
struct MaskCoords {
  int q0, k0, seqlen_k, causal_offset;
  bool is_causal;
  bool needed;  // false: no element of the tile is masked
};

// P = exp2(scale_log2 * S - lse) of a warp's S tiles (0 where masked), handed over a pair at a time
// as emit(m, n, h, p(row h*8 + g, col 2t), p(row h*8 + g, col 2t + 1)); lse: the natural-log lse of
// the tile's rows (shared memory).
template <bool kMasked, int kMTiles, int kNTiles, typename Emit>
__device__ __forceinline__ void exp_scores_impl(const float (&s)[kMTiles][kNTiles][4], const float* lse, float scale_log2,
                                           const MaskCoords& mask, Emit&& emit) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int m = 0; m < kMTiles; ++m)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int q = c_tile_row(m, h);
      const float row_lse = lse[q] * kLog2e;
#pragma unroll
      for (int n = 0; n < kNTiles; ++n) {
        float pv[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float x = fmaf(s[m][n][2 * h + e], scale_log2, -row_lse);
          if constexpr (kMasked) {
            if (is_masked(mask.q0 + q, mask.k0 + n * 8 + 2 * (lane % 4) + e, mask.seqlen_k, mask.causal_offset,
                          mask.is_causal))
              x = -INFINITY;
          }
          pv[e] = fast_exp2(x);
        }
        emit(m, n, h, pv[0], pv[1]);
      }
    }
}

// The same, with the mask test compiled in only when the tile needs it (the block's diagonal and the
// sequence end): most steps run the plain loop.
template <int kMTiles, int kNTiles, typename Emit>
__device__ __forceinline__ void exp_scores(const float (&s)[kMTiles][kNTiles][4], const float* lse, float scale_log2,
                                           const MaskCoords& mask, Emit&& emit) {
  if (mask.needed) {
    exp_scores_impl<true>(s, lse, scale_log2, mask, emit);
  } else {
    exp_scores_impl<false>(s, lse, scale_log2, mask, emit);
  }
}

// dS = P * (dP - dsum) in place of a warp's dP tiles, P given as fp16 pairs p[m][n][h] (rows h*8 + g,
// columns 2t, 2t + 1 of C tile (m, n)); dsum: the tile's rows (shared memory).
template <int kMTiles, int kNTiles>
__device__ __forceinline__ void scores_to_ds(float (&dp)[kMTiles][kNTiles][4], const uint32_t (&p)[kMTiles][kNTiles][2],
                                             const float* dsum) {
#pragma unroll
  for (int m = 0; m < kMTiles; ++m)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float row_dsum = dsum[c_tile_row(m, h)];
#pragma unroll
      for (int n = 0; n < kNTiles; ++n) {
        const float2 pv = mma::ElementTraits<__half>::unpack(p[m][n][h]);
        dp[m][n][2 * h] = pv.x * (dp[m][n][2 * h] - row_dsum);
        dp[m][n][2 * h + 1] = pv.y * (dp[m][n][2 * h + 1] - row_dsum);
      }
    }
}

template <typename T, int kHeadDim, int kBlockM, int kBlockN, int kNumWarps, bool kComputeDq>
__global__ void __launch_bounds__(kNumWarps * 32)
    attention_bwd_dkdv_kernel(const __grid_constant__ AttentionBwdParams p, const float* dsum, float* dq_accum) {
  using Traits = BwdKernelTraits<T, kHeadDim, kBlockM, kBlockN, kNumWarps>;
  using QTile = typename Traits::QTile;
  using KvTile = typename Traits::KvTile;
  using PTile = typename Traits::PTile;
  constexpr int kSdpM = Traits::kSdpMTiles, kSdpN = Traits::kSdpNTiles;
  // Fragments requested two MMA steps ahead: at d = 128, 22.56 -> 21.94 ms (S = 16k); at d = 64
  // (128-query steps, 255 registers) one step ahead is faster (23.76 vs 24.61 ms).
  // P from S before dP is computed (kept as fp16 pairs for dS) where S and dP in fp32 together would
  // take 128 registers per thread (block_m = 128): d = 64 22.41 -> 21.75 ms at S = 16k. With
  // block_m = 64 (32 registers each) the two GEMMs back to back and P, dS in one loop are faster
  // (d = 128: 19.93 against 20.62 ms for the early-P code, measured in the same run).
#ifdef TESSERA_BWD_EARLY_P
  constexpr bool kEarlyP = TESSERA_BWD_EARLY_P;
#else
  constexpr bool kEarlyP = kBlockM == 128;
#endif
#ifdef TESSERA_BWD_AHEAD  // sweeps in dev/kernels
  constexpr int kAhead = TESSERA_BWD_AHEAD;
#else
  constexpr int kAhead = kHeadDim > 64 ? 2 : 1;
#endif

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
  T* sP = sdO + 2 * QTile::kElements;      // P  [query][key]
  T* sdS = sP + PTile::kElements;          // dS [query][key]
  float* sLse = reinterpret_cast<float*>(sdS + PTile::kElements);  // [2][kBlockM], natural log
  float* sDsum = sLse + 2 * kBlockM;                                // [2][kBlockM]

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  // S / dP tiling: this warp's queries and keys within the block.
  const int sdp_q0 = (warp % Traits::kSdpWarpsM) * kSdpM * 16;
  const int sdp_k0 = (warp / Traits::kSdpWarpsM) * kSdpN * 8;
  // dK / dV tiling: this warp's keys and head-dim columns.
  const int kv_k0 = (warp % Traits::kKvWarpsN) * Traits::kKvMTiles * 16;
  const int kv_d0 = (warp / Traits::kKvWarpsN) * Traits::kKvNTiles * 8;

  float dk[Traits::kKvMTiles][Traits::kKvNTiles][4], dv[Traits::kKvMTiles][Traits::kKvNTiles][4];
  zero(dk);
  zero(dv);

  // Loads Q, dO and the lse and dsum rows of walk step (query head q_in_group, query block m_idx)
  // into buffer `buf`, all with cp.async in one group: no thread waits on a global load outside the
  // top-of-step barrier, and the stat loads are spread over 2 * block_m threads. lse stays in
  // natural-log units in shared memory; rows past the sequence read 0 for both (their Q and dO rows
  // are zero, so P = 1 there multiplies only zeros and dS = 0).
  auto load_step = [&](int q_in_group, int m_idx, int buf) {
    const int head = kv_head * group + q_in_group;
    const int m0 = (m_block_min + m_idx) * kBlockM;
    const SeqSlice q_seq = seq_slice(p.q_strides, shape.cu_seqlens_q, shape.seqlen_q, batch, head);
    const SeqSlice do_seq = seq_slice(p.dout_strides, shape.cu_seqlens_q, shape.seqlen_q, batch, head);
    load_tile_async<kBlockM, kHeadDim, Traits::kThreads>(sQ + buf * QTile::kElements,
                                                          static_cast<const T*>(p.q) + q_seq.offset, q_seq.row_stride,
                                                          m0, seqlen_q);
    load_tile_async<kBlockM, kHeadDim, Traits::kThreads>(sdO + buf * QTile::kElements,
                                                          static_cast<const T*>(p.dout) + do_seq.offset,
                                                          do_seq.row_stride, m0, seqlen_q);
    static_assert(2 * kBlockM <= Traits::kThreads, "one thread per stat row");
    if (threadIdx.x < 2 * kBlockM) {
      const bool is_lse = threadIdx.x < kBlockM;
      const int i = is_lse ? threadIdx.x : threadIdx.x - kBlockM;
      const int row = m0 + i;
      const float* src = (is_lse ? p.lse : dsum) + row_stat_offset(shape, batch, head) + row;
      float* dst = (is_lse ? sLse : sDsum) + buf * kBlockM + i;
      mma::cp_async_4(mma::smem_addr(dst), row < seqlen_q ? src : dsum, row < seqlen_q);
    }
    mma::cp_async_commit();
  };


  if (iters > 0) {
    const float scale_log2 = shape.softmax_scale * kLog2e;
    load_tile_async<kBlockN, kHeadDim, Traits::kThreads>(sK, static_cast<const T*>(p.k) + k_seq.offset,
                                                          k_seq.row_stride, n0, seqlen_k);
    load_tile_async<kBlockN, kHeadDim, Traits::kThreads>(sV, static_cast<const T*>(p.v) + v_seq.offset,
                                                          v_seq.row_stride, n0, seqlen_k);
    load_step(0, 0, 0);
    int cur_q = 0, cur_m = 0;  // this step's coordinates (counters: no divisions in the loop)

    for (int it = 0; it < iters; ++it) {
      const int buf = it & 1;
      if (it + 1 < iters) {
        const bool wrap = cur_m + 1 == num_m;
        load_step(wrap ? cur_q + 1 : cur_q, wrap ? 0 : cur_m + 1, buf ^ 1);
        mma::cp_async_wait<1>();
      } else {
        mma::cp_async_wait<0>();
      }
      __syncthreads();
      const int head = kv_head * group + cur_q;
      const int m0 = (m_block_min + cur_m) * kBlockM;
      const T* sQb = sQ + buf * QTile::kElements;
      const T* sdOb = sdO + buf * QTile::kElements;
      const float* lse = sLse + buf * kBlockM;
      const float* ds = sDsum + buf * kBlockM;

      if constexpr (kEarlyP) {
        // S, then P at once, kept as fp16 pairs (P <= 1: fp16's 11-bit mantissa keeps it closer than
        // bf16 would) before dP's accumulators go live: 64 + 32 registers instead of 128. The mask
        // coordinates are built after the S products, so that nothing of them is live across those.
        uint32_t p16[kSdpM][kSdpN][2];
        {
          float s[kSdpM][kSdpN][4];
          zero(s);
          warp_gemm_ss<T, ALayout::kMK, BLayout::kNT, QTile, KvTile, kHeadDim / 16, kAhead>(s, sQb, sdp_q0, 0, sK, sdp_k0, 0);
          const bool needs_mask =
              n0 + kBlockN > seqlen_k || (shape.is_causal && n0 + kBlockN - 1 > m0 + causal_offset);
          const MaskCoords mask{m0 + sdp_q0, n0 + sdp_k0, seqlen_k, causal_offset, shape.is_causal, needs_mask};
          exp_scores(s, lse + sdp_q0, scale_log2, mask, [&](int m, int n, int h, float lo, float hi) {
            p16[m][n][h] = mma::ElementTraits<__half>::pack(lo, hi);
            const int col = sdp_k0 + n * 8 + 2 * (lane % 4);
            *reinterpret_cast<uint32_t*>(sP + PTile::offset(sdp_q0 + c_tile_row(m, h), col / 8) + col % 8) =
                std::is_same_v<T, __half> ? p16[m][n][h] : mma::ElementTraits<T>::pack(lo, hi);
          });
        }
        float dp[kSdpM][kSdpN][4];
        zero(dp);
        warp_gemm_ss<T, ALayout::kMK, BLayout::kNT, QTile, KvTile, kHeadDim / 16, kAhead>(dp, sdOb, sdp_q0, 0, sV, sdp_k0, 0);
        scores_to_ds(dp, p16, ds + sdp_q0);
        store_c_smem<T, PTile>(sdS, sdp_q0, sdp_k0, dp);
      } else {
        float s[kSdpM][kSdpN][4], dp[kSdpM][kSdpN][4];
        zero(s);
        zero(dp);
        warp_gemm_ss<T, ALayout::kMK, BLayout::kNT, QTile, KvTile, kHeadDim / 16, kAhead>(s, sQb, sdp_q0, 0, sK, sdp_k0, 0);
        warp_gemm_ss<T, ALayout::kMK, BLayout::kNT, QTile, KvTile, kHeadDim / 16, kAhead>(dp, sdOb, sdp_q0, 0, sV, sdp_k0, 0);
        // P = exp2(scale_log2 * S - lse) (0 where masked), dS = P * (dP - dsum); both to shared memory.
        // The mask test is compiled only into the steps that need it (the block's diagonal and the
        // sequence end): most steps run the plain loop.
        auto p_and_ds = [&](auto masked) {
#pragma unroll
          for (int m = 0; m < kSdpM; ++m)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              const int q = sdp_q0 + c_tile_row(m, h);
              const float row_lse = lse[q] * kLog2e, row_dsum = ds[q];
#pragma unroll
              for (int n = 0; n < kSdpN; ++n)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                  float x = fmaf(s[m][n][2 * h + e], scale_log2, -row_lse);
                  if constexpr (decltype(masked)::value) {
                    if (is_masked(m0 + q, n0 + sdp_k0 + n * 8 + 2 * (lane % 4) + e, seqlen_k, causal_offset,
                                  shape.is_causal))
                      x = -INFINITY;
                  }
                  const float pv = fast_exp2(x);
                  s[m][n][2 * h + e] = pv;
                  dp[m][n][2 * h + e] = pv * (dp[m][n][2 * h + e] - row_dsum);
                }
            }
        };
        const bool needs_mask = n0 + kBlockN > seqlen_k || (shape.is_causal && n0 + kBlockN - 1 > m0 + causal_offset);
        if (needs_mask) {
          p_and_ds(std::true_type{});
        } else {
          p_and_ds(std::false_type{});
        }
        store_c_smem<T, PTile>(sP, sdp_q0, sdp_k0, s);
        store_c_smem<T, PTile>(sdS, sdp_q0, sdp_k0, dp);
      }
      __syncthreads();  // P and dS of the whole block are in shared memory

      // dV += P^T dO and dK += dS^T Q for this warp's keys and columns: P^T / dS^T are read
      // transposed from the [query][key] tiles (k = queries).
      warp_gemm_ss<T, ALayout::kKM, BLayout::kNN, PTile, QTile, kBlockM / 16, kAhead>(dv, sP, 0, kv_k0 / 8, sdOb, 0, kv_d0 / 8);

      if constexpr (kComputeDq) {
        // dQ(block) += dS K for this warp's queries and columns, added into the fp32 accumulator.
        constexpr int kDqM = Traits::kDqMTiles, kDqN = Traits::kDqNTiles;
        const int dq_q0 = (warp % Traits::kDqWarpsM) * kDqM * 16;
        const int dq_d0 = (warp / Traits::kDqWarpsM) * kDqN * 8;
        float dq[kDqM][kDqN][4];
        zero(dq);
        warp_gemm_ss<T, ALayout::kMK, BLayout::kNN, PTile, KvTile, kBlockN / 16, kAhead>(dq, sdS, dq_q0, 0, sK, 0, dq_d0 / 8);
        // One 8-byte vector reduction (sm_90) per pair of columns instead of two scalar atomics: the
        // backward went from 29.9 to 25.2 ms at B=1 H=16 S=16k D=128 (docs/perf-notes.md). The
        // accumulator is padded and head-major (tile_config.h): no row test, and every address below
        // is `acc` plus a compile-time offset.
        float* acc = dq_accum_seq<kHeadDim>(dq_accum, shape, batch, head) +
                     (static_cast<int64_t>(m0) + dq_q0 + lane / 4) * kHeadDim + dq_d0 + 2 * (lane % 4);
#pragma unroll
        for (int m = 0; m < kDqM; ++m)
#pragma unroll
          for (int h = 0; h < 2; ++h)
#pragma unroll
            for (int n = 0; n < kDqN; ++n)
              atomicAdd(reinterpret_cast<float2*>(acc + (m * 16 + h * 8) * kHeadDim + n * 8),
                        make_float2(dq[m][n][2 * h], dq[m][n][2 * h + 1]));
      }
      // dK after dQ: the dQ atomics' operand reads then overlap the dK products.
      warp_gemm_ss<T, ALayout::kKM, BLayout::kNN, PTile, QTile, kBlockM / 16, kAhead>(dk, sdS, 0, kv_k0 / 8, sQb, 0, kv_d0 / 8);
      __syncthreads();  // buffer `buf`, P and dS are free for the next step
      if (++cur_m == num_m) cur_m = 0, ++cur_q;
    }
  }

  // Epilogue: dK = scale * sum dS^T Q, dV = sum P^T dO, rows of keys inside the sequence.
  const SeqSlice dk_seq = seq_slice(p.dk_strides, shape.cu_seqlens_k, shape.seqlen_k, batch, kv_head);
  const SeqSlice dv_seq = seq_slice(p.dv_strides, shape.cu_seqlens_k, shape.seqlen_k, batch, kv_head);
#pragma unroll
  for (int m = 0; m < Traits::kKvMTiles; ++m) {
    store_c_rows<T>(static_cast<T*>(p.dk) + dk_seq.offset + kv_d0, dk_seq.row_stride, n0 + kv_k0 + m * 16, seqlen_k,
                    dk[m], shape.softmax_scale, shape.softmax_scale);
    store_c_rows<T>(static_cast<T*>(p.dv) + dv_seq.offset + kv_d0, dv_seq.row_stride, n0 + kv_k0 + m * 16, seqlen_k,
                    dv[m], 1.f, 1.f);
  }
}

}  // namespace tessera::kernels::attention
