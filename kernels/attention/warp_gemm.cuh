// kernels/attention/warp_gemm.cuh — one warp's C += A * B over mma.sync m16n8k16, with operands
// in shared-memory tiles (SmemTile layouts) or, for A, in registers. The attention kernels are five
// such products; each names where its operands live and in which orientation:
//
//   A from smem, [m][k] row-major                      : Q in S = Q K^T, K in S^T = K Q^T
//   A from smem, stored transposed as [k][m]           : dS^T tile when dQ = dS K
//   A from registers (a C tile of the previous mma)    : P in O = P V, dS in dK = dS^T Q
//   B "nt": stored as [n][k] (B^T row-major)           : K in Q K^T, dO in V dO^T
//   B "nn": stored as [k][n] (row-major), read .trans  : V in P V, dO in P^T dO, Q in dS^T Q
//
// Tiles: acc[kMTiles][kNTiles][4] is kMTiles 16-row x kNTiles 8-column C tiles. Offsets (row0,
// chunk0) are in rows and 16-byte chunks of the shared tiles; the k extent is kKSteps x 16.
#pragma once

#include <cstdint>

#include "kernels/attention/tile.cuh"
#include "kernels/common/mma.cuh"

namespace tessera::kernels::attention {

enum class BLayout { kNT, kNN };
enum class ALayout { kMK, kKM };

template <int kMTiles, int kNTiles>
__device__ __forceinline__ void zero(float (&acc)[kMTiles][kNTiles][4]) {
#pragma unroll
  for (int m = 0; m < kMTiles; ++m)
#pragma unroll
    for (int n = 0; n < kNTiles; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[m][n][e] = 0.f;
}

// The A fragments of k-step `ks` for kMTiles stacked m-tiles, from shared memory.
template <ALayout kA, typename ATile, int kMTiles, typename T>
__device__ __forceinline__ void load_a(uint32_t (&a)[kMTiles][4], const T* sA, int row0, int chunk0, int ks) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int m = 0; m < kMTiles; ++m) {
    if constexpr (kA == ALayout::kMK) {
      mma::ldmatrix_x4(a[m], mma::smem_addr(sA + ATile::offset(row0 + m * 16 + lane % 16, chunk0 + 2 * ks + lane / 16)));
    } else {
      // Stored [k][m]: matrix i of the x4 is (m half i % 2, k half i / 2).
      const int mi = lane / 8;
      mma::ldmatrix_x4_trans(a[m], mma::smem_addr(sA + ATile::offset(row0 + ks * 16 + (mi / 2) * 8 + lane % 8,
                                                                     chunk0 + 2 * m + mi % 2)));
    }
  }
}

// The B fragments of k-step `ks` for n-tiles 2*n2 and 2*n2+1: b[0..1] and b[2..3].
template <BLayout kB, typename BTile, typename T>
__device__ __forceinline__ void load_b_pair(uint32_t (&b)[4], const T* sB, int row0, int chunk0, int ks, int n2) {
  const int lane = threadIdx.x % 32;
  if constexpr (kB == BLayout::kNT) {
    mma::ldmatrix_x4(b, mma::smem_addr(sB + BTile::offset(row0 + n2 * 16 + (lane / 16) * 8 + lane % 8,
                                                          chunk0 + 2 * ks + (lane / 8) % 2)));
  } else {
    mma::ldmatrix_x4_trans(b, mma::smem_addr(sB + BTile::offset(row0 + ks * 16 + lane % 16, chunk0 + 2 * n2 + lane / 16)));
  }
}

// acc[m][2*n2 .. 2*n2+1] += a[m] * B for every n-tile pair of k-step `ks`, B from shared memory.
template <typename T, BLayout kB, typename BTile, int kMTiles, int kNTiles>
__device__ __forceinline__ void mma_row_of_b(float (&acc)[kMTiles][kNTiles][4], const uint32_t (&a)[kMTiles][4],
                                             const T* sB, int b_row0, int b_chunk0, int ks) {
  static_assert(kNTiles % 2 == 0, "n-tiles are loaded in pairs");
#pragma unroll
  for (int n2 = 0; n2 < kNTiles / 2; ++n2) {
    uint32_t b[4];
    load_b_pair<kB, BTile>(b, sB, b_row0, b_chunk0, ks, n2);
#pragma unroll
    for (int m = 0; m < kMTiles; ++m) {
      mma::mma_16816<T>(acc[m][2 * n2], a[m], b[0], b[1]);
      mma::mma_16816<T>(acc[m][2 * n2 + 1], a[m], b[2], b[3]);
    }
  }
}

// acc += A * B, both from shared memory.
template <typename T, ALayout kA, BLayout kB, typename ATile, typename BTile, int kKSteps, int kMTiles, int kNTiles>
__device__ __forceinline__ void warp_gemm_ss(float (&acc)[kMTiles][kNTiles][4], const T* sA, int a_row0, int a_chunk0,
                                             const T* sB, int b_row0, int b_chunk0) {
#pragma unroll
  for (int ks = 0; ks < kKSteps; ++ks) {
    uint32_t a[kMTiles][4];
    load_a<kA, ATile>(a, sA, a_row0, a_chunk0, ks);
    mma_row_of_b<T, kB, BTile>(acc, a, sB, b_row0, b_chunk0, ks);
  }
}

// acc += A * B with A given as fp32 C tiles c[kMTiles][2 * kKSteps][4] (rounded to T here) and B
// from shared memory.
template <typename T, BLayout kB, typename BTile, int kKSteps, int kMTiles, int kNTiles>
__device__ __forceinline__ void warp_gemm_rs(float (&acc)[kMTiles][kNTiles][4], const float (&c)[kMTiles][2 * kKSteps][4],
                                             const T* sB, int b_row0, int b_chunk0) {
#pragma unroll
  for (int ks = 0; ks < kKSteps; ++ks) {
    uint32_t a[kMTiles][4];
#pragma unroll
    for (int m = 0; m < kMTiles; ++m) mma::c_to_a<T>(a[m], c[m][2 * ks], c[m][2 * ks + 1]);
    mma_row_of_b<T, kB, BTile>(acc, a, sB, b_row0, b_chunk0, ks);
  }
}

// Store one 16-row C tile stack c[kTiles] (8 columns each) of one warp into a row-major T tensor:
// rows row0 + g (times scale_lo) and row0 + 8 + g (times scale_hi), columns 8j + 2t, 8j + 2t + 1;
// rows at or past valid_rows are skipped.
template <typename T, int kTiles>
__device__ __forceinline__ void store_c_rows(T* base, int64_t row_stride, int row0, int valid_rows,
                                             const float (&c)[kTiles][4], float scale_lo, float scale_hi) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = row0 + h * 8 + lane / 4;
    if (row >= valid_rows) continue;
    const float scale = h == 0 ? scale_lo : scale_hi;
    T* out = base + static_cast<int64_t>(row) * row_stride + 2 * (lane % 4);
#pragma unroll
    for (int j = 0; j < kTiles; ++j)
      *reinterpret_cast<uint32_t*>(out + j * 8) =
          mma::ElementTraits<T>::pack(c[j][2 * h] * scale, c[j][2 * h + 1] * scale);
  }
}

// Row (r = 0: g, r = 1: g + 8) and column (e = 0, 1) of element `e4` of a C tile, within the tile.
__device__ __forceinline__ int c_row(int e4) { return (e4 / 2) * 8 + (threadIdx.x % 32) / 4; }
__device__ __forceinline__ int c_col(int e4) { return 2 * (threadIdx.x % 4) + e4 % 2; }

}  // namespace tessera::kernels::attention
