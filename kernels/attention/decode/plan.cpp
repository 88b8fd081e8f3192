// kernels/attention/decode/plan.cpp — paged_attention_plan(): how the paged attention kernel splits
// its work, decided on the CPU from sizes alone (no CUDA here, so it is unit-tested anywhere).
//
// The grid is (num_splits, num_kv_heads * row_blocks, num_seqs). Decode is bound by the bytes of K
// and V, so the plan's one job is to keep every SM streaming: when (sequences x KV heads x row
// blocks) fill the machine, one split; when they don't (small batches, long sequences), the keys
// are cut into splits: within one wave, as many as shorten the longest split; between one and two
// waves, as many as fill the last wave. A split is never shorter than kMinTilesPerSplit tiles. The
// per-SM residency is decode::ctas_per_sm (plan_detail.h), which the CUDA build checks against the
// kernels' shared memory (launch.cu).
#include <algorithm>
#include <cstdint>

#include "kernels/attention/decode/plan.h"
#include "kernels/attention/decode/plan_detail.h"

namespace tessera::kernels {

PagedAttentionPlan paged_attention_plan(const PagedAttentionProblem& pr) {
  PagedAttentionPlan plan;
  plan.num_splits = 0;  // invalid until proven otherwise
  if (pr.num_seqs < 0 || pr.num_heads < 1 || pr.num_kv_heads < 1 || pr.num_heads % pr.num_kv_heads != 0 ||
      pr.max_q_len < 1 || pr.max_seq_len < 0 || pr.max_total_q < 0 || pr.head_dim < 1)
    return plan;
  const int64_t group = pr.num_heads / pr.num_kv_heads;
  const int64_t rows = static_cast<int64_t>(pr.max_q_len) * group;
  plan.rows_per_cta = rows <= 16 ? 16 : 64;
  const int64_t row_blocks = (rows + plan.rows_per_cta - 1) / plan.rows_per_cta;
  if (row_blocks > 65535 / pr.num_kv_heads) return plan;
  plan.row_blocks = static_cast<int32_t>(row_blocks);
  plan.max_q_len = pr.max_q_len;
  plan.num_seqs = pr.num_seqs;
  plan.max_total_q = pr.max_total_q > 0 ? pr.max_total_q : static_cast<int64_t>(pr.num_seqs) * pr.max_q_len;

  const int64_t max_tiles = std::max<int64_t>(1, (pr.max_seq_len + decode::kBlockN - 1) / decode::kBlockN);
  const int64_t max_splits = std::min<int64_t>(PagedAttentionPlan::kMaxSplits,
                                               std::max<int64_t>(1, max_tiles / decode::kMinTilesPerSplit));
  int64_t splits = 1;
  if (pr.num_splits > 0) {
    splits = std::clamp<int64_t>(pr.num_splits, 1, std::min<int64_t>(PagedAttentionPlan::kMaxSplits, max_tiles));
  } else {
    const int64_t ctas = static_cast<int64_t>(pr.num_seqs) * pr.num_kv_heads * row_blocks;
    const int64_t sms = pr.num_sms > 0 ? pr.num_sms : 132;
    const int64_t slots = sms * decode::ctas_per_sm(pr.head_dim);
    if (ctas > 0 && ctas < slots) {
      // Less than one wave: every CTA runs at once, so the time is that of the longest split (its
      // tiles stream one after another) plus the combine pass, which costs about kCombineTiles and
      // a little more per split (plan_detail.h; in sixteenths of a tile). The split count that
      // minimizes it within one wave, the smallest on a tie. Uneven splits count their longest one
      // (B=1 L=4096: 31 splits leave 3-tile splits, 15.8 us, against 12.3 us for 32).
      const int64_t fit = std::min<int64_t>(max_splits, slots / ctas);
      auto cost = [&](int64_t s) {
        return 16 * ((max_tiles + s - 1) / s) + (s > 1 ? 16 * decode::kCombineTiles + decode::kCombinePerSplit * s : 0);
      };
      for (int64_t s = 2; s <= fit; ++s)
        if (cost(s) < cost(splits)) splits = s;
    } else if (ctas > 0 && ctas < slots * decode::kSplitWhenWavesBelow) {
      // Between one and two waves: the fraction of the CTA slots of the last wave that do work, for
      // each split count; the smallest count within 5% of the best (fewer splits: less combine
      // traffic).
      auto efficiency = [&](int64_t s) {
        const int64_t n = ctas * s;
        const int64_t waves = (n + slots - 1) / slots;
        return static_cast<double>(n) / static_cast<double>(waves * slots);
      };
      double best = 0.0;
      for (int64_t s = 1; s <= max_splits; ++s) best = std::max(best, efficiency(s));
      for (int64_t s = 1; s <= max_splits; ++s)
        if (efficiency(s) >= 0.95 * best) {
          splits = s;
          break;
        }
    }
  }
  plan.num_splits = static_cast<int32_t>(splits);
  if (splits > 1) {
    auto round = [](int64_t bytes) { return (bytes + 255) / 256 * 256; };
    const int64_t rows_ws = splits * plan.max_total_q * pr.num_heads;
    plan.workspace_bytes = round(rows_ws * pr.head_dim * 4) + round(rows_ws * 8);
  }
  return plan;
}

}  // namespace tessera::kernels
