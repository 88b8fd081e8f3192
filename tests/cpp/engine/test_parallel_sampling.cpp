// Requests with n > 1 sample streams (OpenAI's `n`): the streams compute the prompt once and share
// its full blocks; greedy streams equal a run alone; seeded streams are distinct and stream i equals
// the request run with n = 1 and seed Sampler::stream_seed(seed, i); preempting a stream leaves
// the others intact; cancel ends every stream; no block leaks; usage and events per stream.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "engine_test_util.h"
#include "tessera/engine.h"

namespace tessera::engine {
namespace {

using testing::make_core;
using testing::random_tokens;
using testing::run_alone;
using testing::tiny_model;

struct StreamOutcome {
  std::vector<int32_t> tokens;
  std::optional<FinishReason> finish;
  int finals = 0;
};

struct RequestOutcome {
  std::map<int32_t, StreamOutcome> streams;  // by TokenEvent::index
  Usage usage;
  int last_events = 0;   // events with finished(): exactly one, the request's last
  int after_last = 0;    // events after it: none
  int64_t tokens_seen = 0;
};

void collect(std::map<std::string, RequestOutcome>& outcomes, std::vector<TokenEvent> events) {
  for (TokenEvent& ev : events) {
    RequestOutcome& o = outcomes[ev.request_id];
    if (o.last_events) ++o.after_last;
    StreamOutcome& s = o.streams[ev.index];
    s.tokens.insert(s.tokens.end(), ev.token_ids.begin(), ev.token_ids.end());
    o.tokens_seen += static_cast<int64_t>(ev.token_ids.size());
    if (ev.finish_reason) {
      ++s.finals;
      s.finish = ev.finish_reason;
    }
    o.usage = ev.usage;
    if (ev.finished()) ++o.last_events;
    EXPECT_EQ(ev.usage.completion_tokens, o.tokens_seen) << ev.request_id << ": usage counts every stream";
  }
}

// Steps until nothing is left; the scheduler's invariants (reference counts included) every step.
void run(EngineCore& core, std::map<std::string, RequestOutcome>& outcomes) {
  for (int i = 0; i < 100000 && core.has_unfinished(); ++i) {
    collect(outcomes, core.step());
    ASSERT_GT(core.last_step().num_seqs, 0) << "no progress";
    const Status st = core.scheduler().check_invariants();
    ASSERT_TRUE(st.is_ok()) << st.message();
  }
  ASSERT_FALSE(core.has_unfinished());
}


GenerationRequest make_request(const std::string& id, std::vector<int32_t> prompt, int32_t n, int64_t max_tokens) {
  GenerationRequest q;
  q.request_id = id;
  q.prompt_token_ids = std::move(prompt);
  q.n = n;
  q.max_tokens = max_tokens;
  q.ignore_eos = true;
  q.sampling.temperature = 0.0f;
  return q;
}

// Stream i of q as a request of its own: n = 1 and stream i's seed.
GenerationRequest stream_alone(GenerationRequest q, int32_t i) {
  q.n = 1;
  if (q.sampling.seed) q.sampling.seed = Sampler::stream_seed(*q.sampling.seed, i);
  return q;
}

TEST(ParallelSampling, GreedyStreamsEqualARunAloneAndComputeThePromptOnce) {
  ASSERT_NE(tiny_model(), nullptr);
  std::mt19937 rng(7);
  const std::vector<int32_t> prompt = random_tokens(rng, 37);  // block size 8: 4 full blocks + 5 tokens
  constexpr int32_t kN = 4, kBlocks = 64, kBlockSize = 8;
  for (const bool caching : {true, false}) {
    SCOPED_TRACE(caching ? "prefix caching on" : "prefix caching off");
    EngineOptions opt;
    opt.enable_prefix_caching = caching;
    opt.max_num_batched_tokens = 16;  // the prompt takes three chunked steps
    opt.max_num_seqs = 8;
    auto core = make_core(kBlocks, kBlockSize, opt);
    ASSERT_NE(core, nullptr);
    const GenerationRequest q = make_request("g", prompt, kN, 10);
    ASSERT_TRUE(core->add_request(q).is_ok());

    // Once every stream runs, the prompt's first 4 blocks have one reference per stream.
    std::map<std::string, RequestOutcome> outcomes;
    int32_t max_shared = 0;
    while (core->has_unfinished()) {
      collect(outcomes, core->step());
      ASSERT_TRUE(core->scheduler().check_invariants().is_ok());
      int32_t shared = 0;
      for (int32_t b = 0; b < kBlocks; ++b) shared += core->scheduler().kv().pool().ref_count(b) == kN;
      max_shared = std::max(max_shared, shared);
    }
    EXPECT_EQ(max_shared, 4);

    const std::vector<int32_t> alone = run_alone(*tiny_model(), q);
    const RequestOutcome& o = outcomes["g"];
    ASSERT_EQ(o.streams.size(), static_cast<size_t>(kN));
    int64_t decode = 0;
    for (const auto& [index, s] : o.streams) {
      EXPECT_EQ(s.tokens, alone) << "stream " << index;
      EXPECT_EQ(s.finals, 1);
      EXPECT_EQ(s.finish, FinishReason::kLength);
      decode += static_cast<int64_t>(s.tokens.size()) - 1;  // the last sampled token is never computed
    }
    EXPECT_EQ(o.last_events, 1);
    EXPECT_EQ(o.after_last, 0);
    EXPECT_EQ(o.usage.prompt_tokens, 37);
    EXPECT_EQ(o.usage.completion_tokens, kN * 10);

    // Computed once: 37 prompt tokens by stream 0, then 5 each by the other streams.
    const EngineMetrics& m = core->metrics();
    EXPECT_EQ(m.shared_prompt_tokens, (kN - 1) * 32);
    EXPECT_EQ(m.computed_tokens, 37 + (kN - 1) * 5 + decode);
    EXPECT_EQ(m.requests_finished[static_cast<int>(FinishReason::kLength)], kN);
    EXPECT_EQ(core->scheduler().kv().num_free_blocks(), kBlocks);
    EXPECT_EQ(core->scheduler().kv().num_requests(), 0);
  }
}

// Streams 1 and 2 wait while stream 0 computes the shared prompt blocks in chunks; a short request
// that arrived after them is admitted meanwhile instead of waiting behind them. Block size 4,
// budget 16, a 22-token prompt: 20 tokens are shared; stream 0 computes 0..16, then 16..22 with 10
// tokens of budget left, which the short request takes. Streams 1 and 2 are admitted the next
// step, as soon as the blocks are computed, and still share them.
TEST(ParallelSampling, AStreamWaitingOnItsSiblingHoldsNobodyBack) {
  ASSERT_NE(tiny_model(), nullptr);
  std::mt19937 rng(13);
  constexpr int32_t kN = 3, kBlocks = 64, kBlockSize = 4;
  const GenerationRequest q = make_request("long", random_tokens(rng, 22), kN, 6);
  const GenerationRequest small = make_request("short", random_tokens(rng, 5), 1, 6);
  for (const bool caching : {true, false}) {
    SCOPED_TRACE(caching ? "prefix caching on" : "prefix caching off");
    EngineOptions opt;
    opt.enable_prefix_caching = caching;
    opt.max_num_batched_tokens = 16;
    opt.max_num_seqs = 8;
    auto core = make_core(kBlocks, kBlockSize, opt);
    ASSERT_NE(core, nullptr);
    ASSERT_TRUE(core->add_request(q).is_ok());
    ASSERT_TRUE(core->add_request(small).is_ok());
    // The step in which each stream samples its first token, i.e. computes its last prompt token.
    std::map<std::pair<std::string, int32_t>, int> first_token_step;
    std::map<std::string, RequestOutcome> outcomes;
    for (int step = 0; step < 1000 && core->has_unfinished(); ++step) {
      std::vector<TokenEvent> events = core->step();
      for (const TokenEvent& ev : events)
        if (!ev.token_ids.empty()) first_token_step.emplace(std::make_pair(ev.request_id, ev.index), step);
      collect(outcomes, std::move(events));
      ASSERT_LE(core->last_step().num_scheduled_tokens, opt.max_num_batched_tokens);
      const Status st = core->scheduler().check_invariants();
      ASSERT_TRUE(st.is_ok()) << st.message();
    }
    ASSERT_FALSE(core->has_unfinished());
    const int sibling_done = first_token_step.at({"long", 0});
    EXPECT_EQ(sibling_done, 1);
    // Before the fix, "short" waited behind streams 1 and 2 and came in with them, at step 2.
    EXPECT_EQ(first_token_step.at({"short", 0}), sibling_done);
    EXPECT_EQ(first_token_step.at({"long", 1}), sibling_done + 1);
    EXPECT_EQ(first_token_step.at({"long", 2}), sibling_done + 1);
    EXPECT_EQ(core->metrics().shared_prompt_tokens, (kN - 1) * 20);

    const std::vector<int32_t> alone = run_alone(*tiny_model(), q);
    ASSERT_EQ(outcomes["long"].streams.size(), static_cast<size_t>(kN));
    for (const auto& [index, s] : outcomes["long"].streams) EXPECT_EQ(s.tokens, alone) << "stream " << index;
    EXPECT_EQ(outcomes["short"].streams.at(0).tokens, run_alone(*tiny_model(), small));
    EXPECT_EQ(core->scheduler().kv().num_free_blocks(), kBlocks);
    EXPECT_EQ(core->scheduler().kv().num_requests(), 0);
  }
}

TEST(ParallelSampling, PromptShorterThanABlockIsComputedPerStream) {
  ASSERT_NE(tiny_model(), nullptr);
  std::mt19937 rng(8);
  auto core = make_core(32, 8);
  ASSERT_NE(core, nullptr);
  const GenerationRequest q = make_request("short", random_tokens(rng, 8), 3, 4);  // 8 = one block, last token in it
  ASSERT_TRUE(core->add_request(q).is_ok());
  std::map<std::string, RequestOutcome> outcomes;
  run(*core, outcomes);
  const std::vector<int32_t> alone = run_alone(*tiny_model(), q);
  for (const auto& [index, s] : outcomes["short"].streams) EXPECT_EQ(s.tokens, alone) << index;
  EXPECT_EQ(core->metrics().shared_prompt_tokens, 0);
  EXPECT_EQ(core->scheduler().kv().num_free_blocks(), 32);
}

TEST(ParallelSampling, SeededStreamsAreDistinctAndEachEqualsItsSeedAlone) {
  ASSERT_NE(tiny_model(), nullptr);
  std::mt19937 rng(9);
  GenerationRequest q = make_request("s", random_tokens(rng, 21), 3, 12);
  q.sampling.temperature = 1.0f;
  q.sampling.seed = 1234;
  q.sampling.presence_penalty = 0.5f;  // per-stream penalty state
  // Alone, then batched with other requests and a second copy of itself under another id: the
  // streams' tokens are the same every time.
  std::vector<std::map<int32_t, std::vector<int32_t>>> runs;
  for (int round = 0; round < 2; ++round) {
    auto core = make_core(64, 4);
    ASSERT_NE(core, nullptr);
    if (round == 1) {
      for (int k = 0; k < 3; ++k)
        ASSERT_TRUE(core->add_request(make_request(testing::name("other", k), random_tokens(rng, 9 + k), 2, 7)).is_ok());
      GenerationRequest twin = q;
      twin.request_id = "twin";
      ASSERT_TRUE(core->add_request(twin).is_ok());
    }
    ASSERT_TRUE(core->add_request(q).is_ok());
    std::map<std::string, RequestOutcome> outcomes;
    run(*core, outcomes);
    std::map<int32_t, std::vector<int32_t>> tokens;
    for (const auto& [index, s] : outcomes["s"].streams) tokens[index] = s.tokens;
    runs.push_back(tokens);
    if (round == 1) {
      for (const auto& [index, s] : outcomes["twin"].streams) EXPECT_EQ(s.tokens, tokens[index]) << index;
    }
    EXPECT_EQ(core->scheduler().kv().num_free_blocks(), 64);
  }
  EXPECT_EQ(runs[0], runs[1]);
  ASSERT_EQ(runs[0].size(), 3u);
  std::set<std::vector<int32_t>> distinct;
  for (const auto& [index, tokens] : runs[0]) {
    EXPECT_EQ(tokens, run_alone(*tiny_model(), stream_alone(q, index))) << "stream " << index;
    distinct.insert(tokens);
  }
  EXPECT_EQ(distinct.size(), 3u);
  // Stream 0 has the request's own seed.
  GenerationRequest one = q;
  one.n = 1;
  EXPECT_EQ(runs[0][0], run_alone(*tiny_model(), one));
}

TEST(ParallelSampling, PreemptingOneStreamLeavesTheOthersIntact) {
  ASSERT_NE(tiny_model(), nullptr);
  std::mt19937 rng(10);
  // 12 blocks of 4 = 48 slots; each stream of a 14-token prompt grows to 14 + 11 = 25 tokens: the
  // three streams cannot all hold their blocks at once, so the last one is preempted.
  EngineOptions opt;
  opt.max_num_batched_tokens = 16;
  opt.max_num_seqs = 8;
  auto core = make_core(12, 4, opt);
  ASSERT_NE(core, nullptr);
  GenerationRequest greedy = make_request("greedy", random_tokens(rng, 14), 3, 12);
  GenerationRequest seeded = make_request("seeded", random_tokens(rng, 10), 2, 10);
  seeded.sampling.temperature = 0.9f;
  seeded.sampling.top_k = 30;
  seeded.sampling.seed = 77;
  seeded.sampling.repetition_penalty = 1.2f;
  ASSERT_TRUE(core->add_request(greedy).is_ok());
  ASSERT_TRUE(core->add_request(seeded).is_ok());
  std::map<std::string, RequestOutcome> outcomes;
  run(*core, outcomes);
  EXPECT_GT(core->metrics().num_preemptions, 0);
  for (const GenerationRequest* q : {&greedy, &seeded}) {
    const RequestOutcome& o = outcomes[q->request_id];
    ASSERT_EQ(o.streams.size(), static_cast<size_t>(q->n)) << q->request_id;
    for (const auto& [index, s] : o.streams)
      EXPECT_EQ(s.tokens, run_alone(*tiny_model(), stream_alone(*q, index))) << q->request_id << " stream " << index;
  }
  EXPECT_EQ(core->scheduler().kv().num_free_blocks(), 12);
  EXPECT_EQ(core->scheduler().kv().num_requests(), 0);
}

TEST(ParallelSampling, StreamsFinishOnTheirOwnAndCancelEndsTheRest) {
  ASSERT_NE(tiny_model(), nullptr);
  std::mt19937 rng(11);
  auto core = make_core(64, 4);
  ASSERT_NE(core, nullptr);
  GenerationRequest q = make_request("c", random_tokens(rng, 18), 4, 40);
  q.sampling.temperature = 1.0f;
  q.sampling.seed = 5;
  ASSERT_TRUE(core->add_request(q).is_ok());
  std::map<std::string, RequestOutcome> outcomes;
  for (int i = 0; i < 8; ++i) collect(outcomes, core->step());
  ASSERT_TRUE(core->is_live("c"));
  std::vector<TokenEvent> ended = core->abort_request("c");
  ASSERT_EQ(ended.size(), 4u);
  std::set<int32_t> indices;
  for (size_t k = 0; k < ended.size(); ++k) {
    indices.insert(ended[k].index);
    EXPECT_EQ(ended[k].finish_reason, FinishReason::kCancelled);
    EXPECT_EQ(ended[k].finished(), k + 1 == ended.size());  // only the last ends the request
  }
  EXPECT_EQ(indices, (std::set<int32_t>{0, 1, 2, 3}));
  collect(outcomes, std::move(ended));
  EXPECT_EQ(outcomes["c"].last_events, 1);
  EXPECT_FALSE(core->is_live("c"));
  EXPECT_TRUE(core->abort_request("c").empty());
  EXPECT_FALSE(core->has_unfinished());
  EXPECT_EQ(core->scheduler().kv().num_free_blocks(), 64);
  EXPECT_TRUE(core->scheduler().check_invariants().is_ok());

  // Streams that stop on their own (a stop token only some streams draw) end one by one.
  auto core2 = make_core(64, 4);
  ASSERT_NE(core2, nullptr);
  GenerationRequest stop = q;
  stop.request_id = "stop";
  stop.max_tokens = 6;
  const std::vector<int32_t> s0 = run_alone(*tiny_model(), stream_alone(stop, 0));
  stop.stop_token_ids = {s0[2]};  // stream 0 stops at its third token
  ASSERT_TRUE(core2->add_request(stop).is_ok());
  std::map<std::string, RequestOutcome> out2;
  run(*core2, out2);
  const RequestOutcome& o = out2["stop"];
  EXPECT_EQ(o.last_events, 1);
  EXPECT_EQ(o.after_last, 0);
  EXPECT_EQ(o.streams.at(0).finish, FinishReason::kStop);
  int64_t total = 0;
  for (const auto& [index, s] : o.streams) {
    EXPECT_EQ(s.finals, 1) << index;
    EXPECT_EQ(s.tokens, run_alone(*tiny_model(), stream_alone(stop, index))) << index;
    total += static_cast<int64_t>(s.tokens.size());
  }
  EXPECT_EQ(o.usage.completion_tokens, total);
}

TEST(ParallelSampling, BadNIsOneErrorNamingTheField) {
  ASSERT_NE(tiny_model(), nullptr);
  auto core = make_core(16, 4);
  ASSERT_NE(core, nullptr);
  for (const int32_t n : {0, -3, kMaxSampleStreams + 1}) {
    GenerationRequest q = make_request("bad", {5, 6, 7}, n, 4);
    const Status st = core->add_request(q);
    ASSERT_FALSE(st.is_ok()) << n;
    EXPECT_EQ(st.message().rfind("n: ", 0), 0u) << st.message();
  }
  EXPECT_TRUE(core->add_request(make_request("max", {5, 6, 7}, kMaxSampleStreams, 1)).is_ok());
}

TEST(ParallelSampling, ThreadedEngineStreamsEveryIndex) {
  ASSERT_NE(tiny_model(), nullptr);
  EngineOptions opt;
  opt.batch_invariant = true;
  opt.block_size = 4;
  opt.num_blocks = 128;
  auto engine = Engine::create(testing::tiny_model_dir(), opt);
  ASSERT_TRUE(engine.has_value()) << engine.status().message();
  std::mt19937 rng(12);
  GenerationRequest q = make_request("t", random_tokens(rng, 13), 3, 5);
  q.detokenize = false;
  const std::vector<int32_t> alone = run_alone(*tiny_model(), q);
  auto stream = (*engine)->submit(q);
  ASSERT_TRUE(stream.has_value()) << stream.status().message();
  std::map<int32_t, std::vector<int32_t>> tokens;
  int last = 0;
  while (auto ev = (*stream)->next()) {
    tokens[ev->index].insert(tokens[ev->index].end(), ev->token_ids.begin(), ev->token_ids.end());
    last += ev->finished();
  }
  EXPECT_EQ(last, 1);
  EXPECT_TRUE((*stream)->finished());
  ASSERT_EQ(tokens.size(), 3u);
  for (const auto& [index, t] : tokens) EXPECT_EQ(t, alone) << index;
  GenerationRequest bad = q;
  bad.request_id = "bad";
  bad.n = 0;
  auto rejected = (*engine)->submit(bad);
  ASSERT_FALSE(rejected.has_value());
  EXPECT_EQ(rejected.status().message().rfind("n: ", 0), 0u);
}

}  // namespace
}  // namespace tessera::engine
