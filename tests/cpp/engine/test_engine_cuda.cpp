// EngineCore over the CUDA runner: the engine samples on the device (the logits never leave it) and
// must draw exactly what the host sampler draws from the same logits. Two engines over two CUDA
// runners of one checkpoint run the same requests through the same schedule (chunked prompts, so
// some rows of a step do not sample; n = 2 streams; greedy, seeded top-k/top-p/min-p, penalties,
// min_tokens, logprobs); one of them sees its runner through a wrapper that hides the device
// logits, so it copies them back and samples on the CPU. Tokens, ranks and top-n ids must be equal,
// logprobs equal within fp32 rounding. Built only with CUDA; skips without a GPU.
#if defined(TESSERA_WITH_CUDA)
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <utility>

#include "engine_test_util.h"
#include "src/model/model_runner.h"
#include "tests/cpp/gpu_test_model.h"

namespace tessera::engine {
namespace {

bool has_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

std::string gpu_model_dir() { return tessera::test::gpu_test_model_dir(); }

// Forwards every call but has_device_logits() (the default: no), so the engine takes the host path.
using HostLogits = testing::ForwardingRunner;

struct Outcome {
  std::vector<int32_t> tokens;
  std::vector<TokenLogprob> logprobs;
  std::optional<FinishReason> finish;
};

std::map<std::pair<std::string, int32_t>, Outcome> run(EngineCore& core, int64_t& steps_with_idle_rows) {
  std::map<std::pair<std::string, int32_t>, Outcome> out;
  for (int i = 0; i < 100000 && core.has_unfinished(); ++i) {
    for (TokenEvent& ev : core.step()) {
      Outcome& o = out[{ev.request_id, ev.index}];
      o.tokens.insert(o.tokens.end(), ev.token_ids.begin(), ev.token_ids.end());
      o.logprobs.insert(o.logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
      if (ev.finish_reason) o.finish = ev.finish_reason;
    }
    if (core.last_step().num_sampled < core.last_step().num_seqs) ++steps_with_idle_rows;
  }
  EXPECT_FALSE(core.has_unfinished());
  return out;
}

TEST(EngineCuda, DeviceSamplingDrawsWhatTheHostDraws) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  ASSERT_FALSE(gpu_model_dir().empty()) << "could not write the test checkpoint";
  RunnerOptions ro;
  ro.device = "cuda";
  ro.max_model_len = 512;
  ro.max_num_seqs = 8;
  ro.max_num_batched_tokens = 96;
  ro.num_blocks = 256;
  auto device_runner = create_model_runner(gpu_model_dir(), ro);
  auto host_runner = create_model_runner(gpu_model_dir(), ro);
  ASSERT_TRUE(device_runner.has_value()) << device_runner.status().message();
  ASSERT_TRUE(host_runner.has_value()) << host_runner.status().message();
  ASSERT_TRUE((*device_runner)->has_device_logits());

  EngineOptions eo;
  eo.max_num_seqs = 8;
  eo.max_num_batched_tokens = 96;  // prompts of up to 200 tokens are chunked
  eo.seed = 77;
  auto dev = EngineCore::create(std::move(*device_runner), nullptr, eo);
  auto host = EngineCore::create(std::make_unique<HostLogits>(std::move(*host_runner)), nullptr, eo);
  ASSERT_TRUE(dev.has_value() && host.has_value());

  std::mt19937 rng(5);
  for (int i = 0; i < 14; ++i) {
    GenerationRequest q;
    q.request_id = "r" + std::to_string(i);
    for (int64_t j = 0, n = 1 + static_cast<int64_t>(rng() % 200); j < n; ++j)
      q.prompt_token_ids.push_back(3 + static_cast<int32_t>(rng() % 997));
    q.max_tokens = 4 + static_cast<int64_t>(rng() % 24);
    q.ignore_eos = i % 4 != 0;
    switch (i % 7) {
      case 0: q.sampling.temperature = 0.0f; break;
      case 1: q.sampling.temperature = 0.9f; q.sampling.top_k = 40; q.sampling.top_p = 0.95f; break;
      case 2: q.sampling.temperature = 1.3f; q.sampling.min_p = 0.05f; q.logprobs = 5; break;
      case 3: q.sampling.temperature = 0.7f; q.sampling.repetition_penalty = 1.3f; q.sampling.frequency_penalty = 0.5f; break;
      case 4: q.sampling.temperature = 1.0f; q.n = 2; q.logprobs = 0; break;
      case 5: q.sampling.temperature = 0.0f; q.min_tokens = 3; q.stop_token_ids = {7, 8}; q.logprobs = 3; break;
      case 6: q.sampling.temperature = 2.0f; q.sampling.presence_penalty = 1.0f; q.sampling.top_p = 0.5f; break;
    }
    if (i % 7 != 0 && i % 7 != 5) q.sampling.seed = 9000 + static_cast<uint64_t>(i);
    ASSERT_TRUE((*dev)->add_request(q).is_ok());
    ASSERT_TRUE((*host)->add_request(q).is_ok());
  }
  int64_t idle_dev = 0, idle_host = 0;
  const auto a = run(**dev, idle_dev);
  const auto b = run(**host, idle_host);
  EXPECT_GT(idle_dev, 0) << "no step had a chunked prompt that did not sample";
  EXPECT_EQ(idle_dev, idle_host);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, oa] : a) {
    const std::string where = key.first + "/" + std::to_string(key.second);
    ASSERT_TRUE(b.count(key)) << where;
    const Outcome& ob = b.at(key);
    EXPECT_EQ(oa.tokens, ob.tokens) << where;
    EXPECT_EQ(oa.finish, ob.finish) << where;
    EXPECT_FALSE(oa.tokens.empty()) << where;
    ASSERT_EQ(oa.logprobs.size(), ob.logprobs.size()) << where;
    for (size_t t = 0; t < oa.logprobs.size(); ++t) {
      EXPECT_EQ(oa.logprobs[t].token_id, ob.logprobs[t].token_id) << where << " token " << t;
      EXPECT_EQ(oa.logprobs[t].rank, ob.logprobs[t].rank) << where << " token " << t;
      EXPECT_NEAR(oa.logprobs[t].logprob, ob.logprobs[t].logprob, 2e-4) << where << " token " << t;
      ASSERT_EQ(oa.logprobs[t].top.size(), ob.logprobs[t].top.size()) << where << " token " << t;
      for (size_t j = 0; j < oa.logprobs[t].top.size(); ++j)
        EXPECT_EQ(oa.logprobs[t].top[j].first, ob.logprobs[t].top[j].first) << where << " token " << t;
    }
  }
  EXPECT_EQ((*dev)->scheduler().kv().num_free_blocks(), (*dev)->info().num_kv_blocks);
}

}  // namespace
}  // namespace tessera::engine
#endif  // TESSERA_WITH_CUDA
