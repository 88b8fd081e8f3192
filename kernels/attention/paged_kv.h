// kernels/attention/paged_kv.h — the paged KV cache contract between the engine and every
// attention kernel (DESIGN.md seam 2). CPU and CUDA kernels take exactly these arrays.
//
//   k_cache, v_cache : [num_blocks, block_size, num_kv_heads, head_dim] per layer, contiguous
//   block_table      : [num_seqs, max_blocks_per_seq] int32; entry j of row s is the physical block
//                      holding tokens [j*block_size, (j+1)*block_size) of sequence s
//   slot_mapping     : [num_new_tokens] int64; slot = block * block_size + offset, where the new
//                      token's K/V is written; a negative slot means "padding, write nothing"
//   seq_lens         : [num_seqs] int32; tokens in the cache for s AFTER this step's append
//   cu_seqlens_q     : [num_seqs + 1] int32; new (query) tokens of s are rows
//                      [cu_seqlens_q[s], cu_seqlens_q[s+1]) of q/out
//
// Query row i of sequence s sits at position seq_lens[s] - q_len(s) + i: new tokens are the tail of
// the sequence, so causal masking is bottom-right aligned (as FlashAttention does).
#pragma once

#include <cstdint>

namespace tessera::kernels {

struct PagedKvLayout {
  int32_t num_blocks = 0;
  int32_t block_size = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;

  // Element strides of the contiguous cache.
  int64_t head_stride() const { return head_dim; }
  int64_t token_stride() const { return static_cast<int64_t>(num_kv_heads) * head_dim; }
  int64_t block_stride() const { return token_stride() * block_size; }
  int64_t num_slots() const { return static_cast<int64_t>(num_blocks) * block_size; }
};

// How RoPE pairs the elements of a head vector when new K (and Q) are appended (CPU and CUDA).
enum class RopeLayout : int32_t {
  kNone = 0,         // no rotation: a plain copy into the cache
  kRotateHalf = 1,   // GPT-NeoX / HF Llama: element i pairs with i + rotary_dim / 2
  kInterleaved = 2,  // GPT-J: element 2i pairs with 2i + 1
};

struct PagedBatch {
  const int32_t* cu_seqlens_q = nullptr;  // [num_seqs + 1]
  const int32_t* seq_lens = nullptr;      // [num_seqs]
  const int32_t* block_table = nullptr;   // [num_seqs, max_blocks_per_seq]
  int32_t num_seqs = 0;
  int32_t max_blocks_per_seq = 0;
};

}  // namespace tessera::kernels
