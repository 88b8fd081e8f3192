// kernels/cpu/paged_attention.cpp — cache append and causal GQA attention over the paged KV cache
// (layout: kernels/attention/paged_kv.h), fp32, parallel over (query token, kv head).
//
// For one query row the keys are gathered block by block through the block table; scores are
// computed for the whole visible range, then one exact softmax (max-subtracted, fp32 accumulation
// in double for the normalizer), which matches eager PyTorch attention to fp32 rounding. The query
// heads that share a kv head are done together so each key/value row is read once per group.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/ops.h"
#include "src/core/thread_pool.h"

namespace tessera::kernels::cpu {

void reshape_and_cache(const float* k, int64_t k_token_stride, const float* v,
                       int64_t v_token_stride, const int64_t* slot_mapping, int64_t num_tokens,
                       const PagedKvLayout& layout, float* k_cache, float* v_cache) {
  const int64_t row = layout.token_stride();
  for (int64_t t = 0; t < num_tokens; ++t) {
    const int64_t slot = slot_mapping[t];
    if (slot < 0) continue;
    // [num_blocks, block_size, ...] is contiguous, so slot * row addresses the token directly.
    std::memcpy(k_cache + slot * row, k + t * k_token_stride, static_cast<size_t>(row) * 4);
    std::memcpy(v_cache + slot * row, v + t * v_token_stride, static_cast<size_t>(row) * 4);
  }
}

void paged_attention(const PagedAttentionParams& p) {
  const PagedKvLayout& L = p.layout;
  const int32_t group = p.num_heads / L.num_kv_heads;
  const int32_t d = L.head_dim;
  const int32_t num_seqs = p.batch.num_seqs;
  const int64_t num_tokens = p.batch.cu_seqlens_q[num_seqs];

  // Map each query row to its sequence once (rows are packed by sequence).
  std::vector<int32_t> row_seq(static_cast<size_t>(num_tokens));
  for (int32_t s = 0; s < num_seqs; ++s)
    for (int32_t r = p.batch.cu_seqlens_q[s]; r < p.batch.cu_seqlens_q[s + 1]; ++r)
      row_seq[static_cast<size_t>(r)] = s;

  const int64_t work = num_tokens * L.num_kv_heads;
  parallel_for(work, 1, [&](int64_t wb, int64_t we) {
    std::vector<float> scores;
    std::vector<double> acc(static_cast<size_t>(d));
    for (int64_t w = wb; w < we; ++w) {
      const int64_t row = w / L.num_kv_heads;
      const int32_t kvh = static_cast<int32_t>(w % L.num_kv_heads);
      const int32_t s = row_seq[static_cast<size_t>(row)];
      const int32_t q_len = p.batch.cu_seqlens_q[s + 1] - p.batch.cu_seqlens_q[s];
      const int32_t seq_len = p.batch.seq_lens[s];
      const int64_t q_pos = seq_len - q_len + (row - p.batch.cu_seqlens_q[s]);
      int64_t k_end = p.causal ? std::min<int64_t>(q_pos + 1, seq_len) : seq_len;  // exclusive
      int64_t k_begin = 0;
      if (p.sliding_window > 0) k_begin = std::max<int64_t>(0, q_pos - p.sliding_window + 1);
      if (k_end < k_begin) k_end = k_begin;
      const int32_t* blocks = p.batch.block_table + static_cast<int64_t>(s) * p.batch.max_blocks_per_seq;
      auto kv_row = [&](const float* cache, int64_t pos) {
        const int64_t block = blocks[pos / L.block_size];
        return cache + block * L.block_stride() + (pos % L.block_size) * L.token_stride() +
               static_cast<int64_t>(kvh) * d;
      };

      for (int32_t g = 0; g < group; ++g) {
        const int32_t h = kvh * group + g;
        const float* q = p.q + row * p.q_token_stride + static_cast<int64_t>(h) * d;
        float* out = p.out + row * p.out_token_stride + static_cast<int64_t>(h) * d;
        const int64_t n = k_end - k_begin;
        if (n <= 0) {
          std::fill(out, out + d, 0.0f);
          if (p.lse) p.lse[row * p.num_heads + h] = -std::numeric_limits<float>::infinity();
          continue;
        }
        scores.resize(static_cast<size_t>(n));
        float max_score = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < n; ++j) {
          const float* kr = kv_row(p.k_cache, k_begin + j);
          float dot = 0.0f;
          for (int32_t i = 0; i < d; ++i) dot += q[i] * kr[i];
          const float sc = dot * p.softmax_scale;
          scores[static_cast<size_t>(j)] = sc;
          max_score = std::max(max_score, sc);
        }
        double denom = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          const float e = std::exp(scores[static_cast<size_t>(j)] - max_score);
          scores[static_cast<size_t>(j)] = e;
          denom += e;
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < n; ++j) {
          const float* vr = kv_row(p.v_cache, k_begin + j);
          const double pj = scores[static_cast<size_t>(j)];
          for (int32_t i = 0; i < d; ++i) acc[static_cast<size_t>(i)] += pj * vr[i];
        }
        for (int32_t i = 0; i < d; ++i) out[i] = static_cast<float>(acc[static_cast<size_t>(i)] / denom);
        if (p.lse) p.lse[row * p.num_heads + h] = max_score + static_cast<float>(std::log(denom));
      }
    }
  });
}

}  // namespace tessera::kernels::cpu
