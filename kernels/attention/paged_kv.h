// kernels/attention/paged_kv.h — the paged KV cache contract between the engine and every
// attention kernel (DESIGN.md seam 2). CPU and CUDA kernels take exactly these arrays.
//
//   k_cache, v_cache : [num_blocks, block_size, num_kv_heads, head_dim] per layer; each block is
//                      dense, blocks are block_stride() elements apart (dense by default). A wider
//                      stride lets K and V share one allocation [num_blocks, 2, block_size,
//                      num_kv_heads, head_dim] with v_cache = k_cache + block_size * token_stride(),
//                      so a block's keys and values sit side by side (the CUDA engine's cache)
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
  // Elements from one block to the next in each cache; 0 means dense (block_size * token_stride()).
  // Launchers reject one below the dense stride (blocks would overlap).
  int64_t block_stride_elems = 0;

  // Element strides of the cache.
  int64_t head_stride() const { return head_dim; }
  int64_t token_stride() const { return static_cast<int64_t>(num_kv_heads) * head_dim; }
  int64_t dense_block_stride() const { return token_stride() * block_size; }
  int64_t block_stride() const { return block_stride_elems != 0 ? block_stride_elems : dense_block_stride(); }
  int64_t num_slots() const { return static_cast<int64_t>(num_blocks) * block_size; }
  // Element offset of slot (block * block_size + offset)'s row.
  int64_t slot_offset(int64_t slot) const {
    return slot / block_size * block_stride() + slot % block_size * token_stride();
  }
  // Elements one cache spans: the last block ends dense_block_stride() after its start.
  int64_t cache_elements() const {
    return num_blocks > 0 ? (static_cast<int64_t>(num_blocks) - 1) * block_stride() + dense_block_stride() : 0;
  }
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
