// EngineCore over a tiny random model: batched, chunked and preempted requests produce exactly
// what each produces alone; the prefix cache computes only new tokens; cancel, bad input, runner
// failure, text deltas, logprobs and metrics.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "engine_test_util.h"
#include "src/tokenizer/tokenizer.h"

namespace tessera::engine {
namespace {

using testing::make_core;
using testing::random_tokens;
using testing::name;
using testing::run_alone;
using testing::tiny_model;

struct Outcome {
  std::vector<int32_t> tokens;
  std::string text;
  std::optional<FinishReason> finish;
  Usage usage;
  std::vector<TokenLogprob> logprobs;
  int events_after_finish = 0;
};

// Steps until nothing is left; checks the budget and the scheduler's invariants every step.
void run(EngineCore& core, std::map<std::string, Outcome>& outcomes, int max_steps = 1000000) {
  for (int i = 0; i < max_steps && core.has_unfinished(); ++i) {
    for (TokenEvent& ev : core.step()) {
      Outcome& o = outcomes[ev.request_id];
      if (o.finish) ++o.events_after_finish;
      o.tokens.insert(o.tokens.end(), ev.token_ids.begin(), ev.token_ids.end());
      o.text += ev.text;
      o.logprobs.insert(o.logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
      o.usage = ev.usage;
      if (ev.finish_reason) o.finish = ev.finish_reason;
    }
    ASSERT_LE(core.last_step().num_scheduled_tokens, core.info().max_num_batched_tokens);
    const Status st = core.scheduler().check_invariants();
    ASSERT_TRUE(st.is_ok()) << st.message();
  }
  ASSERT_FALSE(core.has_unfinished());
}


GenerationRequest make_request(const std::string& id, std::vector<int32_t> prompt, int64_t max_tokens) {
  GenerationRequest q;
  q.request_id = id;
  q.prompt_token_ids = std::move(prompt);
  q.max_tokens = max_tokens;
  q.sampling.temperature = 0.0f;
  q.ignore_eos = true;
  return q;
}

TEST(EngineCore, TinyModelLoads) { ASSERT_NE(tiny_model(), nullptr); }

// What the equality tests rest on: in batch-invariant mode a token's logits are the same bits
// whether its sequence runs alone or is chunked and batched next to others.
TEST(EngineCore, BatchInvariantLogitsAreBitIdentical) {
  ASSERT_NE(tiny_model(), nullptr);
  ASSERT_TRUE(tiny_model()->batch_invariant());
  std::mt19937 rng(10);
  const std::vector<int32_t> a = random_tokens(rng, 13), other = random_tokens(rng, 29);
  auto alone = SequenceRunner::create(*tiny_model(), 13);
  auto ref = alone->append(a, /*all_logits=*/true);  // [13, vocab]
  ASSERT_TRUE(ref.has_value());
  const int64_t V = tiny_model()->config().vocab_size;
  // Same cache, two sequences: a in blocks 0-3, the other in blocks 4-11 (block size 4). Step 1:
  // a[0:5) next to other[0:29); step 2: a[5:13) next to a decode token of the other.
  auto cache = CpuKvCache::create(tiny_model()->config(), 12, 4);
  ASSERT_TRUE(cache.has_value());
  auto add = [](ForwardBatch& b, const std::vector<int32_t>& toks, int32_t begin, int32_t end, int32_t first_block) {
    for (int32_t p = begin; p < end; ++p) {
      b.token_ids.push_back(toks[static_cast<size_t>(p)]);
      b.positions.push_back(p);
      b.slot_mapping.push_back(static_cast<int64_t>(first_block) * 4 + p);
    }
    b.cu_seqlens_q.push_back(static_cast<int32_t>(b.token_ids.size()));
    b.seq_lens.push_back(end);
    for (int32_t j = 0; j < 8; ++j) b.block_table.push_back(first_block + j);
  };
  std::vector<int32_t> other_plus = other;
  other_plus.push_back(7);
  ForwardBatch s1, s2;
  s1.max_blocks_per_seq = s2.max_blocks_per_seq = 8;
  s1.cu_seqlens_q = s2.cu_seqlens_q = {0};
  add(s1, a, 0, 5, 0);
  add(s1, other, 0, 29, 4);
  add(s2, other_plus, 29, 30, 4);
  add(s2, a, 5, 13, 0);
  std::vector<float> l1, l2;
  ASSERT_TRUE(tiny_model()->forward(s1, *cache, l1).is_ok());
  ASSERT_TRUE(tiny_model()->forward(s2, *cache, l2).is_ok());
  // Row 0 of step 1 is a's token 4; row 1 of step 2 is a's token 12.
  EXPECT_EQ(0, std::memcmp(l1.data(), ref->data() + 4 * V, static_cast<size_t>(V) * 4));
  EXPECT_EQ(0, std::memcmp(l2.data() + V, ref->data() + 12 * V, static_cast<size_t>(V) * 4));
}

TEST(EngineCore, BatchedGreedyAndSeededOutputsEqualRunningAlone) {
  ASSERT_NE(tiny_model(), nullptr);
  EngineOptions opt;
  opt.max_num_batched_tokens = 24;  // forces chunked prefill and mixed batches
  opt.max_num_seqs = 6;
  auto core = make_core(256, 4, opt);
  ASSERT_NE(core, nullptr);
  std::mt19937 rng(1);
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 16; ++i) {
    GenerationRequest q = make_request(name("r", i), random_tokens(rng, 1 + static_cast<int64_t>(rng() % 60)),
                                       1 + static_cast<int64_t>(rng() % 12));
    if (i % 2) {  // seeded sampling: the draw depends only on (seed, n)
      q.sampling.temperature = 0.9f;
      q.sampling.top_k = 40;
      q.sampling.top_p = 0.95f;
      q.sampling.seed = static_cast<uint64_t>(1000 + i);
    }
    if (i % 3 == 0) q.sampling.repetition_penalty = 1.2f;
    if (i % 5 == 0) q.ignore_eos = false;
    requests.push_back(q);
    ASSERT_TRUE(core->add_request(q).is_ok());
  }
  std::map<std::string, Outcome> outcomes;
  run(*core, outcomes);
  for (const auto& q : requests) {
    const Outcome& o = outcomes[q.request_id];
    EXPECT_EQ(o.tokens, run_alone(*tiny_model(), q)) << q.request_id;
    ASSERT_TRUE(o.finish);
    EXPECT_EQ(o.events_after_finish, 0);
    EXPECT_EQ(o.usage.prompt_tokens, static_cast<int64_t>(q.prompt_token_ids.size()));
    EXPECT_EQ(o.usage.completion_tokens, static_cast<int64_t>(o.tokens.size()));
  }
  EXPECT_EQ(core->scheduler().kv().num_free_blocks(), 256);
}

TEST(EngineCore, PreemptedRequestsResumeWithIdenticalOutput) {
  ASSERT_NE(tiny_model(), nullptr);
  EngineOptions opt;
  opt.max_num_batched_tokens = 64;
  opt.max_num_seqs = 8;
  for (bool prefix_caching : {false, true}) {
    opt.enable_prefix_caching = prefix_caching;
    auto core = make_core(12, 4, opt);  // 48 slots for 8 requests that each grow to ~40 tokens
    ASSERT_NE(core, nullptr);
    std::mt19937 rng(2);
    std::vector<GenerationRequest> requests;
    for (int i = 0; i < 8; ++i) {
      GenerationRequest q = make_request(name("p", i), random_tokens(rng, 8 + i), 24);
      if (i % 3 == 1) {
        q.sampling.temperature = 1.0f;
        q.sampling.min_p = 0.05f;
        q.sampling.seed = 77;
        q.sampling.frequency_penalty = 0.5f;
      }
      requests.push_back(q);
      ASSERT_TRUE(core->add_request(q).is_ok());
    }
    std::map<std::string, Outcome> outcomes;
    run(*core, outcomes);
    EXPECT_GT(core->metrics().num_preemptions, 0);
    for (const auto& q : requests) EXPECT_EQ(outcomes[q.request_id].tokens, run_alone(*tiny_model(), q)) << q.request_id;
    EXPECT_EQ(core->scheduler().kv().num_free_blocks(), 12);
    EXPECT_TRUE(core->scheduler().check_invariants().is_ok());
  }
}

// Issue #7: a second request sharing a 1,000-token prefix computes only its new tokens.
TEST(EngineCore, SharedThousandTokenPrefixIsComputedOnce) {
  ASSERT_NE(tiny_model(), nullptr);
  EngineOptions opt;
  opt.max_num_batched_tokens = 512;
  std::mt19937 rng(3);
  const std::vector<int32_t> prefix = random_tokens(rng, 1000);
  for (bool first_still_running : {false, true}) {
    auto core = make_core(400, 8, opt);  // 1000 = 125 blocks of 8
    ASSERT_NE(core, nullptr);
    std::vector<int32_t> pa = prefix, pb = prefix;
    const auto ta = random_tokens(rng, 8), tb = random_tokens(rng, 24);
    pa.insert(pa.end(), ta.begin(), ta.end());
    pb.insert(pb.end(), tb.begin(), tb.end());
    const GenerationRequest a = make_request("a", pa, first_still_running ? 40 : 4);
    const GenerationRequest b = make_request("b", pb, 5);
    std::map<std::string, Outcome> outcomes;
    ASSERT_TRUE(core->add_request(a).is_ok());
    if (first_still_running) {
      while (outcomes["a"].tokens.size() < 2)  // a's prompt is in the cache, a still decodes
        for (TokenEvent& ev : core->step()) outcomes[ev.request_id].tokens.push_back(ev.token_ids.at(0));
    } else {
      run(*core, outcomes);
    }
    const int64_t computed_before = core->metrics().computed_tokens;
    const int64_t hits_before = core->metrics().prefix_cache_hit_tokens;
    ASSERT_TRUE(core->add_request(b).is_ok());
    // Step b alone to completion (a may keep decoding next to it: count b's tokens only).
    int64_t a_tokens_meanwhile = 0;
    while (core->has_unfinished() && !outcomes["b"].finish) {
      for (TokenEvent& ev : core->step()) {
        Outcome& o = outcomes[ev.request_id];
        o.tokens.insert(o.tokens.end(), ev.token_ids.begin(), ev.token_ids.end());
        if (ev.finish_reason) o.finish = ev.finish_reason;
        if (ev.request_id == "b") o.usage = ev.usage;
        if (ev.request_id == "a") a_tokens_meanwhile += static_cast<int64_t>(ev.token_ids.size());
      }
    }
    const int64_t b_computed = core->metrics().computed_tokens - computed_before - a_tokens_meanwhile;
    EXPECT_EQ(core->metrics().prefix_cache_hit_tokens - hits_before, 1000);
    EXPECT_EQ(outcomes["b"].usage.cached_prompt_tokens, 1000);
    // 24 new prompt tokens, then 4 decode steps (the 5th token is sampled, never computed).
    EXPECT_EQ(b_computed, 24 + 4) << "first_still_running=" << first_still_running;
    EXPECT_EQ(outcomes["b"].tokens, run_alone(*tiny_model(), b));
    run(*core, outcomes);
    EXPECT_EQ(outcomes["a"].tokens, run_alone(*tiny_model(), a));
    EXPECT_EQ(core->scheduler().kv().num_free_blocks(), 400);
  }
}

TEST(EngineCore, CacheSaltsKeepTenantsApart) {
  ASSERT_NE(tiny_model(), nullptr);
  auto core = make_core(64, 8, {});
  std::mt19937 rng(4);
  const auto prompt = random_tokens(rng, 40);
  GenerationRequest a = make_request("a", prompt, 2), b = make_request("b", prompt, 2), c = make_request("c", prompt, 2);
  a.cache_salt = "alice";
  b.cache_salt = "bob";
  c.cache_salt = "alice";
  std::map<std::string, Outcome> outcomes;
  for (auto* q : {&a, &b, &c}) {
    ASSERT_TRUE(core->add_request(*q).is_ok());
    run(*core, outcomes);
  }
  EXPECT_EQ(outcomes["a"].usage.cached_prompt_tokens, 0);
  EXPECT_EQ(outcomes["b"].usage.cached_prompt_tokens, 0);
  EXPECT_EQ(outcomes["c"].usage.cached_prompt_tokens, 32);  // 4 full blocks; the 40th token is recomputed
  EXPECT_EQ(outcomes["a"].tokens, outcomes["b"].tokens);
  EXPECT_EQ(outcomes["a"].tokens, outcomes["c"].tokens);
}

TEST(EngineCore, CancelFreesBlocksAtOnce) {
  ASSERT_NE(tiny_model(), nullptr);
  EngineOptions opt;
  opt.max_num_seqs = 1;
  auto core = make_core(32, 4, opt);
  std::mt19937 rng(5);
  ASSERT_TRUE(core->add_request(make_request("run", random_tokens(rng, 20), 50)).is_ok());
  ASSERT_TRUE(core->add_request(make_request("wait", random_tokens(rng, 20), 50)).is_ok());
  core->step();
  core->step();
  EXPECT_LT(core->scheduler().kv().num_free_blocks(), 32);
  auto ev = core->abort_request("run");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].finish_reason, FinishReason::kCancelled);
  EXPECT_TRUE(ev[0].finished());
  EXPECT_EQ(ev[0].usage.completion_tokens, 2);
  EXPECT_EQ(core->scheduler().kv().num_free_blocks(), 32);
  auto ev2 = core->abort_request("wait");
  ASSERT_EQ(ev2.size(), 1u);
  EXPECT_EQ(ev2[0].usage.completion_tokens, 0);
  EXPECT_TRUE(core->abort_request("wait").empty());
  EXPECT_TRUE(core->abort_request("never").empty());
  EXPECT_FALSE(core->has_unfinished());
  EXPECT_EQ(core->metrics().requests_finished[static_cast<int>(FinishReason::kCancelled)], 2);
  EXPECT_TRUE(core->scheduler().check_invariants().is_ok());
}

// An explicit context the cache cannot hold is refused when the engine is made (as vLLM does at
// start-up), naming the option and both sizes; the model's default context is clamped instead
// (BadInputIsOneErrorNamingTheField), so a small cache still serves requests without max_tokens.
TEST(EngineCore, ExplicitContextLongerThanTheCacheIsRefused) {
  ASSERT_NE(tiny_model(), nullptr);
  EngineOptions opt;
  opt.max_model_len = 100;
  auto runner = CpuModelRunner::create(tiny_model(), 8, 4);
  ASSERT_TRUE(runner.has_value());
  auto core = EngineCore::create(std::move(*runner), nullptr, opt);
  ASSERT_FALSE(core.has_value());
  EXPECT_EQ(core.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(core.status().message().find("max_model_len: 100 tokens do not fit in the KV cache (8 blocks of 4 tokens"),
            std::string::npos)
      << core.status().message();
  opt.max_model_len = 33;  // exactly what 32 slots hold
  EXPECT_NE(make_core(8, 4, opt), nullptr);
}

TEST(EngineCore, BadInputIsOneErrorNamingTheField) {
  ASSERT_NE(tiny_model(), nullptr);
  auto core = make_core(8, 4);  // 32 slots: the model's 2048-token context is clamped to 33 tokens
  ASSERT_NE(core, nullptr);
  EXPECT_EQ(core->info().max_model_len, 33);
  auto error = [&](GenerationRequest q) {
    const Status st = core->add_request(q);
    EXPECT_FALSE(st.is_ok());
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    return st.message();
  };
  auto ok = make_request("ok", {5, 6, 7}, 4);
  EXPECT_NE(error(make_request("e", {}, 4)).find("prompt_token_ids: must not be empty"), std::string::npos);
  EXPECT_NE(error(make_request("e", {5, 512}, 4)).find("prompt_token_ids[1]: token id 512 is outside"), std::string::npos);
  EXPECT_NE(error(make_request("e", {5, -1}, 4)).find("prompt_token_ids[1]"), std::string::npos);
  EXPECT_NE(error(make_request("e", {5}, 0)).find("max_tokens: must be at least 1, got 0"), std::string::npos);
  EXPECT_NE(error(make_request("e", {5}, -3)).find("max_tokens"), std::string::npos);
  EXPECT_NE(error(make_request("e", std::vector<int32_t>(30, 5), 4)).find("max_tokens: 30 prompt tokens + 4 tokens exceed the model's context (max_model_len 33)"),
            std::string::npos);
  EXPECT_NE(error(make_request("e", std::vector<int32_t>(34, 5), 1)).find("max_model_len 33"), std::string::npos);
  EXPECT_TRUE(core->validate(make_request("e", std::vector<int32_t>(30, 5), 3)).is_ok());  // 32 slots exactly
  GenerationRequest q = ok;
  q.sampling.temperature = -1;
  EXPECT_NE(error(q).find("temperature"), std::string::npos);
  q = ok;
  q.sampling.temperature = NAN;
  EXPECT_NE(error(q).find("temperature"), std::string::npos);
  q = ok;
  q.sampling.top_p = 0;
  EXPECT_NE(error(q).find("top_p"), std::string::npos);
  q = ok;
  q.sampling.top_k = -2;
  EXPECT_NE(error(q).find("top_k"), std::string::npos);
  q = ok;
  q.sampling.min_p = 1.5f;
  EXPECT_NE(error(q).find("min_p"), std::string::npos);
  q = ok;
  q.logprobs = 21;
  EXPECT_NE(error(q).find("logprobs"), std::string::npos);
  q = ok;
  q.sampling.repetition_penalty = 0;
  EXPECT_NE(error(q).find("repetition_penalty"), std::string::npos);
  q = ok;
  q.min_tokens = 5;
  EXPECT_NE(error(q).find("min_tokens"), std::string::npos);
  q = ok;
  q.stop_token_ids = {9999};
  EXPECT_NE(error(q).find("stop_token_ids"), std::string::npos);
  q = ok;
  q.stop = {"x"};
  EXPECT_NE(error(q).find("stop: stop strings need the model's tokenizer.json"), std::string::npos);
  q = ok;
  q.logprobs = -2;
  EXPECT_NE(error(q).find("logprobs"), std::string::npos);
  q = ok;
  q.request_id = "";
  EXPECT_NE(error(q).find("request_id"), std::string::npos);
  ASSERT_TRUE(core->add_request(ok).is_ok());
  EXPECT_NE(error(ok).find("request_id: 'ok' is already in use"), std::string::npos);
  EXPECT_EQ(core->scheduler().num_waiting(), 1);
}

TEST(EngineCore, TextDeltasAndLogprobs) {
  ASSERT_NE(tiny_model(), nullptr);
  auto tok = Tokenizer::load(testing::tiny_model_dir());
  ASSERT_TRUE(tok.has_value()) << tok.status().message();
  auto shared_tok = std::make_shared<const Tokenizer>(*tok);
  auto core = make_core(64, 4, {}, shared_tok);
  auto prompt = tok->encode("The engine batches many requests", true);
  ASSERT_TRUE(prompt.has_value());
  GenerationRequest q = make_request("t", *prompt, 20);
  q.logprobs = 3;
  ASSERT_TRUE(core->add_request(q).is_ok());
  GenerationRequest quiet = make_request("quiet", *prompt, 3);
  quiet.detokenize = false;
  ASSERT_TRUE(core->add_request(quiet).is_ok());
  std::map<std::string, Outcome> outcomes;
  run(*core, outcomes);
  const Outcome& o = outcomes["t"];
  EXPECT_EQ(o.text, tok->decode(o.tokens, /*skip_special_tokens=*/true));
  EXPECT_TRUE(outcomes["quiet"].text.empty());
  ASSERT_EQ(o.logprobs.size(), o.tokens.size());
  for (size_t i = 0; i < o.tokens.size(); ++i) {
    const TokenLogprob& lp = o.logprobs[i];
    EXPECT_EQ(lp.token_id, o.tokens[i]);
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_EQ(lp.top[0].first, o.tokens[i]);  // greedy: the sampled token is the most likely
    EXPECT_EQ(lp.rank, 1);
    EXPECT_FLOAT_EQ(lp.top[0].second, lp.logprob);
    EXPECT_LE(lp.logprob, 0.0f);
    EXPECT_GE(lp.top[0].second, lp.top[1].second);
    EXPECT_GE(lp.top[1].second, lp.top[2].second);
    EXPECT_LT(std::exp(lp.top[0].second) + std::exp(lp.top[1].second) + std::exp(lp.top[2].second), 1.0 + 1e-5);
  }
  EXPECT_TRUE(outcomes["quiet"].logprobs.empty());
}

TEST(EngineCore, StopTokenEndsGeneration) {
  ASSERT_NE(tiny_model(), nullptr);
  auto core = make_core(64, 4, {});
  std::mt19937 rng(6);
  GenerationRequest free_run = make_request("free", random_tokens(rng, 10), 12);
  const std::vector<int32_t> expected = run_alone(*tiny_model(), free_run);
  ASSERT_EQ(expected.size(), 12u);
  GenerationRequest stop = free_run;
  stop.request_id = "stop";
  stop.stop_token_ids = {expected[5]};
  ASSERT_TRUE(core->add_request(stop).is_ok());
  std::map<std::string, Outcome> outcomes;
  run(*core, outcomes);
  const auto first = std::find(expected.begin(), expected.end(), expected[5]);
  EXPECT_EQ(outcomes["stop"].tokens, std::vector<int32_t>(expected.begin(), first + 1));
  EXPECT_EQ(outcomes["stop"].finish, FinishReason::kStop);
  EXPECT_EQ(core->metrics().requests_finished[static_cast<int>(FinishReason::kStop)], 1);
}

TEST(EngineCore, StopStringEndsGenerationAndTruncatesText) {
  ASSERT_NE(tiny_model(), nullptr);
  auto tok = Tokenizer::load(testing::tiny_model_dir());
  ASSERT_TRUE(tok.has_value());
  auto shared_tok = std::make_shared<const Tokenizer>(*tok);
  auto core = make_core(128, 4, {}, shared_tok);
  auto prompt = tok->encode("Once upon a time", true);
  ASSERT_TRUE(prompt.has_value());
  // A free run first, to pick a stop string from the middle of its text.
  GenerationRequest free_run = make_request("free", *prompt, 40);
  ASSERT_TRUE(core->add_request(free_run).is_ok());
  std::map<std::string, Outcome> outcomes;
  run(*core, outcomes);
  const std::string text = outcomes["free"].text;
  ASSERT_GE(text.size(), 12u) << "the free run produced too little text";
  const std::string stop = text.substr(text.size() / 2, 3);
  GenerationRequest q = free_run;
  q.request_id = "stopped";
  q.stop = {stop};
  ASSERT_TRUE(core->add_request(q).is_ok());
  run(*core, outcomes);
  const Outcome& o = outcomes["stopped"];
  EXPECT_EQ(o.finish, FinishReason::kStop);
  EXPECT_EQ(o.text, text.substr(0, text.find(stop)));
  EXPECT_LT(o.tokens.size(), outcomes["free"].tokens.size());
  EXPECT_EQ(o.tokens, run_alone(*tiny_model(), q, tok.operator->()));
}

// A runner that fails on its n-th call.
class FlakyRunner : public testing::ForwardingRunner {
 public:
  FlakyRunner(std::unique_ptr<ModelRunner> inner, int fail_on) : ForwardingRunner(std::move(inner)), fail_on_(fail_on) {}
  std::string device_name() const override { return "flaky " + inner_->device_name(); }
  Status execute(const ForwardBatch& batch, std::vector<float>& logits) override {
    if (++calls_ == fail_on_) return internal_error("device fell over");
    return inner_->execute(batch, logits);
  }

 private:
  int fail_on_;
  int calls_ = 0;
};

TEST(EngineCore, RunnerFailureEndsTheBatchAndTheEngineGoesOn) {
  ASSERT_NE(tiny_model(), nullptr);
  auto inner = CpuModelRunner::create(tiny_model(), 32, 4);
  ASSERT_TRUE(inner.has_value());
  auto core = EngineCore::create(std::make_unique<FlakyRunner>(std::move(*inner), 3), nullptr, {});
  ASSERT_TRUE(core.has_value());
  std::mt19937 rng(7);
  ASSERT_TRUE((*core)->add_request(make_request("x", random_tokens(rng, 9), 10)).is_ok());
  ASSERT_TRUE((*core)->add_request(make_request("y", random_tokens(rng, 9), 10)).is_ok());
  std::map<std::string, Outcome> outcomes;
  std::string error;
  for (int i = 0; i < 3; ++i)
    for (TokenEvent& ev : (*core)->step()) {
      if (ev.finish_reason == FinishReason::kError) {
        error = ev.error;
        outcomes[ev.request_id].finish = ev.finish_reason;
      }
    }
  EXPECT_EQ(error, "device fell over");
  EXPECT_EQ(outcomes["x"].finish, FinishReason::kError);
  EXPECT_EQ(outcomes["y"].finish, FinishReason::kError);
  EXPECT_FALSE((*core)->has_unfinished());
  EXPECT_EQ((*core)->scheduler().kv().num_free_blocks(), 32);
  EXPECT_TRUE((*core)->scheduler().check_invariants().is_ok());
  const GenerationRequest z = make_request("z", random_tokens(rng, 9), 5);
  ASSERT_TRUE((*core)->add_request(z).is_ok());
  std::map<std::string, Outcome> later;
  run(**core, later);
  EXPECT_EQ(later["z"].tokens, run_alone(*tiny_model(), z));
}

TEST(EngineCore, MetricsCountStepsTokensAndLatencies) {
  ASSERT_NE(tiny_model(), nullptr);
  EngineOptions opt;
  opt.max_num_batched_tokens = 16;
  opt.max_num_seqs = 8;
  auto core = make_core(64, 4, opt);
  std::mt19937 rng(8);
  int64_t prompt_total = 0;
  for (int i = 0; i < 4; ++i) {
    auto q = make_request(name("m", i), random_tokens(rng, 10 + i), 6);
    prompt_total += static_cast<int64_t>(q.prompt_token_ids.size());
    ASSERT_TRUE(core->add_request(q).is_ok());
  }
  EXPECT_EQ(core->metrics().num_waiting, 4);
  std::map<std::string, Outcome> outcomes;
  run(*core, outcomes);
  const EngineMetrics& m = core->metrics();
  EXPECT_EQ(m.generated_tokens, 24);
  EXPECT_EQ(m.computed_tokens, prompt_total + 4 * 5);  // no preemption, no prefix hits
  EXPECT_EQ(m.time_to_first_token_s.count, 4);
  EXPECT_EQ(m.inter_token_latency_s.count, 20);
  EXPECT_EQ(m.e2e_latency_s.count, 4);
  EXPECT_EQ(m.queue_time_s.count, 4);
  EXPECT_EQ(m.step_tokens.count, m.num_steps);
  EXPECT_LE(m.step_tokens.quantile(1.0), 16.0);
  EXPECT_EQ(m.requests_finished[static_cast<int>(FinishReason::kLength)], 4);
  EXPECT_EQ(m.num_running, 0);
  EXPECT_EQ(m.num_waiting, 0);
  EXPECT_EQ(m.kv_cache_usage, 0.0);
}

TEST(Histogram, QuantilesInterpolateWithinBuckets) {
  Histogram h = Histogram::token_counts();
  for (int i = 0; i < 100; ++i) h.observe(3.0);  // bucket (2, 4]
  EXPECT_EQ(h.count, 100);
  EXPECT_DOUBLE_EQ(h.mean(), 3.0);
  EXPECT_GT(h.quantile(0.5), 2.0);
  EXPECT_LE(h.quantile(0.5), 4.0);
  h.observe(1e9);  // overflow bucket
  EXPECT_EQ(h.counts.back(), 1);
  EXPECT_EQ(Histogram().quantile(0.5), 0.0);
}

}  // namespace
}  // namespace tessera::engine
