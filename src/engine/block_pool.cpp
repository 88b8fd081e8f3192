// src/engine/block_pool.cpp — reference-counted KV blocks with an LRU free queue (block_pool.h).
#include "src/engine/block_pool.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "kernels/cpu/sampling.h"

namespace tessera::engine {

using kernels::cpu::splitmix64;

uint64_t hash_cache_salt(std::string_view salt) {
  uint64_t h = splitmix64(0x7465737365726121ull);  // "tessera!"
  for (unsigned char c : salt) h = splitmix64(h ^ c);
  return splitmix64(h ^ salt.size());
}

uint64_t hash_block_tokens(uint64_t parent_hash, const int32_t* tokens, int32_t block_size) {
  uint64_t h = splitmix64(parent_hash ^ 0x626c6f636bull);  // "block"
  for (int32_t i = 0; i < block_size; ++i) h = splitmix64(h ^ static_cast<uint32_t>(tokens[i]));
  return h;
}

BlockPool::BlockPool(int32_t num_blocks, int32_t block_size)
    : block_size_(block_size),
      ref_count_(static_cast<size_t>(num_blocks), 0),
      prev_(static_cast<size_t>(num_blocks) + 1),
      next_(static_cast<size_t>(num_blocks) + 1),
      has_hash_(static_cast<size_t>(num_blocks), 0),
      hash_(static_cast<size_t>(num_blocks), 0),
      parent_hash_(static_cast<size_t>(num_blocks), 0),
      tokens_(static_cast<size_t>(num_blocks) * static_cast<size_t>(block_size), 0) {
  const int32_t sentinel = num_blocks;
  prev_[static_cast<size_t>(sentinel)] = next_[static_cast<size_t>(sentinel)] = sentinel;
  for (int32_t b = 0; b < num_blocks; ++b) queue_push_back(b);
}

void BlockPool::queue_remove(int32_t block) {
  const size_t b = static_cast<size_t>(block);
  next_[static_cast<size_t>(prev_[b])] = next_[b];
  prev_[static_cast<size_t>(next_[b])] = prev_[b];
  prev_[b] = next_[b] = -1;
  --num_free_;
}

void BlockPool::queue_push_back(int32_t block) {
  const int32_t sentinel = num_blocks();
  const int32_t last = prev_[static_cast<size_t>(sentinel)];
  prev_[static_cast<size_t>(block)] = last;
  next_[static_cast<size_t>(block)] = sentinel;
  next_[static_cast<size_t>(last)] = block;
  prev_[static_cast<size_t>(sentinel)] = block;
  ++num_free_;
}

void BlockPool::evict(int32_t block) {
  const size_t b = static_cast<size_t>(block);
  if (!has_hash_[b]) return;
  auto it = cached_.find(hash_[b]);
  if (it != cached_.end() && it->second == block) cached_.erase(it);
  has_hash_[b] = 0;
}

std::vector<int32_t> BlockPool::allocate(int32_t n) {
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(n));
  const int32_t sentinel = num_blocks();
  for (int32_t i = 0; i < n; ++i) {
    const int32_t block = next_[static_cast<size_t>(sentinel)];
    if (block == sentinel) break;  // precondition broken: hand out what exists
    queue_remove(block);
    evict(block);
    ref_count_[static_cast<size_t>(block)] = 1;
    out.push_back(block);
  }
  return out;
}

void BlockPool::touch(int32_t block) {
  if (ref_count_[static_cast<size_t>(block)]++ == 0) queue_remove(block);
}

void BlockPool::release(const std::vector<int32_t>& blocks) {
  for (int32_t block : blocks) {
    if (--ref_count_[static_cast<size_t>(block)] == 0) queue_push_back(block);
  }
}

int32_t BlockPool::find_cached(uint64_t hash, uint64_t parent_hash, const int32_t* tokens) const {
  auto it = cached_.find(hash);
  if (it == cached_.end()) return -1;
  const size_t b = static_cast<size_t>(it->second);
  if (parent_hash_[b] != parent_hash) return -1;
  const int32_t* stored = tokens_.data() + b * static_cast<size_t>(block_size_);
  if (!std::equal(stored, stored + block_size_, tokens)) return -1;
  return it->second;
}

void BlockPool::cache(int32_t block, uint64_t hash, uint64_t parent_hash, const int32_t* tokens) {
  const size_t b = static_cast<size_t>(block);
  if (has_hash_[b]) return;
  if (!cached_.emplace(hash, block).second) return;
  has_hash_[b] = 1;
  hash_[b] = hash;
  parent_hash_[b] = parent_hash;
  std::copy(tokens, tokens + block_size_, tokens_.begin() + static_cast<std::ptrdiff_t>(b) * block_size_);
}

void BlockPool::reset_prefix_cache() {
  cached_.clear();
  std::fill(has_hash_.begin(), has_hash_.end(), 0);
}

Status BlockPool::check_invariants() const {
  std::ostringstream err;
  const int32_t sentinel = num_blocks();
  std::vector<uint8_t> in_queue(static_cast<size_t>(num_blocks()), 0);
  int32_t walked = 0;
  for (int32_t b = next_[static_cast<size_t>(sentinel)]; b != sentinel; b = next_[static_cast<size_t>(b)]) {
    if (b < 0 || b >= sentinel || in_queue[static_cast<size_t>(b)] || ++walked > num_blocks()) {
      err << "free queue is corrupt at block " << b;
      return internal_error(err.str());
    }
    if (prev_[static_cast<size_t>(next_[static_cast<size_t>(b)])] != b) {
      err << "free queue links of block " << b << " disagree";
      return internal_error(err.str());
    }
    in_queue[static_cast<size_t>(b)] = 1;
  }
  if (walked != num_free_) {
    err << "free queue holds " << walked << " blocks but the count says " << num_free_;
    return internal_error(err.str());
  }
  for (int32_t b = 0; b < num_blocks(); ++b) {
    const int32_t rc = ref_count_[static_cast<size_t>(b)];
    if (rc < 0 || (rc == 0) != (in_queue[static_cast<size_t>(b)] != 0)) {
      err << "block " << b << " has ref_count " << rc << (in_queue[static_cast<size_t>(b)] ? " but is" : " but is not")
          << " in the free queue";
      return internal_error(err.str());
    }
  }
  size_t hashed = 0;
  for (int32_t b = 0; b < num_blocks(); ++b) {
    if (!has_hash_[static_cast<size_t>(b)]) continue;
    ++hashed;
    auto it = cached_.find(hash_[static_cast<size_t>(b)]);
    if (it == cached_.end() || it->second != b) {
      err << "cached block " << b << " is missing from the hash map";
      return internal_error(err.str());
    }
  }
  if (hashed != cached_.size()) {
    err << "the hash map holds " << cached_.size() << " blocks but " << hashed << " are marked cached";
    return internal_error(err.str());
  }
  return Status::ok();
}

}  // namespace tessera::engine
