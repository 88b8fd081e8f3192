// The randomized engine test of issue #7: thousands of arrivals with random lengths, shared
// prefixes, priorities, seeds, n > 1 sample streams and cancels, over a deliberately tiny KV
// cache. Every step: the token budget holds and the scheduler's and block pool's invariants hold
// (reference counts of prompt blocks shared between streams included). At the end: every stream
// got exactly one final event (finished or cancelled) and every request one last event, no block
// leaked, and each finished stream's tokens equal those its request produces running alone with
// n = 1 and the stream's seed (a cancelled one's are a prefix of them).
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>

#include "engine_test_util.h"

namespace tessera::engine {
namespace {

using testing::make_core;
using testing::name;
using testing::run_alone;
using testing::tiny_model;

struct SeenStream {
  std::vector<int32_t> tokens;
  int finals = 0;
  std::optional<FinishReason> finish;
};

struct Seen {
  GenerationRequest request;
  std::map<int32_t, SeenStream> streams;  // by TokenEvent::index
  int64_t tokens = 0;                     // over all streams
  int last_events = 0;
};

TEST(EngineStress, ThousandsOfArrivalsCancelsAndATinyCache) {
  ASSERT_NE(tiny_model(), nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kRequests = 2500;
  constexpr int32_t kBlocks = 24, kBlockSize = 4;  // 96 slots; one request needs up to 63
  EngineOptions opt;
  opt.max_num_batched_tokens = 32;
  opt.max_num_seqs = 8;
  auto core = make_core(kBlocks, kBlockSize, opt);
  ASSERT_NE(core, nullptr);

  std::mt19937 rng(2024);
  auto token = [&] { return 3 + static_cast<int32_t>(rng() % 509); };
  std::vector<std::vector<int32_t>> bases(4);
  for (auto& b : bases)
    for (int i = 0; i < 40; ++i) b.push_back(token());

  std::map<std::string, Seen> seen;
  std::vector<std::string> ids;
  auto deliver = [&](std::vector<TokenEvent> events) {
    for (TokenEvent& ev : events) {
      Seen& r = seen.at(ev.request_id);
      ASSERT_EQ(r.last_events, 0) << ev.request_id << " got an event after its last";
      ASSERT_LT(ev.index, r.request.n) << ev.request_id;
      SeenStream& s = r.streams[ev.index];
      ASSERT_EQ(s.finals, 0) << ev.request_id << " stream " << ev.index << " got an event after its last";
      s.tokens.insert(s.tokens.end(), ev.token_ids.begin(), ev.token_ids.end());
      r.tokens += static_cast<int64_t>(ev.token_ids.size());
      EXPECT_EQ(ev.usage.completion_tokens, r.tokens) << ev.request_id;
      if (ev.finish_reason) {
        ++s.finals;
        s.finish = ev.finish_reason;
      }
      if (ev.finished()) ++r.last_events;
    }
  };

  int arrived = 0, steps = 0;
  while (arrived < kRequests || core->has_unfinished()) {
    // Arrivals: 0-3 per step while they last.
    for (int k = static_cast<int>(rng() % 4); k > 0 && arrived < kRequests; --k) {
      GenerationRequest q;
      q.request_id = name("s", arrived++);
      const auto& base = bases[rng() % bases.size()];
      q.prompt_token_ids.assign(base.begin(), base.begin() + 1 + static_cast<std::ptrdiff_t>(rng() % base.size()));
      for (int extra = static_cast<int>(rng() % 9); extra > 0; --extra) q.prompt_token_ids.push_back(token());
      q.max_tokens = 1 + static_cast<int64_t>(rng() % 16);
      q.priority = static_cast<int32_t>(rng() % 3);
      q.ignore_eos = rng() % 2;
      q.sampling.temperature = 0.0f;
      if (rng() % 4 == 0) {  // seeded sampling
        q.sampling.temperature = 0.8f;
        q.sampling.top_k = 20;
        q.sampling.top_p = 0.9f;
        q.sampling.seed = rng();
      }
      if (rng() % 8 == 0) {  // penalties: state that must survive preemption
        q.sampling.repetition_penalty = 1.3f;
        q.sampling.presence_penalty = 0.5f;
        q.sampling.frequency_penalty = 0.25f;
      }
      if (rng() % 8 == 0) q.min_tokens = static_cast<int64_t>(rng() % static_cast<uint64_t>(q.max_tokens + 1));
      if (rng() % 8 == 0) q.stop_token_ids = {token(), token(), token()};
      if (rng() % 6 == 0) q.n = 2 + static_cast<int32_t>(rng() % 2);  // sample streams sharing the prompt
      ASSERT_TRUE(core->add_request(q).is_ok()) << q.request_id;
      seen[q.request_id].request = q;
      ids.push_back(q.request_id);
    }
    // Cancels: now and then, any request (live, finished or unknown).
    if (!ids.empty() && rng() % 16 == 0) {
      const std::string& id = ids[rng() % ids.size()];
      const bool live = core->is_live(id);
      std::vector<TokenEvent> ev = core->abort_request(id);
      ASSERT_EQ(!ev.empty(), live);
      deliver(std::move(ev));
    }
    deliver(core->step());
    ++steps;
    ASSERT_LE(core->last_step().num_scheduled_tokens, opt.max_num_batched_tokens);
    ASSERT_LE(core->last_step().num_seqs, opt.max_num_seqs);
    const Status st = core->scheduler().check_invariants();
    ASSERT_TRUE(st.is_ok()) << "step " << steps << ": " << st.message();
    ASSERT_LT(steps, 200000) << "no progress";
  }
  const double engine_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  EXPECT_EQ(core->scheduler().kv().num_free_blocks(), kBlocks);
  EXPECT_EQ(core->scheduler().kv().num_requests(), 0);
  const EngineMetrics& m = core->metrics();
  EXPECT_GT(m.num_preemptions, 0);
  EXPECT_GT(m.prefix_cache_hit_tokens, 0);
  int cancelled = 0, finished = 0, multi = 0;
  for (const auto& [id, r] : seen) {
    ASSERT_EQ(r.last_events, 1) << id;
    multi += r.request.n > 1;
    for (int32_t i = 0; i < r.request.n; ++i) {
      const SeenStream& s = r.streams.at(i);
      ASSERT_EQ(s.finals, 1) << id << " stream " << i;
      GenerationRequest one = r.request;
      one.n = 1;
      if (one.sampling.seed) one.sampling.seed = Sampler::stream_seed(*one.sampling.seed, i);
      const std::vector<int32_t> alone = run_alone(*tiny_model(), one);
      if (s.finish == FinishReason::kCancelled) {
        ++cancelled;
        ASSERT_LE(s.tokens.size(), alone.size()) << id << " stream " << i;
        EXPECT_TRUE(std::equal(s.tokens.begin(), s.tokens.end(), alone.begin())) << id << " stream " << i;
      } else {
        ++finished;
        EXPECT_EQ(s.tokens, alone) << id << " stream " << i;
      }
    }
  }
  EXPECT_GT(multi, kRequests / 10);
  EXPECT_GT(m.shared_prompt_tokens, 0);
  EXPECT_GT(cancelled, 10);
  std::printf("[ stress ] %d requests (%d with n > 1; %d of %d streams cancelled) in %d steps: %lld preemptions, "
              "%lld of %lld prompt tokens from the prefix cache, %lld shared between streams, engine %.2fs\n",
              kRequests, multi, cancelled, cancelled + finished, steps, static_cast<long long>(m.num_preemptions),
              static_cast<long long>(m.prefix_cache_hit_tokens), static_cast<long long>(m.prefix_cache_query_tokens),
              static_cast<long long>(m.shared_prompt_tokens), engine_s);
}

}  // namespace
}  // namespace tessera::engine
