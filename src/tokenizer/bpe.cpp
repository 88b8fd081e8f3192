// src/tokenizer/bpe.cpp — vocabulary map, merge table and the BPE merge loop.
//
// Merging follows HF `tokenizers` exactly: repeatedly merge the adjacent pair of lowest rank, the
// leftmost one on ties. Short words use a plain scan; long ones (SentencePiece models see whole
// sentences as one word) use a heap over a linked list of symbols, O(n log n).
#include "src/tokenizer/bpe.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <queue>
#include <unordered_map>

#include "src/tokenizer/scratch.h"
#include "src/tokenizer/unicode.h"

namespace tessera {

uint64_t hash_bytes(std::string_view s) {
  // FNV-1a over 8-byte words, then a finalizer: fast for short keys, good enough spread.
  uint64_t h = 0xcbf29ce484222325ull ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * 0x100000001b3ull;
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ull;
  h ^= h >> 32;
  return h;
}

void StringIdMap::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  if (cap > slots_.size()) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(cap, Slot{});
    for (const Slot& s : old) {
      if (s.id < 0) continue;
      size_t pos = s.hash & (cap - 1);
      while (slots_[pos].id >= 0) pos = (pos + 1) & (cap - 1);
      slots_[pos] = s;
    }
  }
}

void StringIdMap::grow() { reserve(slots_.empty() ? 8 : slots_.size()); }

bool StringIdMap::insert(std::string_view key, int32_t id) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t h = hash_bytes(key);
  const size_t mask = slots_.size() - 1;
  size_t pos = h & mask;
  while (slots_[pos].id >= 0) {
    const Slot& s = slots_[pos];
    if (s.hash == h && std::string_view(arena_).substr(s.offset, s.length) == key) return false;
    pos = (pos + 1) & mask;
  }
  slots_[pos] = Slot{h, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size()), id};
  arena_.append(key);
  ++size_;
  return true;
}

std::optional<int32_t> StringIdMap::find(std::string_view key) const {
  if (slots_.empty()) return std::nullopt;
  const uint64_t h = hash_bytes(key);
  const size_t mask = slots_.size() - 1;
  size_t pos = h & mask;
  while (slots_[pos].id >= 0) {
    const Slot& s = slots_[pos];
    if (s.hash == h && s.length == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0)
      return s.id;
    pos = (pos + 1) & mask;
  }
  return std::nullopt;
}

namespace {
std::atomic<uint64_t> g_next_instance{1};

uint64_t mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return k;
}

// Per-thread cache of merged words for one model at a time.
struct WordCache {
  uint64_t owner = 0;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};
constexpr size_t kCacheMaxEntries = 1 << 16;
constexpr size_t kCacheMaxWordBytes = 256;
}  // namespace

BpeModel::BpeModel() : instance_id_(g_next_instance.fetch_add(1)) { std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1); }
BpeModel::~BpeModel() = default;
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;

void BpeModel::add_merge(int32_t a, int32_t b, int32_t merged, int32_t rank) {
  if ((num_merges_ + 1) * 2 > merges_.size()) {
    std::vector<MergeSlot> old = std::move(merges_);
    merges_.assign(old.empty() ? 1024 : old.size() * 2, MergeSlot{});
    num_merges_ = 0;
    for (const MergeSlot& m : old)
      if (m.key != UINT64_MAX) {
        size_t pos = mix(m.key) & (merges_.size() - 1);
        while (merges_[pos].key != UINT64_MAX) pos = (pos + 1) & (merges_.size() - 1);
        merges_[pos] = m;
        ++num_merges_;
      }
  }
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  const size_t mask = merges_.size() - 1;
  size_t pos = mix(key) & mask;
  while (merges_[pos].key != UINT64_MAX) {
    if (merges_[pos].key == key) {  // a repeated merge takes the later rank, as in HF's map
      merges_[pos].rank = rank;
      merges_[pos].merged = merged;
      return;
    }
    pos = (pos + 1) & mask;
  }
  merges_[pos] = MergeSlot{key, rank, merged};
  ++num_merges_;
}

const BpeModel::MergeSlot* BpeModel::find_merge(int32_t a, int32_t b) const {
  if (merges_.empty()) return nullptr;
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  const size_t mask = merges_.size() - 1;
  size_t pos = mix(key) & mask;
  while (merges_[pos].key != UINT64_MAX) {
    if (merges_[pos].key == key) return &merges_[pos];
    pos = (pos + 1) & mask;
  }
  return nullptr;
}

void BpeModel::finish() {
  for (int b = 0; b < 256; ++b) {
    if (options_.byte_level) {
      const char c = static_cast<char>(b);
      byte_ids_[b] = vocab_.find(std::string_view(&c, 1)).value_or(-1);
    } else if (options_.byte_fallback) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      byte_ids_[b] = vocab_.find(name).value_or(-1);
    }
  }
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& ids) const {
  if (options_.byte_level) {
    // A byte with no token of its own is dropped, as HF does for a missing unk.
    for (unsigned char b : word) {
      if (byte_ids_[b] >= 0) ids.push_back(byte_ids_[b]);
      else if (options_.unk_id) ids.push_back(*options_.unk_id);
    }
    return;
  }
  bool last_was_unk = false;
  size_t i = 0;
  while (i < word.size()) {
    uint32_t cp;
    size_t n = unicode::decode_utf8(word, i, &cp);
    if (n == 0) n = 1;
    const std::string_view unit = word.substr(i, n);
    i += n;
    if (auto id = vocab_.find(unit)) {
      ids.push_back(*id);
      last_was_unk = false;
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char b : unit) all = all && byte_ids_[b] >= 0;
      if (all) {
        for (unsigned char b : unit) ids.push_back(byte_ids_[b]);
        last_was_unk = false;
        continue;
      }
    }
    if (options_.unk_id) {
      if (!(last_was_unk && options_.fuse_unk)) ids.push_back(*options_.unk_id);
      last_was_unk = true;
    }
  }
}

void BpeModel::merge_symbols(std::vector<int32_t>& ids) const {
  const size_t n = ids.size();
  if (n < 2) return;
  if (n <= 48) {
    // Plain scan: find the lowest-ranked pair (leftmost on ties), merge, repeat.
    std::vector<int32_t>& s = ids;
    for (;;) {
      int32_t best_rank = INT32_MAX;
      size_t best = 0;
      int32_t best_merged = 0;
      for (size_t k = 0; k + 1 < s.size(); ++k) {
        const MergeSlot* m = find_merge(s[k], s[k + 1]);
        if (m && m->rank < best_rank) best_rank = m->rank, best = k, best_merged = m->merged;
      }
      if (best_rank == INT32_MAX) return;
      s[best] = best_merged;
      s.erase(s.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
  }
  // Heap of candidate pairs (rank, left position); entries are checked when popped. Buffers are
  // per thread: long words come one after another (SentencePiece models see whole texts).
  thread_local std::vector<int32_t> prev, next;
  thread_local std::vector<uint8_t> alive;
  const ScratchTrim trim(prev, next, alive);
  prev.resize(n);
  next.resize(n);
  alive.assign(n, 1);
  for (size_t k = 0; k < n; ++k) {
    prev[k] = static_cast<int32_t>(k) - 1;
    next[k] = k + 1 < n ? static_cast<int32_t>(k + 1) : -1;
  }
  struct Cand {
    int32_t rank, pos, left, right, merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<Cand> storage;
  storage.clear();
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap(std::greater<Cand>(), std::move(storage));
  auto push = [&](int32_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    if (const MergeSlot* m = find_merge(ids[pos], ids[next[pos]]))
      heap.push({m->rank, pos, ids[pos], ids[next[pos]], m->merged});
  };
  for (size_t k = 0; k + 1 < n; ++k) push(static_cast<int32_t>(k));
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0 || ids[c.pos] != c.left || ids[next[c.pos]] != c.right) continue;
    const int32_t r = next[c.pos];
    ids[c.pos] = c.merged;
    alive[r] = 0;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  size_t out = 0;
  for (int32_t k = 0; k >= 0; k = next[k]) ids[out++] = ids[k];
  ids.resize(out);
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = vocab_.find(word)) {
      out.push_back(*id);
      return;
    }
  }
  thread_local WordCache cache;
  const bool cacheable = word.size() <= kCacheMaxWordBytes;
  if (cacheable) {
    if (cache.owner != instance_id_) {
      cache.words.clear();
      cache.owner = instance_id_;
    }
    // Heterogeneous lookup needs C++20 transparent hashing; a short-lived key is cheap enough.
    thread_local std::string key;
    key.assign(word);
    auto it = cache.words.find(key);
    if (it != cache.words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  thread_local std::vector<int32_t> ids;
  ids.clear();
  initial_symbols(word, ids);
  merge_symbols(ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    if (cache.words.size() >= kCacheMaxEntries) cache.words.clear();
    cache.words.emplace(std::string(word), ids);
  }
}

}  // namespace tessera
