// CUDA sampler against the CPU twin on the same SamplingBatch: the same token for every row (greedy
// and seeded draws alike, through every route of the kernel: whole-row draw, shared-memory
// candidates, radix selection), the same ranks and top-n ids, logprobs within fp32 tolerance.
// Outputs are poisoned before each run. Skips (does not fail) without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/sampling.h"
#include "kernels/sampling/sampling.h"
#include "tests/cpp/cuda_test_util.h"

namespace tessera::kernels {
namespace {

using test::has_gpu;

// A batch described on the host; run_cpu / run_gpu fill the outputs.
struct HostBatch {
  int64_t vocab = 0;
  int64_t row_stride = 0;
  std::vector<float> logits;  // [rows, row_stride]
  std::vector<SamplingRowParams> rows;
  std::vector<int32_t> pen_off{0}, pen_tok, pen_cnt, ban_off{0}, ban_tok;
  int32_t top_stride = kMaxTopLogprobs;

  struct Out {
    std::vector<int32_t> tokens, ranks, top_ids;
    std::vector<float> logprobs, top_lp;
  };

  int64_t num_rows() const { return static_cast<int64_t>(rows.size()); }
  void add(const std::vector<float>& l, const SamplingRowParams& p, const std::vector<std::pair<int32_t, int32_t>>& pen = {},
           const std::vector<int32_t>& ban = {}) {
    logits.insert(logits.end(), l.begin(), l.end());
    logits.resize(logits.size() + static_cast<size_t>(row_stride - vocab), 1e30f);  // padding: never read
    rows.push_back(p);
    for (auto [t, c] : pen) {
      pen_tok.push_back(t);
      pen_cnt.push_back(c);
    }
    pen_off.push_back(static_cast<int32_t>(pen_tok.size()));
    ban_tok.insert(ban_tok.end(), ban.begin(), ban.end());
    ban_off.push_back(static_cast<int32_t>(ban_tok.size()));
  }
  Out poisoned() const {
    const size_t n = rows.size();
    Out o;
    o.tokens.assign(n, -7);
    o.ranks.assign(n, -7);
    o.logprobs.assign(n, 12345.0f);
    o.top_ids.assign(n * static_cast<size_t>(top_stride), -7);
    o.top_lp.assign(n * static_cast<size_t>(top_stride), 12345.0f);
    return o;
  }
  SamplingBatch batch() const {
    SamplingBatch b;
    b.logits = logits.data();
    b.logits_row_stride = row_stride;
    b.num_rows = num_rows();
    b.vocab = vocab;
    b.rows = rows.data();
    b.penalty_offsets = pen_off.data();
    b.penalty_tokens = pen_tok.data();
    b.penalty_counts = pen_cnt.data();
    b.banned_offsets = ban_off.data();
    b.banned_tokens = ban_tok.data();
    b.top_logprobs_stride = top_stride;
    return b;
  }
  Out run_cpu() const {
    Out o = poisoned();
    SamplingBatch b = batch();
    b.out_tokens = o.tokens.data();
    b.out_ranks = o.ranks.data();
    b.out_logprobs = o.logprobs.data();
    b.out_top_ids = o.top_ids.data();
    b.out_top_logprobs = o.top_lp.data();
    EXPECT_TRUE(cpu::sample(b));
    return o;
  }
};

// Device copies of a host vector, freed at scope end.
struct DeviceArrays {
  std::vector<void*> ptrs;
  ~DeviceArrays() {
    for (void* p : ptrs) cudaFree(p);
  }
  template <typename T>
  T* copy(const std::vector<T>& v) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, std::max<size_t>(1, v.size() * sizeof(T))), cudaSuccess);
    if (!v.empty()) {
      EXPECT_EQ(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    }
    ptrs.push_back(p);
    return static_cast<T*>(p);
  }
  template <typename T>
  static void back(std::vector<T>& v, const T* d) {
    EXPECT_EQ(cudaMemcpy(v.data(), d, v.size() * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  }
};

// Runs the kernel; with `graph`, captures the launch into a CUDA graph and replays it twice.
HostBatch::Out run_gpu(const HostBatch& h, bool graph = false) {
  HostBatch::Out o = h.poisoned();
  DeviceArrays d;
  SamplingBatch b = h.batch();
  b.logits = d.copy(h.logits);
  b.rows = d.copy(h.rows);
  b.penalty_offsets = d.copy(h.pen_off);
  b.penalty_tokens = d.copy(h.pen_tok);
  b.penalty_counts = d.copy(h.pen_cnt);
  b.banned_offsets = d.copy(h.ban_off);
  b.banned_tokens = d.copy(h.ban_tok);
  b.workspace = d.copy(std::vector<float>(static_cast<size_t>(h.num_rows() * h.vocab), std::nanf("")));
  b.out_tokens = d.copy(o.tokens);
  b.out_ranks = d.copy(o.ranks);
  b.out_logprobs = d.copy(o.logprobs);
  b.out_top_ids = d.copy(o.top_ids);
  b.out_top_logprobs = d.copy(o.top_lp);
  cudaStream_t stream;
  EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  if (graph) {
    cudaGraph_t g;
    cudaGraphExec_t exec;
    EXPECT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT_EQ(sample(b, stream), cudaSuccess);
    EXPECT_EQ(cudaStreamEndCapture(stream, &g), cudaSuccess);
    EXPECT_EQ(cudaGraphInstantiate(&exec, g, 0), cudaSuccess);
    EXPECT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    EXPECT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(g);
  } else {
    EXPECT_EQ(sample(b, stream), cudaSuccess);
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  cudaStreamDestroy(stream);
  DeviceArrays::back(o.tokens, b.out_tokens);
  DeviceArrays::back(o.ranks, b.out_ranks);
  DeviceArrays::back(o.logprobs, b.out_logprobs);
  DeviceArrays::back(o.top_ids, b.out_top_ids);
  DeviceArrays::back(o.top_lp, b.out_top_logprobs);
  return o;
}

bool same_float(float a, float b, float tol) { return (std::isnan(a) && std::isnan(b)) || std::fabs(a - b) <= tol; }

void expect_same(const HostBatch& h, const HostBatch::Out& cpu, const HostBatch::Out& gpu, const std::string& what) {
  int token_mismatches = 0;
  for (int64_t r = 0; r < h.num_rows(); ++r) {
    const size_t i = static_cast<size_t>(r);
    if (cpu.tokens[i] != gpu.tokens[i] && ++token_mismatches <= 5) {
      const SamplingRowParams& p = h.rows[i];
      ADD_FAILURE() << what << " row " << r << ": token cpu " << cpu.tokens[i] << " gpu " << gpu.tokens[i] << " (t "
                    << p.temperature << " k " << p.top_k << " p " << p.top_p << " min_p " << p.min_p << ")";
    }
    EXPECT_EQ(cpu.ranks[i], gpu.ranks[i]) << what << " row " << r;
    EXPECT_TRUE(same_float(cpu.logprobs[i], gpu.logprobs[i], 2e-4f)) << what << " row " << r << ": " << cpu.logprobs[i]
                                                                     << " vs " << gpu.logprobs[i];
    for (int j = 0; j < h.top_stride; ++j) {
      const size_t k = i * static_cast<size_t>(h.top_stride) + static_cast<size_t>(j);
      EXPECT_EQ(cpu.top_ids[k], gpu.top_ids[k]) << what << " row " << r << " top " << j;
      EXPECT_TRUE(same_float(cpu.top_lp[k], gpu.top_lp[k], 2e-4f)) << what << " row " << r << " top " << j;
    }
  }
  EXPECT_EQ(token_mismatches, 0) << what;
}

// LLM-like logits: a normal body and a few strong candidates, so filters keep a handful of tokens.
std::vector<float> peaked_logits(std::mt19937& rng, int64_t vocab, float sd) {
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> l(static_cast<size_t>(vocab));
  for (auto& v : l) v = nd(rng);
  std::uniform_int_distribution<int64_t> pick(0, vocab - 1);
  for (int j = 0; j < 8; ++j) l[static_cast<size_t>(pick(rng))] += 8.0f + static_cast<float>(j);
  return l;
}

SamplingRowParams random_params(std::mt19937& rng, int64_t vocab, int kind) {
  SamplingRowParams p;
  p.seed = rng();
  p.counter = rng() % 1000;
  p.num_logprobs = static_cast<int32_t>(rng() % 22) - 1;  // -1 .. 20
  switch (kind % 14) {
    case 0: p.temperature = 0.0f; break;                           // greedy
    case 1: p.temperature = 0.7f; break;                           // whole-row draw
    case 2: p.top_k = 50; p.temperature = 0.8f; break;             // candidates
    case 3: p.top_p = 0.9f; p.temperature = 1.0f; break;           // candidates
    case 4: p.min_p = 0.05f; break;                                // candidates (min-p only)
    case 5: p.top_k = 40; p.top_p = 0.95f; p.min_p = 0.02f; p.temperature = 0.6f; break;
    case 6: p.top_k = static_cast<int32_t>(std::min<int64_t>(6000, vocab - 1)); p.temperature = 3.0f; break;  // radix top-k
    case 7: p.top_p = 0.99f; p.temperature = 4.0f; break;          // radix top-p
    case 8: p.min_p = 1e-4f; p.temperature = 5.0f; p.top_k = 1; break;  // top-k 1 is greedy
    // min-p cutting inside a larger top-k / top-p set, on each route
    case 9: p.top_k = 300; p.min_p = 0.2f; p.temperature = 1.5f; break;
    case 10: p.top_p = 0.98f; p.min_p = 0.1f; break;
    case 11: p.top_p = 0.99f; p.min_p = 0.6f; p.temperature = 4.0f; break;
    // top-k and top-p past shared memory; top-k wider than every token with mass
    case 12: p.top_k = 3000; p.top_p = 0.9f; p.temperature = 2.0f; break;
    case 13: p.top_k = 1000; p.top_p = 0.9f; p.temperature = 0.1f; break;
  }
  return p;
}

TEST(CudaSampling, MatchesCpuOnRandomRows) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  std::mt19937 rng(31);
  for (int64_t vocab : {1, 17, 97, 1025, 32000, 128256, 151937}) {
    HostBatch h;
    h.vocab = vocab;
    h.row_stride = vocab + (vocab % 2);
    const int rows = vocab > 100000 ? 42 : 56;
    for (int r = 0; r < rows; ++r) {
      const bool flat = r % 4 == 3;  // flat rows push the filters onto the radix routes
      h.add(peaked_logits(rng, vocab, flat ? 0.5f : 2.5f), random_params(rng, vocab, r));
    }
    expect_same(h, h.run_cpu(), run_gpu(h), "vocab " + std::to_string(vocab));
  }
}

TEST(CudaSampling, PenaltiesAndBans) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  std::mt19937 rng(8);
  const int64_t vocab = 50000;
  HostBatch h;
  h.vocab = h.row_stride = vocab;
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(vocab - 1));
  for (int r = 0; r < 40; ++r) {
    SamplingRowParams p = random_params(rng, vocab, r);
    p.repetition_penalty = r % 2 ? 1.3f : 0.8f;
    p.presence_penalty = r % 3 ? 0.5f : -0.5f;
    p.frequency_penalty = r % 5 ? 0.2f : 0.0f;
    std::vector<float> l = peaked_logits(rng, vocab, 2.0f);
    // Penalize the strong candidates themselves (unique ids, as the lists promise).
    std::vector<std::pair<int32_t, int32_t>> pen;
    std::vector<int32_t> seen;
    for (int j = 0; j < 300; ++j) {
      const int32_t t = tok(rng);
      if (std::find(seen.begin(), seen.end(), t) != seen.end()) continue;
      seen.push_back(t);
      pen.push_back({t, static_cast<int32_t>(rng() % 4)});
    }
    std::vector<int32_t> ban = {tok(rng), tok(rng)};
    if (r % 7 == 0) pen.clear();
    h.add(l, p, pen, ban);
  }
  expect_same(h, h.run_cpu(), run_gpu(h), "penalties");
}

TEST(CudaSampling, TiesAndDegenerateRows) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  const int64_t vocab = 20000;
  HostBatch h;
  h.vocab = h.row_stride = vocab;
  std::vector<float> flat(static_cast<size_t>(vocab), 1.0f);
  std::vector<float> masked(static_cast<size_t>(vocab), -INFINITY);
  std::vector<float> nan_mix = flat;
  for (size_t i = 0; i < nan_mix.size(); i += 3) nan_mix[i] = std::nanf("");
  std::vector<float> two_level = flat;
  for (size_t i = 0; i < two_level.size(); i += 2) two_level[i] = 3.0f;
  std::vector<float> infs = flat;  // several +inf logits: drawn among themselves
  for (size_t i = 5; i < infs.size(); i += 4000) infs[i] = INFINITY;
  for (const auto* l : {&flat, &masked, &nan_mix, &two_level, &infs}) {
    for (int kind = 0; kind < 18; ++kind) {
      SamplingRowParams p;
      p.seed = static_cast<uint64_t>(kind);
      p.num_logprobs = 20;
      p.temperature = kind % 3 == 0 ? 0.0f : 1.0f;
      if (kind % 6 == 1) p.top_k = 10;
      if (kind % 6 == 2) p.top_p = 0.3f;
      if (kind % 6 == 4) p.min_p = 0.5f;
      if (kind % 6 == 5) p.top_k = 5000;
      h.add(*l, p);
    }
  }
  expect_same(h, h.run_cpu(), run_gpu(h), "ties");
}

TEST(CudaSampling, SeededRowsIgnoreTheRestOfTheBatch) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  std::mt19937 rng(4);
  const int64_t vocab = 32000;
  const std::vector<float> l = peaked_logits(rng, vocab, 2.0f);
  SamplingRowParams p;
  p.top_p = 0.95f;
  p.seed = 99;
  p.counter = 5;
  HostBatch alone;
  alone.vocab = alone.row_stride = vocab;
  alone.add(l, p);
  const int32_t want = run_gpu(alone).tokens[0];
  HostBatch mixed;
  mixed.vocab = mixed.row_stride = vocab;
  for (int r = 0; r < 30; ++r) {
    if (r == 17) {
      mixed.add(l, p);
    } else {
      mixed.add(peaked_logits(rng, vocab, 2.0f), random_params(rng, vocab, r));
    }
  }
  EXPECT_EQ(run_gpu(mixed).tokens[17], want);
  EXPECT_EQ(alone.run_cpu().tokens[0], want);
}

TEST(CudaSampling, GraphCaptureReplays) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  std::mt19937 rng(12);
  const int64_t vocab = 4096;
  HostBatch h;
  h.vocab = h.row_stride = vocab;
  for (int r = 0; r < 9; ++r) h.add(peaked_logits(rng, vocab, 2.0f), random_params(rng, vocab, r), {{3, 1}, {7, 0}});
  expect_same(h, h.run_cpu(), run_gpu(h, /*graph=*/true), "graph");
}

TEST(CudaSampling, RejectsMalformedBatches) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  SamplingBatch b;
  EXPECT_EQ(sample(b, nullptr), cudaSuccess);  // no rows: nothing to do
  b.num_rows = 1;
  b.vocab = 10;
  EXPECT_EQ(sample(b, nullptr), cudaErrorInvalidValue);  // null logits
}

}  // namespace
}  // namespace tessera::kernels
