// tests/cpp/test_decode_plan.cpp — paged_attention_plan(), the CPU half of the decode kernels' work
// split (kernels/attention/decode/plan.h): when it splits the keys, how far, the row layout for
// many new tokens, the workspace size, forced split counts, and invalid sizes.
#include <gtest/gtest.h>

#include "kernels/attention/decode/plan.h"

namespace tessera::kernels {
namespace {

PagedAttentionProblem problem(int32_t seqs, int64_t max_len, int32_t q_len = 1) {
  PagedAttentionProblem p;
  p.num_seqs = seqs;
  p.num_heads = 32;
  p.num_kv_heads = 8;
  p.head_dim = 128;
  p.max_q_len = q_len;
  p.max_seq_len = max_len;
  p.num_sms = 132;
  return p;
}

TEST(DecodePlan, LargeBatchDoesNotSplit) {
  // 64 x 8 = 512 CTAs at 2 per SM fill 1.94 waves: within 5% of the best, so no combine pass.
  const PagedAttentionPlan plan = paged_attention_plan(problem(64, 8192));
  EXPECT_EQ(plan.num_splits, 1);
  EXPECT_EQ(plan.workspace_bytes, 0);
  EXPECT_EQ(plan.rows_per_cta, 16);
  EXPECT_EQ(plan.row_blocks, 1);
  EXPECT_EQ(plan.max_total_q, 64);
}

TEST(DecodePlan, SingleLongSequenceSplitsToFillTheMachine) {
  const PagedAttentionPlan plan = paged_attention_plan(problem(1, 32768));
  // 8 CTAs alone would leave 256 of 264 slots idle.
  EXPECT_GE(plan.num_splits * 8, 132 * 2 * 9 / 10);
  EXPECT_LE(plan.num_splits, PagedAttentionPlan::kMaxSplits);
  // Workspace: fp32 partial rows and a (max, sum) pair per split and row, each part 256-aligned.
  const int64_t rows = static_cast<int64_t>(plan.num_splits) * 1 * 32;
  EXPECT_EQ(plan.workspace_bytes, (rows * 128 * 4 + 255) / 256 * 256 + (rows * 8 + 255) / 256 * 256);
}

TEST(DecodePlan, ShortSequencesSplitAsTheLatencyModelSays) {
  // 100 keys are 2 tiles of 64: two one-tile splits and a combine pass cost more than one range.
  EXPECT_EQ(paged_attention_plan(problem(1, 100)).num_splits, 1);
  // 300 keys (5 tiles), 512 (8) and 1024 (16): one tile per split; the H200 measured 512 keys at
  // 5.1 us in 8 splits against 5.9 in 4, and 1024 keys at 5.6 us in 16 against 6.1 in 8.
  EXPECT_EQ(paged_attention_plan(problem(1, 300)).num_splits, 5);
  EXPECT_EQ(paged_attention_plan(problem(1, 512)).num_splits, 8);
  EXPECT_EQ(paged_attention_plan(problem(1, 1024)).num_splits, 16);
  // 2048 keys: 16 splits of 2 tiles tie with 32 of 1 (the smaller count wins; 7.0 against 7.3 us).
  EXPECT_EQ(paged_attention_plan(problem(1, 2048)).num_splits, 16);
  // 64 tiles over 8 KV heads: 32 splits of 2 tiles are 256 CTAs, one wave of the 264 slots.
  EXPECT_EQ(paged_attention_plan(problem(1, 4096)).num_splits, 32);
  // 4 sequences of 1024 keys: 32 CTAs per split, so at most 8 splits fit one wave.
  EXPECT_EQ(paged_attention_plan(problem(4, 1024)).num_splits, 8);
  EXPECT_EQ(paged_attention_plan(problem(1, 1)).num_splits, 1);
  EXPECT_EQ(paged_attention_plan(problem(3, 0)).num_splits, 1);
}

TEST(DecodePlan, ManyNewTokensUseWideRowBlocks) {
  // 200 tokens x 4 heads = 800 rows: 64-row CTAs, 13 of them per KV head.
  const PagedAttentionPlan plan = paged_attention_plan(problem(2, 4096, 200));
  EXPECT_EQ(plan.rows_per_cta, 64);
  EXPECT_EQ(plan.row_blocks, 13);
  EXPECT_EQ(plan.max_total_q, 400);
  // 4 tokens x 4 heads = 16 rows still fit one 16-row CTA.
  const PagedAttentionPlan small = paged_attention_plan(problem(2, 4096, 4));
  EXPECT_EQ(small.rows_per_cta, 16);
  EXPECT_EQ(small.row_blocks, 1);
}

TEST(DecodePlan, ForcedSplitsAreClampedToTheKeys) {
  PagedAttentionProblem p = problem(1, 32768);
  p.num_splits = 17;
  EXPECT_EQ(paged_attention_plan(p).num_splits, 17);
  p.num_splits = 1000;
  EXPECT_EQ(paged_attention_plan(p).num_splits, PagedAttentionPlan::kMaxSplits);
  p.max_seq_len = 100;  // two tiles: no more than two ranges
  p.num_splits = 9;
  EXPECT_EQ(paged_attention_plan(p).num_splits, 2);
}

TEST(DecodePlan, WorkspaceCoversTheGivenRowBound) {
  PagedAttentionProblem p = problem(4, 65536, 3);
  p.max_total_q = 7;  // fewer rows than 4 x 3
  const PagedAttentionPlan plan = paged_attention_plan(p);
  ASSERT_GT(plan.num_splits, 1);
  EXPECT_EQ(plan.max_total_q, 7);
  const int64_t rows = static_cast<int64_t>(plan.num_splits) * 7 * 32;
  EXPECT_EQ(plan.workspace_bytes, (rows * 128 * 4 + 255) / 256 * 256 + (rows * 8 + 255) / 256 * 256);
}

TEST(DecodePlan, SameInputsSamePlan) {
  const PagedAttentionPlan a = paged_attention_plan(problem(5, 12345, 2));
  const PagedAttentionPlan b = paged_attention_plan(problem(5, 12345, 2));
  EXPECT_EQ(a.num_splits, b.num_splits);
  EXPECT_EQ(a.workspace_bytes, b.workspace_bytes);
}

TEST(DecodePlan, InvalidSizesGiveNoPlan) {
  PagedAttentionProblem p = problem(1, 100);
  p.num_heads = 12;
  p.num_kv_heads = 5;  // not a divisor
  EXPECT_EQ(paged_attention_plan(p).num_splits, 0);
  p = problem(1, 100, 0);  // no new tokens bound
  EXPECT_EQ(paged_attention_plan(p).num_splits, 0);
  p = problem(-1, 100);
  EXPECT_EQ(paged_attention_plan(p).num_splits, 0);
  p = problem(1, -5);
  EXPECT_EQ(paged_attention_plan(p).num_splits, 0);
  p = problem(1, 100);
  p.num_kv_heads = 0;
  EXPECT_EQ(paged_attention_plan(p).num_splits, 0);
}

}  // namespace
}  // namespace tessera::kernels
