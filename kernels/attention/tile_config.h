// kernels/attention/tile_config.h — every tile size of the mma.sync attention kernels, chosen in one
// place with its reason. Kernels read nothing else: change a size here and every instantiation follows.
//
// Constraints the kernels rely on:
//   block_m == num_warps * 16 * warp_m_tiles   (each warp owns warp_m_tiles stacked 16-row mma tiles)
//   block_n % 16 == 0, head_dim % 16 == 0
//   shared memory <= 227 KB per CTA (H100/H200 opt-in limit)
#pragma once

namespace tessera::kernels::attention {

struct FwdTiles {
  int block_m;       // query rows per CTA
  int block_n;       // keys per main-loop step
  int num_warps;     // warps per CTA, all split along the query rows
  int warp_m_tiles;  // 16-row mma tiles per warp
};

// Forward. The per-thread register budget (255) is what bounds the tiles: each thread holds
// warp_m_tiles * head_dim / 2 fp32 of O and warp_m_tiles * block_n / 2 fp32 of S.
//  - d = 64: 4 warps x 32 rows. Two m-tiles per warp reuse every K/V fragment loaded from shared
//    memory twice, halving ldmatrix traffic per FLOP; O + S are 128 registers (231 used, no spill).
//  - d = 96: 8 warps x 16 rows. Two m-tiles spilled 72 bytes; one m-tile with 8 warps keeps the
//    128-row CTA (the K/V tile is shared by 8 warps).
//  - d = 128: 128 x 64 with 4 warps x 2 m-tiles, as d = 64: each K/V fragment feeds two m-tiles. It
//    spilled 208 bytes while every ldmatrix resolved its own swizzled address; with the XOR
//    addressing of warp_gemm.cuh it keeps 88-112 bytes of spilled loop invariants (the cp.async
//    source pointers, reloaded once per key block) and beat 64 x 64 x 4 warps (220 registers, no
//    spill) by 8-10% non-causal and 0-3% causal on the H200 (docs/perf-notes.md). 8 warps x 1 m-tile
//    and block_n = 32 lost in earlier sweeps.
//  - d = 256: 64 x 32 with 4 warps: O alone is 128 registers per thread; 64 keys per step spilled
//    272 bytes, 32 keys halve S.
constexpr FwdTiles fwd_tiles(int head_dim) {
#ifdef TESSERA_FWD_SWEEP_D  // tile sweeps in dev/kernels/sweep_fwd.sh
  if (head_dim == TESSERA_FWD_SWEEP_D) return {TESSERA_FWD_SWEEP_BM, TESSERA_FWD_SWEEP_BN, TESSERA_FWD_SWEEP_WARPS, TESSERA_FWD_SWEEP_MT};
#endif
  if (head_dim <= 64) return {128, 64, 4, 2};
  if (head_dim <= 96) return {128, 64, 8, 1};
  if (head_dim <= 128) return {128, 64, 4, 2};
  return {64, 32, 4, 1};
}

struct BwdTiles {
  int block_m;       // dK/dV pass: query rows per inner step
  int block_n;       // dK/dV pass: keys per CTA
  int num_warps;     // dK/dV pass: warps, tiled 2-D per product (bwd_kernel.cuh)
  int dq_block_m;    // dQ pass (deterministic mode): query rows per CTA, 16 per warp
  int dq_block_n;    // dQ pass: keys per step
};

// Backward, dK/dV pass: each CTA owns block_n = 128 keys of one KV head (so dK, dV accumulate in
// registers with no atomics, GQA included: the CTA loops over the query heads of its group) and
// walks the query blocks. Per thread: dK and dV take 2 x 128 * head_dim / 256 fp32 registers, S and
// dP 2 x block_m * 128 / 256: 192 at d = 128 with block_m = 64; d = 64 affords block_m = 128
// (twice the MMAs per barrier and per P/dS round trip). d = 256 (256 registers for dK + dV alone)
// is not offered by this generation (attention_bwd_supports_head_dim says so).
// The dQ pass (deterministic mode) has the forward's shape: block_m queries per CTA walking the keys.
constexpr int kBwdMaxHeadDim = 128;

// The fp32 dQ accumulator of the atomic path is head-major, [heads][padded rows][head_dim], and every
// sequence owns kDqAccumRowPad rows past its end (a multiple of every block_m): the dK/dV kernel then
// adds a whole block of rows with no bounds test, and every address of a thread's dQ reductions is
// one base pointer plus a compile-time offset (row pitch = head_dim). With [rows, heads, head_dim]
// each reduction row needed its own 64-bit address, and the registers those addresses were built in
// stalled on the reductions still reading them (ncu, d = 64: 11% of the samples on long scoreboard).
// Rows past a sequence receive only zeros (their Q and dO rows load as zeros) and are never read.
constexpr int kDqAccumRowPad = 128;
template <typename Shape>
constexpr int64_t dq_accum_rows(const Shape& s) {  // rows per head
  return s.cu_seqlens_q != nullptr ? s.total_q + static_cast<int64_t>(s.batch) * kDqAccumRowPad
                                   : static_cast<int64_t>(s.batch) *
                                         ((s.seqlen_q + kDqAccumRowPad - 1) / kDqAccumRowPad * kDqAccumRowPad);
}
constexpr BwdTiles bwd_tiles(int head_dim) {
#ifdef TESSERA_BWD_BM  // tile sweeps in dev/kernels
  if (head_dim == 64) return {TESSERA_BWD_BM, 128, 8, 64, 64};
#endif
  return {head_dim <= 64 ? 128 : 64, 128, 8, 64, 64};
}

}  // namespace tessera::kernels::attention
