// src/engine/kv_cache_manager.h — which KV blocks each request holds, and the prefix cache.
//
// A request's blocks, in order, hold its tokens: token i lives in block blocks[i / block_size] at
// offset i % block_size. allocate_slots() grows the list to cover the tokens scheduled this step
// (all or nothing); free() gives every block back. With prefix caching on, a full block whose K/V
// has been computed is registered under the chained hash of its tokens (salted per request, see
// block_pool.h), and a new or resumed request starts with the longest run of such blocks that
// matches its tokens: those tokens count as computed and are never run through the model again.
//
// Sample streams of one request (n > 1) share the prompt's full blocks: share_prompt() hands a
// stream the first blocks of a sibling that has computed them, and allocate_slots() takes them
// like a prefix hit (one more reference each). A stream only ever writes past its shared blocks,
// so nothing is copied on write.
//
// Invariants: every block's ref_count equals the number of requests whose list holds it; a block
// is registered in the prefix cache only after its tokens were computed (cache_computed_blocks is
// called after the forward pass); a hit never covers a request's last token, which must be
// computed to produce the logits the next token is sampled from.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "src/engine/block_pool.h"
#include "src/engine/request.h"

namespace tessera::engine {

// The computed blocks that start a request's tokens, and how many tokens they cover: found in the
// prefix cache, or (shared) taken from a sibling sample stream.
struct PrefixHit {
  std::vector<int32_t> blocks;
  int64_t num_tokens = 0;
  bool shared = false;  // from a sibling stream: counted as shared, not as a prefix-cache lookup
};

class KvCacheManager {
 public:
  KvCacheManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching);

  int32_t block_size() const { return pool_.block_size(); }
  int32_t num_blocks() const { return pool_.num_blocks(); }
  int32_t num_free_blocks() const { return pool_.num_free_blocks(); }
  // Fraction of blocks held by requests (free cached blocks count as free: they are evictable).
  double usage() const;
  bool prefix_caching() const { return enable_prefix_caching_; }

  // Brings r.block_hashes up to date with r's full blocks (new tokens only append, so the hashes
  // of earlier blocks never change).
  void update_block_hashes(Request& r) const;
  // The longest cached prefix of r (empty without prefix caching), at most num_tokens - 1 tokens.
  PrefixHit find_cached_prefix(Request& r);
  // The first num_tokens / block_size blocks of `sibling` (a stream of the same request that has
  // computed at least num_tokens tokens), as a shared hit for another stream.
  PrefixHit share_prompt(const Request& sibling, int64_t num_tokens) const;
  // Makes r's blocks cover r.num_computed_tokens + hit->num_tokens + num_new_tokens tokens, taking
  // the hit's blocks first (only for a request that holds no blocks). Returns false, changing
  // nothing, when the free blocks do not suffice. A successful call with a cache hit (even an
  // empty one) counts r's tokens as a prefix-cache query and the hit's tokens as hits; with a
  // shared hit, its tokens count as shared.
  bool allocate_slots(Request& r, int64_t num_new_tokens, const PrefixHit* hit = nullptr);
  // Registers r's full, computed blocks (up to r.num_computed_tokens) in the prefix cache.
  void cache_computed_blocks(Request& r);
  // Gives all of r's blocks back, last block first (so its tail is evicted before its prefix).
  void free(const Request& r);
  const std::vector<int32_t>& block_ids(const Request& r) const;
  int64_t num_requests() const { return static_cast<int64_t>(held_.size()); }

  // Forgets every cached prefix; blocks in use stay where they are.
  void reset_prefix_cache() { pool_.reset_prefix_cache(); }
  int64_t prefix_query_tokens() const { return prefix_query_tokens_; }
  int64_t prefix_hit_tokens() const { return prefix_hit_tokens_; }
  int64_t shared_prompt_tokens() const { return shared_prompt_tokens_; }

  // Reference counts against the per-request lists, plus the pool's own invariants.
  Status check_invariants() const;
  const BlockPool& pool() const { return pool_; }

 private:
  struct Held {
    std::vector<int32_t> blocks;
    int64_t num_cached_blocks = 0;  // blocks[0, n) are registered in the prefix cache
  };

  BlockPool pool_;
  bool enable_prefix_caching_;
  std::unordered_map<uint64_t, Held> held_;  // by Request::arrival_index
  int64_t prefix_query_tokens_ = 0;
  int64_t prefix_hit_tokens_ = 0;
  int64_t shared_prompt_tokens_ = 0;
};

}  // namespace tessera::engine
