// Scheduler without a model: budget and chunked prefill, mixed batches, the running cap, service
// order with priorities, stop conditions, cancellation, preemption by recompute, and a randomized
// run whose "model" is a hash of each request's tokens (so outputs must not depend on scheduling).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include "kernels/cpu/sampling.h"
#include "src/engine/scheduler.h"

namespace tessera::engine {
namespace {

// A deterministic stand-in for a model: the next token is a function of all previous tokens.
int32_t fake_next_token(const Request& r) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t t : r.token_ids) h = kernels::cpu::splitmix64(h ^ static_cast<uint32_t>(t));
  return static_cast<int32_t>(h % 1000) + 10;  // never 0..9: those are eos/stop in the tests
}

struct Sim {
  Sim(int32_t num_blocks, int32_t block_size, SchedulerConfig config, bool prefix_caching = true)
      : kv(num_blocks, block_size, prefix_caching), scheduler(config, kv) {}

  Request* add(const std::string& id, int32_t prompt_len, int64_t output_len, int32_t priority = 0,
               int32_t first_token = 100) {
    auto r = std::make_unique<Request>();
    r->id = id;
    r->arrival_index = next_index++;
    r->priority = priority;
    for (int32_t i = 0; i < prompt_len; ++i) r->token_ids.push_back(first_token + i);
    r->num_prompt_tokens = prompt_len;
    r->max_model_len = 1 << 20;
    r->cache_salt_hash = hash_cache_salt("");
    Request* p = r.get();
    max_tokens[p] = output_len;
    requests[id] = std::move(r);
    scheduler.add_request(p);
    return p;
  }

  // One step; returns the scheduler output after checking invariants.
  SchedulerOutput step() {
    SchedulerOutput out = scheduler.schedule();
    EXPECT_LE(out.num_scheduled_tokens, scheduler.config().max_num_batched_tokens);
    // The engine core's stop decisions, in miniature: a stop token, or max_tokens.
    std::vector<int32_t> sampled;
    std::vector<std::optional<FinishReason>> finish;
    for (const auto& s : out.scheduled) {
      sampled.push_back(s.samples ? fake_next_token(*s.request) : -1);
      finish.emplace_back();
      if (!s.samples) continue;
      const auto& stops = stop_tokens[s.request];
      if (std::find(stops.begin(), stops.end(), sampled.back()) != stops.end()) {
        finish.back() = FinishReason::kStop;
      } else if (s.request->num_output_tokens() + 1 >= max_tokens[s.request]) {
        finish.back() = FinishReason::kLength;
      }
    }
    for (Request* r : scheduler.update_from_output(out, sampled, finish)) finished.push_back(r->id);
    const Status st = scheduler.check_invariants();
    EXPECT_TRUE(st.is_ok()) << st.message();
    return out;
  }

  void run_to_completion(int max_steps = 100000) {
    for (int i = 0; i < max_steps && scheduler.has_unfinished(); ++i) step();
    EXPECT_FALSE(scheduler.has_unfinished());
  }

  KvCacheManager kv;
  Scheduler scheduler;
  std::map<std::string, std::unique_ptr<Request>> requests;
  std::map<const Request*, int64_t> max_tokens;
  std::map<const Request*, std::vector<int32_t>> stop_tokens;
  std::vector<std::string> finished;
  uint64_t next_index = 0;
};

std::string name(const char* prefix, int i) {
  std::ostringstream s;
  s << prefix << i;
  return s.str();
}

const ScheduledRequest* find(const SchedulerOutput& out, const std::string& id) {
  for (const auto& s : out.scheduled)
    if (s.request->id == id) return &s;
  return nullptr;
}

TEST(Scheduler, ChunkedPrefillWithinTheTokenBudget) {
  Sim sim(64, 4, {8, 8});
  Request* a = sim.add("a", 20, 3);
  auto o1 = sim.step();
  ASSERT_EQ(o1.scheduled.size(), 1u);
  EXPECT_EQ(o1.scheduled[0].num_new_tokens, 8);
  EXPECT_FALSE(o1.scheduled[0].samples);
  auto o2 = sim.step();
  EXPECT_EQ(o2.scheduled[0].num_computed_tokens, 8);
  EXPECT_EQ(o2.scheduled[0].num_new_tokens, 8);
  auto o3 = sim.step();
  EXPECT_EQ(o3.scheduled[0].num_new_tokens, 4);
  EXPECT_TRUE(o3.scheduled[0].samples);
  EXPECT_EQ(a->num_output_tokens(), 1);
  sim.run_to_completion();
  EXPECT_EQ(a->num_output_tokens(), 3);
  EXPECT_EQ(a->finish_reason, FinishReason::kLength);
  EXPECT_EQ(sim.kv.num_free_blocks(), 64);
}

TEST(Scheduler, DecodesAndPrefillChunksShareAStep) {
  Sim sim(64, 4, {8, 10});
  sim.add("a", 3, 10);
  sim.step();  // a's prompt: 3 tokens
  sim.add("b", 30, 2);
  auto o = sim.step();
  ASSERT_EQ(o.scheduled.size(), 2u);
  EXPECT_EQ(find(o, "a")->num_new_tokens, 1);  // decode
  EXPECT_TRUE(find(o, "a")->samples);
  EXPECT_EQ(find(o, "b")->num_new_tokens, 9);  // the rest of the budget
  EXPECT_EQ(o.num_scheduled_tokens, 10);
}

TEST(Scheduler, RunningCapHoldsBackAdmissions) {
  Sim sim(64, 4, {2, 100});
  sim.add("a", 4, 5);
  sim.add("b", 4, 5);
  sim.add("c", 4, 5);
  auto o = sim.step();
  EXPECT_EQ(o.scheduled.size(), 2u);
  EXPECT_EQ(find(o, "c"), nullptr);
  EXPECT_EQ(sim.scheduler.num_waiting(), 1);
  sim.run_to_completion();
  EXPECT_EQ(sim.finished.size(), 3u);
}

TEST(Scheduler, PriorityThenArrivalOrder) {
  Sim sim(64, 4, {1, 100});
  sim.add("late-low", 4, 1, /*priority=*/5);
  sim.add("urgent", 4, 1, /*priority=*/-1);
  sim.add("normal-1", 4, 1);
  sim.add("normal-2", 4, 1);
  sim.run_to_completion();
  EXPECT_EQ(sim.finished, (std::vector<std::string>{"urgent", "normal-1", "normal-2", "late-low"}));
}

TEST(Scheduler, FinishDecisionsAndTheContextLimitEndRequests) {
  Sim sim(64, 4, {8, 64});
  Request* stop = sim.add("stop", 4, 10);
  sim.stop_tokens[stop] = {fake_next_token(*stop)};
  Request* length = sim.add("length", 4, 3);
  Request* ctx = sim.add("ctx", 4, 10);
  ctx->max_model_len = 6;  // the scheduler's own limit, whatever the caller decides
  sim.run_to_completion();
  EXPECT_EQ(stop->finish_reason, FinishReason::kStop);
  EXPECT_EQ(stop->num_output_tokens(), 1);
  EXPECT_EQ(length->finish_reason, FinishReason::kLength);
  EXPECT_EQ(length->num_output_tokens(), 3);
  EXPECT_EQ(ctx->finish_reason, FinishReason::kLength);
  EXPECT_EQ(ctx->num_tokens(), 6);
  EXPECT_EQ(sim.kv.num_free_blocks(), 64);
}

TEST(Scheduler, FinishRequestFreesBlocksWherever) {
  Sim sim(64, 4, {1, 100});
  Request* a = sim.add("a", 10, 50);
  Request* b = sim.add("b", 10, 50);
  sim.step();
  EXPECT_EQ(a->status, RequestStatus::kRunning);
  EXPECT_EQ(b->status, RequestStatus::kWaiting);
  EXPECT_TRUE(sim.scheduler.finish_request(b, FinishReason::kCancelled));
  EXPECT_TRUE(sim.scheduler.finish_request(a, FinishReason::kCancelled));
  EXPECT_FALSE(sim.scheduler.finish_request(a, FinishReason::kCancelled));
  EXPECT_EQ(a->finish_reason, FinishReason::kCancelled);
  EXPECT_FALSE(sim.scheduler.has_unfinished());
  EXPECT_EQ(sim.kv.num_free_blocks(), 64);
  EXPECT_TRUE(sim.scheduler.check_invariants().is_ok());
}

TEST(Scheduler, PreemptsTheLastServedAndResumesItByRecompute) {
  // 6 blocks of 4 tokens = 24 slots. Two requests of 8 prompt tokens growing to 8 + 10: together
  // they need 2 x 5 blocks, so the later one is preempted, then resumed with all its tokens.
  Sim sim(6, 4, {4, 64}, /*prefix_caching=*/false);
  Request* a = sim.add("a", 8, 10);
  Request* b = sim.add("b", 8, 10, 0, 500);
  bool saw_preemption = false;
  while (sim.scheduler.has_unfinished()) {
    auto o = sim.step();
    for (Request* p : o.preempted) {
      EXPECT_EQ(p, b);
      EXPECT_EQ(p->num_computed_tokens, 0);
      EXPECT_GT(p->num_output_tokens(), 0);
      saw_preemption = true;
    }
  }
  EXPECT_TRUE(saw_preemption);
  EXPECT_GE(sim.scheduler.num_preemptions(), 1);
  EXPECT_EQ(a->num_preemptions, 0);
  // Outputs are what each request computes alone.
  for (Request* r : {a, b}) {
    Request alone = *r;
    alone.token_ids.resize(static_cast<size_t>(r->num_prompt_tokens));
    for (int64_t i = 0; i < sim.max_tokens[r]; ++i) alone.token_ids.push_back(fake_next_token(alone));
    EXPECT_EQ(r->token_ids, alone.token_ids) << r->id;
  }
  EXPECT_EQ(sim.kv.num_free_blocks(), 6);
}

TEST(Scheduler, ARequestThatFillsTheCacheAloneStillFinishes) {
  // 4 blocks x 4 = 16 slots; each request needs 8 + 8 - 1 = 15 slots, so they run one at a time.
  Sim sim(4, 4, {8, 64});
  for (int i = 0; i < 5; ++i) sim.add(name("r", i), 8, 8, 0, 100 * i);
  sim.run_to_completion();
  EXPECT_EQ(sim.finished.size(), 5u);
  for (auto& [id, r] : sim.requests) EXPECT_EQ(r->num_output_tokens(), 8) << id;
  EXPECT_EQ(sim.kv.num_free_blocks(), 4);
}

TEST(Scheduler, ResumedRequestReusesItsOwnCachedBlocks) {
  Sim sim(6, 4, {4, 64}, /*prefix_caching=*/true);
  sim.add("a", 8, 10);
  sim.add("b", 8, 10, 0, 500);
  sim.run_to_completion();
  EXPECT_GE(sim.scheduler.num_preemptions(), 1);
  EXPECT_GT(sim.kv.prefix_hit_tokens(), 0);
}

TEST(Scheduler, RandomizedArrivalsCancelsAndATinyCache) {
  std::mt19937 rng(42);
  Sim sim(12, 4, {6, 16});
  int arrived = 0, cancelled = 0;
  std::vector<Request*> live;
  for (int step = 0; step < 20000 && (arrived < 1500 || sim.scheduler.has_unfinished()); ++step) {
    if (arrived < 1500 && rng() % 2 == 0) {
      const int32_t prompt = 1 + static_cast<int32_t>(rng() % 24);
      const int64_t max_tokens = 1 + static_cast<int64_t>(rng() % (48 - static_cast<uint32_t>(prompt)));  // fits 48 slots
      // Shared prefixes: prompts start from one of a few token runs.
      live.push_back(sim.add(name("q", arrived), prompt, max_tokens, static_cast<int32_t>(rng() % 3),
                             100 * static_cast<int32_t>(rng() % 4)));
      ++arrived;
    }
    if (!live.empty() && rng() % 10 == 0) {
      Request* r = live[rng() % live.size()];
      if (sim.scheduler.finish_request(r, FinishReason::kCancelled)) ++cancelled;
    }
    sim.step();
  }
  EXPECT_EQ(arrived, 1500);
  EXPECT_FALSE(sim.scheduler.has_unfinished());
  EXPECT_GT(cancelled, 0);
  EXPECT_GT(sim.scheduler.num_preemptions(), 0);
  EXPECT_EQ(sim.kv.num_free_blocks(), 12);
  for (auto& [id, r] : sim.requests) {
    ASSERT_TRUE(r->is_finished()) << id;
    if (r->finish_reason == FinishReason::kCancelled) continue;
    const int64_t max_tokens = sim.max_tokens[r.get()];
    EXPECT_EQ(r->num_output_tokens(), max_tokens) << id;
    Request alone = *r;
    alone.token_ids.resize(static_cast<size_t>(r->num_prompt_tokens));
    while (alone.num_output_tokens() < max_tokens) alone.token_ids.push_back(fake_next_token(alone));
    EXPECT_EQ(r->token_ids, alone.token_ids) << id;
  }
}

}  // namespace
}  // namespace tessera::engine
