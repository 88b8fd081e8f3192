// kernels/attention/online_softmax.cuh — the online-softmax state of one attention row and its
// per-thread form over mma accumulator tiles. One type for every kernel that needs it: the prefill
// mainloop (this generation and the wgmma one), a split-KV combine and decode merge partial states
// with merge().
//
// Units: `max` is the running maximum of the scaled scores s * scale_log2 (scale_log2 = softmax_scale
// * log2(e), positive: a kernel given a negative scale negates Q instead), `sum` is
// sum_j exp2(s_j * scale_log2 - max). ThreadSoftmax::update takes the raw scores and scale_log2, so
// the scaling rides in the exponent's FFMA instead of a multiply per score.
// A row that has seen no visible key has max = -inf and sum = 0; nothing here ever computes
// (-inf) - (-inf).
#pragma once

#include <cmath>

#include "kernels/attention/tile.cuh"
#include "kernels/common/mma.cuh"

namespace tessera::kernels::attention {

struct SoftmaxState {
  float max;
  float sum;

  __device__ __forceinline__ static SoftmaxState empty() { return {-INFINITY, 0.f}; }

  // The max used as the exponent's offset: 0 for an empty row so exp2(-inf - 0) = 0, not NaN.
  __device__ __forceinline__ static float safe_offset(float m) { return m == -INFINITY ? 0.f : m; }

  // Combine two partial states of the same row (for instance two halves of the keys).
  __device__ __forceinline__ SoftmaxState merge(const SoftmaxState& o) const {
    const float m = fmaxf(max, o.max);
    const float off = safe_offset(m);
    return {m, sum * fast_exp2(max - off) + o.sum * fast_exp2(o.max - off)};
  }

  // Natural-log log-sum-exp of the scaled scores; +inf for an empty row (FlashAttention's convention,
  // so that the backward's exp(s * scale - lse) is exactly 0 there).
  __device__ __forceinline__ float lse() const {
    if (sum == 0.f || sum != sum) return INFINITY;
    return (max + __log2f(sum)) * 0.69314718055994531f;
  }
};

// The rows one thread owns in a warp's stack of kMTiles 16x8 C tiles: rows g and g+8 of each m-tile,
// indexed r = 2 * m_tile + (element / 2). Sums stay thread-partial (over this thread's columns) until
// finalize(), which reduces across the 4 lanes of the row: one shuffle pair per row per CTA tile
// instead of per key block.
template <int kMTiles>
struct ThreadSoftmax {
  static constexpr int kRows = 2 * kMTiles;
  SoftmaxState row[kRows];

  __device__ __forceinline__ void init() {
#pragma unroll
    for (int r = 0; r < kRows; ++r) row[r] = SoftmaxState::empty();
  }

  // Fold a tile of raw scores s[m][n][4] (masked ones -inf) in: updates max/sum, overwrites s with
  // the unnormalized probabilities exp2(s * scale_log2 - max), and returns in `rescale` the factor by
  // which each row's output accumulator must be multiplied (exp2 of the old max minus the new one).
  // scale_log2 > 0, so the max of the raw scores scales to the max of the scaled ones.
  template <int kNTiles>
  __device__ __forceinline__ void update(float (&s)[kMTiles][kNTiles][4], float scale_log2, float (&rescale)[kRows]) {
#pragma unroll
    for (int m = 0; m < kMTiles; ++m) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = 2 * m + h;
        float tile_max = -INFINITY;
#pragma unroll
        for (int n = 0; n < kNTiles; ++n) tile_max = fmaxf(tile_max, fmaxf(s[m][n][2 * h], s[m][n][2 * h + 1]));
        tile_max = mma::quad_max(tile_max) * scale_log2;
        const float new_max = fmaxf(row[r].max, tile_max);
        const float off = SoftmaxState::safe_offset(new_max);
        rescale[r] = fast_exp2(row[r].max - off);
        float tile_sum = 0.f;
#pragma unroll
        for (int n = 0; n < kNTiles; ++n) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const float p = fast_exp2(fmaf(s[m][n][2 * h + e], scale_log2, -off));
            s[m][n][2 * h + e] = p;
            tile_sum += p;
          }
        }
        row[r].max = new_max;
        row[r].sum = row[r].sum * rescale[r] + tile_sum;
      }
    }
  }

  // Reduce the thread-partial sums over the row's 4 lanes. After this every lane of a row agrees.
  __device__ __forceinline__ void finalize() {
#pragma unroll
    for (int r = 0; r < kRows; ++r) row[r].sum = mma::quad_sum(row[r].sum);
  }
};

}  // namespace tessera::kernels::attention
