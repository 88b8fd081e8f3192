// src/engine/scheduler.cpp — token budget, running cap, chunked prefill, priorities and
// preemption by recompute (scheduler.h).
#include "src/engine/scheduler.h"

#include <algorithm>
#include <sstream>

namespace tessera::engine {
namespace {

bool by_service(const Request* a, const Request* b) { return served_before(*a, *b); }

}  // namespace

Scheduler::Scheduler(const SchedulerConfig& config, KvCacheManager& kv) : config_(config), kv_(kv) {}

void Scheduler::enqueue_waiting(Request* r) {
  r->status = RequestStatus::kWaiting;
  waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), r, by_service), r);
}

void Scheduler::insert_running(Request* r) {
  r->status = RequestStatus::kRunning;
  running_.insert(std::upper_bound(running_.begin(), running_.end(), r, by_service), r);
}

void Scheduler::remove_running(Request* r) {
  running_.erase(std::remove(running_.begin(), running_.end(), r), running_.end());
}

void Scheduler::add_request(Request* r) {
  r->num_computed_tokens = 0;
  enqueue_waiting(r);
}

bool Scheduler::finish_request(Request* r, FinishReason reason) {
  if (r->is_finished()) return false;
  if (r->status == RequestStatus::kRunning) {
    remove_running(r);
    kv_.free(*r);
  } else {
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), r), waiting_.end());
  }
  r->status = RequestStatus::kFinished;
  r->finish_reason = reason;
  return true;
}

void Scheduler::preempt(Request* r, SchedulerOutput& output) {
  remove_running(r);
  kv_.free(*r);
  r->num_computed_tokens = 0;
  ++r->num_preemptions;
  ++num_preemptions_;
  enqueue_waiting(r);
  output.preempted.push_back(r);
}

std::optional<PrefixHit> Scheduler::admission_hit(Request& r) {
  PrefixHit hit = kv_.find_cached_prefix(r);
  if (r.num_streams == 1) return hit;
  // Full prompt blocks short of the last prompt token, which every stream computes itself.
  const int64_t shareable = (r.num_prompt_tokens - 1) / kv_.block_size() * kv_.block_size();
  // The cache wins only when it gives more (a resumed stream's own output blocks); otherwise a
  // sibling's blocks, the same ones when caching is on, so that sharing counts as sharing.
  if (shareable == 0 || hit.num_tokens > shareable) return hit;
  bool in_flight = false;
  for (const Request* o : running_) {
    if (o->group != r.group || o == &r) continue;
    // num_computed_tokens is still the value before this step: those K/V are written.
    if (o->num_computed_tokens >= shareable) return kv_.share_prompt(*o, shareable);
    in_flight = true;
  }
  if (in_flight && hit.num_tokens < shareable) return std::nullopt;
  return hit;
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int64_t budget = config_.max_num_batched_tokens;

  // Running requests, in service order. Victims come from the back, which is not scheduled yet.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Request* r = running_[i];
    const int64_t n = std::min(r->num_tokens() - r->num_computed_tokens, budget);
    bool allocated = false;
    while (!(allocated = kv_.allocate_slots(*r, n))) {
      Request* victim = running_.back();
      preempt(victim, out);
      if (victim == r) break;
    }
    if (!allocated) break;  // r preempted itself: it was the last running request
    out.scheduled.push_back({r, r->num_computed_tokens, n, r->num_computed_tokens + n == r->num_tokens(), kv_.block_ids(*r)});
    budget -= n;
    ++i;
  }

  // Waiting requests, in service order, unless this step had to preempt (memory is short). A
  // stream whose running sibling is still computing the blocks it will share is passed over but
  // keeps its place: it holds nothing back, and comes first once the blocks are computed.
  for (size_t i = 0; out.preempted.empty() && i < waiting_.size() && budget > 0 &&
                     static_cast<int64_t>(running_.size()) < config_.max_num_seqs;) {
    Request* r = waiting_[i];
    const std::optional<PrefixHit> found = admission_hit(*r);
    if (!found) {
      ++i;
      continue;
    }
    const PrefixHit& hit = *found;
    const int64_t n = std::min(r->num_tokens() - hit.num_tokens, budget);
    if (!kv_.allocate_slots(*r, n, &hit)) break;  // it waits; nobody behind it overtakes it
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
    r->num_computed_tokens = hit.num_tokens;
    if (r->num_cached_prompt_tokens < 0)
      r->num_cached_prompt_tokens = hit.shared ? 0 : std::min(hit.num_tokens, r->num_prompt_tokens);
    insert_running(r);
    out.scheduled.push_back({r, hit.num_tokens, n, hit.num_tokens + n == r->num_tokens(), kv_.block_ids(*r)});
    budget -= n;
  }
  out.num_scheduled_tokens = config_.max_num_batched_tokens - budget;
  return out;
}

std::vector<Request*> Scheduler::update_from_output(const SchedulerOutput& output, const std::vector<int32_t>& sampled,
                                                    const std::vector<std::optional<FinishReason>>& finish) {
  std::vector<Request*> finished;
  for (size_t i = 0; i < output.scheduled.size(); ++i) {
    const ScheduledRequest& s = output.scheduled[i];
    Request* r = s.request;
    if (r->is_finished()) continue;  // ended between schedule() and now
    r->num_computed_tokens += s.num_new_tokens;
    kv_.cache_computed_blocks(*r);
    if (!s.samples) continue;
    r->token_ids.push_back(sampled[i]);
    if (i < finish.size() && finish[i]) {
      r->finish_reason = finish[i];
    } else if (r->num_tokens() >= r->max_model_len) {
      r->finish_reason = FinishReason::kLength;
    } else {
      continue;
    }
    finished.push_back(r);
  }
  for (Request* r : finished) {
    remove_running(r);
    kv_.free(*r);
    r->status = RequestStatus::kFinished;
  }
  return finished;
}

Status Scheduler::check_invariants() const {
  std::ostringstream err;
  if (static_cast<int64_t>(running_.size()) > config_.max_num_seqs) {
    err << running_.size() << " running requests exceed max_num_seqs " << config_.max_num_seqs;
    return internal_error(err.str());
  }
  if (!std::is_sorted(running_.begin(), running_.end(), by_service) ||
      !std::is_sorted(waiting_.begin(), waiting_.end(), by_service))
    return internal_error("a queue is out of service order");
  for (const Request* r : running_) {
    if (r->status != RequestStatus::kRunning || r->num_computed_tokens >= r->num_tokens()) {
      err << "running request " << r->id << " has status " << static_cast<int>(r->status) << " and "
          << r->num_computed_tokens << " of " << r->num_tokens() << " tokens computed";
      return internal_error(err.str());
    }
    const int64_t covered = static_cast<int64_t>(kv_.block_ids(*r).size()) * kv_.block_size();
    if (covered < r->num_computed_tokens) {
      err << "running request " << r->id << " has " << r->num_computed_tokens << " computed tokens in "
          << covered << " slots";
      return internal_error(err.str());
    }
  }
  for (const Request* r : waiting_)
    if (r->status != RequestStatus::kWaiting || r->num_computed_tokens != 0 || !kv_.block_ids(*r).empty()) {
      err << "waiting request " << r->id << " holds blocks or computed tokens";
      return internal_error(err.str());
    }
  if (kv_.num_requests() != static_cast<int64_t>(running_.size())) {
    err << kv_.num_requests() << " requests hold blocks but " << running_.size() << " are running";
    return internal_error(err.str());
  }
  return kv_.check_invariants();
}

}  // namespace tessera::engine
