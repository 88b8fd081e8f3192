// kernels/attention/decode/decode.h — the kernels that write and read the paged KV cache
// (docs/architecture.md, seam 2; the cache layout and batch description are kernels/attention/paged_kv.h):
//
//   paged_kv_append     K/V of a batch of new tokens into their slots, RoPE applied to K (and to Q,
//                       written to q_out) in the same pass.
//   paged_attention     attention of 1..n new query tokens per sequence over that sequence's cached
//                       keys, GQA (the query heads of one KV head read each key once), causal inside
//                       the new tokens (bottom-right aligned), optionally split over the keys
//                       (flash-decoding) with a combine pass that merges the partial softmax states.
//
// Work split: paged_attention_plan() runs on the CPU, from sizes only (an upper bound on the
// sequence lengths, never the lengths themselves), and fixes the grid and the workspace size.
// paged_attention() then has a fixed grid, never synchronizes and never allocates: a CUDA graph can
// capture it and be replayed with new seq_lens, new block tables and new slot mappings, as long as
// the plan's bounds still hold (num_seqs, max_q_len, max_seq_len, and the workspace it sized).
//
// Tensors (element strides; the last dim is contiguous; fp16 or bf16, all of one dtype):
//   q, out : [total_q, num_heads, head_dim]        (total_q = cu_seqlens_q[num_seqs])
//   lse    : optional fp32 [num_heads, total_q], natural-log log-sum-exp of the scaled scores;
//            +inf for a row that sees no key (its out row is 0)
//   k, v   : [num_tokens, num_kv_heads, head_dim]  (the new tokens of an append)
//   caches : [num_blocks, block_size, num_kv_heads, head_dim] with the block, token and head strides
//            of `layout` (PagedKvLayout: dense NHD by default; K and V may share one allocation,
//            blocks may be head-major), each a multiple of 8 elements, no two rows overlapping
// head_dim 64, 96, 128 or 256 (the prefill forward's); block_size any value >= 1 (16, 32, 64, 128 in an engine; a contiguous
// per-sequence cache is one block of its capacity per sequence).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/attention/decode/plan.h"
#include "kernels/attention/paged_kv.h"
#include "kernels/common/float_type.h"

namespace tessera::kernels {

// ---- append with fused RoPE ------------------------------------------------------------------------

// The rotation of pair i at position p is by angle p * inv_freq[i]; cos/sin come from a table the
// caller fills once (fp32, [max_position, rotary_dim / 2], row p = position p), which is how every
// RoPE type (default, linear, llama3, ...) is expressed: they differ only in inv_freq (see
// kernels/cpu rope_inv_freq). Elements at or past rotary_dim are copied unrotated. The rotation is
// done in fp32 as x * cos - y * sin and y * cos + x * sin (each product rounded, no FMA), then
// rounded once to the element type.
struct KvAppendParams {
  // New keys and values; row t is written to slot_mapping[t] (negative: padding, not written).
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t k_token_stride = 0, k_head_stride = 0;
  int64_t v_token_stride = 0, v_head_stride = 0;
  const int64_t* slot_mapping = nullptr;  // [num_tokens]
  int64_t num_tokens = 0;
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  PagedKvLayout layout;

  // Optional query rotation: q_out[t] = rope(q[t], q_positions[t]) for t < num_q_tokens (q_out may
  // be q itself). Null q skips it.
  const void* q = nullptr;
  void* q_out = nullptr;
  int64_t q_token_stride = 0, q_head_stride = 0;
  int64_t q_out_token_stride = 0, q_out_head_stride = 0;
  int64_t num_q_tokens = 0;
  int32_t num_heads = 0;
  // Optional: the rotated keys of every token (padding included) also go to k_out (it may be k
  // itself), for a prefill kernel that reads this step's keys contiguously. Null skips it.
  void* k_out = nullptr;
  int64_t k_out_token_stride = 0, k_out_head_stride = 0;

  // RoPE. kNone ignores the rest.
  RopeLayout rope = RopeLayout::kNone;
  int32_t rotary_dim = 0;                 // even, <= head_dim; 0 means head_dim
  const float* cos = nullptr;             // [max_position, rotary_dim / 2] fp32
  const float* sin = nullptr;             // same
  int32_t max_position = 0;               // rows of the tables; positions are clamped into range
  const int32_t* k_positions = nullptr;   // [num_tokens]
  const int32_t* q_positions = nullptr;   // [num_q_tokens]; null: k_positions

  FloatType dtype = FloatType::kBF16;
};

cudaError_t paged_kv_append(const KvAppendParams& params, cudaStream_t stream);

// ---- paged attention --------------------------------------------------------------------------------

struct PagedAttentionParams {
  const void* q = nullptr;
  int64_t q_token_stride = 0, q_head_stride = 0;
  void* out = nullptr;
  int64_t out_token_stride = 0, out_head_stride = 0;
  float* lse = nullptr;                  // optional, [num_heads, total_q]
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  PagedKvLayout layout;
  PagedBatch batch;                      // device pointers; num_seqs and max_blocks_per_seq on the host
  int32_t num_heads = 0;
  float softmax_scale = 0.f;
  bool causal = true;
  FloatType dtype = FloatType::kBF16;
  void* workspace = nullptr;             // plan.workspace_bytes, 256-byte aligned (null when 0)
};

// Launches on `stream`: the attention kernel and, when plan.num_splits > 1, the combine kernel.
// Returns cudaErrorInvalidValue (reason in paged_attention_last_error()) for params or a plan that
// don't fit each other, else the launch status.
cudaError_t paged_attention(const PagedAttentionParams& params, const PagedAttentionPlan& plan, cudaStream_t stream);

// A one-line reason for the last cudaErrorInvalidValue from paged_kv_append or paged_attention on
// this thread.
const char* paged_attention_last_error();

}  // namespace tessera::kernels
