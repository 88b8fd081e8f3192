// kernels/cpu/paged_attention.cpp — cache append (plain, and fused with RoPE as the CPU twin of the
// CUDA paged_kv_append) and causal GQA attention over the paged KV cache (layout:
// kernels/attention/paged_kv.h), fp32, parallel over new tokens / (query token, kv head).
//
// The fused append writes exactly the slots of non-negative slot_mapping entries and the q_out rows,
// nothing else; its rotation is rope_rotate_row (rope.cpp), so its bits are the CUDA kernel's.
//
// For one query row the keys are gathered block by block through the block table; scores are
// computed for the whole visible range, then one exact softmax (max-subtracted, fp32 accumulation
// in double for the normalizer), which matches eager PyTorch attention to fp32 rounding. The query
// heads that share a kv head are done together so each key/value row is read once per group.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "kernels/cpu/ops.h"
#include "src/core/thread_pool.h"

namespace tessera::kernels::cpu {

void reshape_and_cache(const float* k, int64_t k_token_stride, const float* v,
                       int64_t v_token_stride, const int64_t* slot_mapping, int64_t num_tokens,
                       const PagedKvLayout& layout, float* k_cache, float* v_cache) {
  const int64_t d = layout.head_dim, head_stride = layout.head_stride();
  for (int64_t t = 0; t < num_tokens; ++t) {
    const int64_t slot = slot_mapping[t];
    if (slot < 0) continue;
    const int64_t at = layout.slot_offset(slot);
    for (int64_t h = 0; h < layout.num_kv_heads; ++h) {  // k and v rows: [num_kv_heads, head_dim] dense
      std::memcpy(k_cache + at + h * head_stride, k + t * k_token_stride + h * d, static_cast<size_t>(d) * 4);
      std::memcpy(v_cache + at + h * head_stride, v + t * v_token_stride + h * d, static_cast<size_t>(d) * 4);
    }
  }
}

namespace {

thread_local std::string append_error;  // paged_kv_append_check's last reason on this thread

const char* append_fail(const std::string& reason) {
  append_error = reason;
  return append_error.c_str();
}

}  // namespace

const char* paged_kv_append_check(const KvAppendCpuParams& p) {
  using std::to_string;
  const PagedKvLayout& L = p.layout;
  if (L.num_blocks <= 0 || L.block_size <= 0 || L.num_kv_heads <= 0 || L.head_dim <= 0)
    return append_fail("layout: num_blocks " + to_string(L.num_blocks) + ", block_size " +
                       to_string(L.block_size) + ", num_kv_heads " + to_string(L.num_kv_heads) +
                       " and head_dim " + to_string(L.head_dim) + " must all be > 0");
  if (!L.rows_disjoint())
    return append_fail("cache strides (block " + to_string(L.block_stride()) + ", token " +
                       to_string(L.token_stride()) + ", head " + to_string(L.head_stride()) +
                       " elements) " + PagedKvLayout::kOverlapReason);
  if (p.num_tokens < 0) return append_fail("num_tokens " + to_string(p.num_tokens) + " must be >= 0");
  if (p.num_tokens > 0) {
    const std::pair<const void*, const char*> required[] = {{p.k, "k"},
                                                            {p.v, "v"},
                                                            {p.slot_mapping, "slot_mapping"},
                                                            {p.k_cache, "k_cache"},
                                                            {p.v_cache, "v_cache"}};
    for (const auto& [ptr, name] : required)
      if (ptr == nullptr)
        return append_fail(std::string(name) + " is null with num_tokens " + to_string(p.num_tokens));
  }
  const bool has_q = p.q != nullptr;
  if (has_q) {
    if (p.num_q_tokens < 0)
      return append_fail("num_q_tokens " + to_string(p.num_q_tokens) + " must be >= 0");
    if (p.q_out == nullptr) return append_fail("q_out is null while q is set");
    if (p.num_heads <= 0) return append_fail("num_heads " + to_string(p.num_heads) + " must be > 0 while q is set");
    if (p.q_out == p.q && (p.q_out_token_stride != p.q_token_stride || p.q_out_head_stride != p.q_head_stride))
      return append_fail("q_out is q, so q_out_token_stride " + to_string(p.q_out_token_stride) +
                         " and q_out_head_stride " + to_string(p.q_out_head_stride) +
                         " must equal q_token_stride " + to_string(p.q_token_stride) +
                         " and q_head_stride " + to_string(p.q_head_stride));
  }
  const int64_t q_rows = has_q ? p.num_q_tokens : 0;
  if (p.rope != RopeLayout::kNone) {
    if (p.rope != RopeLayout::kRotateHalf && p.rope != RopeLayout::kInterleaved)
      return append_fail("rope " + to_string(static_cast<int32_t>(p.rope)) +
                         " is not kNone (0), kRotateHalf (1) or kInterleaved (2)");
    const int32_t rotated = p.rotary_dim == 0 ? L.head_dim : p.rotary_dim;
    if (p.rotary_dim < 0 || rotated % 2 != 0 || rotated > L.head_dim)
      return append_fail("rotary_dim " + to_string(p.rotary_dim) + " must be even and <= head_dim " +
                         to_string(L.head_dim) + (p.rotary_dim == 0 ? " (0 means head_dim)" : ""));
    if (p.num_tokens > 0 || q_rows > 0) {
      if (p.cos == nullptr || p.sin == nullptr)
        return append_fail("cos and sin tables must be set for rope " +
                           to_string(static_cast<int32_t>(p.rope)));
      if (p.max_position <= 0)
        return append_fail("max_position " + to_string(p.max_position) + " must be > 0 (rows of cos/sin)");
    }
    if (p.num_tokens > 0 && p.k_positions == nullptr)
      return append_fail("k_positions is null with num_tokens " + to_string(p.num_tokens));
    if (q_rows > 0 && p.q_positions == nullptr) {
      if (p.k_positions == nullptr) return append_fail("q_positions and k_positions are both null");
      if (q_rows > p.num_tokens)
        return append_fail("num_q_tokens " + to_string(q_rows) + " > num_tokens " + to_string(p.num_tokens) +
                           " while q_positions is null (q would read k_positions past its end)");
    }
  }
  const int64_t num_slots = L.num_slots();
  for (int64_t t = 0; t < p.num_tokens; ++t)
    if (p.slot_mapping[t] >= num_slots)
      return append_fail("slot " + to_string(p.slot_mapping[t]) + " >= num_slots " + to_string(num_slots) +
                         " at token " + to_string(t));
  return nullptr;
}

const char* paged_kv_append(const KvAppendCpuParams& p) {
  if (const char* reason = paged_kv_append_check(p)) return reason;
  const PagedKvLayout& L = p.layout;
  const int32_t d = L.head_dim;
  const bool rotate = p.rope != RopeLayout::kNone;
  const int32_t rotated = !rotate ? 0 : (p.rotary_dim > 0 ? p.rotary_dim : d);
  const int64_t half = rotated / 2;
  const int64_t q_rows = p.q != nullptr ? p.num_q_tokens : 0;
  const int32_t* q_positions = p.q_positions != nullptr ? p.q_positions : p.k_positions;
  // Offset of position positions[t]'s row in the cos/sin tables; out-of-range positions are
  // clamped into [0, max_position - 1], as the CUDA kernel does.
  auto table_row = [&](const int32_t* positions, int64_t t) -> int64_t {
    if (!rotate) return 0;
    const int32_t pos = std::clamp(positions[t], 0, p.max_position - 1);
    return static_cast<int64_t>(pos) * half;
  };
  parallel_for(std::max(p.num_tokens, q_rows), 4, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      if (t < p.num_tokens && p.slot_mapping[t] >= 0) {
        const int64_t row = table_row(p.k_positions, t);
        float* k_dst = p.k_cache + L.slot_offset(p.slot_mapping[t]);
        float* v_dst = p.v_cache + L.slot_offset(p.slot_mapping[t]);
        for (int32_t h = 0; h < L.num_kv_heads; ++h) {
          rope_rotate_row(p.k + t * p.k_token_stride + h * p.k_head_stride, k_dst + h * L.head_stride(), d,
                          rotated, p.rope, p.cos + row, p.sin + row);
          std::memcpy(v_dst + h * L.head_stride(), p.v + t * p.v_token_stride + h * p.v_head_stride,
                      static_cast<size_t>(d) * sizeof(float));
        }
      }
      if (t < q_rows) {
        const int64_t row = table_row(q_positions, t);
        for (int32_t h = 0; h < p.num_heads; ++h)
          rope_rotate_row(p.q + t * p.q_token_stride + h * p.q_head_stride,
                          p.q_out + t * p.q_out_token_stride + h * p.q_out_head_stride, d, rotated,
                          p.rope, p.cos + row, p.sin + row);
      }
    }
  });
  return nullptr;
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
               static_cast<int64_t>(kvh) * L.head_stride();
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
          float sc = dot * p.softmax_scale;
          if (p.logit_softcap > 0.0f) sc = p.logit_softcap * std::tanh(sc / p.logit_softcap);
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
