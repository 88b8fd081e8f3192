// src/engine/block_pool.h — the physical KV blocks: reference counts, the free queue, and the
// prefix cache's hash → block map.
//
// Invariants:
//   - a block is in the free queue exactly when its ref_count is 0; the queue is in eviction order
//     (allocate() takes from the head, release() appends to the tail), so a freed block that still
//     holds a cached prefix survives as long as possible and can be revived by touch();
//   - a block is in the hash map only while its K/V holds the full block of tokens it was cached
//     with (the caller caches a block after its tokens were computed); allocating a cached free
//     block evicts it from the map first;
//   - a hit is verified against the stored parent hash and tokens, so a 64-bit hash collision
//     makes a miss, never wrong K/V.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tessera/status.h"

namespace tessera::engine {

// Root of a request's hash chain: depends on the cache salt only (empty salt: a fixed value), so
// requests with different salts never share blocks.
uint64_t hash_cache_salt(std::string_view salt);
// Chained hash of one full block: the parent's hash (or the root) and the block's tokens.
uint64_t hash_block_tokens(uint64_t parent_hash, const int32_t* tokens, int32_t block_size);

class BlockPool {
 public:
  BlockPool(int32_t num_blocks, int32_t block_size);

  int32_t num_blocks() const { return static_cast<int32_t>(ref_count_.size()); }
  int32_t block_size() const { return block_size_; }
  // Blocks with no owner (cached or not): what allocate() can hand out.
  int32_t num_free_blocks() const { return num_free_; }
  int32_t num_cached_blocks() const { return static_cast<int32_t>(cached_.size()); }
  int32_t ref_count(int32_t block) const { return ref_count_[static_cast<size_t>(block)]; }
  bool is_cached(int32_t block) const { return has_hash_[static_cast<size_t>(block)] != 0; }

  // Takes n blocks from the head of the free queue, evicting any cached prefix they held; each
  // gets ref_count 1. Precondition: n <= num_free_blocks().
  std::vector<int32_t> allocate(int32_t n);
  // Adds one owner to a block (a prefix-cache hit); a free block leaves the free queue.
  void touch(int32_t block);
  // Drops one owner from each block, in order; a block whose count reaches 0 joins the tail of
  // the free queue (so pass a request's blocks last-first: its tail is evicted before its prefix).
  void release(const std::vector<int32_t>& blocks);

  // The cached block holding `tokens` after `parent_hash` under `hash`, or -1.
  int32_t find_cached(uint64_t hash, uint64_t parent_hash, const int32_t* tokens) const;
  // Records that `block` holds the full block `tokens` (block_size of them) after `parent_hash`.
  // A hash that is already cached keeps its first block; this one then stays uncached.
  void cache(int32_t block, uint64_t hash, uint64_t parent_hash, const int32_t* tokens);
  // Forgets every cached prefix (blocks in use keep their K/V and owners).
  void reset_prefix_cache();

  // Walks the free queue and the hash map; an error names the first broken invariant.
  Status check_invariants() const;

 private:
  void queue_remove(int32_t block);
  void queue_push_back(int32_t block);
  void evict(int32_t block);

  int32_t block_size_;
  std::vector<int32_t> ref_count_;
  // Free queue: a doubly linked list over block ids; index num_blocks is the sentinel.
  std::vector<int32_t> prev_, next_;
  int32_t num_free_ = 0;
  // Prefix cache: hash → block, and per block what it was cached with.
  std::unordered_map<uint64_t, int32_t> cached_;
  std::vector<uint8_t> has_hash_;
  std::vector<uint64_t> hash_, parent_hash_;
  std::vector<int32_t> tokens_;  // [num_blocks, block_size]
};

}  // namespace tessera::engine
