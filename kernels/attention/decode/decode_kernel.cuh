// kernels/attention/decode/decode_kernel.cuh — paged attention over the KV cache (decode, the tail
// of a chunked prefill, draft tokens) and the split-KV combine, mma.sync generation.
//
// One CTA = one (sequence, KV head, block of query rows, key split). Its query rows are the new
// tokens times the query heads of the KV head ("row" rr = token qi * group + head g), so every key
// and value row is read once for the whole GQA group. Keys stream through a kStages-deep cp.async
// pipeline of kBlockN-key tiles gathered row by row through the block table (a key row of one KV
// head is head_dim contiguous elements; consecutive keys of a block are the cache's token stride
// apart, num_kv_heads * head_dim when dense). Two warp layouts:
//   kWarpsN = 4 (16 rows): decode. The 4 warps share the 16 query rows and each takes a quarter of
//                          every key tile; their softmax states merge in the epilogue.
//   kWarpsN = 1 (64 rows): many new tokens. Each warp owns 16 rows and reads all keys.
// Decode attention moves key/value bytes and does almost no math (a 16-row MMA per key for up to 16
// rows), so the design goal is bytes in flight: 2-3 stages of 16-32 KB per CTA, 1-3 CTAs per SM.
//
// Splits (flash-decoding): the CTA's visible keys are cut into num_splits ranges of whole tiles,
// decided on the device from the real length (the grid is fixed by the plan, so a captured graph
// replays with any lengths). With one split the epilogue writes out and lse; with several it writes
// each row's unnormalized fp32 output and its SoftmaxState into the workspace and the combine
// kernel merges them (SoftmaxState::merge, the prefill kernels' state type).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/attention/decode/decode.h"
#include "kernels/attention/decode/plan_detail.h"
#include "kernels/attention/online_softmax.cuh"
#include "kernels/attention/tile.cuh"
#include "kernels/attention/warp_gemm.cuh"

namespace tessera::kernels::attention::decode {

// Everything the kernels read, resolved on the host by the launcher.
struct DecodeArgs {
  const void* q;
  void* out;
  float* lse;
  const void* k_cache;
  const void* v_cache;
  const int32_t* cu_seqlens_q;
  const int32_t* seq_lens;
  const int32_t* block_table;
  float* ws_o;            // [num_splits, max_total_q, num_heads, head_dim] fp32 (unnormalized)
  float2* ws_state;       // [num_splits, max_total_q, num_heads] (max, sum) in log2 units
  int64_t q_token_stride, q_head_stride;
  int64_t out_token_stride, out_head_stride;
  int64_t cache_token_stride;  // PagedKvLayout::token_stride() (num_kv_heads * head_dim when dense)
  int64_t cache_head_stride;   // PagedKvLayout::head_stride() (head_dim when dense)
  int64_t cache_block_stride;  // PagedKvLayout::block_stride()
  int64_t max_total_q;
  int32_t num_seqs;
  int32_t num_heads;
  int32_t group;               // num_heads / num_kv_heads
  int32_t block_size;
  int32_t num_blocks;
  int32_t max_blocks_per_seq;
  int32_t num_splits;
  int32_t row_blocks;
  float scale_log2;            // |softmax_scale| * log2(e), > 0
  bool negate_q;               // softmax_scale < 0: Q is negated in shared memory instead
  bool causal;
};

template <int kHeadDim, int kWarpsN>
struct DecodeTraits {
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kWarpsM = kWarps / kWarpsN;
  static constexpr int kRows = 16 * kWarpsM;  // query rows per CTA
  static constexpr int kBlockN = kernels::decode::kBlockN;  // keys per pipeline stage (the plan's tile)
  static constexpr int kKeysPerWarp = kBlockN / kWarpsN;
  static constexpr int kStages = kHeadDim <= 64 ? 4 : kHeadDim <= 128 ? 3 : 2;
  using QTile = SmemTile<kRows, kHeadDim>;
  using KvTile = SmemTile<kBlockN, kHeadDim>;
  // Epilogue: each warp's fp32 output rows, padded by 8 floats so the fragment stores of 8 rows
  // fall into two wavefronts, then the (max, sum) of its 16 rows. Reuses the pipeline's space.
  static constexpr int kOStride = kHeadDim + 8;
  static constexpr int kEpilogueBytes = kWarps * 16 * kOStride * 4 + kWarps * 16 * 8;
  static constexpr int kPipeBytes = QTile::kBytes + kStages * 2 * KvTile::kBytes;
  static constexpr int kSmemBytes = kPipeBytes > kEpilogueBytes ? kPipeBytes : kEpilogueBytes;
  // CTAs the plan may count on per SM (228 KB of shared memory per SM, 1 KB reserved per CTA).
  static constexpr int kCtasPerSm = (228 * 1024) / (kSmemBytes + 1024) < 1 ? 1 : (228 * 1024) / (kSmemBytes + 1024);
  static_assert(kKeysPerWarp % 16 == 0, "a warp's key slice is whole MMA k-steps");
};

// Rows [0, kRowsTile) of a tile of the gathered keys and values of one KV head: key `key0 + r` of
// the sequence lives in block blocks[(key0 + r) / block_size]. Pass i of thread t copies 16-byte
// chunk (i * kThreads + t) of the tile, row-major: for a head dim whose chunks per row divide the
// threads (64, 128, 256) that is one chunk column per thread and kThreads / chunks rows apart per
// pass; for 96 (12 chunks a row) the rows and columns of a thread's passes differ. Keys at or past
// `key_end` and keys whose block id is out of range are zero-filled and read nothing. All threads
// take part.
template <int kHeadDim, int kRowsTile, int kThreads, typename T>
__device__ __forceinline__ void gather_kv_tile(T* sK, T* sV, const T* k_head, const T* v_head, const int32_t* blocks,
                                               int key0, int key_end, const DecodeArgs& a) {
  using Tile = SmemTile<kRowsTile, kHeadDim>;
  constexpr int kChunksPerRow = kHeadDim / 8;
  constexpr int kPasses = kRowsTile * kChunksPerRow / kThreads;
  static_assert(kRowsTile * kChunksPerRow % kThreads == 0, "the tile's chunks split evenly over the threads");
  const uint32_t bs = static_cast<uint32_t>(a.block_size);
  // Every pass's block id is loaded before the first copy is issued: the loads overlap instead of
  // each copy waiting on its own lookup.
  int32_t blk[kPasses];
  uint32_t in_block[kPasses];
#pragma unroll
  for (int i = 0; i < kPasses; ++i) {
    const int key = key0 + (i * kThreads + static_cast<int>(threadIdx.x)) / kChunksPerRow;
    const uint32_t j = static_cast<uint32_t>(key) / bs;
    in_block[i] = static_cast<uint32_t>(key) - j * bs;
    blk[i] = key < key_end ? __ldg(blocks + j) : -1;
  }
#pragma unroll
  for (int i = 0; i < kPasses; ++i) {
    const int idx = i * kThreads + static_cast<int>(threadIdx.x);
    const int r = idx / kChunksPerRow, c = idx % kChunksPerRow;
    const bool valid = static_cast<uint32_t>(blk[i]) < static_cast<uint32_t>(a.num_blocks);
    const int64_t off = static_cast<int64_t>(blk[i]) * a.cache_block_stride +
                        static_cast<int64_t>(in_block[i]) * a.cache_token_stride + c * 8;
    const int s_off = Tile::offset(r, c);
    mma::cp_async_16(mma::smem_addr(sK + s_off), valid ? k_head + off : k_head, valid);
    mma::cp_async_16(mma::smem_addr(sV + s_off), valid ? v_head + off : v_head, valid);
  }
}

template <typename T, int kHeadDim, int kWarpsN>
__global__ void __launch_bounds__(DecodeTraits<kHeadDim, kWarpsN>::kThreads, DecodeTraits<kHeadDim, kWarpsN>::kCtasPerSm)
    paged_attention_kernel(const DecodeArgs a) {
  using Tr = DecodeTraits<kHeadDim, kWarpsN>;
  using QTile = typename Tr::QTile;
  using KvTile = typename Tr::KvTile;
  constexpr int kBlockN = Tr::kBlockN;
  constexpr int kStages = Tr::kStages;
  constexpr int kNTiles = Tr::kKeysPerWarp / 8;  // S columns of one warp, in 8-key tiles
  constexpr int kOTiles = kHeadDim / 8;

  extern __shared__ __align__(kSmemAlign) unsigned char smem_raw[];
  check_smem_alignment(smem_raw);
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* sKV = sQ + QTile::kElements;  // stage s: K at sKV + 2s tiles, V right after

#ifdef TESSERA_DECODE_CTA_TIMES  // dev/kernels/cta_times.cu: when each CTA starts and ends, on which SM
  unsigned long long cta_start;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(cta_start));
#endif
  const int split = blockIdx.x;
  const int kvh = static_cast<int>(blockIdx.y) / a.row_blocks;
  const int row_block = static_cast<int>(blockIdx.y) % a.row_blocks;
  const int seq = blockIdx.z;
  const int tid = threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int wm = warp / kWarpsN, wn = warp % kWarpsN;

  // The combine kernel (launched with programmatic stream serialization) may start its CTAs now:
  // they wait in griddepcontrol.wait until this grid has finished and its writes are visible, so
  // their launch overlaps this kernel instead of following it.
  if (a.num_splits > 1) asm volatile("griddepcontrol.launch_dependents;");
  const int q_begin = a.cu_seqlens_q[seq];
  const int q_len = a.cu_seqlens_q[seq + 1] - q_begin;
  const int seq_len = a.seq_lens[seq];
  const int rows_total = q_len * a.group;
  const int row0 = row_block * Tr::kRows;
  if (row0 >= rows_total) return;  // no query rows here: nothing to write, in any mode
  const int rows_here = min(Tr::kRows, rows_total - row0);
  // Position of new token 0 (tokens are the tail of the sequence). Row rr sees keys <= q_pos0 + rr /
  // group when causal, all seq_len keys otherwise.
  const int q_pos0 = seq_len - q_len;
  const int last_qi = (row0 + rows_here - 1) / a.group;
  const int key_end = max(0, a.causal ? min(seq_len, q_pos0 + last_qi + 1) : seq_len);
  // Keys from which some row of this CTA is masked (causal: the first row's limit + 1).
  const int mask_from = a.causal ? max(0, q_pos0 + row0 / a.group + 1) : seq_len;

  // This split's tiles.
  const int tiles_total = (key_end + kBlockN - 1) / kBlockN;
  const int tiles_per_split = (tiles_total + a.num_splits - 1) / a.num_splits;
  const int tile_begin = min(tiles_total, split * tiles_per_split);
  const int tile_end = min(tiles_total, tile_begin + tiles_per_split);

  const T* q = static_cast<const T*>(a.q);
  const T* k_head = static_cast<const T*>(a.k_cache) + static_cast<int64_t>(kvh) * a.cache_head_stride;
  const T* v_head = static_cast<const T*>(a.v_cache) + static_cast<int64_t>(kvh) * a.cache_head_stride;
  const int32_t* blocks = a.block_table + static_cast<int64_t>(seq) * a.max_blocks_per_seq;

  // Q rows of this CTA (zero past the valid rows, so their scores are finite).
  {
    constexpr int kChunksPerRow = kHeadDim / 8;
    constexpr int kChunks = Tr::kRows * kChunksPerRow;
#pragma unroll
    for (int i = 0; i < (kChunks + Tr::kThreads - 1) / Tr::kThreads; ++i) {
      const int idx = i * Tr::kThreads + tid;
      if (kChunks % Tr::kThreads != 0 && idx >= kChunks) break;
      const int r = idx / kChunksPerRow, c = idx % kChunksPerRow;
      const int rr = row0 + r;
      const bool valid = r < rows_here;
      const T* src = q;
      if (valid) {
        const int qi = rr / a.group, g = rr % a.group;
        src = q + static_cast<int64_t>(q_begin + qi) * a.q_token_stride +
              static_cast<int64_t>(kvh * a.group + g) * a.q_head_stride + c * 8;
      }
      mma::cp_async_16(mma::smem_addr(sQ + QTile::offset(r, c)), src, valid);
    }
  }
  // Prologue: the first kStages - 1 tiles (one commit group each, empty groups included, so the
  // wait count below is the same in every iteration), then the block ids of the next one.
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (tile_begin + st < tile_end) {
      T* sK = sKV + 2 * st * KvTile::kElements;
      gather_kv_tile<kHeadDim, kBlockN, Tr::kThreads>(sK, sK + KvTile::kElements, k_head, v_head, blocks,
                                                                   (tile_begin + st) * kBlockN, key_end, a);
    }
    mma::cp_async_commit();
  }

  // Per-thread rows: g and g + 8 of this warp's m-tile; their last visible key.
  int row_limit[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int rr = row0 + wm * 16 + h * 8 + lane / 4;
    row_limit[h] = a.causal ? min(seq_len - 1, q_pos0 + rr / a.group) : seq_len - 1;
  }

  // A negative softmax_scale is folded into Q (the softmax needs a positive scale): each thread
  // flips the sign of the Q chunks it copied once they landed; the loop's first barrier publishes it.
  if (a.negate_q && tile_begin < tile_end) {
    mma::cp_async_wait<kStages - 2>();  // group 0: Q and the first tile
    constexpr int kChunksPerRow = kHeadDim / 8;
    constexpr int kChunks = Tr::kRows * kChunksPerRow;
#pragma unroll
    for (int i = 0; i < (kChunks + Tr::kThreads - 1) / Tr::kThreads; ++i) {
      const int idx = i * Tr::kThreads + tid;
      if (kChunks % Tr::kThreads != 0 && idx >= kChunks) break;
      uint4* chunk = reinterpret_cast<uint4*>(sQ + QTile::offset(idx / kChunksPerRow, idx % kChunksPerRow));
      uint4 v = *chunk;
      v.x ^= 0x80008000u, v.y ^= 0x80008000u, v.z ^= 0x80008000u, v.w ^= 0x80008000u;  // fp16 / bf16 sign bits
      *chunk = v;
    }
  }

  ThreadSoftmax<1> softmax;
  softmax.init();
  float o[1][kOTiles][4];
  zero(o);

  for (int tile = tile_begin; tile < tile_end; ++tile) {
    mma::cp_async_wait<kStages - 2>();
    __syncthreads();  // this tile is visible to all warps; the stage refilled below is consumed
    {
      const int next = tile + kStages - 1;
      if (next < tile_end) {
        T* sK = sKV + 2 * ((next - tile_begin) % kStages) * KvTile::kElements;
        gather_kv_tile<kHeadDim, kBlockN, Tr::kThreads>(sK, sK + KvTile::kElements, k_head, v_head,
                                                                     blocks, next * kBlockN, key_end, a);
      }
      mma::cp_async_commit();
    }
    const T* sK = sKV + 2 * ((tile - tile_begin) % kStages) * KvTile::kElements;
    const T* sV = sK + KvTile::kElements;

    float s[1][kNTiles][4];
    zero(s);
    warp_gemm_ss<T, ALayout::kMK, BLayout::kNT, QTile, KvTile, kHeadDim / 16>(s, sQ, wm * 16, 0, sK,
                                                                              wn * Tr::kKeysPerWarp, 0);
    const int key_base = tile * kBlockN + wn * Tr::kKeysPerWarp;
    if ((tile + 1) * kBlockN > mask_from || (tile + 1) * kBlockN > seq_len) {
#pragma unroll
      for (int n = 0; n < kNTiles; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (key_base + n * 8 + c_col(e) > row_limit[e / 2]) s[0][n][e] = -INFINITY;
    }
    float rescale[2];
    softmax.update(s, a.scale_log2, rescale);
#pragma unroll
    for (int n = 0; n < kOTiles; ++n) {
      o[0][n][0] *= rescale[0], o[0][n][1] *= rescale[0];
      o[0][n][2] *= rescale[1], o[0][n][3] *= rescale[1];
    }
    warp_gemm_rs<T, BLayout::kNN, KvTile, Tr::kKeysPerWarp / 16>(o, s, sV, wn * Tr::kKeysPerWarp, 0);
  }
  mma::cp_async_wait<0>();
  softmax.finalize();
  __syncthreads();  // every warp is done with the pipeline's shared memory

  // Epilogue: every warp's rows and states to shared memory, then merge the kWarpsN key slices.
  float* sO = reinterpret_cast<float*>(smem_raw);
  float2* sState = reinterpret_cast<float2*>(sO + Tr::kWarps * 16 * Tr::kOStride);
  {
    float* my = sO + warp * 16 * Tr::kOStride;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = h * 8 + lane / 4;
#pragma unroll
      for (int n = 0; n < kOTiles; ++n)
        *reinterpret_cast<float2*>(my + r * Tr::kOStride + n * 8 + 2 * (lane % 4)) =
            make_float2(o[0][n][2 * h], o[0][n][2 * h + 1]);
      if (lane % 4 == 0) sState[warp * 16 + r] = make_float2(softmax.row[h].max, softmax.row[h].sum);
    }
  }
  __syncthreads();

  constexpr int kQuads = kHeadDim / 4;  // float4 column groups per row
  const int total_q = a.cu_seqlens_q[a.num_seqs];
  for (int idx = tid; idx < Tr::kRows * kQuads; idx += Tr::kThreads) {
    const int r = idx / kQuads, c4 = idx % kQuads;
    if (r >= rows_here) break;  // idx grows with r
    const int m_tile = r / 16, rin = r % 16;
    SoftmaxState st = SoftmaxState::empty();
#pragma unroll
    for (int w = 0; w < kWarpsN; ++w) {
      const float2 sw = sState[(m_tile * kWarpsN + w) * 16 + rin];
      st = st.merge(SoftmaxState{sw.x, sw.y});
    }
    const float off = SoftmaxState::safe_offset(st.max);
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int w = 0; w < kWarpsN; ++w) {
      const int ww = m_tile * kWarpsN + w;
      const float wt = fast_exp2(sState[ww * 16 + rin].x - off);
      const float4 v = *reinterpret_cast<const float4*>(sO + (ww * 16 + rin) * Tr::kOStride + c4 * 4);
      acc.x += wt * v.x, acc.y += wt * v.y, acc.z += wt * v.z, acc.w += wt * v.w;
    }
    const int rr = row0 + r;
    const int token = q_begin + rr / a.group;
    const int head = kvh * a.group + rr % a.group;
    if (a.num_splits == 1) {
      const float inv = st.sum > 0.f ? 1.f / st.sum : 0.f;
      T* dst = static_cast<T*>(a.out) + static_cast<int64_t>(token) * a.out_token_stride +
               static_cast<int64_t>(head) * a.out_head_stride + c4 * 4;
      uint2 packed;
      packed.x = mma::ElementTraits<T>::pack(acc.x * inv, acc.y * inv);
      packed.y = mma::ElementTraits<T>::pack(acc.z * inv, acc.w * inv);
      *reinterpret_cast<uint2*>(dst) = packed;
      if (c4 == 0 && a.lse != nullptr) a.lse[static_cast<int64_t>(head) * total_q + token] = st.lse();
    } else if (token < a.max_total_q) {  // past the plan's bound there is no workspace row
      const int64_t ws_row = (static_cast<int64_t>(split) * a.max_total_q + token) * a.num_heads + head;
      *reinterpret_cast<float4*>(a.ws_o + ws_row * kHeadDim + c4 * 4) = acc;  // zeros when no key was seen
      if (c4 == 0) a.ws_state[ws_row] = make_float2(st.max, st.sum);
    }
  }
#ifdef TESSERA_DECODE_CTA_TIMES
  __syncthreads();
  if (tid == 0) {
    unsigned long long cta_end;
    unsigned smid;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(cta_end));
    asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
    const unsigned b = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    if (b < kDecodeCtaTimesCapacity) {
      g_decode_cta_times[b][0] = cta_start;
      g_decode_cta_times[b][1] = cta_end;
      g_decode_cta_times[b][2] = smid;
    }
  }
#endif
}

// Merge the num_splits partial results of one (token, head) row per CTA. Thread (g, quad) owns
// float4 column group `quad` of splits g, g + kGroups, ...; it issues the loads of kBatch of its
// splits (state and partial row) before it folds any of them in with SoftmaxState::merge, so at up
// to kGroups * kBatch splits (32 at head dim 128) the workspace, just written and sitting in L2, is
// one round trip away, not one per split. Then the kGroups partial results meet in shared memory.
// Splits that saw no key wrote state (-inf, 0) and a zero row, and weigh exactly 0.
constexpr int kCombineThreads = 256;

template <typename T, int kHeadDim>
__global__ void __launch_bounds__(kCombineThreads) paged_attention_combine_kernel(const DecodeArgs a) {
  constexpr int kQuads = kHeadDim / 4;
  constexpr int kGroups = kCombineThreads / kQuads;  // 10 at head dim 96: threads 240.. only sync
  constexpr int kBatch = 4;
  const int token = static_cast<int>(blockIdx.x) / a.num_heads, head = static_cast<int>(blockIdx.x) % a.num_heads;
  // cu_seqlens_q is an input of the attention kernel, not one of its outputs, and the attention
  // kernel is a plain launch (it starts after everything before it finished): so it can be read
  // before the wait, off the critical path.
  const int total_q = a.cu_seqlens_q[a.num_seqs];
  if (token >= total_q || token >= a.max_total_q) return;
  // Launched as a programmatic dependent of the attention kernel: wait for all of its writes (a
  // no-op when launched plainly).
  asm volatile("griddepcontrol.wait;" ::: "memory");
  const int quad = static_cast<int>(threadIdx.x) % kQuads, g = static_cast<int>(threadIdx.x) / kQuads;
  const bool in_group = g < kGroups;  // kCombineThreads need not be a multiple of kQuads
  const int64_t split_stride = a.max_total_q * a.num_heads;
  const int64_t row = static_cast<int64_t>(token) * a.num_heads + head;

  SoftmaxState st = SoftmaxState::empty();
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int s0 = g; in_group && s0 < a.num_splits; s0 += kGroups * kBatch) {
    float2 v[kBatch];
    float4 x[kBatch];
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const int s = s0 + i * kGroups;
      v[i] = make_float2(-INFINITY, 0.f);
      x[i] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (s < a.num_splits) {
        v[i] = a.ws_state[s * split_stride + row];
        x[i] = *reinterpret_cast<const float4*>(a.ws_o + (s * split_stride + row) * kHeadDim + quad * 4);
      }
    }
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const SoftmaxState merged = st.merge(SoftmaxState{v[i].x, v[i].y});
      const float off = SoftmaxState::safe_offset(merged.max);
      const float w_old = fast_exp2(st.max - off), w_new = fast_exp2(v[i].x - off);
      acc.x = acc.x * w_old + x[i].x * w_new, acc.y = acc.y * w_old + x[i].y * w_new;
      acc.z = acc.z * w_old + x[i].z * w_new, acc.w = acc.w * w_old + x[i].w * w_new;
      st = merged;
    }
  }
  __shared__ float4 s_acc[kGroups][kQuads];
  __shared__ float2 s_state[kGroups];
  if (in_group) {
    s_acc[g][quad] = acc;
    if (quad == 0) s_state[g] = make_float2(st.max, st.sum);
  }
  __syncthreads();
  if (g != 0) return;
  SoftmaxState total = SoftmaxState::empty();
#pragma unroll
  for (int i = 0; i < kGroups; ++i) total = total.merge(SoftmaxState{s_state[i].x, s_state[i].y});
  const float off = SoftmaxState::safe_offset(total.max);
  const float inv = total.sum > 0.f ? 1.f / total.sum : 0.f;
  float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
  for (int i = 0; i < kGroups; ++i) {
    const float w = fast_exp2(s_state[i].x - off) * inv;
    const float4 x = s_acc[i][quad];
    o.x += w * x.x, o.y += w * x.y, o.z += w * x.z, o.w += w * x.w;
  }
  T* dst = static_cast<T*>(a.out) + static_cast<int64_t>(token) * a.out_token_stride +
           static_cast<int64_t>(head) * a.out_head_stride + quad * 4;
  uint2 packed;
  packed.x = mma::ElementTraits<T>::pack(o.x, o.y);
  packed.y = mma::ElementTraits<T>::pack(o.z, o.w);
  *reinterpret_cast<uint2*>(dst) = packed;
  if (quad == 0 && a.lse != nullptr) a.lse[static_cast<int64_t>(head) * total_q + token] = total.lse();
}

template <typename T, int kHeadDim, int kWarpsN>
cudaError_t launch_paged_attention(const DecodeArgs& a, dim3 grid, cudaStream_t stream) {
  using Tr = DecodeTraits<kHeadDim, kWarpsN>;
  auto kernel = paged_attention_kernel<T, kHeadDim, kWarpsN>;
  if (Tr::kSmemBytes > 48 * 1024) {
    const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Tr::kSmemBytes);
    if (err != cudaSuccess) return err;
  }
  kernel<<<grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(a);
  if (a.num_splits > 1) {
    // Programmatic dependent launch: the combine's CTAs are scheduled while the attention kernel
    // runs (see griddepcontrol above), which takes a launch latency off every split step.
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(static_cast<unsigned>(a.max_total_q * a.num_heads));
    config.blockDim = dim3(kCombineThreads);
    config.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attr;
    config.numAttrs = 1;
    const cudaError_t err = cudaLaunchKernelEx(&config, paged_attention_combine_kernel<T, kHeadDim>, a);
    if (err != cudaSuccess) return err;
  }
  return cudaGetLastError();
}

}  // namespace tessera::kernels::attention::decode
