// kernels/attention/warp_gemm.cuh — one warp's C += A * B over mma.sync m16n8k16, with operands
// in shared-memory tiles (SmemTile layouts) or, for A, in registers. The attention kernels are five
// such products; each names where its operands live and in which orientation:
//
//   A from smem, [m][k] row-major                      : Q in S = Q K^T, dO in dP = dO V^T, dS in dQ = dS K
//   A from smem, stored transposed as [k][m]           : P^T in dV = P^T dO, dS^T in dK = dS^T Q
//                                                        (P and dS are stored [query][key])
//   A from registers (a C tile of the previous mma)    : P in O = P V, dS in dQ = dS K (deterministic pass)
//   B "nt": stored as [n][k] (B^T row-major)           : K in Q K^T, V in dO V^T
//   B "nn": stored as [k][n] (row-major), read .trans  : V in P V, dO in P^T dO, Q in dS^T Q, K in dS K
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

// ldmatrix addressing. Each lane resolves the shared-memory byte address of its own row and chunk
// of a tile once (`lane_base`); the fragment of any m-tile / k-step / n-pair is then that address
// moved by dr rows (a multiple of 8, so row % 8 and the swizzle pattern stay) and dc chunks (even,
// while the lane's own chunk is 0 or 1). In a swizzled tile a chunk move is a XOR of the address
// (tile bases are aligned to a row group, see kSmemAlign): one LOP3 per ldmatrix and no address
// registers, where resolving every fragment's swizzled offset made ptxas keep dozens of them live
// (208 bytes of spill at d = 128 with two m-tiles per warp).
constexpr int kSmemAlign = 1024;  // alignment of every kernel's dynamic shared memory

// The XOR addressing above is only right on an aligned tile base: fail loudly (a trapped launch)
// rather than read the wrong chunks should dynamic shared memory ever start unaligned.
__device__ __forceinline__ void check_smem_alignment(const void* smem) {
  if (threadIdx.x == 0 && mma::smem_addr(smem) % kSmemAlign != 0) __trap();
}

template <typename Tile, typename T>
__device__ __forceinline__ uint32_t lane_base(const T* tile, int row, int chunk) {
  return mma::smem_addr(tile) + 2u * static_cast<uint32_t>(Tile::offset(row, chunk));
}
template <typename Tile>
__device__ __forceinline__ uint32_t tile_step(uint32_t base, int dr, int dc) {
  const uint32_t rows = static_cast<uint32_t>(dr * Tile::kStride * 2);
  if constexpr (Tile::kSwizzled) return (base ^ (static_cast<uint32_t>(dc) * 16u)) + rows;
  return base + static_cast<uint32_t>(dc) * 16u + rows;
}

// A operand of kMTiles stacked m-tiles starting at (row0, chunk0): the lane's base address.
template <ALayout kA, typename ATile, typename T>
__device__ __forceinline__ uint32_t a_lane_base(const T* sA, int row0) {
  const int lane = threadIdx.x % 32;
  if constexpr (kA == ALayout::kMK) return lane_base<ATile>(sA, row0 + lane % 16, lane / 16);
  // Stored [k][m]: matrix i of the x4 is (m half i % 2, k half i / 2).
  const int mi = lane / 8;
  return lane_base<ATile>(sA, row0 + (mi / 2) * 8 + lane % 8, mi % 2);
}

// The A fragments of k-step `ks` for kMTiles stacked m-tiles, from shared memory.
template <ALayout kA, typename ATile, int kMTiles>
__device__ __forceinline__ void load_a(uint32_t (&a)[kMTiles][4], uint32_t a_base, int chunk0, int ks) {
#pragma unroll
  for (int m = 0; m < kMTiles; ++m) {
    if constexpr (kA == ALayout::kMK) {
      mma::ldmatrix_x4(a[m], tile_step<ATile>(a_base, m * 16, chunk0 + 2 * ks));
    } else {
      mma::ldmatrix_x4_trans(a[m], tile_step<ATile>(a_base, ks * 16, chunk0 + 2 * m));
    }
  }
}

// B operand starting at (row0, chunk0): the lane's base address.
template <BLayout kB, typename BTile, typename T>
__device__ __forceinline__ uint32_t b_lane_base(const T* sB, int row0) {
  const int lane = threadIdx.x % 32;
  if constexpr (kB == BLayout::kNT) return lane_base<BTile>(sB, row0 + (lane / 16) * 8 + lane % 8, (lane / 8) % 2);
  return lane_base<BTile>(sB, row0 + lane % 16, lane / 16);
}

// The B fragments of k-step `ks` for n-tiles 2*n2 and 2*n2+1: b[0..1] and b[2..3].
template <BLayout kB, typename BTile>
__device__ __forceinline__ void load_b_pair(uint32_t (&b)[4], uint32_t b_base, int chunk0, int ks, int n2) {
  if constexpr (kB == BLayout::kNT) {
    mma::ldmatrix_x4(b, tile_step<BTile>(b_base, n2 * 16, chunk0 + 2 * ks));
  } else {
    mma::ldmatrix_x4_trans(b, tile_step<BTile>(b_base, ks * 16, chunk0 + 2 * n2));
  }
}

// acc += A * B over kKSteps k-steps, B from shared memory, A from `load_a(a, ks)` (ldmatrix or a
// conversion of registers). Software-pipelined by one step: the fragments of (k-step, n-pair) t + 1
// are requested before the MMAs of step t issue, so each ldmatrix has four (two m-tiles: eight)
// MMAs to land behind instead of stalling the one right after it. ncu on the H200 (d = 128 forward,
// docs/perf-notes.md) showed the unpipelined loop waiting on ldmatrix for 1.3 of every 5.4 cycles
// between issues, four times FlashAttention-2's share.
template <typename T, BLayout kB, typename BTile, int kKSteps, int kAhead, int kMTiles, int kNTiles, typename LoadA>
__device__ __forceinline__ void pipelined_gemm(float (&acc)[kMTiles][kNTiles][4], LoadA&& load_a, uint32_t b_base,
                                               int b_chunk0) {
  static_assert(kNTiles % 2 == 0, "n-tiles are loaded in pairs");
  constexpr int kPairs = kNTiles / 2;
  constexpr int kSteps = kKSteps * kPairs;
  constexpr int kRing = kAhead + 1;  // fragments in flight: this step's and kAhead more
  uint32_t a[kRing][kMTiles][4];     // by k-step
  uint32_t b[kRing][4];              // by step
  auto request = [&](int t) {
    const int ks = t / kPairs, n2 = t % kPairs;
    if (n2 == 0) load_a(a[ks % kRing], ks);
    load_b_pair<kB, BTile>(b[t % kRing], b_base, b_chunk0, ks, n2);
  };
#pragma unroll
  for (int t = 0; t < kAhead && t < kSteps; ++t) request(t);
#pragma unroll
  for (int t = 0; t < kSteps; ++t) {
    const int ks = t / kPairs, n2 = t % kPairs;
    if (t + kAhead < kSteps) request(t + kAhead);
#pragma unroll
    for (int m = 0; m < kMTiles; ++m) {
      mma::mma_16816<T>(acc[m][2 * n2], a[ks % kRing][m], b[t % kRing][0], b[t % kRing][1]);
      mma::mma_16816<T>(acc[m][2 * n2 + 1], a[ks % kRing][m], b[t % kRing][2], b[t % kRing][3]);
    }
  }
}

// acc += A * B, both from shared memory; fragments requested kAhead steps ahead of their MMAs.
template <typename T, ALayout kA, BLayout kB, typename ATile, typename BTile, int kKSteps, int kAhead = 1, int kMTiles,
          int kNTiles>
__device__ __forceinline__ void warp_gemm_ss(float (&acc)[kMTiles][kNTiles][4], const T* sA, int a_row0, int a_chunk0,
                                             const T* sB, int b_row0, int b_chunk0) {
  const uint32_t a_base = a_lane_base<kA, ATile>(sA, a_row0);
  const uint32_t b_base = b_lane_base<kB, BTile>(sB, b_row0);
  pipelined_gemm<T, kB, BTile, kKSteps, kAhead>(
      acc, [&](uint32_t(&a)[kMTiles][4], int ks) { load_a<kA, ATile>(a, a_base, a_chunk0, ks); }, b_base, b_chunk0);
}

// acc += A * B with A given as fp32 C tiles c[kMTiles][2 * kKSteps][4] (rounded to T here) and B
// from shared memory.
template <typename T, BLayout kB, typename BTile, int kKSteps, int kMTiles, int kNTiles>
__device__ __forceinline__ void warp_gemm_rs(float (&acc)[kMTiles][kNTiles][4], const float (&c)[kMTiles][2 * kKSteps][4],
                                             const T* sB, int b_row0, int b_chunk0) {
  const uint32_t b_base = b_lane_base<kB, BTile>(sB, b_row0);
  pipelined_gemm<T, kB, BTile, kKSteps, 1>(
      acc,
      [&](uint32_t(&a)[kMTiles][4], int ks) {
#pragma unroll
        for (int m = 0; m < kMTiles; ++m) mma::c_to_a<T>(a[m], c[m][2 * ks], c[m][2 * ks + 1]);
      },
      b_base, b_chunk0);
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
