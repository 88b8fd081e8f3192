// src/engine/scheduler.h — decides, each step, which requests run and how many tokens each
// computes (docs/architecture.md, seam 3): schedule() → model runner → update_from_output().
//
// A request has num_computed_tokens and num_tokens, nothing else: a step computes some of the
// difference (a prompt chunk, or the one token sampled last step), so chunked prefill and mixed
// prefill/decode batches are the normal case. Policy:
//   - service order is (priority, arrival): lower priority value first, FCFS within a priority;
//   - running requests are served first, in service order, each taking min(what it lacks, what is
//     left of the token budget); then waiting requests are admitted in service order (after a
//     prefix-cache lookup) while budget, the running cap and free blocks allow. A request that
//     does not fit is never overtaken, so a large request cannot starve behind small ones;
//   - when a running request needs a block and none is free, the running request served last is
//     preempted (recompute): its blocks are freed, num_computed_tokens goes to 0, and it waits at
//     its place in the queue with every token it has; it may be the request itself. No request is
//     ever dropped for lack of memory. A step that preempted admits nobody;
//   - sample streams of one request (n > 1, request.h) compute the prompt once: a stream being
//     admitted takes the prompt's full blocks, except the one holding its last token, from a
//     running sibling that computed them before this step (or from the prefix cache, when that
//     gives more), and computes only the rest of the prompt, 1 to block_size tokens, into blocks
//     of its own. While a running sibling is still computing those blocks, the stream is passed
//     over (requests behind it may be admitted) but keeps its place in the queue, so it is
//     admitted first once they are computed (its sibling runs, so this ends). Preempting one
//     stream drops only its own references.
// Invariants (check_invariants): the token budget and the running cap hold; running and waiting
// are sorted in service order; waiting requests hold no blocks; a victim is never a request
// already scheduled in the same step (victims come from the back of the running list, which is
// served front to back).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "src/engine/kv_cache_manager.h"
#include "src/engine/request.h"

namespace tessera::engine {

struct SchedulerConfig {
  int32_t max_num_seqs = 64;              // cap on running requests
  int64_t max_num_batched_tokens = 2048;  // token budget of one step
};

struct ScheduledRequest {
  Request* request = nullptr;
  int64_t num_computed_tokens = 0;  // before this step: the step runs tokens [this, this + new)
  int64_t num_new_tokens = 0;
  bool samples = false;             // the step reaches the last token: one token is sampled
  std::vector<int32_t> block_ids;   // all of the request's blocks after allocation
};

struct SchedulerOutput {
  std::vector<ScheduledRequest> scheduled;
  int64_t num_scheduled_tokens = 0;
  std::vector<Request*> preempted;  // preempted during this schedule() call
  bool empty() const { return scheduled.empty(); }
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, KvCacheManager& kv);

  // A new request (status kWaiting, no blocks) joins the queue. The caller owns it until it is
  // finished and no longer scheduled.
  void add_request(Request* r);
  // Ends r now (e.g. cancelled): leaves its queue, frees its blocks. False if already finished.
  bool finish_request(Request* r, FinishReason reason);

  SchedulerOutput schedule();
  // Applies a step's results: each scheduled request advances by its new tokens, registers its
  // newly computed blocks in the prefix cache, and takes sampled[i] (one per scheduled request;
  // read only where samples) as its next token. finish[i], when set, ends request i with that
  // reason (the caller's stop decision: stop token or string, max_tokens); a request that reaches
  // max_model_len ends with kLength regardless. Returns the requests that finished, which have
  // left the scheduler and freed their blocks.
  std::vector<Request*> update_from_output(const SchedulerOutput& output, const std::vector<int32_t>& sampled,
                                           const std::vector<std::optional<FinishReason>>& finish);

  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  bool has_unfinished() const { return !waiting_.empty() || !running_.empty(); }
  int64_t num_preemptions() const { return num_preemptions_; }
  const SchedulerConfig& config() const { return config_; }
  const KvCacheManager& kv() const { return kv_; }

  Status check_invariants() const;

 private:
  void preempt(Request* r, SchedulerOutput& output);
  void enqueue_waiting(Request* r);
  void insert_running(Request* r);
  void remove_running(Request* r);
  // Where stream r (waiting) starts: the prefix-cache hit or a sibling's prompt blocks, whichever
  // covers more. nullopt while a running sibling is still computing the blocks r could share.
  std::optional<PrefixHit> admission_hit(Request& r);

  SchedulerConfig config_;
  KvCacheManager& kv_;
  std::deque<Request*> waiting_;  // sorted by served_before
  std::vector<Request*> running_;  // sorted by served_before
  int64_t num_preemptions_ = 0;
};

}  // namespace tessera::engine
