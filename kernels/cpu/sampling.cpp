// kernels/cpu/sampling.cpp — the CPU sampler (see sampling.h). Written for clarity against the
// definitions in kernels/sampling/params.h; the CUDA kernel reaches the same thresholds and the
// same token by other routes (candidate sets, radix selection), and tests compare the two.
#include "kernels/cpu/sampling.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

namespace tessera::kernels::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct MaxArg {
  float value = kNegInf;
  int32_t index = 0;
};

MaxArg max_arg(const float* x, int64_t n) {
  MaxArg m;
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] > m.value) m = {x[i], static_cast<int32_t>(i)};
  }
  return m;
}

// The k-th largest of x (k in [1, x.size()]).
float kth_largest(const std::vector<float>& x, int32_t k) {
  std::vector<float> tmp(x);
  std::nth_element(tmp.begin(), tmp.begin() + (k - 1), tmp.end(), std::greater<float>());
  return tmp[static_cast<size_t>(k - 1)];
}

// The top-p threshold: the value at which the mass of the largest values, taken in descending
// order among x >= floor, first reaches `target`. Sorts only as much of the head as it needs.
float top_p_threshold(const std::vector<float>& x, float x_max, float floor, uint64_t target) {
  struct Cand {
    float x;
    uint64_t mass;
  };
  std::vector<Cand> cand;
  for (float v : x) {
    if (v < floor) continue;
    const uint64_t m = token_mass(v, x_max, 0.0f);
    if (m > 0) cand.push_back({v, m});
  }
  const auto by_value = [](const Cand& a, const Cand& b) { return a.x > b.x; };
  size_t head = std::min<size_t>(64, cand.size());
  for (;;) {
    std::partial_sort(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(head), cand.end(), by_value);
    uint64_t cum = 0;
    for (size_t j = 0; j < head; ++j) {
      cum += cand[j].mass;
      if (cum >= target) return cand[j].x;  // ties of cand[j].x are all kept: order within them is moot
    }
    if (head == cand.size()) return floor;  // unreachable: target <= the total mass
    head = std::min(cand.size(), head * 4);
  }
}

// The token drawn from scaled logits x (row maximum x_max at argmax_index) with 53 random `bits`.
int32_t draw_token(const std::vector<float>& x, const SamplingRowParams& p, const MaxArg& best, uint64_t bits) {
  const int64_t vocab = static_cast<int64_t>(x.size());
  if (!(best.value > kNegInf)) return best.index;  // every token is masked: nothing to draw from
  float tau_k = kNegInf;
  if (p.top_k > 0 && p.top_k < vocab) tau_k = kth_largest(x, p.top_k);
  float tau = tau_k;
  if (p.top_p < 1.0f) {
    uint64_t mass_k = 0;
    for (float v : x) {
      if (v >= tau_k) mass_k += token_mass(v, best.value, 0.0f);
    }
    tau = std::max(tau, top_p_threshold(x, best.value, tau_k, top_p_target(p.top_p, mass_k)));
  }
  const float min_p = p.min_p > 0.0f ? p.min_p : 0.0f;
  uint64_t total = 0;
  for (float v : x) {
    if (v >= tau) total += token_mass(v, best.value, min_p);
  }
  const uint64_t target = mul_hi64(bits, total);
  uint64_t cum = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    const float v = x[static_cast<size_t>(i)];
    if (v < tau) continue;
    cum += token_mass(v, best.value, min_p);
    if (cum > target) return static_cast<int32_t>(i);
  }
  return best.index;  // unreachable: cum ends at total > target
}

struct RowLists {
  const int32_t* penalty_tokens = nullptr;
  const int32_t* penalty_counts = nullptr;
  int64_t num_penalties = 0;
  const int32_t* banned = nullptr;
  int64_t num_banned = 0;
};

int32_t sample_row(const float* raw, int64_t vocab, const SamplingRowParams& p, const RowLists& lists) {
  const bool greedy = p.temperature <= 0.0f || p.top_k == 1;
  const float inv_t = inverse_temperature(greedy ? 0.0f : p.temperature);
  std::vector<float> x(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) x[static_cast<size_t>(i)] = mul_rn(canonical(raw[i]), inv_t);
  for (int64_t j = 0; j < lists.num_penalties; ++j) {
    const int32_t t = lists.penalty_tokens[j];
    const float v = penalize(canonical(raw[t]), lists.penalty_counts[j], p.repetition_penalty, p.presence_penalty,
                             p.frequency_penalty);
    x[static_cast<size_t>(t)] = mul_rn(v, inv_t);
  }
  for (int64_t j = 0; j < lists.num_banned; ++j) x[static_cast<size_t>(lists.banned[j])] = kNegInf;
  const MaxArg best = max_arg(x.data(), vocab);
  if (greedy) return best.index;
  return draw_token(x, p, best, draw_bits(p.seed, p.counter));
}

// Raw logprobs of one row: the sampled token's, its rank, and the top n (best first, ties to the
// lower id). Sums in double: this is the reference the device's float sums are held against.
void write_logprobs(const float* raw, int64_t vocab, int32_t token, int32_t n, const SamplingBatch& b, int64_t row) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < vocab; ++i) m = std::max(m, static_cast<double>(canonical(raw[i])));
  double s = 0.0;
  for (int64_t i = 0; i < vocab; ++i) s += std::exp(static_cast<double>(canonical(raw[i])) - m);
  const double lse = m + std::log(s);
  const float chosen = canonical(raw[token]);
  if (b.out_logprobs) b.out_logprobs[row] = static_cast<float>(chosen - lse);
  if (b.out_ranks) {
    int32_t rank = 0;
    for (int64_t i = 0; i < vocab; ++i) rank += canonical(raw[i]) >= chosen ? 1 : 0;
    b.out_ranks[row] = rank;
  }
  if (!b.out_top_ids || n <= 0) return;
  const int32_t take = static_cast<int32_t>(std::min<int64_t>(n, vocab));
  std::vector<int32_t> idx(static_cast<size_t>(vocab));
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + take, idx.end(), [&](int32_t a, int32_t c) {
    const float va = canonical(raw[a]), vc = canonical(raw[c]);
    return va > vc || (va == vc && a < c);
  });
  for (int32_t j = 0; j < take; ++j) {
    const int32_t id = idx[static_cast<size_t>(j)];
    b.out_top_ids[row * b.top_logprobs_stride + j] = id;
    if (b.out_top_logprobs)
      b.out_top_logprobs[row * b.top_logprobs_stride + j] = static_cast<float>(canonical(raw[id]) - lse);
  }
}

bool valid_list(const int32_t* offsets, const int32_t* tokens, int64_t rows, int64_t vocab) {
  if (!offsets) return true;
  if (offsets[0] < 0 || (offsets[rows] > offsets[0] && !tokens)) return false;
  for (int64_t r = 0; r < rows; ++r) {
    if (offsets[r + 1] < offsets[r]) return false;
    for (int32_t j = offsets[r]; j < offsets[r + 1]; ++j) {
      if (tokens[j] < 0 || tokens[j] >= vocab) return false;
    }
  }
  return true;
}

bool valid_batch(const SamplingBatch& b) {
  if (b.num_rows < 0 || b.vocab <= 0 || b.vocab > (int64_t{1} << 23)) return false;
  if (b.num_rows == 0) return true;
  if (!b.logits || !b.rows || !b.out_tokens || b.logits_row_stride < b.vocab) return false;
  if (b.penalty_offsets && b.penalty_offsets[b.num_rows] > b.penalty_offsets[0] && !b.penalty_counts) return false;
  if (!valid_list(b.penalty_offsets, b.penalty_tokens, b.num_rows, b.vocab)) return false;
  if (!valid_list(b.banned_offsets, b.banned_tokens, b.num_rows, b.vocab)) return false;
  if (b.top_logprobs_stride < 0 || b.top_logprobs_stride > kMaxTopLogprobs) return false;
  for (int64_t r = 0; r < b.num_rows; ++r) {
    const int32_t n = b.rows[r].num_logprobs;
    if (n > kMaxTopLogprobs || (n > 0 && b.out_top_ids && n > b.top_logprobs_stride)) return false;
    if (b.logits_rows && (b.logits_rows[r] < 0 || b.logits_rows[r] >= b.logits_num_rows)) return false;
  }
  return true;
}

}  // namespace

int32_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  float best_v = kNegInf;
  for (int64_t i = 0; i < vocab; ++i) {
    const float v = canonical(logits[i]);
    if (v > best_v) {
      best_v = v;
      best = i;
    }
  }
  return static_cast<int32_t>(best);
}

double uniform_from(uint64_t seed, uint64_t counter) {
  return static_cast<double>(draw_bits(seed, counter)) * 0x1.0p-64;
}

int32_t sample_token(const float* logits, int64_t vocab, const SamplingParams& params, double u) {
  SamplingRowParams row;
  row.temperature = params.temperature;
  row.top_k = params.top_k;
  row.top_p = params.top_p;
  row.min_p = params.min_p;
  const bool greedy = row.temperature <= 0.0f || row.top_k == 1;
  std::vector<float> x(static_cast<size_t>(vocab));
  const float inv_t = inverse_temperature(greedy ? 0.0f : row.temperature);
  for (int64_t i = 0; i < vocab; ++i) x[static_cast<size_t>(i)] = mul_rn(canonical(logits[i]), inv_t);
  const MaxArg best = max_arg(x.data(), vocab);
  if (greedy) return best.index;
  // u * 2^64 is exact for u from uniform_from (53 bits); other u are truncated to 53 bits alike.
  const uint64_t bits = static_cast<uint64_t>(std::clamp(u, 0.0, 1.0 - 0x1.0p-53) * 0x1.0p64) & ~uint64_t{0x7ff};
  return draw_token(x, row, best, bits);
}

bool sample(const SamplingBatch& b) {
  if (!valid_batch(b)) return false;
  for (int64_t r = 0; r < b.num_rows; ++r) {
    const SamplingRowParams& p = b.rows[r];
    const float* raw = b.logits + (b.logits_rows ? b.logits_rows[r] : r) * b.logits_row_stride;
    RowLists lists;
    if (b.penalty_offsets) {
      lists.penalty_tokens = b.penalty_tokens + b.penalty_offsets[r];
      lists.penalty_counts = b.penalty_counts + b.penalty_offsets[r];
      lists.num_penalties = b.penalty_offsets[r + 1] - b.penalty_offsets[r];
    }
    if (b.banned_offsets) {
      lists.banned = b.banned_tokens + b.banned_offsets[r];
      lists.num_banned = b.banned_offsets[r + 1] - b.banned_offsets[r];
    }
    const int32_t token = sample_row(raw, b.vocab, p, lists);
    b.out_tokens[r] = token;
    if (b.out_logprobs) b.out_logprobs[r] = std::numeric_limits<float>::quiet_NaN();
    if (b.out_ranks) b.out_ranks[r] = 0;
    if (b.out_top_ids) {
      for (int32_t j = 0; j < b.top_logprobs_stride; ++j) {
        b.out_top_ids[r * b.top_logprobs_stride + j] = -1;
        if (b.out_top_logprobs)
          b.out_top_logprobs[r * b.top_logprobs_stride + j] = std::numeric_limits<float>::quiet_NaN();
      }
    }
    if (p.num_logprobs >= 0) write_logprobs(raw, b.vocab, token, p.num_logprobs, b, r);
  }
  return true;
}

}  // namespace tessera::kernels::cpu
