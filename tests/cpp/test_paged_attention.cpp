// Paged attention over scattered blocks against dense attention in double precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include "kernels/cpu/ops.h"

namespace tessera::kernels::cpu {
namespace {

struct Case {
  int32_t num_heads, num_kv_heads, head_dim, block_size;
  std::vector<int32_t> q_lens, seq_lens;
  bool causal;
  int32_t window;
  // >= 0: K and V share one allocation, block b's keys then its values then kv_pad unused elements
  // (block stride 2 * block + kv_pad); the pad stays NaN, so reading it would show in out.
  int64_t kv_pad = -1;
  // Head-major blocks (HND: a block holds each head's block_size rows together).
  bool head_major = false;
};

void run_case(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  const int32_t S = static_cast<int32_t>(c.seq_lens.size());
  int32_t max_blocks = 0, total_blocks = 0;
  for (int32_t len : c.seq_lens) {
    const int32_t nb = (len + c.block_size - 1) / c.block_size;
    max_blocks = std::max(max_blocks, nb);
    total_blocks += nb;
  }
  PagedKvLayout layout{total_blocks + 3, c.block_size, c.num_kv_heads, c.head_dim};
  if (c.head_major) {
    layout.token_stride_elems = c.head_dim;
    layout.head_stride_elems = static_cast<int64_t>(c.block_size) * c.head_dim;
  }
  if (c.kv_pad >= 0) layout.block_stride_elems = 2 * layout.block_extent() + c.kv_pad;
  ASSERT_TRUE(layout.rows_disjoint());
  // Separate caches: k_store and v_store; shared: k_store holds both, V starting one block in.
  std::vector<float> k_store(static_cast<size_t>(layout.cache_elements() + (c.kv_pad >= 0 ? layout.block_extent() : 0)), NAN);
  std::vector<float> v_store(c.kv_pad >= 0 ? 0 : k_store.size(), NAN);
  float* k_cache = k_store.data();
  float* v_cache = c.kv_pad >= 0 ? k_cache + layout.block_extent() : v_store.data();
  // Blocks handed out in a shuffled order, so logical and physical order differ.
  std::vector<int32_t> physical(static_cast<size_t>(layout.num_blocks));
  std::iota(physical.begin(), physical.end(), 0);
  std::shuffle(physical.begin(), physical.end(), rng);
  std::vector<int32_t> block_table(static_cast<size_t>(S * max_blocks), -1);
  std::vector<std::vector<float>> k_seq(static_cast<size_t>(S)), v_seq(static_cast<size_t>(S));
  size_t next = 0;
  const int64_t row = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;  // of k_seq, v_seq
  for (int32_t s = 0; s < S; ++s) {
    const int32_t len = c.seq_lens[static_cast<size_t>(s)];
    for (int32_t j = 0; j < (len + c.block_size - 1) / c.block_size; ++j)
      block_table[static_cast<size_t>(s * max_blocks + j)] = physical[next++];
    k_seq[static_cast<size_t>(s)].resize(static_cast<size_t>(len * row));
    v_seq[static_cast<size_t>(s)].resize(static_cast<size_t>(len * row));
    for (auto& x : k_seq[static_cast<size_t>(s)]) x = nd(rng);
    for (auto& x : v_seq[static_cast<size_t>(s)]) x = nd(rng);
    std::vector<int64_t> slots(static_cast<size_t>(len));
    for (int32_t p = 0; p < len; ++p)
      slots[static_cast<size_t>(p)] = static_cast<int64_t>(block_table[static_cast<size_t>(s * max_blocks + p / c.block_size)]) * c.block_size + p % c.block_size;
    reshape_and_cache(k_seq[static_cast<size_t>(s)].data(), row, v_seq[static_cast<size_t>(s)].data(), row, slots.data(), len, layout, k_cache, v_cache);
  }
  std::vector<int32_t> cu(static_cast<size_t>(S) + 1, 0);
  for (int32_t s = 0; s < S; ++s) cu[static_cast<size_t>(s) + 1] = cu[static_cast<size_t>(s)] + c.q_lens[static_cast<size_t>(s)];
  const int32_t T = cu.back();
  const int64_t qrow = static_cast<int64_t>(c.num_heads) * c.head_dim;
  std::vector<float> q(static_cast<size_t>(T * qrow));
  for (auto& x : q) x = nd(rng);
  std::vector<float> out(q.size(), NAN), lse(static_cast<size_t>(T * c.num_heads), NAN);

  PagedAttentionParams p;
  p.q = q.data();
  p.q_token_stride = qrow;
  p.out = out.data();
  p.out_token_stride = qrow;
  p.lse = lse.data();
  p.k_cache = k_cache;
  p.v_cache = v_cache;
  p.layout = layout;
  p.batch = {cu.data(), c.seq_lens.data(), block_table.data(), S, max_blocks};
  p.num_heads = c.num_heads;
  p.softmax_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  p.causal = c.causal;
  p.sliding_window = c.window;
  paged_attention(p);

  const int32_t group = c.num_heads / c.num_kv_heads;
  for (int32_t s = 0; s < S; ++s) {
    const int32_t len = c.seq_lens[static_cast<size_t>(s)], q_len = c.q_lens[static_cast<size_t>(s)];
    for (int32_t i = 0; i < q_len; ++i) {
      const int32_t t = cu[static_cast<size_t>(s)] + i, qpos = len - q_len + i;
      for (int32_t h = 0; h < c.num_heads; ++h) {
        const int32_t kvh = h / group;
        std::vector<double> sc;
        std::vector<int32_t> pos;
        for (int32_t kp = 0; kp < len; ++kp) {
          if (c.causal && kp > qpos) continue;
          if (c.window > 0 && qpos - kp >= c.window) continue;
          double d = 0;
          for (int32_t e = 0; e < c.head_dim; ++e)
            d += static_cast<double>(q[static_cast<size_t>(t * qrow + h * c.head_dim + e)]) *
                 k_seq[static_cast<size_t>(s)][static_cast<size_t>(kp * row + kvh * c.head_dim + e)];
          sc.push_back(d / std::sqrt(static_cast<double>(c.head_dim)));
          pos.push_back(kp);
        }
        const double mx = *std::max_element(sc.begin(), sc.end());
        double den = 0;
        for (double& x : sc) den += (x = std::exp(x - mx));
        for (int32_t e = 0; e < c.head_dim; ++e) {
          double o = 0;
          for (size_t j = 0; j < sc.size(); ++j)
            o += sc[j] * v_seq[static_cast<size_t>(s)][static_cast<size_t>(pos[j] * row + kvh * c.head_dim + e)];
          ASSERT_NEAR(out[static_cast<size_t>(t * qrow + h * c.head_dim + e)], o / den, 2e-5)
              << "seq " << s << " row " << i << " head " << h;
        }
        ASSERT_NEAR(lse[static_cast<size_t>(t * c.num_heads + h)], mx + std::log(den), 1e-4);
      }
    }
  }
}

TEST(CpuPagedAttention, MixedPrefillAndDecodeBatch) {
  // One prompt chunk at the start, a chunk in the middle of a sequence, and single decode tokens.
  run_case({8, 2, 32, 16, {17, 5, 1, 1}, {17, 40, 97, 1}, true, 0}, 1);
}

TEST(CpuPagedAttention, GqaRatiosAndHeadDims) {
  uint32_t seed = 2;
  for (int32_t ratio : {1, 4, 8})
    for (int32_t hd : {16, 64})
      for (int32_t bs : {1, 16, 32}) run_case({8, 8 / ratio, hd, bs, {3, 1}, {33, 20}, true, 0}, seed++);
}

TEST(CpuPagedAttention, MultiTokenCausalEveryBlockSizeAndGqaRatio) {
  // Several new tokens per sequence, causal inside them (bottom-right aligned), in one batch with
  // a one-token sequence, a whole prompt, a chunk ending mid-block, a decode step just past a
  // 128-token block and a chunk ending on a block boundary. Three KV heads, so the query head
  // counts (3, 12, 24) are not powers of two.
  uint32_t seed = 20;
  for (int32_t block_size : {16, 32, 64, 128})
    for (int32_t ratio : {1, 4, 8}) {
      SCOPED_TRACE("block_size " + std::to_string(block_size) + " gqa " + std::to_string(ratio));
      run_case({3 * ratio, 3, 64, block_size, {1, 7, 13, 1, 3}, {1, 7, 150, 129, 64}, true, 0}, seed++);
      if (HasFatalFailure()) return;
    }
}

TEST(CpuPagedAttention, OddLengthsAndHeadDims) {
  uint32_t seed = 40;
  for (int32_t head_dim : {64, 128, 256}) {
    SCOPED_TRACE("head_dim " + std::to_string(head_dim));
    run_case({8, 2, head_dim, 16, {5, 17, 1}, {5, 97, 33}, true, 0}, seed++);
    if (HasFatalFailure()) return;
  }
}

TEST(CpuPagedAttention, SequencesOfLengthOne) {
  // The first step of many sequences: each query sees only its own key (out is that key's v).
  for (int32_t block_size : {16, 128}) {
    run_case({8, 1, 64, block_size, {1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1}, true, 0}, 60);
    run_case({4, 4, 128, block_size, {1}, {1}, true, 0}, 61);
    if (HasFatalFailure()) return;
  }
}

TEST(CpuPagedAttention, NonCausalAndSlidingWindow) {
  run_case({4, 2, 16, 16, {6, 2}, {6, 30}, false, 0}, 11);
  run_case({4, 2, 16, 8, {37, 1}, {37, 50}, true, 8}, 12);
}

TEST(CpuPagedAttention, KeysAndValuesInOneAllocation) {
  // [num_blocks, 2, block_size, kv_heads, head_dim] (the CUDA engine's layout), and a wider block
  // stride whose gaps are never touched.
  uint32_t seed = 70;
  for (int64_t pad : {0, 24})
    for (int32_t block_size : {1, 16, 64}) {
      SCOPED_TRACE("block_size " + std::to_string(block_size) + " pad " + std::to_string(pad));
      run_case({8, 2, 32, block_size, {1, 7, 1}, {1, 40, 97}, true, 0, pad}, seed++);
      if (HasFatalFailure()) return;
    }
}

TEST(CpuPagedAttention, HeadMajorBlocks) {
  // [num_blocks, kv_heads, block_size, head_dim] viewed through strides, on its own and with K and
  // V side by side in one allocation.
  uint32_t seed = 80;
  for (int64_t pad : {-1, 0, 24})
    for (int32_t block_size : {1, 16, 64}) {
      SCOPED_TRACE("block_size " + std::to_string(block_size) + " pad " + std::to_string(pad));
      run_case({8, 2, 32, block_size, {1, 7, 1}, {1, 40, 97}, true, 0, pad, true}, seed++);
      if (HasFatalFailure()) return;
    }
}

TEST(CpuPagedAttention, RowsDisjoint) {
  PagedKvLayout dense{4, 16, 2, 64};
  EXPECT_TRUE(dense.rows_disjoint());
  EXPECT_EQ(dense.block_extent(), 16 * 2 * 64);
  PagedKvLayout hnd = dense;
  hnd.token_stride_elems = 64;
  hnd.head_stride_elems = 16 * 64;
  EXPECT_TRUE(hnd.rows_disjoint());
  EXPECT_EQ(hnd.block_extent(), 16 * 2 * 64);
  PagedKvLayout narrow = dense;
  narrow.block_stride_elems = dense.block_extent() - 64;  // the last row of a block is the next's first
  EXPECT_FALSE(narrow.rows_disjoint());
  PagedKvLayout same_head = dense;
  same_head.head_stride_elems = 32;  // heads half a row apart
  EXPECT_FALSE(same_head.rows_disjoint());
  PagedKvLayout one_head{4, 16, 1, 64};
  one_head.head_stride_elems = 8;  // never used with one head
  EXPECT_TRUE(one_head.rows_disjoint());
}

TEST(CpuPagedAttention, CacheAppendSkipsPaddingSlots) {
  PagedKvLayout layout{2, 4, 1, 2};
  std::vector<float> kc(16, -1.0f), vc(16, -1.0f);
  std::vector<float> k = {1, 2, 3, 4}, v = {5, 6, 7, 8};
  std::vector<int64_t> slots = {6, -1};
  reshape_and_cache(k.data(), 2, v.data(), 2, slots.data(), 2, layout, kc.data(), vc.data());
  EXPECT_EQ(kc[12], 1.0f);
  EXPECT_EQ(kc[13], 2.0f);
  EXPECT_EQ(vc[13], 6.0f);
  EXPECT_EQ(std::count(kc.begin(), kc.end(), -1.0f), 14);
}

}  // namespace
}  // namespace tessera::kernels::cpu
