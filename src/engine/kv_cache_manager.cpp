// src/engine/kv_cache_manager.cpp — per-request block lists and prefix-cache lookups
// (kv_cache_manager.h).
#include "src/engine/kv_cache_manager.h"

#include <algorithm>
#include <sstream>

namespace tessera::engine {

KvCacheManager::KvCacheManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching)
    : pool_(num_blocks, block_size), enable_prefix_caching_(enable_prefix_caching) {}

double KvCacheManager::usage() const {
  if (num_blocks() == 0) return 0.0;
  return 1.0 - static_cast<double>(num_free_blocks()) / static_cast<double>(num_blocks());
}

void KvCacheManager::update_block_hashes(Request& r) const {
  const int64_t bs = block_size();
  const int64_t num_full = r.num_tokens() / bs;
  for (int64_t i = static_cast<int64_t>(r.block_hashes.size()); i < num_full; ++i) {
    const uint64_t parent = i == 0 ? r.cache_salt_hash : r.block_hashes[static_cast<size_t>(i - 1)];
    r.block_hashes.push_back(hash_block_tokens(parent, r.token_ids.data() + i * bs, block_size()));
  }
}

PrefixHit KvCacheManager::find_cached_prefix(Request& r) {
  PrefixHit hit;
  if (!enable_prefix_caching_) return hit;
  update_block_hashes(r);
  const int64_t bs = block_size();
  const int64_t max_blocks = std::min<int64_t>((r.num_tokens() - 1) / bs, static_cast<int64_t>(r.block_hashes.size()));
  for (int64_t i = 0; i < max_blocks; ++i) {
    const uint64_t parent = i == 0 ? r.cache_salt_hash : r.block_hashes[static_cast<size_t>(i - 1)];
    const int32_t block = pool_.find_cached(r.block_hashes[static_cast<size_t>(i)], parent, r.token_ids.data() + i * bs);
    if (block < 0) break;
    hit.blocks.push_back(block);
  }
  hit.num_tokens = static_cast<int64_t>(hit.blocks.size()) * bs;
  return hit;
}

PrefixHit KvCacheManager::share_prompt(const Request& sibling, int64_t num_tokens) const {
  PrefixHit hit;
  const std::vector<int32_t>& blocks = block_ids(sibling);
  const size_t n = std::min(static_cast<size_t>(num_tokens / block_size()), blocks.size());
  hit.blocks.assign(blocks.begin(), blocks.begin() + static_cast<std::ptrdiff_t>(n));
  hit.num_tokens = static_cast<int64_t>(n) * block_size();
  hit.shared = true;
  return hit;
}

bool KvCacheManager::allocate_slots(Request& r, int64_t num_new_tokens, const PrefixHit* hit) {
  Held& held = held_[r.arrival_index];
  const int64_t hit_tokens = hit ? hit->num_tokens : 0;
  const int64_t hit_blocks = hit ? static_cast<int64_t>(hit->blocks.size()) : 0;
  const int64_t bs = block_size();
  const int64_t total_tokens = r.num_computed_tokens + hit_tokens + num_new_tokens;
  const int64_t required = (total_tokens + bs - 1) / bs;
  const int64_t have = static_cast<int64_t>(held.blocks.size()) + hit_blocks;
  const int64_t num_new_blocks = std::max<int64_t>(0, required - have);
  // Hit blocks nobody holds sit in the free queue: taking them shrinks what allocate() can give.
  int64_t revived = 0;
  if (hit)
    for (int32_t b : hit->blocks) revived += pool_.ref_count(b) == 0;
  if (num_new_blocks > pool_.num_free_blocks() - revived) {
    if (held.blocks.empty()) held_.erase(r.arrival_index);
    return false;
  }
  if (hit) {
    for (int32_t b : hit->blocks) pool_.touch(b);
    held.blocks.insert(held.blocks.end(), hit->blocks.begin(), hit->blocks.end());
    // Shared blocks are registered already when caching is on (the sibling cached them after
    // computing them), or stay uncached as duplicates of a cached block: nothing to register.
    held.num_cached_blocks = hit_blocks;
    if (hit->shared) {
      shared_prompt_tokens_ += hit_tokens;
    } else {
      prefix_query_tokens_ += r.num_tokens();
      prefix_hit_tokens_ += hit_tokens;
    }
  }
  const std::vector<int32_t> fresh = pool_.allocate(static_cast<int32_t>(num_new_blocks));
  held.blocks.insert(held.blocks.end(), fresh.begin(), fresh.end());
  return true;
}

void KvCacheManager::cache_computed_blocks(Request& r) {
  if (!enable_prefix_caching_) return;
  auto it = held_.find(r.arrival_index);
  if (it == held_.end()) return;
  Held& held = it->second;
  update_block_hashes(r);
  const int64_t bs = block_size();
  const int64_t num_full = std::min<int64_t>(r.num_computed_tokens / bs, static_cast<int64_t>(held.blocks.size()));
  for (int64_t i = held.num_cached_blocks; i < num_full; ++i) {
    const uint64_t parent = i == 0 ? r.cache_salt_hash : r.block_hashes[static_cast<size_t>(i - 1)];
    pool_.cache(held.blocks[static_cast<size_t>(i)], r.block_hashes[static_cast<size_t>(i)], parent,
                r.token_ids.data() + i * bs);
  }
  held.num_cached_blocks = std::max(held.num_cached_blocks, num_full);
}

void KvCacheManager::free(const Request& r) {
  auto it = held_.find(r.arrival_index);
  if (it == held_.end()) return;
  std::vector<int32_t> last_first(it->second.blocks.rbegin(), it->second.blocks.rend());
  pool_.release(last_first);
  held_.erase(it);
}

const std::vector<int32_t>& KvCacheManager::block_ids(const Request& r) const {
  static const std::vector<int32_t> kNone;
  auto it = held_.find(r.arrival_index);
  return it == held_.end() ? kNone : it->second.blocks;
}

Status KvCacheManager::check_invariants() const {
  TESSERA_RETURN_IF_ERROR(pool_.check_invariants());
  std::vector<int32_t> owners(static_cast<size_t>(num_blocks()), 0);
  for (const auto& [index, held] : held_)
    for (int32_t b : held.blocks) {
      if (b < 0 || b >= num_blocks()) {
        std::ostringstream err;
        err << "request #" << index << " holds block " << b << ", outside the pool";
        return internal_error(err.str());
      }
      ++owners[static_cast<size_t>(b)];
    }
  for (int32_t b = 0; b < num_blocks(); ++b)
    if (owners[static_cast<size_t>(b)] != pool_.ref_count(b)) {
      std::ostringstream err;
      err << "block " << b << " has ref_count " << pool_.ref_count(b) << " but " << owners[static_cast<size_t>(b)]
          << " requests hold it";
      return internal_error(err.str());
    }
  return Status::ok();
}

}  // namespace tessera::engine
