// kernels/attention/tile.cuh — the pieces every attention mainloop shares: where a sequence's rows
// start (fixed-length or varlen), shared-memory tiles of [rows][head_dim] 16-bit elements with a
// bank-conflict-free layout, and the cp.async loader that fills them from a strided global tensor.
//
// Shared-memory layout of a tile: rows of `kCols` elements cut into 16-byte chunks (8 elements).
//   kCols % 64 == 0: chunk c of row r lives at chunk (c ^ (r % 8)) of the same row (XOR swizzle):
//                    8 consecutive rows of one logical chunk hit 8 different bank groups, so every
//                    ldmatrix phase and every cp.async store is conflict-free.
//   otherwise (96):  rows are padded by one chunk (stride kCols + 8): same property, 8% more space.
// All addressing is in elements; 64-bit wherever a global offset is formed (tensors may exceed 2^31).
#pragma once

#include <cstdint>

#include "kernels/attention/params.h"
#include "kernels/common/mma.cuh"

namespace tessera::kernels::attention {

template <int kRows, int kCols>
struct SmemTile {
  static constexpr bool kSwizzled = kCols % 64 == 0;
  static constexpr int kStride = kSwizzled ? kCols : kCols + 8;
  static constexpr int kElements = kRows * kStride;
  static constexpr int kBytes = kElements * 2;

  // Element offset of logical 16-byte chunk `chunk` of `row`.
  static __device__ __forceinline__ int offset(int row, int chunk) {
    const int phys = kSwizzled ? (chunk ^ (row & 7)) : chunk;
    return row * kStride + phys * 8;
  }
};

// Rows of one (sequence, head) slice of a [.., seq, heads, head_dim] tensor.
struct SeqSlice {
  int64_t offset;  // element offset of row 0 of this sequence and head
  int64_t row_stride;
  int32_t len;     // rows in this sequence
};

// Where sequence `b` starts in a tensor with `strides`, for head `head`. Varlen tensors are packed
// [total, heads, dim] and the start row comes from cu_seqlens; fixed ones use the batch stride.
__device__ __forceinline__ SeqSlice seq_slice(const AttentionStrides& strides, const int32_t* cu_seqlens,
                                              int32_t fixed_len, int b, int head) {
  SeqSlice s;
  s.row_stride = strides.row;
  if (cu_seqlens != nullptr) {
    const int32_t start = cu_seqlens[b];
    s.len = cu_seqlens[b + 1] - start;
    s.offset = static_cast<int64_t>(start) * strides.row + static_cast<int64_t>(head) * strides.head;
  } else {
    s.len = fixed_len;
    s.offset = static_cast<int64_t>(b) * strides.batch + static_cast<int64_t>(head) * strides.head;
  }
  return s;
}

// Offset of row 0 of (sequence b, head) in a per-row fp32 statistic (lse, the backward's dsum):
// [batch, heads, seqlen_q] when fixed-length, [heads, total_q] when varlen.
__device__ __forceinline__ int64_t row_stat_offset(const AttentionShape& shape, int b, int head) {
  return shape.cu_seqlens_q != nullptr ? static_cast<int64_t>(head) * shape.total_q + shape.cu_seqlens_q[b]
                                       : (static_cast<int64_t>(b) * shape.num_heads + head) * shape.seqlen_q;
}

// Copy rows [row0, row0 + kRows) of a slice into a shared tile with cp.async; rows at or past
// `valid_rows` are zero-filled (so masked keys multiply as 0, never as stale NaN). All threads of the
// CTA take part; the caller commits the group. Thread t copies chunk t % (chunks per row) of rows
// t / (chunks per row) + i * kRowsPerPass: when a pass covers a multiple of 8 rows, the swizzle of
// its chunk is the same in every pass, so each further chunk is one 64-bit pointer add and an
// immediate shared offset (the per-chunk 64-bit index arithmetic was ~6% of the forward's stall
// samples at d = 128, rematerialized from the params under register pressure).
template <int kRows, int kCols, int kThreads, typename T>
__device__ __forceinline__ void load_tile_async(T* smem, const T* gmem, int64_t row_stride, int row0,
                                                int valid_rows) {
  using Tile = SmemTile<kRows, kCols>;
  constexpr int kChunksPerRow = kCols / 8;
  constexpr int kChunks = kRows * kChunksPerRow;
  static_assert(kChunks % kThreads == 0, "tile must split evenly over the CTA");
  if constexpr (kThreads % kChunksPerRow == 0 && (kThreads / kChunksPerRow) % 8 == 0) {
    constexpr int kRowsPerPass = kThreads / kChunksPerRow;
    const int r = static_cast<int>(threadIdx.x) / kChunksPerRow;
    const int c = static_cast<int>(threadIdx.x) % kChunksPerRow;
    const uint32_t dst = mma::smem_addr(smem + Tile::offset(r, c));
    const T* src = gmem + static_cast<int64_t>(row0 + r) * row_stride + c * 8;
    const int64_t pass_stride = kRowsPerPass * row_stride;
#pragma unroll
    for (int i = 0; i < kChunks / kThreads; ++i) {
      const bool valid = row0 + r + i * kRowsPerPass < valid_rows;
      mma::cp_async_16(dst + i * kRowsPerPass * Tile::kStride * 2, valid ? src : gmem, valid);
      src += pass_stride;
    }
  } else {
#pragma unroll
    for (int i = 0; i < kChunks / kThreads; ++i) {
      const int idx = i * kThreads + static_cast<int>(threadIdx.x);
      const int r = idx / kChunksPerRow;
      const int c = idx % kChunksPerRow;
      const int grow = row0 + r;
      const bool valid = grow < valid_rows;
      const T* src = valid ? gmem + static_cast<int64_t>(grow) * row_stride + c * 8 : gmem;
      mma::cp_async_16(mma::smem_addr(smem + Tile::offset(r, c)), src, valid);
    }
  }
}

// Flip the sign of the chunks of a [kRows][kCols] tile that this thread loaded with load_tile_async
// (the same thread-to-chunk map, so no barrier is needed after its own cp.async group completed).
template <int kRows, int kCols, int kThreads, typename T>
__device__ __forceinline__ void negate_tile_own_chunks(T* smem) {
  using Tile = SmemTile<kRows, kCols>;
  constexpr int kChunksPerRow = kCols / 8;
  constexpr int kChunks = kRows * kChunksPerRow;
#pragma unroll
  for (int i = 0; i < kChunks / kThreads; ++i) {
    const int idx = i * kThreads + static_cast<int>(threadIdx.x);
    uint4* chunk = reinterpret_cast<uint4*>(smem + Tile::offset(idx / kChunksPerRow, idx % kChunksPerRow));
    uint4 v = *chunk;
    v.x ^= 0x80008000u, v.y ^= 0x80008000u, v.z ^= 0x80008000u, v.w ^= 0x80008000u;  // sign bits of fp16 / bf16
    *chunk = v;
  }
}

// exp2 on the SFU (ex2.approx, flushes denormals): the softmax's only transcendental.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Key blocks that queries [m0, m0 + block_m) can see: all of them, or under a causal mask those
// up to the diagonal of the block's last row (0 when even that row sees no key).
__device__ __forceinline__ int visible_key_blocks(int m0, int block_m, int block_n, int seqlen_k, int causal_offset,
                                                  bool causal) {
  int n_blocks = (seqlen_k + block_n - 1) / block_n;
  if (causal) {
    const int last_visible = m0 + block_m - 1 + causal_offset;
    n_blocks = min(n_blocks, last_visible < 0 ? 0 : last_visible / block_n + 1);
  }
  return n_blocks;
}

// Is key `col` hidden from query `row` (both 0-based within the sequence)?
// Causal masking is aligned bottom-right: row i sees keys j <= i + (seqlen_k - seqlen_q).
__device__ __forceinline__ bool is_masked(int row, int col, int seqlen_k, int causal_offset, bool causal) {
  return col >= seqlen_k || (causal && col > row + causal_offset);
}

}  // namespace tessera::kernels::attention
