// KvCacheManager: slot allocation, all-or-nothing failure, freeing, and the prefix cache (hits,
// the last-token rule, salts, eviction order, reference counts of shared blocks).
#include <gtest/gtest.h>

#include <numeric>

#include "src/engine/kv_cache_manager.h"

namespace tessera::engine {
namespace {

Request make_request(uint64_t index, std::vector<int32_t> tokens, const std::string& salt = "") {
  Request r;
  r.arrival_index = index;
  r.token_ids = std::move(tokens);
  r.num_prompt_tokens = static_cast<int64_t>(r.token_ids.size());
  r.cache_salt_hash = hash_cache_salt(salt);
  return r;
}

std::vector<int32_t> iota_tokens(int32_t n, int32_t first = 100) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

TEST(KvCacheManager, AllocatesBlocksForScheduledTokensOnly) {
  KvCacheManager kv(10, 4, true);
  Request r = make_request(0, iota_tokens(10));
  ASSERT_TRUE(kv.allocate_slots(r, 6));  // a 6-token chunk: 2 blocks
  EXPECT_EQ(kv.block_ids(r).size(), 2u);
  r.num_computed_tokens = 6;
  ASSERT_TRUE(kv.allocate_slots(r, 2));  // tokens 6, 7 still fit in block 1
  EXPECT_EQ(kv.block_ids(r).size(), 2u);
  r.num_computed_tokens = 8;
  ASSERT_TRUE(kv.allocate_slots(r, 2));
  EXPECT_EQ(kv.block_ids(r).size(), 3u);
  EXPECT_EQ(kv.num_free_blocks(), 7);
  EXPECT_NEAR(kv.usage(), 0.3, 1e-12);
  kv.free(r);
  EXPECT_EQ(kv.num_free_blocks(), 10);
  EXPECT_TRUE(kv.block_ids(r).empty());
  EXPECT_TRUE(kv.check_invariants().is_ok());
}

TEST(KvCacheManager, FailureChangesNothing) {
  KvCacheManager kv(3, 4, true);
  Request a = make_request(0, iota_tokens(8));
  Request b = make_request(1, iota_tokens(8));
  ASSERT_TRUE(kv.allocate_slots(a, 8));
  EXPECT_FALSE(kv.allocate_slots(b, 8));  // needs 2, 1 free
  EXPECT_TRUE(kv.block_ids(b).empty());
  EXPECT_EQ(kv.num_free_blocks(), 1);
  EXPECT_EQ(kv.num_requests(), 1);
  ASSERT_TRUE(kv.allocate_slots(b, 4));
  EXPECT_TRUE(kv.check_invariants().is_ok());
}

TEST(KvCacheManager, SecondRequestReusesComputedFullBlocks) {
  KvCacheManager kv(16, 4, true);
  Request a = make_request(0, iota_tokens(10));
  ASSERT_TRUE(kv.allocate_slots(a, 10));
  // Nothing is cached before the forward pass computed it.
  Request early = make_request(5, iota_tokens(10));
  EXPECT_EQ(kv.find_cached_prefix(early).num_tokens, 0);
  a.num_computed_tokens = 10;
  kv.cache_computed_blocks(a);  // blocks 0 and 1 are full; block 2 (tokens 8, 9) is not
  EXPECT_EQ(kv.pool().num_cached_blocks(), 2);

  std::vector<int32_t> tokens = iota_tokens(8);
  tokens.push_back(7);  // diverges in block 2
  tokens.push_back(7);
  tokens.push_back(7);
  Request b = make_request(1, tokens);
  PrefixHit hit = kv.find_cached_prefix(b);
  EXPECT_EQ(hit.num_tokens, 8);
  ASSERT_EQ(hit.blocks.size(), 2u);
  EXPECT_EQ(hit.blocks[0], kv.block_ids(a)[0]);
  ASSERT_TRUE(kv.allocate_slots(b, 3, &hit));
  EXPECT_EQ(kv.block_ids(b).size(), 3u);
  EXPECT_EQ(kv.pool().ref_count(hit.blocks[0]), 2);
  EXPECT_EQ(kv.prefix_hit_tokens(), 8);
  EXPECT_EQ(kv.prefix_query_tokens(), 11);  // counted when the hit is taken
  EXPECT_TRUE(kv.check_invariants().is_ok());
  kv.free(a);
  EXPECT_EQ(kv.pool().ref_count(hit.blocks[0]), 1);
  kv.free(b);
  EXPECT_EQ(kv.num_free_blocks(), 16);
  EXPECT_TRUE(kv.check_invariants().is_ok());
}

TEST(KvCacheManager, HitNeverCoversTheLastToken) {
  KvCacheManager kv(8, 4, true);
  Request a = make_request(0, iota_tokens(8));
  ASSERT_TRUE(kv.allocate_slots(a, 8));
  a.num_computed_tokens = 8;
  kv.cache_computed_blocks(a);
  kv.free(a);
  // Same 8 tokens: both blocks are cached, but token 7 must be recomputed for its logits, so only
  // block 0 is a hit.
  Request b = make_request(1, iota_tokens(8));
  PrefixHit hit = kv.find_cached_prefix(b);
  EXPECT_EQ(hit.num_tokens, 4);
  Request c = make_request(2, iota_tokens(9));
  EXPECT_EQ(kv.find_cached_prefix(c).num_tokens, 8);
}

TEST(KvCacheManager, SaltsIsolateTenants) {
  KvCacheManager kv(8, 4, true);
  Request a = make_request(0, iota_tokens(9), "tenant-a");
  ASSERT_TRUE(kv.allocate_slots(a, 9));
  a.num_computed_tokens = 9;
  kv.cache_computed_blocks(a);
  Request same = make_request(1, iota_tokens(9), "tenant-a");
  Request other = make_request(2, iota_tokens(9), "tenant-b");
  Request none = make_request(3, iota_tokens(9));
  EXPECT_EQ(kv.find_cached_prefix(same).num_tokens, 8);
  EXPECT_EQ(kv.find_cached_prefix(other).num_tokens, 0);
  EXPECT_EQ(kv.find_cached_prefix(none).num_tokens, 0);
}

TEST(KvCacheManager, FreedPrefixSurvivesUntilItsBlocksAreNeeded) {
  KvCacheManager kv(4, 4, true);
  Request a = make_request(0, iota_tokens(12));
  ASSERT_TRUE(kv.allocate_slots(a, 12));
  a.num_computed_tokens = 12;
  kv.cache_computed_blocks(a);
  kv.free(a);  // all 4 free; 3 cached, freed last-first so the prefix is evicted last
  EXPECT_EQ(kv.num_free_blocks(), 4);
  Request filler = make_request(1, iota_tokens(8, 5000));
  ASSERT_TRUE(kv.allocate_slots(filler, 8));  // takes the never-used block and a's block 2
  Request b = make_request(2, iota_tokens(13));
  EXPECT_EQ(kv.find_cached_prefix(b).num_tokens, 8);
  kv.free(filler);
  EXPECT_TRUE(kv.check_invariants().is_ok());
}

TEST(KvCacheManager, RevivingCachedBlocksCountsAgainstFreeSpace) {
  KvCacheManager kv(4, 4, true);
  Request a = make_request(0, iota_tokens(8));
  ASSERT_TRUE(kv.allocate_slots(a, 8));
  a.num_computed_tokens = 8;
  kv.cache_computed_blocks(a);
  kv.free(a);
  // b hits both cached blocks (8 tokens). 9 more tokens make 5 blocks: 3 new, but reviving the
  // two hit blocks from the free queue leaves only 2 to allocate: refused.
  Request b = make_request(1, iota_tokens(17));
  PrefixHit hit = kv.find_cached_prefix(b);
  ASSERT_EQ(hit.num_tokens, 8);
  EXPECT_FALSE(kv.allocate_slots(b, 9, &hit));  // 8 + 9 = 17 tokens = 5 blocks > 4
  EXPECT_TRUE(kv.allocate_slots(b, 8, &hit));   // 16 tokens = 4 blocks: 2 revived + 2 new
  EXPECT_EQ(kv.num_free_blocks(), 0);
  EXPECT_TRUE(kv.check_invariants().is_ok());
}

TEST(KvCacheManager, NoPrefixCachingMeansNoHits) {
  KvCacheManager kv(8, 4, false);
  Request a = make_request(0, iota_tokens(9));
  ASSERT_TRUE(kv.allocate_slots(a, 9));
  a.num_computed_tokens = 9;
  kv.cache_computed_blocks(a);
  Request b = make_request(1, iota_tokens(9));
  EXPECT_EQ(kv.find_cached_prefix(b).num_tokens, 0);
  EXPECT_EQ(kv.pool().num_cached_blocks(), 0);
}

}  // namespace
}  // namespace tessera::engine
