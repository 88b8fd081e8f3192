// kernels/attention/paged_kv.h — the paged KV cache contract between the engine and every
// attention kernel (docs/architecture.md, seam 2). CPU and CUDA kernels take exactly these arrays.
//
//   k_cache, v_cache : [num_blocks, block_size, num_kv_heads, head_dim] per layer, each row of
//                      head_dim elements contiguous. By default the layout is dense (NHD: a token's
//                      heads side by side, a block's tokens side by side, blocks back to back).
//                      Block, token and head strides may each be set, as FlashAttention-2's
//                      flash_attn_with_kvcache takes any strides above the last dim, so long as no
//                      two rows of a cache overlap (rows_disjoint()). Two uses:
//                        K and V in one allocation [num_blocks, 2, block_size, num_kv_heads,
//                        head_dim], v_cache = k_cache + block_extent(): a block's keys and values
//                        side by side (the CUDA engine's cache);
//                        head-major blocks (HND, [num_blocks, num_kv_heads, block_size, head_dim]
//                        viewed as NHD: token stride head_dim, head stride block_size * head_dim)
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
  // Element strides; 0 means the dense default (NHD). Launchers reject strides whose rows overlap.
  int64_t block_stride_elems = 0;  // default: block_extent()
  int64_t token_stride_elems = 0;  // default: num_kv_heads * head_dim
  int64_t head_stride_elems = 0;   // default: head_dim

  int64_t head_stride() const { return head_stride_elems != 0 ? head_stride_elems : head_dim; }
  int64_t token_stride() const {
    return token_stride_elems != 0 ? token_stride_elems : static_cast<int64_t>(num_kv_heads) * head_dim;
  }
  // Elements from a block's first element to past its last: block_size * num_kv_heads * head_dim
  // when the block is dense (in either head order).
  int64_t block_extent() const {
    return (static_cast<int64_t>(block_size) - 1) * token_stride() +
           (static_cast<int64_t>(num_kv_heads) - 1) * head_stride() + head_dim;
  }
  int64_t block_stride() const { return block_stride_elems != 0 ? block_stride_elems : block_extent(); }
  int64_t num_slots() const { return static_cast<int64_t>(num_blocks) * block_size; }
  // Element offset of slot (block * block_size + offset)'s row of KV head 0.
  int64_t slot_offset(int64_t slot) const {
    return slot / block_size * block_stride() + slot % block_size * token_stride();
  }
  // Elements one cache spans: the last block ends block_extent() after its start.
  int64_t cache_elements() const {
    return num_blocks > 0 ? (static_cast<int64_t>(num_blocks) - 1) * block_stride() + block_extent() : 0;
  }
  // Whether no two rows of a cache share an element: taken in increasing order of stride, each
  // dimension of more than one entry steps at least over everything the dimensions inside it span.
  // (Sufficient, not necessary: layouts that interleave one dimension into another's gaps are
  // rejected too.)
  bool rows_disjoint() const {
    struct Dim {
      int64_t n, stride;
    } dims[3] = {{num_kv_heads, head_stride()}, {block_size, token_stride()}, {num_blocks, block_stride()}};
    for (int i = 1; i < 3; ++i)  // insertion sort by stride
      for (int j = i; j > 0 && dims[j].stride < dims[j - 1].stride; --j) {
        const Dim t = dims[j];
        dims[j] = dims[j - 1];
        dims[j - 1] = t;
      }
    int64_t extent = head_dim;
    for (const Dim& dim : dims) {
      if (dim.n <= 1) continue;
      if (dim.stride < extent) return false;
      extent += (dim.n - 1) * dim.stride;
    }
    return true;
  }
  // What a launcher says after the three strides when rows_disjoint() fails.
  static constexpr const char* kOverlapReason =
      "overlap: in increasing order, each stride must step over everything the smaller ones span";
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
