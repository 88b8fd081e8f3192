// Sampling on the CPU: the shared arithmetic (det_exp, keys, masses), each filter against a
// distribution worked out by hand, penalties, logprobs against a float64 log-softmax, and that a
// stream's draws depend only on its seed and counter, never on the rest of the batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/sampling.h"

namespace tessera::kernels::cpu {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Exact probabilities of the draw: u swept over a fine grid hits token i in proportion to its
// share of the integer mass, so the frequencies equal the filtered distribution to within 1/M.
std::vector<double> grid_distribution(const std::vector<float>& l, const SamplingParams& p, int m = 200000) {
  std::vector<double> freq(l.size(), 0.0);
  for (int j = 0; j < m; ++j) freq[static_cast<size_t>(sample_token(l.data(), static_cast<int64_t>(l.size()), p, (j + 0.5) / m))] += 1.0 / m;
  return freq;
}

// softmax(l / t) restricted to `kept` (others 0), in double.
std::vector<double> softmax_over(const std::vector<double>& l, double t, const std::vector<int>& kept) {
  std::vector<double> p(l.size(), 0.0);
  double mx = -1e300, z = 0.0;
  for (int i : kept) mx = std::max(mx, l[static_cast<size_t>(i)] / t);
  for (int i : kept) z += std::exp(l[static_cast<size_t>(i)] / t - mx);
  for (int i : kept) p[static_cast<size_t>(i)] = std::exp(l[static_cast<size_t>(i)] / t - mx) / z;
  return p;
}

void expect_distribution(const std::vector<double>& got, const std::vector<double>& want, double tol = 2e-5) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "token " << i;
}

TEST(SamplingMath, DetExpIsAccurate) {
  for (int i = 0; i <= 28000; ++i) {
    const float d = std::max(-kMassRange, -0.001f * static_cast<float>(i));
    const double want = std::exp(static_cast<double>(d));
    EXPECT_NEAR(det_exp(d) / want, 1.0, 3e-6) << d;
  }
  EXPECT_EQ(det_exp(0.0f), 1.0f);
  EXPECT_EQ(det_exp(-28.5f), 0.0f);
  EXPECT_EQ(det_exp(-kInf), 0.0f);
}

TEST(SamplingMath, OrderKeyAndMulHi) {
  std::vector<float> v = {-kInf, -1e30f, -2.5f, -1e-30f, -0.0f, 0.0f, 1e-30f, 1.0f, 3.5f, 1e30f, kInf};
  for (size_t i = 0; i + 1 < v.size(); ++i) {
    EXPECT_LE(order_key(v[i]), order_key(v[i + 1])) << v[i];
    EXPECT_EQ(key_float(order_key(v[i])), v[i] == 0.0f ? 0.0f : v[i]);
  }
  EXPECT_EQ(order_key(-0.0f), order_key(0.0f));
  std::mt19937_64 rng(5);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t a = rng(), b = rng();
    __extension__ using u128 = unsigned __int128;
    EXPECT_EQ(mul_hi64(a, b), static_cast<uint64_t>((static_cast<u128>(a) * b) >> 64));
  }
}

TEST(Sampling, GreedyAndTies) {
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(argmax(l.data(), 4), 1);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  EXPECT_EQ(sample_token(l.data(), 4, greedy, 0.99), 1);
  SamplingParams k1;
  k1.top_k = 1;
  EXPECT_EQ(sample_token(l.data(), 4, k1, 0.99), 1);
  std::vector<float> nan = {std::nanf(""), -5.0f, std::nanf("")};
  EXPECT_EQ(argmax(nan.data(), 3), 1);
}

TEST(Sampling, FrequenciesFollowSoftmax) {
  std::vector<float> l = {1.0f, 2.0f, 0.0f, 1.5f};
  double z = 0;
  for (float x : l) z += std::exp(x);
  std::vector<int> counts(4, 0);
  const int n = 200000;
  for (int i = 0; i < n; ++i) counts[static_cast<size_t>(sample_token(l.data(), 4, {}, uniform_from(42, static_cast<uint64_t>(i))))]++;
  for (int j = 0; j < 4; ++j) {
    const double p = std::exp(l[static_cast<size_t>(j)]) / z;
    const double sd = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(counts[static_cast<size_t>(j)] / static_cast<double>(n), p, 5 * sd) << j;
  }
}

// The hand-worked example behind the filter tests: logits 3, 2, 1, 0, -1, 2 at temperature 1.
// softmax: e^3 : e^2 : e : 1 : e^-1 : e^2 = 20.09 : 7.39 : 2.72 : 1 : 0.37 : 7.39 (sum 38.95), so
// p = .5157 .1897 .0698 .0257 .0094 .1897.
const std::vector<float> kHand = {3.0f, 2.0f, 1.0f, 0.0f, -1.0f, 2.0f};
const std::vector<double> kHandD = {3, 2, 1, 0, -1, 2};

TEST(SamplingFilters, TemperatureOnly) {
  SamplingParams p;
  p.temperature = 0.5f;  // logits doubled: e^6 : e^4 : e^2 : 1 : e^-2 : e^4
  expect_distribution(grid_distribution(kHand, p), softmax_over(kHandD, 0.5, {0, 1, 2, 3, 4, 5}));
}

TEST(SamplingFilters, TopKKeepsTies) {
  SamplingParams p;
  p.top_k = 2;  // 2nd largest is 2, held by tokens 1 and 5: both kept -> 3 tokens
  expect_distribution(grid_distribution(kHand, p), softmax_over(kHandD, 1.0, {0, 1, 5}));
  p.top_k = 4;
  expect_distribution(grid_distribution(kHand, p), softmax_over(kHandD, 1.0, {0, 1, 2, 5}));
}

TEST(SamplingFilters, TopP) {
  SamplingParams p;
  p.top_p = 0.5f;  // token 0 alone has .5157 >= .5
  expect_distribution(grid_distribution(kHand, p), softmax_over(kHandD, 1.0, {0}));
  p.top_p = 0.6f;  // .5157 + the tie group at 2 (.3794) = .8951 >= .6: both tied tokens kept
  expect_distribution(grid_distribution(kHand, p), softmax_over(kHandD, 1.0, {0, 1, 5}));
  p.top_p = 0.9f;  // .8951 < .9: add token 2 (.9649)
  expect_distribution(grid_distribution(kHand, p), softmax_over(kHandD, 1.0, {0, 1, 2, 5}));
}

TEST(SamplingFilters, MinP) {
  SamplingParams p;
  p.min_p = 0.1f;  // keep p >= .1 * .5157 = .0516: tokens 0, 1, 2 (.0698), 5
  expect_distribution(grid_distribution(kHand, p), softmax_over(kHandD, 1.0, {0, 1, 2, 5}));
  p.min_p = 0.4f;  // keep p >= .2063: token 0 only (.1897 < .2063)
  expect_distribution(grid_distribution(kHand, p), softmax_over(kHandD, 1.0, {0}));
}

TEST(SamplingFilters, Combined) {
  // top-k 4 keeps {0, 1, 2, 5} (mass renormalised over them: .5344 .1966 .0723 .1966 at t = 1);
  // top-p .7 then needs 0 and the tie group {1, 5} (.9276); min-p .3 drops nothing more (.1966 /
  // .5344 = .368 >= .3).
  SamplingParams p;
  p.top_k = 4;
  p.top_p = 0.7f;
  p.min_p = 0.3f;
  expect_distribution(grid_distribution(kHand, p), softmax_over(kHandD, 1.0, {0, 1, 5}));
  // At temperature 2 the order of filters shows: top-k 4, then top-p .8 on e^1.5 : e : e^.5 : e
  // (.3875 .2350 .1425 .2350 -> .3875 + .4700 = .8575 >= .8), then min-p .7 drops the tie group
  // (e^-.5 = .607 < .7).
  p.temperature = 2.0f;
  p.top_p = 0.8f;
  p.min_p = 0.7f;
  expect_distribution(grid_distribution(kHand, p), softmax_over(kHandD, 2.0, {0}));
  p.min_p = 0.6f;
  expect_distribution(grid_distribution(kHand, p), softmax_over(kHandD, 2.0, {0, 1, 5}));
}

// Pearson's chi-square of seeded draws against the filtered distribution worked out in double. The
// seed is fixed, so the test is deterministic; a wrong top-p set or wrong masses fail it by orders
// of magnitude.
TEST(SamplingFilters, SeededTopPChiSquare) {
  std::mt19937 rng(2024);
  std::normal_distribution<double> nd(0.0, 2.0);
  const int vocab = 64;
  std::vector<float> l(vocab);
  std::vector<double> ld(vocab);
  for (int i = 0; i < vocab; ++i) ld[static_cast<size_t>(i)] = l[static_cast<size_t>(i)] = static_cast<float>(nd(rng));
  const double t = 0.8, top_p = 0.9;
  // The top-p set in double: sort by probability, take the shortest prefix reaching top_p.
  std::vector<int> all(vocab);
  std::iota(all.begin(), all.end(), 0);
  const std::vector<double> full = softmax_over(ld, t, all);
  std::sort(all.begin(), all.end(), [&](int a, int b) { return full[static_cast<size_t>(a)] > full[static_cast<size_t>(b)]; });
  std::vector<int> kept;
  double cum = 0;
  for (int i : all) {
    kept.push_back(i);
    cum += full[static_cast<size_t>(i)];
    if (cum >= top_p) break;
  }
  ASSERT_GT(cum - top_p, 1e-4) << "boundary too close for a float-vs-double comparison; change the seed";
  ASSERT_GT(kept.size(), 5u);
  const std::vector<double> want = softmax_over(ld, t, kept);

  std::vector<SamplingRowParams> rows(1);
  rows[0].temperature = static_cast<float>(t);
  rows[0].top_p = static_cast<float>(top_p);
  rows[0].seed = 77;
  std::vector<int> counts(vocab, 0);
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    rows[0].counter = static_cast<uint64_t>(i);
    int32_t tok = -1;
    SamplingBatch b;
    b.logits = l.data();
    b.logits_row_stride = vocab;
    b.num_rows = 1;
    b.vocab = vocab;
    b.rows = rows.data();
    b.out_tokens = &tok;
    ASSERT_TRUE(sample(b));
    counts[static_cast<size_t>(tok)]++;
  }
  double chi2 = 0;
  for (int i = 0; i < vocab; ++i) {
    const double e = want[static_cast<size_t>(i)] * n;
    if (e == 0) {
      EXPECT_EQ(counts[static_cast<size_t>(i)], 0) << "token " << i << " is outside the top-p set";
      continue;
    }
    chi2 += (counts[static_cast<size_t>(i)] - e) * (counts[static_cast<size_t>(i)] - e) / e;
  }
  // Critical value at p = 0.001 for df = kept - 1 (Wilson-Hilferty approximation).
  const double df = static_cast<double>(kept.size() - 1), z = 3.09;
  const double crit = df * std::pow(1 - 2 / (9 * df) + z * std::sqrt(2 / (9 * df)), 3);
  EXPECT_LT(chi2, crit) << "df " << df;
}

// ---- batched API ---------------------------------------------------------------------------

struct Batch {
  int64_t vocab = 0;
  std::vector<float> logits;  // [rows, vocab]
  std::vector<SamplingRowParams> rows;
  std::vector<std::vector<std::pair<int32_t, int32_t>>> penalties;  // per row: (token, output count)
  std::vector<std::vector<int32_t>> banned;
  std::vector<int32_t> tokens, ranks, top_ids;
  std::vector<float> logprobs, top_lp;
  int32_t stride = kMaxTopLogprobs;

  void add(const std::vector<float>& l, const SamplingRowParams& p, std::vector<std::pair<int32_t, int32_t>> pen = {},
           std::vector<int32_t> ban = {}) {
    vocab = static_cast<int64_t>(l.size());
    logits.insert(logits.end(), l.begin(), l.end());
    rows.push_back(p);
    penalties.push_back(std::move(pen));
    banned.push_back(std::move(ban));
  }
  void run() {
    const int64_t n = static_cast<int64_t>(rows.size());
    std::vector<int32_t> po{0}, pt, pc, bo{0}, bt;
    for (int64_t r = 0; r < n; ++r) {
      for (auto [t, c] : penalties[static_cast<size_t>(r)]) {
        pt.push_back(t);
        pc.push_back(c);
      }
      po.push_back(static_cast<int32_t>(pt.size()));
      for (int32_t t : banned[static_cast<size_t>(r)]) bt.push_back(t);
      bo.push_back(static_cast<int32_t>(bt.size()));
    }
    tokens.assign(static_cast<size_t>(n), -7);
    ranks.assign(static_cast<size_t>(n), -7);
    logprobs.assign(static_cast<size_t>(n), 0.0f);
    top_ids.assign(static_cast<size_t>(n * stride), -7);
    top_lp.assign(static_cast<size_t>(n * stride), 0.0f);
    SamplingBatch b;
    b.logits = logits.data();
    b.logits_row_stride = vocab;
    b.num_rows = n;
    b.vocab = vocab;
    b.rows = rows.data();
    b.penalty_offsets = po.data();
    b.penalty_tokens = pt.data();
    b.penalty_counts = pc.data();
    b.banned_offsets = bo.data();
    b.banned_tokens = bt.data();
    b.out_tokens = tokens.data();
    b.out_logprobs = logprobs.data();
    b.out_ranks = ranks.data();
    b.out_top_ids = top_ids.data();
    b.out_top_logprobs = top_lp.data();
    b.top_logprobs_stride = stride;
    ASSERT_TRUE(sample(b));
  }
};

std::vector<float> random_logits(std::mt19937& rng, int64_t vocab, float scale = 3.0f) {
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> l(static_cast<size_t>(vocab));
  for (auto& v : l) v = nd(rng);
  return l;
}

TEST(SamplingBatch, PenaltiesMatchHandComputedLogits) {
  // Raw 2, -1, .5, 3, 1. Token 0: prompt only (count 0), token 1: output twice, token 2: once.
  // repetition 2: 2 -> 1, -1 -> -2, .5 -> .25; frequency .5 * count and presence .25 for the
  // output tokens: token 1: -2 - 1 - .25 = -3.25, token 2: .25 - .5 - .25 = -.5; token 3, 4 untouched.
  const std::vector<float> raw = {2.0f, -1.0f, 0.5f, 3.0f, 1.0f};
  const std::vector<double> pen = {1.0, -3.25, -0.5, 3.0, 1.0};
  SamplingRowParams p;
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  p.temperature = 0.7f;
  // Frequencies over many counters against softmax(pen / .7).
  Batch b;
  const int n = 60000;
  for (int i = 0; i < n; ++i) {
    p.counter = static_cast<uint64_t>(i);
    b.add(raw, p, {{0, 0}, {1, 2}, {2, 1}});
  }
  b.run();
  const std::vector<double> want = softmax_over(pen, 0.7, {0, 1, 2, 3, 4});
  std::vector<double> freq(5, 0.0);
  for (int32_t t : b.tokens) freq[static_cast<size_t>(t)] += 1.0 / n;
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(freq[static_cast<size_t>(i)], want[static_cast<size_t>(i)], 0.008) << i;
  // Greedy sees penalized logits: repetition 4 on tokens 3 and 0 (3 -> .75, 2 -> .5) leaves token
  // 4 (1) the largest; presence 1.5 on token 3 (3 -> 1.5) leaves token 0 (2).
  Batch g;
  SamplingRowParams gp;
  gp.temperature = 0.0f;
  gp.repetition_penalty = 4.0f;
  g.add(raw, gp, {{3, 0}, {0, 0}});
  gp.repetition_penalty = 1.0f;
  gp.presence_penalty = 1.5f;
  g.add(raw, gp, {{3, 1}});
  gp.presence_penalty = 0.0f;
  g.add(raw, gp, {{3, 1}});  // counted but no penalty configured: token 3
  g.run();
  EXPECT_EQ(g.tokens, (std::vector<int32_t>{4, 0, 3}));
}

TEST(SamplingBatch, BannedTokensAreNeverDrawn) {
  Batch b;
  SamplingRowParams p;
  const std::vector<float> raw = {5.0f, 4.0f, 1.0f};
  for (int i = 0; i < 2000; ++i) {
    p.counter = static_cast<uint64_t>(i);
    b.add(raw, p, {}, {0});
  }
  p.temperature = 0.0f;
  b.add(raw, p, {}, {0, 1});
  b.run();
  for (size_t i = 0; i + 1 < b.tokens.size(); ++i) EXPECT_NE(b.tokens[i], 0);
  EXPECT_EQ(b.tokens.back(), 2);
}

TEST(SamplingBatch, LogprobsMatchFloat64LogSoftmax) {
  std::mt19937 rng(9);
  Batch b;
  b.stride = 5;
  SamplingRowParams p;
  p.temperature = 1.3f;
  p.top_k = 40;
  p.repetition_penalty = 1.5f;  // penalties must not leak into the logprobs
  p.num_logprobs = 5;
  std::vector<std::vector<float>> rows;
  for (int r = 0; r < 4; ++r) {
    rows.push_back(random_logits(rng, 1000));
    rows.back()[17] = rows.back()[18] = 25.0f;  // a tie at the top: 17 ranks before 18
    p.seed = static_cast<uint64_t>(r);
    b.add(rows.back(), p, {{17, 3}, {2, 0}});
  }
  b.run();
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& l = rows[r];
    double m = -1e300, z = 0;
    for (float v : l) m = std::max(m, static_cast<double>(v));
    for (float v : l) z += std::exp(v - m);
    const double lse = m + std::log(z);
    const int32_t t = b.tokens[r];
    EXPECT_NEAR(b.logprobs[r], l[static_cast<size_t>(t)] - lse, 1e-5);
    int32_t rank = 0;
    for (float v : l) rank += v >= l[static_cast<size_t>(t)];
    EXPECT_EQ(b.ranks[r], rank);
    std::vector<int32_t> order(l.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t c) { return l[static_cast<size_t>(a)] > l[static_cast<size_t>(c)]; });
    EXPECT_EQ(b.top_ids[r * 5], 17);
    EXPECT_EQ(b.top_ids[r * 5 + 1], 18);
    for (int j = 0; j < 5; ++j) {
      EXPECT_EQ(b.top_ids[r * 5 + static_cast<size_t>(j)], order[static_cast<size_t>(j)]);
      EXPECT_NEAR(b.top_lp[r * 5 + static_cast<size_t>(j)], l[static_cast<size_t>(order[static_cast<size_t>(j)])] - lse, 1e-5);
    }
  }
}

TEST(SamplingBatch, NoLogprobsAskedWritesNaN) {
  Batch b;
  b.stride = 3;
  SamplingRowParams p;
  p.num_logprobs = -1;
  b.add({1.0f, 2.0f}, p);
  p.num_logprobs = 0;
  b.add({1.0f, 2.0f}, p);
  b.run();
  EXPECT_TRUE(std::isnan(b.logprobs[0]));
  EXPECT_EQ(b.ranks[0], 0);
  EXPECT_FALSE(std::isnan(b.logprobs[1]));
  for (int j = 0; j < 6; ++j) EXPECT_EQ(b.top_ids[static_cast<size_t>(j)], -1);
}

TEST(SamplingBatch, DrawsDependOnlyOnSeedAndCounter) {
  std::mt19937 rng(3);
  const int64_t vocab = 5000;
  std::vector<std::vector<float>> l;
  std::vector<SamplingRowParams> p;
  for (int r = 0; r < 12; ++r) {
    l.push_back(random_logits(rng, vocab, 1.0f + r * 0.3f));
    SamplingRowParams q;
    q.temperature = 0.6f + 0.1f * r;
    q.top_k = r % 3 == 0 ? 0 : 50 * r;
    q.top_p = r % 2 ? 0.9f : 1.0f;
    q.min_p = r % 4 == 1 ? 0.05f : 0.0f;
    q.seed = 1000 + static_cast<uint64_t>(r);
    q.counter = static_cast<uint64_t>(r * 7);
    p.push_back(q);
  }
  // Alone, each row.
  std::vector<int32_t> alone;
  for (int r = 0; r < 12; ++r) {
    Batch b;
    b.add(l[static_cast<size_t>(r)], p[static_cast<size_t>(r)]);
    b.run();
    alone.push_back(b.tokens[0]);
  }
  // Together, in a shuffled order, with unrelated rows in between.
  std::vector<int> order(12);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  Batch mixed;
  for (int r : order) {
    mixed.add(l[static_cast<size_t>(r)], p[static_cast<size_t>(r)]);
    SamplingRowParams other;
    other.seed = rng();
    mixed.add(random_logits(rng, vocab), other);
  }
  mixed.run();
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(mixed.tokens[2 * i], alone[static_cast<size_t>(order[i])]) << order[i];
  // A different counter (the next step) or seed changes the draw for most rows.
  int changed = 0;
  for (int r = 0; r < 12; ++r) {
    Batch b;
    SamplingRowParams q = p[static_cast<size_t>(r)];
    q.counter += 1;
    b.add(l[static_cast<size_t>(r)], q);
    b.run();
    changed += b.tokens[0] != alone[static_cast<size_t>(r)];
  }
  EXPECT_GE(changed, 6);
}

TEST(SamplingBatch, SingleRowApiAgreesWithBatch) {
  std::mt19937 rng(11);
  const std::vector<float> l = random_logits(rng, 3000);
  for (int i = 0; i < 200; ++i) {
    SamplingParams sp;
    sp.temperature = 0.9f;
    sp.top_k = i % 2 ? 100 : 0;
    sp.top_p = i % 3 ? 0.8f : 1.0f;
    SamplingRowParams rp;
    rp.temperature = sp.temperature;
    rp.top_k = sp.top_k;
    rp.top_p = sp.top_p;
    rp.seed = 5;
    rp.counter = static_cast<uint64_t>(i);
    Batch b;
    b.add(l, rp);
    b.run();
    EXPECT_EQ(b.tokens[0], sample_token(l.data(), 3000, sp, uniform_from(5, static_cast<uint64_t>(i))));
  }
}

TEST(SamplingBatch, RejectsMalformedBatches) {
  std::vector<float> l = {1.0f, 2.0f};
  SamplingRowParams p;
  int32_t tok = -7;
  std::vector<int32_t> off = {0, 1}, bad = {2}, counts = {1};
  SamplingBatch b;
  b.logits = l.data();
  b.logits_row_stride = 2;
  b.num_rows = 1;
  b.vocab = 2;
  b.rows = &p;
  b.out_tokens = &tok;
  b.penalty_offsets = off.data();
  b.penalty_tokens = bad.data();
  b.penalty_counts = counts.data();
  EXPECT_FALSE(sample(b));  // token 2 outside a vocabulary of 2
  EXPECT_EQ(tok, -7);
  bad[0] = 1;
  EXPECT_TRUE(sample(b));
  p.num_logprobs = kMaxTopLogprobs + 1;
  EXPECT_FALSE(sample(b));
}

TEST(Sampling, UniformIsDeterministicAndInRange) {
  EXPECT_EQ(uniform_from(1, 2), uniform_from(1, 2));
  EXPECT_NE(uniform_from(1, 2), uniform_from(2, 2));
  EXPECT_EQ(uniform_from(1, 2), static_cast<double>(draw_bits(1, 2)) * 0x1.0p-64);
  double mean = 0;
  for (int i = 0; i < 10000; ++i) {
    const double u = uniform_from(3, static_cast<uint64_t>(i));
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    mean += u;
  }
  EXPECT_NEAR(mean / 10000, 0.5, 0.01);
}

}  // namespace
}  // namespace tessera::kernels::cpu
