// BlockPool: reference counts, free-queue eviction order, the prefix-cache map and its hashes.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "src/engine/block_pool.h"

namespace tessera::engine {
namespace {

std::vector<int32_t> tokens(int32_t first, int32_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

TEST(BlockPool, AllocatesInOrderAndCountsFreeBlocks) {
  BlockPool pool(8, 4);
  EXPECT_EQ(pool.num_free_blocks(), 8);
  EXPECT_EQ(pool.allocate(3), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(pool.num_free_blocks(), 5);
  EXPECT_EQ(pool.ref_count(1), 1);
  pool.release({2, 1, 0});
  EXPECT_EQ(pool.num_free_blocks(), 8);
  // Freed blocks join the tail: 3..7 come out first, then 2, 1, 0 in the order they were freed.
  EXPECT_EQ(pool.allocate(8), (std::vector<int32_t>{3, 4, 5, 6, 7, 2, 1, 0}));
  EXPECT_EQ(pool.num_free_blocks(), 0);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

TEST(BlockPool, SharedBlocksAreFreedByTheirLastOwner) {
  BlockPool pool(4, 4);
  auto a = pool.allocate(2);
  pool.touch(a[0]);  // a second owner
  EXPECT_EQ(pool.ref_count(a[0]), 2);
  pool.release({a[1], a[0]});
  EXPECT_EQ(pool.ref_count(a[0]), 1);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  pool.release({a[0]});
  EXPECT_EQ(pool.num_free_blocks(), 4);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

TEST(BlockPool, CachedFreeBlockIsRevivedByTouchAndEvictedByAllocate) {
  BlockPool pool(3, 4);
  const auto t = tokens(10, 4);
  const uint64_t root = hash_cache_salt("");
  const uint64_t h = hash_block_tokens(root, t.data(), 4);
  auto b = pool.allocate(1);
  pool.cache(b[0], h, root, t.data());
  EXPECT_EQ(pool.find_cached(h, root, t.data()), b[0]);
  pool.release(b);
  // Free but still cached: a hit revives it without allocating.
  EXPECT_EQ(pool.find_cached(h, root, t.data()), b[0]);
  pool.touch(b[0]);
  EXPECT_EQ(pool.num_free_blocks(), 2);
  pool.release(b);
  // The free queue is now 1, 2, 0: the cached block is evicted last.
  auto all = pool.allocate(3);
  EXPECT_EQ(all.back(), b[0]);
  EXPECT_EQ(pool.find_cached(h, root, t.data()), -1);
  EXPECT_EQ(pool.num_cached_blocks(), 0);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

TEST(BlockPool, HitsAreVerifiedAgainstTokensAndParent) {
  BlockPool pool(2, 4);
  const auto t = tokens(0, 4);
  const uint64_t root = hash_cache_salt("");
  const uint64_t h = hash_block_tokens(root, t.data(), 4);
  auto b = pool.allocate(1);
  pool.cache(b[0], h, root, t.data());
  auto other = tokens(1, 4);
  EXPECT_EQ(pool.find_cached(h, root, other.data()), -1);  // a forged collision is a miss
  EXPECT_EQ(pool.find_cached(h, root + 1, t.data()), -1);
  // A second block with the same hash stays uncached; the first keeps the entry.
  auto c = pool.allocate(1);
  pool.cache(c[0], h, root, t.data());
  EXPECT_FALSE(pool.is_cached(c[0]));
  EXPECT_EQ(pool.find_cached(h, root, t.data()), b[0]);
  pool.reset_prefix_cache();
  EXPECT_EQ(pool.find_cached(h, root, t.data()), -1);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

TEST(BlockPool, HashesChainAndDependOnTheSalt) {
  const auto t = tokens(5, 8);
  const uint64_t root = hash_cache_salt("");
  EXPECT_NE(hash_cache_salt("tenant-a"), root);
  EXPECT_NE(hash_cache_salt("tenant-a"), hash_cache_salt("tenant-b"));
  EXPECT_EQ(hash_cache_salt("tenant-a"), hash_cache_salt("tenant-a"));
  const uint64_t h0 = hash_block_tokens(root, t.data(), 4);
  EXPECT_EQ(h0, hash_block_tokens(root, t.data(), 4));
  EXPECT_NE(hash_block_tokens(h0, t.data() + 4, 4), hash_block_tokens(root, t.data() + 4, 4));
  EXPECT_NE(hash_block_tokens(hash_cache_salt("x"), t.data(), 4), h0);
}

TEST(BlockPool, RandomOperationsKeepTheInvariants) {
  std::mt19937 rng(3);
  BlockPool pool(32, 2);
  std::vector<std::vector<int32_t>> owners;
  const uint64_t root = hash_cache_salt("");
  for (int step = 0; step < 5000; ++step) {
    const int op = static_cast<int>(rng() % 3);
    if (op == 0 && pool.num_free_blocks() > 0) {
      const int32_t n = 1 + static_cast<int32_t>(rng() % static_cast<uint32_t>(pool.num_free_blocks()));
      owners.push_back(pool.allocate(n));
      ASSERT_EQ(static_cast<int32_t>(owners.back().size()), n);
      for (int32_t blk : owners.back()) {
        const int32_t toks[2] = {static_cast<int32_t>(rng() % 4), 0};
        pool.cache(blk, hash_block_tokens(root, toks, 2), root, toks);
      }
    } else if (op == 1 && !owners.empty()) {
      const size_t i = rng() % owners.size();
      pool.release(owners[i]);
      owners.erase(owners.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      const int32_t toks[2] = {static_cast<int32_t>(rng() % 4), 0};
      const int32_t hit = pool.find_cached(hash_block_tokens(root, toks, 2), root, toks);
      if (hit >= 0) {
        pool.touch(hit);
        owners.push_back({hit});
      }
    }
    ASSERT_TRUE(pool.check_invariants().is_ok()) << pool.check_invariants().message();
  }
  for (auto& o : owners) pool.release(o);
  EXPECT_EQ(pool.num_free_blocks(), 32);
  EXPECT_TRUE(pool.check_invariants().is_ok());
}

}  // namespace
}  // namespace tessera::engine
