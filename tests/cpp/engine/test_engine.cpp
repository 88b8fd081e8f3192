// The threaded Engine (tessera/engine.h): streams from many submitting threads, cancel mid-stream,
// errors at submit, text deltas, metrics, and shutdown with requests in flight.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "engine_test_util.h"
#include "src/tokenizer/tokenizer.h"
#include "tessera/engine.h"

namespace tessera {
namespace {

using engine::testing::name;
using engine::testing::random_tokens;
using engine::testing::run_alone;
using engine::testing::tiny_model;
using engine::testing::tiny_model_dir;

std::unique_ptr<Engine> make_engine(EngineOptions opt = {}) {
  opt.batch_invariant = true;
  opt.block_size = 4;
  if (opt.num_blocks == 0) opt.num_blocks = 256;
  auto e = Engine::create(tiny_model_dir(), opt);
  EXPECT_TRUE(e.has_value()) << e.status().message();
  return e ? std::move(*e) : nullptr;
}


struct Drained {
  std::vector<int32_t> tokens;
  std::string text;
  std::optional<FinishReason> finish;
  Usage usage;
  int events = 0;
};

Drained drain(RequestStream& s) {
  Drained d;
  while (auto ev = s.next()) {
    ++d.events;
    d.tokens.insert(d.tokens.end(), ev->token_ids.begin(), ev->token_ids.end());
    d.text += ev->text;
    d.usage = ev->usage;
    if (ev->finish_reason) d.finish = ev->finish_reason;
  }
  return d;
}

TEST(Engine, ManyThreadsSubmitAndStream) {
  ASSERT_NE(tiny_model(), nullptr);
  // References first: the CPU backend's thread pool serves one forward pass at a time, and while
  // the engine runs, its thread is the one.
  std::vector<std::vector<GenerationRequest>> requests(4);
  std::vector<std::vector<std::vector<int32_t>>> expected(4);
  for (int c = 0; c < 4; ++c) {
    std::mt19937 rng(static_cast<uint32_t>(100 + c));
    for (int i = 0; i < 8; ++i) {
      GenerationRequest q;
      q.prompt_token_ids = random_tokens(rng, 1 + static_cast<int64_t>(rng() % 40));
      q.max_tokens = 1 + static_cast<int64_t>(rng() % 20);
      q.sampling.temperature = (i % 2) ? 0.7f : 0.0f;
      q.sampling.seed = static_cast<uint64_t>(c * 100 + i);
      q.ignore_eos = true;
      requests[static_cast<size_t>(c)].push_back(q);
      expected[static_cast<size_t>(c)].push_back(run_alone(*tiny_model(), q));
    }
  }
  EngineOptions opt;
  opt.max_num_batched_tokens = 48;
  opt.max_num_seqs = 8;
  opt.num_blocks = 40;  // small enough to preempt now and then
  auto engine = make_engine(opt);
  ASSERT_NE(engine, nullptr);
  std::atomic<int> mismatches{0}, done{0};
  std::vector<std::thread> clients;
  for (size_t c = 0; c < 4; ++c)
    clients.emplace_back([&, c] {
      for (size_t i = 0; i < requests[c].size(); ++i) {
        auto stream = engine->submit(requests[c][i]);
        if (!stream) {
          ++mismatches;
          continue;
        }
        Drained d = drain(**stream);
        if (d.tokens != expected[c][i] || d.finish != FinishReason::kLength) ++mismatches;
        ++done;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(done.load(), 32);
  const EngineMetrics m = engine->metrics();
  EXPECT_EQ(m.requests_finished[static_cast<int>(FinishReason::kLength)], 32);
  EXPECT_EQ(m.time_to_first_token_s.count, 32);
  EXPECT_EQ(m.num_running + m.num_waiting, 0);
}

TEST(Engine, StreamsTextDeltasAndAssignsIds) {
  ASSERT_NE(tiny_model(), nullptr);
  auto engine = make_engine();
  ASSERT_NE(engine, nullptr);
  auto tok = Tokenizer::load(tiny_model_dir());
  ASSERT_TRUE(tok.has_value());
  GenerationRequest q;
  q.prompt_token_ids = *tok->encode("hello engine", true);
  q.max_tokens = 24;
  q.sampling.temperature = 0.0f;
  q.ignore_eos = true;
  auto s1 = engine->submit(q);
  auto s2 = engine->submit(q);
  ASSERT_TRUE(s1.has_value() && s2.has_value());
  EXPECT_NE((*s1)->request_id(), (*s2)->request_id());
  EXPECT_EQ((*s1)->request_id().rfind("req-", 0), 0u);
  Drained d = drain(**s1);
  EXPECT_EQ(d.text, tok->decode(d.tokens, true));
  EXPECT_EQ(d.usage.completion_tokens, 24);
  EXPECT_TRUE((*s1)->finished());
  EXPECT_FALSE((*s1)->next().has_value());  // after the last event: nothing, at once
  Drained d2 = drain(**s2);
  EXPECT_EQ(d2.tokens, d.tokens);
}

TEST(Engine, CancelEndsTheStreamAndFreesBlocks) {
  ASSERT_NE(tiny_model(), nullptr);
  auto engine = make_engine();
  ASSERT_NE(engine, nullptr);
  std::mt19937 rng(9);
  GenerationRequest q;
  q.request_id = "long";
  q.prompt_token_ids = random_tokens(rng, 64);
  q.max_tokens = 900;
  q.ignore_eos = true;
  auto s = engine->submit(q);
  ASSERT_TRUE(s.has_value());
  auto first = (*s)->next();
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(engine->submit(q).has_value());  // the id is live
  EXPECT_TRUE(engine->cancel("long"));
  Drained rest = drain(**s);
  EXPECT_EQ(rest.finish, FinishReason::kCancelled);
  EXPECT_LT(rest.usage.completion_tokens, 900);
  EXPECT_FALSE(engine->cancel("long"));
  EXPECT_FALSE(engine->cancel("nobody"));
  // The metrics snapshot follows the step that delivered the event.
  for (int i = 0; i < 200 && engine->metrics().kv_cache_usage > 0.0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(engine->metrics().kv_cache_usage, 0.0);
  EXPECT_EQ(engine->metrics().requests_finished[static_cast<int>(FinishReason::kCancelled)], 1);
  // The id is free again.
  q.max_tokens = 2;
  auto again = engine->submit(q);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(drain(**again).finish, FinishReason::kLength);
}

TEST(Engine, SubmitRejectsBadRequestsWithTheField) {
  ASSERT_NE(tiny_model(), nullptr);
  auto engine = make_engine();
  ASSERT_NE(engine, nullptr);
  GenerationRequest q;
  auto r = engine->submit(q);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().message().find("prompt_token_ids"), std::string::npos);
  q.prompt_token_ids = {5};
  q.max_tokens = 0;
  r = engine->submit(q);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().message().find("max_tokens"), std::string::npos);
  EXPECT_EQ(engine->info().vocab_size, 512);
  EXPECT_EQ(engine->info().num_kv_blocks, 256);
  // The model's 2048-token context does not fit 256 blocks of 4: clamped to what they hold.
  EXPECT_EQ(engine->info().max_model_len, 256 * 4 + 1);
}

TEST(Engine, CreateRejectsBadOptions) {
  EngineOptions opt;
  opt.max_num_seqs = 0;
  auto e = Engine::create(tiny_model_dir(), opt);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.status().message().find("max_num_seqs"), std::string::npos);
  opt = {};
  opt.max_num_seqs = 16;
  opt.max_num_batched_tokens = 8;
  e = Engine::create(tiny_model_dir(), opt);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.status().message().find("max_num_batched_tokens: 8 is less than max_num_seqs 16"), std::string::npos);
  opt = {};
  opt.kv_cache_bytes = 10;
  e = Engine::create(tiny_model_dir(), opt);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.status().message().find("kv_cache_bytes"), std::string::npos);
  e = Engine::create("/nonexistent/model", {});
  EXPECT_FALSE(e.has_value());
  // The device is checked before any weight loads; batch-invariant mode belongs to the cpu.
  opt = {};
  opt.device = "tpu";
  e = Engine::create(tiny_model_dir(), opt);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.status().message().find("expected cpu, cuda or cuda:N"), std::string::npos) << e.status().message();
  opt.device = "cuda";
  opt.batch_invariant = true;
  e = Engine::create(tiny_model_dir(), opt);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.status().message().find("batch_invariant"), std::string::npos) << e.status().message();
}

TEST(Engine, ShutdownCancelsWhatIsInFlight) {
  ASSERT_NE(tiny_model(), nullptr);
  std::shared_ptr<RequestStream> a, b;
  {
    EngineOptions opt;
    opt.max_num_seqs = 1;
    auto engine = make_engine(opt);
    ASSERT_NE(engine, nullptr);
    GenerationRequest q;
    q.prompt_token_ids = {5, 6, 7};
    q.max_tokens = 1000;
    q.ignore_eos = true;
    a = *engine->submit(q);
    b = *engine->submit(q);
    ASSERT_TRUE(a->next().has_value());
  }
  EXPECT_EQ(drain(*a).finish, FinishReason::kCancelled);
  EXPECT_EQ(drain(*b).finish, FinishReason::kCancelled);
}

}  // namespace
}  // namespace tessera
