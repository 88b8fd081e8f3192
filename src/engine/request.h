// src/engine/request.h — one generation request as the scheduler and the KV cache manager see it.
//
// A request is a list of tokens (prompt, then what it generated) of which the first
// `num_computed_tokens` have their K/V in the cache. There is no prefill or decode state: a step
// computes some of the rest (a prompt chunk, or the one token sampled last step), and when the
// computed tokens reach the end a new token is sampled. Preemption (recompute) sets
// num_computed_tokens back to 0 and keeps every token, so the request resumes where it was.
//
// A user request with n > 1 becomes n Requests here, one per sample stream, with consecutive
// arrival indices and the same `group` (stream 0's arrival index). They share the prompt's full
// blocks by reference count (the scheduler's admission, scheduler.h); everything else about a
// stream is its own.
//
// Sampling and stop conditions live with the engine core (sampler.h, stop_strings.h); the scheduler
// sees only tokens. Invariants: 0 <= num_computed_tokens < num_tokens() while unfinished;
// block_hashes[i] is the chained hash of full block i of token_ids (one entry per full block, kept
// up to date by KvCacheManager); the tokens after the prompt are exactly those sampled, in order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessera/engine.h"

namespace tessera::engine {

enum class RequestStatus { kWaiting, kRunning, kFinished };

// Why a request ended (tessera/engine.h): kStop for an end-of-sequence or stop token, kLength for
// max_tokens or the context length, kCancelled for cancel(id), kError when the model runner failed
// on a batch holding it.
using tessera::FinishReason;

struct Request {
  std::string id;
  uint64_t arrival_index = 0;  // order of arrival: FCFS tie-break within one priority
  int32_t priority = 0;        // lower is served first (vLLM's convention)
  uint64_t group = 0;          // arrival_index of stream 0 of the same user request
  int32_t stream_index = 0;    // which of the request's sample streams this is
  int32_t num_streams = 1;     // n of the user request

  std::vector<int32_t> token_ids;  // prompt, then every sampled token
  int64_t num_prompt_tokens = 0;
  int64_t num_computed_tokens = 0;
  int64_t max_model_len = 0;  // a request never grows past it (the scheduler's own stop)

  uint64_t cache_salt_hash = 0;       // root of the block hash chain (per-tenant salt)
  std::vector<uint64_t> block_hashes;  // one per full block of token_ids

  RequestStatus status = RequestStatus::kWaiting;
  std::optional<FinishReason> finish_reason;
  int64_t num_cached_prompt_tokens = -1;  // prefix-cache hit when first scheduled (-1: not yet)
  int32_t num_preemptions = 0;

  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
  int64_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  bool is_finished() const { return status == RequestStatus::kFinished; }
};

// Serves a before b: lower priority value, then earlier arrival.
inline bool served_before(const Request& a, const Request& b) {
  if (a.priority != b.priority) return a.priority < b.priority;
  return a.arrival_index < b.arrival_index;
}

}  // namespace tessera::engine
