// The engine's Sampler: validation messages, penalty state, min_tokens bans, reproducibility of
// seeded streams whatever the batch (and after a recompute), n > 1 stream seeds, the filtered
// distribution under penalties (chi-square, fixed seed), raw logprobs, and the CUDA path against
// the CPU path where a GPU is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kernels/sampling/sampling_math.h"
#include "src/engine/sampler.h"

#if defined(TESSERA_WITH_CUDA)
#include <cuda_runtime_api.h>
#include "src/model/device_sampler.h"
#endif

namespace tessera::engine {
namespace {

void expect_invalid(const SamplingParams& p, const std::string& message, int64_t vocab = 0) {
  const Status s = p.validate(vocab);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << message;
  EXPECT_EQ(s.message(), message);
}

TEST(SamplerParams, ValidateNamesTheField) {
  EXPECT_TRUE(SamplingParams{}.validate(100).is_ok());
  SamplingParams p;
  p.top_p = 1.5f;
  expect_invalid(p, "top_p: must be in (0, 1], got 1.5");
  p = {};
  p.top_p = 0.0f;
  expect_invalid(p, "top_p: must be in (0, 1], got 0");
  p = {};
  p.temperature = std::nanf("");
  expect_invalid(p, "temperature: must be a finite number >= 0, got nan");
  p = {};
  p.temperature = -0.5f;
  expect_invalid(p, "temperature: must be a finite number >= 0, got -0.5");
  p = {};
  p.top_k = -2;
  expect_invalid(p, "top_k: must be -1 or 0 (off) or >= 1, got -2");
  p = {};
  p.min_p = 1.25f;
  expect_invalid(p, "min_p: must be in [0, 1], got 1.25");
  p = {};
  p.repetition_penalty = 0.0f;
  expect_invalid(p, "repetition_penalty: must be a finite number > 0, got 0");
  p = {};
  p.presence_penalty = 2.5f;
  expect_invalid(p, "presence_penalty: must be in [-2, 2], got 2.5");
  p = {};
  p.frequency_penalty = -3.0f;
  expect_invalid(p, "frequency_penalty: must be in [-2, 2], got -3");
  p = {};
  p.n = 0;
  expect_invalid(p, "n: must be >= 1, got 0");
  p = {};
  p.max_tokens = 0;
  expect_invalid(p, "max_tokens: must be >= 1, got 0");
  p = {};
  p.max_tokens = 4;
  p.min_tokens = 5;
  expect_invalid(p, "min_tokens: must be <= max_tokens (4), got 5");
  p = {};
  p.stop_token_ids = {3, 100};
  expect_invalid(p, "stop_token_ids: must be token ids in [0, 100), got 100", 100);
  p = {};
  p.stop = {"ok", ""};
  expect_invalid(p, "stop: must not contain an empty string");
  p = {};
  p.logprobs = 21;
  expect_invalid(p, "logprobs: must be in [0, 20], got 21");
  p = {};
  p.top_k = -1;
  p.logprobs = 20;
  p.min_tokens = 3;
  EXPECT_TRUE(p.validate(100).is_ok());
}

TEST(SamplerParams, Greedy) {
  SamplingParams p;
  EXPECT_FALSE(p.is_greedy());
  p.temperature = 1e-6f;  // below vLLM's epsilon
  EXPECT_TRUE(p.is_greedy());
  p.temperature = 0.8f;
  p.top_k = 1;
  EXPECT_TRUE(p.is_greedy());
}

TEST(SamplerState, CountsOutputTokensAndRebuilds) {
  SamplingParams p;
  p.frequency_penalty = 0.1f;
  const std::vector<int32_t> prompt = {5, 3, 5, 9};
  SequenceSamplingState s(p, 1, prompt);
  for (int32_t t : {3, 3, 8}) s.append(t);
  EXPECT_EQ(s.num_output_tokens(), 3);
  EXPECT_EQ(s.penalty_tokens(), (std::vector<int32_t>{5, 3, 9, 8}));
  EXPECT_EQ(s.penalty_counts(), (std::vector<int32_t>{0, 2, 0, 1}));
  const std::vector<int32_t> output = {3, 3, 8};
  SequenceSamplingState rebuilt(p, 1, prompt, output);
  EXPECT_EQ(rebuilt.penalty_tokens(), s.penalty_tokens());
  EXPECT_EQ(rebuilt.penalty_counts(), s.penalty_counts());
  EXPECT_EQ(rebuilt.num_output_tokens(), 3);
  SequenceSamplingState untracked(SamplingParams{}, 1, prompt, output);  // no penalties: no lists
  EXPECT_TRUE(untracked.penalty_tokens().empty());
  EXPECT_EQ(untracked.num_output_tokens(), 3);
}

TEST(SamplerSeeds, RequestAndStreamSeeds) {
  Sampler a(10, {}, 42), b(10, {}, 42);
  SamplingParams unseeded, seeded;
  seeded.seed = 7;
  EXPECT_EQ(a.request_seed(seeded), 7u);
  const uint64_t s1 = a.request_seed(unseeded), s2 = a.request_seed(unseeded);
  EXPECT_NE(s1, s2);                       // a fresh seed per request
  EXPECT_EQ(b.request_seed(unseeded), s1);  // from the engine's own source
  EXPECT_EQ(Sampler::stream_seed(7, 0), 7u);
  std::set<uint64_t> seen;
  for (int32_t i = 0; i < 64; ++i) seen.insert(Sampler::stream_seed(7, i));
  EXPECT_EQ(seen.size(), 64u);
  EXPECT_EQ(Sampler::stream_seed(7, 3), Sampler::stream_seed(7, 3));
}

// A toy "model": logits as a function of the last token, peaked so that filters matter.
std::vector<float> toy_logits(int32_t last, int64_t vocab) {
  std::vector<float> l(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) {
    const uint64_t h = kernels::splitmix64(static_cast<uint64_t>(last) * 1000003u + static_cast<uint64_t>(i));
    l[static_cast<size_t>(i)] = static_cast<float>(h % 10000) / 1000.0f;  // 0 .. 10
  }
  return l;
}

TEST(Sampler, SeededStreamsIgnoreTheBatchAndSurviveRecompute) {
  const int64_t vocab = 500;
  Sampler sampler(vocab, {0});
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_p = 0.95f;
  p.top_k = 100;
  p.presence_penalty = 0.4f;
  p.repetition_penalty = 1.2f;
  p.seed = 1234;
  const std::vector<int32_t> prompt = {1, 2, 3};
  // Alone: 24 tokens.
  std::vector<int32_t> alone;
  {
    SequenceSamplingState st(p, sampler.request_seed(p), prompt);
    int32_t last = prompt.back();
    for (int step = 0; step < 24; ++step) {
      const std::vector<float> l = toy_logits(last, vocab);
      const SampleRow row{&p, &st};
      auto out = sampler.sample(l.data(), vocab, std::span(&row, 1));
      ASSERT_TRUE(out.has_value()) << out.status().to_string();
      last = (*out)[0].token;
      alone.push_back(last);
      st.append(last);
    }
  }
  // In a batch with other requests, at a different position each step; halfway, a preemption
  // rebuilds the state from prompt + output so far.
  std::mt19937 rng(5);
  SamplingParams other;
  other.temperature = 1.1f;
  auto st = std::make_unique<SequenceSamplingState>(p, sampler.request_seed(p), prompt);
  std::vector<int32_t> mixed;
  int32_t last = prompt.back();
  for (int step = 0; step < 24; ++step) {
    if (step == 12) st = std::make_unique<SequenceSamplingState>(p, *p.seed, prompt, mixed);
    const int n_rows = 1 + static_cast<int>(rng() % 6), me = static_cast<int>(rng() % static_cast<unsigned>(n_rows));
    std::vector<float> logits;
    std::vector<SequenceSamplingState> others;
    others.reserve(static_cast<size_t>(n_rows));
    std::vector<SampleRow> rows;
    for (int r = 0; r < n_rows; ++r) {
      if (r == me) {
        const auto l = toy_logits(last, vocab);
        logits.insert(logits.end(), l.begin(), l.end());
        rows.push_back({&p, st.get()});
      } else {
        const auto l = toy_logits(static_cast<int32_t>(rng() % vocab), vocab);
        logits.insert(logits.end(), l.begin(), l.end());
        others.emplace_back(other, sampler.request_seed(other), prompt);
        rows.push_back({&other, &others.back()});
      }
    }
    auto out = sampler.sample(logits.data(), vocab, rows);
    ASSERT_TRUE(out.has_value());
    last = (*out)[static_cast<size_t>(me)].token;
    mixed.push_back(last);
    st->append(last);
  }
  EXPECT_EQ(mixed, alone);
  // A different seed gives a different sequence.
  SamplingParams q = p;
  q.seed = 4321;
  SequenceSamplingState sq(q, *q.seed, prompt);
  std::vector<int32_t> diff;
  last = prompt.back();
  for (int step = 0; step < 24; ++step) {
    const auto l = toy_logits(last, vocab);
    const SampleRow row{&q, &sq};
    last = (*sampler.sample(l.data(), vocab, std::span(&row, 1)))[0].token;
    diff.push_back(last);
    sq.append(last);
  }
  EXPECT_NE(diff, alone);
}

TEST(Sampler, StreamsOfOneRequestDiffer) {
  const int64_t vocab = 1000;
  Sampler sampler(vocab, {});
  SamplingParams p;
  p.n = 4;
  p.seed = 99;
  const auto l = toy_logits(1, vocab);
  std::vector<SequenceSamplingState> streams;
  for (int32_t i = 0; i < p.n; ++i) streams.emplace_back(p, Sampler::stream_seed(*p.seed, i), std::vector<int32_t>{1});
  std::vector<float> logits;
  std::vector<SampleRow> rows;
  for (auto& s : streams) {
    logits.insert(logits.end(), l.begin(), l.end());
    rows.push_back({&p, &s});
  }
  std::set<std::vector<int32_t>> sequences;
  std::vector<std::vector<int32_t>> seqs(4);
  for (int step = 0; step < 8; ++step) {
    auto out = *sampler.sample(logits.data(), vocab, rows);
    for (size_t i = 0; i < 4; ++i) {
      seqs[i].push_back(out[i].token);
      streams[i].append(out[i].token);
    }
  }
  for (const auto& s : seqs) {
    sequences.insert(s);
    EXPECT_GT(std::set<int32_t>(s.begin(), s.end()).size(), 1u);  // each step is a new draw
  }
  EXPECT_EQ(sequences.size(), 4u);  // same prompt, same logits, four different samples
}

TEST(Sampler, MinTokensBansStopTokensAndEos) {
  const int64_t vocab = 6;
  Sampler sampler(vocab, {5});
  std::vector<float> l = {0.0f, 0.0f, 0.0f, 9.0f, 0.0f, 10.0f};  // EOS (5), then stop id 3
  SamplingParams p;
  p.temperature = 0.0f;
  p.min_tokens = 2;
  p.stop_token_ids = {3};
  SequenceSamplingState st(p, 0, std::vector<int32_t>{});
  const SampleRow row{&p, &st};
  EXPECT_EQ((*sampler.sample(l.data(), vocab, std::span(&row, 1)))[0].token, 0);  // both banned
  st.append(0);
  EXPECT_EQ((*sampler.sample(l.data(), vocab, std::span(&row, 1)))[0].token, 0);
  st.append(0);
  EXPECT_EQ((*sampler.sample(l.data(), vocab, std::span(&row, 1)))[0].token, 5);  // min_tokens reached
  SamplingParams q = p;
  q.ignore_eos = true;  // EOS is an ordinary token then, never banned
  SequenceSamplingState sq(q, 0, std::vector<int32_t>{});
  const SampleRow rq{&q, &sq};
  EXPECT_EQ((*sampler.sample(l.data(), vocab, std::span(&rq, 1)))[0].token, 5);
}

// Penalties, top-k and top-p through the Sampler: seeded draws follow the filtered distribution of
// the penalized logits, worked out here in double (Pearson's chi-square; deterministic seeds).
TEST(Sampler, PenalizedTopPDistributionChiSquare) {
  const int64_t vocab = 8;
  const std::vector<float> raw = {2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, 1.8f, -1.0f};
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 6;
  p.top_p = 0.9f;
  p.repetition_penalty = 1.5f;
  p.frequency_penalty = 0.3f;
  p.presence_penalty = 0.2f;
  // Prompt {0, 5}; output so far {6, 6, 2}: counts 6 -> 2, 2 -> 1.
  const std::vector<int32_t> prompt = {0, 5}, output = {6, 6, 2};
  // Penalized: 0: 2 / 1.5 = 1.3333; 5: -0.5 * 1.5 = -0.75; 6: 1.8 / 1.5 - 0.6 - 0.2 = 0.4;
  // 2: 1 / 1.5 - 0.3 - 0.2 = 0.16667; others unchanged.
  const std::vector<double> pen = {2.0 / 1.5, 1.5, 1.0 / 1.5 - 0.5, 0.5, 0.0, -0.75, 1.8 / 1.5 - 0.8, -1.0};
  // top-k 6 drops the two smallest (5: -0.75, 7: -1); then top-p .9 in descending order.
  std::vector<int> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return pen[static_cast<size_t>(a)] > pen[static_cast<size_t>(b)]; });
  order.resize(6);
  double z = 0;
  for (int i : order) z += std::exp(pen[static_cast<size_t>(i)] / 0.8);
  std::vector<int> kept;
  double cum = 0;
  for (int i : order) {
    kept.push_back(i);
    cum += std::exp(pen[static_cast<size_t>(i)] / 0.8) / z;
    if (cum >= 0.9) break;
  }
  ASSERT_GT(cum - 0.9, 1e-3);
  std::vector<double> want(static_cast<size_t>(vocab), 0.0);
  double zk = 0;
  for (int i : kept) zk += std::exp(pen[static_cast<size_t>(i)] / 0.8);
  for (int i : kept) want[static_cast<size_t>(i)] = std::exp(pen[static_cast<size_t>(i)] / 0.8) / zk;

  Sampler sampler(vocab, {});
  std::vector<int> counts(static_cast<size_t>(vocab), 0);
  const int n = 40000;
  std::vector<SequenceSamplingState> states;
  states.reserve(n);
  std::vector<SampleRow> rows;
  std::vector<float> logits;
  for (int i = 0; i < n; ++i) {
    // Same history, different seeds: independent draws from one distribution.
    states.emplace_back(p, static_cast<uint64_t>(1000 + i), prompt, output);
    rows.push_back({&p, &states.back()});
    logits.insert(logits.end(), raw.begin(), raw.end());
  }
  auto out = sampler.sample(logits.data(), vocab, rows);
  ASSERT_TRUE(out.has_value());
  for (const SampleOutput& o : *out) counts[static_cast<size_t>(o.token)]++;
  double chi2 = 0;
  for (int i = 0; i < vocab; ++i) {
    const double e = want[static_cast<size_t>(i)] * n;
    if (e == 0) {
      EXPECT_EQ(counts[static_cast<size_t>(i)], 0) << "token " << i << " was filtered out";
      continue;
    }
    chi2 += (counts[static_cast<size_t>(i)] - e) * (counts[static_cast<size_t>(i)] - e) / e;
  }
  const double df = static_cast<double>(kept.size() - 1), zq = 3.09;
  EXPECT_LT(chi2, df * std::pow(1 - 2 / (9 * df) + zq * std::sqrt(2 / (9 * df)), 3)) << "df " << df;
}

TEST(Sampler, LogprobsAreRawLogSoftmax) {
  const int64_t vocab = 300;
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> l(static_cast<size_t>(vocab));
  for (auto& v : l) v = nd(rng);
  Sampler sampler(vocab, {});
  SamplingParams p;
  p.temperature = 0.5f;
  p.repetition_penalty = 2.0f;  // penalties and temperature do not touch logprobs
  p.logprobs = 4;
  SequenceSamplingState st(p, 3, std::vector<int32_t>{0, 1, 2});
  SamplingParams none;
  SequenceSamplingState sn(none, 3, std::vector<int32_t>{});
  std::vector<float> two = l;
  two.insert(two.end(), l.begin(), l.end());
  const std::vector<SampleRow> rows = {{&p, &st}, {&none, &sn}};
  auto out = sampler.sample(two.data(), vocab, rows);
  ASSERT_TRUE(out.has_value());
  double m = -1e300, z = 0;
  for (float v : l) m = std::max(m, static_cast<double>(v));
  for (float v : l) z += std::exp(v - m);
  const double lse = m + std::log(z);
  const SampleOutput& o = (*out)[0];
  EXPECT_NEAR(o.logprob, l[static_cast<size_t>(o.token)] - lse, 1e-5);
  int32_t rank = 0;
  for (float v : l) rank += v >= l[static_cast<size_t>(o.token)];
  EXPECT_EQ(o.rank, rank);
  std::vector<int32_t> idx(static_cast<size_t>(vocab));
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return l[static_cast<size_t>(a)] > l[static_cast<size_t>(b)]; });
  ASSERT_EQ(o.top.size(), 4u);
  for (size_t j = 0; j < 4; ++j) {
    EXPECT_EQ(o.top[j].token, idx[j]);
    EXPECT_NEAR(o.top[j].logprob, l[static_cast<size_t>(idx[j])] - lse, 1e-5);
  }
  EXPECT_TRUE((*out)[1].top.empty());
  EXPECT_EQ((*out)[1].rank, 0);
}

TEST(Sampler, RejectsBadInput) {
  Sampler sampler(10, {});
  std::vector<float> l(10, 0.0f);
  SamplingParams p;
  SequenceSamplingState st(p, 0, std::vector<int32_t>{});
  const SampleRow bad{&p, nullptr};
  EXPECT_EQ(sampler.sample(l.data(), 10, std::span(&bad, 1)).status().code(), StatusCode::kInternal);
  const SampleRow ok{&p, &st};
  EXPECT_EQ(sampler.sample(l.data(), 5, std::span(&ok, 1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(sampler.sample(l.data(), 10, {}).has_value());
}

// logits_rows picks rows of a larger buffer (the engine's rows that sample) with no gather: the
// same outputs as sampling a gathered copy; a map of the wrong size or an index outside the buffer
// is an error naming it.
TEST(Sampler, LogitsRowsReadThoseRowsOnly) {
  const int64_t vocab = 300, stride = 301;
  Sampler sampler(vocab, {});
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> logits(5 * stride);
  for (float& x : logits) x = nd(rng);
  SamplingParams greedy, hot;
  greedy.temperature = 0.0f;
  greedy.logprobs = 2;
  hot.temperature = 1.5f;
  hot.logprobs = 0;
  SequenceSamplingState s0(greedy, 1, std::vector<int32_t>{}), s1(hot, 2, std::vector<int32_t>{}),
      s2(hot, 3, std::vector<int32_t>{});
  const std::vector<SampleRow> rows = {{&greedy, &s0}, {&hot, &s1}, {&hot, &s2}};
  const std::vector<int32_t> pick = {4, 0, 4};
  std::vector<float> gathered;
  for (int32_t r : pick) gathered.insert(gathered.end(), logits.begin() + r * stride, logits.begin() + (r + 1) * stride);
  auto mapped = sampler.sample(logits.data(), stride, rows, pick, 5);
  auto copied = sampler.sample(gathered.data(), stride, rows);
  ASSERT_TRUE(mapped.has_value()) << mapped.status().message();
  ASSERT_TRUE(copied.has_value());
  for (size_t r = 0; r < rows.size(); ++r) {
    EXPECT_EQ((*mapped)[r].token, (*copied)[r].token) << r;
    EXPECT_EQ((*mapped)[r].logprob, (*copied)[r].logprob) << r;
    EXPECT_EQ((*mapped)[r].rank, (*copied)[r].rank) << r;
  }
  const std::vector<int32_t> too_short = {4, 0}, outside = {4, 5, 0}, negative = {-1, 0, 0};
  auto e1 = sampler.sample(logits.data(), stride, rows, too_short, 5);
  auto e2 = sampler.sample(logits.data(), stride, rows, outside, 5);
  auto e3 = sampler.sample(logits.data(), stride, rows, negative, 5);
  ASSERT_FALSE(e1.has_value() || e2.has_value() || e3.has_value());
  EXPECT_EQ(e1.status().message(), "sampler: 2 logits rows given for 3 sample rows");
  EXPECT_EQ(e2.status().message(), "sampler: row 1 reads logits row 5, outside the 5 rows given");
  EXPECT_EQ(e3.status().code(), StatusCode::kInvalidArgument);
}

#if defined(TESSERA_WITH_CUDA)
TEST(Sampler, DevicePathMatchesHostPath) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t vocab = 32000;
  Sampler sampler(vocab, {2});
  std::mt19937 rng(17);
  std::normal_distribution<float> nd(0.0f, 2.5f);
  std::vector<SamplingParams> params(12);
  std::vector<SequenceSamplingState> states;
  states.reserve(params.size());
  std::vector<float> logits;
  std::vector<SampleRow> rows;
  for (size_t r = 0; r < params.size(); ++r) {
    SamplingParams& p = params[r];
    p.temperature = r % 4 == 0 ? 0.0f : 0.8f;
    p.top_k = r % 3 == 1 ? 50 : 0;
    p.top_p = r % 2 ? 0.9f : 1.0f;
    p.repetition_penalty = r % 5 == 2 ? 1.3f : 1.0f;
    p.min_tokens = r % 6 == 3 ? 4 : 0;
    p.logprobs = static_cast<int32_t>(r % 6);
    std::vector<int32_t> prompt;
    for (int j = 0; j < 200; ++j) prompt.push_back(static_cast<int32_t>(rng() % vocab));
    states.emplace_back(p, rng(), prompt, std::vector<int32_t>{7, 7, 9});
    rows.push_back({&p, &states.back()});
    for (int64_t i = 0; i < vocab; ++i) logits.push_back(nd(rng));
  }
  void* dv = nullptr;
  ASSERT_EQ(cudaMalloc(&dv, logits.size() * sizeof(float)), cudaSuccess);
  float* d = static_cast<float*>(dv);
  ASSERT_EQ(cudaMemcpy(d, logits.data(), logits.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  // The GPU runtime's device sampler on the default stream, as a CUDA runner's sample_device runs it.
  DeviceSampler device;
  const Sampler::DeviceKernel on_device = [&](const kernels::SamplingBatch& b) { return device.sample(b, nullptr); };
  auto host = sampler.sample(logits.data(), vocab, rows);
  auto dev = sampler.sample_device(d, vocab, rows, on_device);
  // The same rows read through a row map, in reverse order, from the device buffer.
  std::vector<int32_t> reversed;
  std::vector<SampleRow> rows_reversed;
  for (size_t r = rows.size(); r-- > 0;) {
    reversed.push_back(static_cast<int32_t>(r));
    rows_reversed.push_back(rows[r]);
  }
  auto mapped = sampler.sample_device(d, vocab, rows_reversed, on_device, reversed, static_cast<int64_t>(rows.size()));
  // A batch with no penalty or banned lists at all (greedy and plain seeded rows: the engine's
  // common case), which the kernel runs without a workspace.
  std::vector<SamplingParams> plain(4);
  std::vector<SequenceSamplingState> plain_states;
  plain_states.reserve(plain.size());
  std::vector<SampleRow> plain_rows;
  for (size_t r = 0; r < plain.size(); ++r) {
    plain[r].temperature = r % 2 ? 0.7f : 0.0f;
    plain[r].logprobs = static_cast<int32_t>(r);
    plain_states.emplace_back(plain[r], 40 + r, std::vector<int32_t>{});
    plain_rows.push_back({&plain[r], &plain_states.back()});
  }
  auto plain_host = sampler.sample(logits.data(), vocab, plain_rows);
  auto plain_dev = sampler.sample_device(d, vocab, plain_rows, on_device);
  cudaFree(d);
  ASSERT_TRUE(plain_host.has_value() && plain_dev.has_value()) << plain_dev.status().to_string();
  for (size_t r = 0; r < plain_rows.size(); ++r) {
    EXPECT_EQ((*plain_host)[r].token, (*plain_dev)[r].token) << r;
    EXPECT_EQ((*plain_host)[r].rank, (*plain_dev)[r].rank) << r;
    EXPECT_NEAR((*plain_host)[r].logprob, (*plain_dev)[r].logprob, 2e-4) << r;
  }
  ASSERT_TRUE(mapped.has_value()) << mapped.status().to_string();
  ASSERT_TRUE(dev.has_value()) << dev.status().to_string();
  for (size_t r = 0; r < rows.size(); ++r) {
    const SampleOutput& m = (*mapped)[rows.size() - 1 - r];
    EXPECT_EQ(m.token, (*dev)[r].token) << r;
    EXPECT_EQ(m.rank, (*dev)[r].rank) << r;
    EXPECT_EQ(m.logprob, (*dev)[r].logprob) << r;
  }
  ASSERT_TRUE(host.has_value());
  ASSERT_TRUE(dev.has_value()) << dev.status().to_string();
  for (size_t r = 0; r < rows.size(); ++r) {
    EXPECT_EQ((*host)[r].token, (*dev)[r].token) << r;
    EXPECT_EQ((*host)[r].rank, (*dev)[r].rank) << r;
    EXPECT_NEAR((*host)[r].logprob, (*dev)[r].logprob, 2e-4) << r;
    ASSERT_EQ((*host)[r].top.size(), (*dev)[r].top.size()) << r;
    for (size_t j = 0; j < (*host)[r].top.size(); ++j) EXPECT_EQ((*host)[r].top[j].token, (*dev)[r].top[j].token);
  }
}
#endif

}  // namespace
}  // namespace tessera::engine
