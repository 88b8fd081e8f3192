// kernels/cpu/sampling.cpp — greedy and filtered random sampling (see sampling.h).
#include "kernels/cpu/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace tessera::kernels::cpu {
int32_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

double uniform_from(uint64_t seed, uint64_t counter) {
  const uint64_t r = splitmix64(splitmix64(seed) ^ (counter * 0xd1b54a32d192ed03ull));
  return static_cast<double>(r >> 11) * 0x1.0p-53;
}

int32_t sample_token(const float* logits, int64_t vocab, const SamplingParams& params, double u) {
  if (params.temperature <= 0.0f || params.top_k == 1) return argmax(logits, vocab);

  // Candidates sorted by logit, descending; top-k trims the list before any softmax.
  std::vector<int32_t> idx(static_cast<size_t>(vocab));
  std::iota(idx.begin(), idx.end(), 0);
  size_t keep = idx.size();
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (params.top_k > 0 && static_cast<size_t>(params.top_k) < keep) {
    keep = static_cast<size_t>(params.top_k);
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(keep), idx.end(), by_logit);
  } else {
    std::sort(idx.begin(), idx.end(), by_logit);
  }
  idx.resize(keep);

  // Softmax over the candidates at the given temperature.
  const double inv_t = 1.0 / params.temperature;
  const double max_l = logits[idx[0]];
  std::vector<double> prob(keep);
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    prob[i] = std::exp((static_cast<double>(logits[idx[i]]) - max_l) * inv_t);
    total += prob[i];
  }
  for (double& p : prob) p /= total;

  // Top-p: the shortest prefix whose mass reaches top_p (at least one token).
  if (params.top_p < 1.0f) {
    double cum = 0.0;
    size_t n = 0;
    while (n < keep) {
      cum += prob[n++];
      if (cum >= params.top_p) break;
    }
    keep = std::max<size_t>(1, n);
  }
  // Min-p: drop tokens below min_p x the top probability.
  if (params.min_p > 0.0f) {
    const double floor_p = params.min_p * prob[0];
    size_t n = 1;
    while (n < keep && prob[n] >= floor_p) ++n;
    keep = n;
  }

  double mass = 0.0;
  for (size_t i = 0; i < keep; ++i) mass += prob[i];
  const double target = u * mass;
  double cum = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    cum += prob[i];
    if (target < cum) return idx[i];
  }
  return idx[keep - 1];
}

}  // namespace tessera::kernels::cpu
