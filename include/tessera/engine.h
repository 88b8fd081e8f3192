// tessera/engine.h — the inference engine's public API (docs/architecture.md, seam 4).
//
// One engine thread owns the model and its KV cache; any number of threads call submit() and
// cancel() and read the returned streams. Each step the scheduler batches every runnable request
// (prompt chunks and decode tokens together) within a token budget over a paged KV cache with
// prefix caching; when blocks run out a request is preempted and later recomputed, never dropped.
//
//   auto engine = Engine::create("/models/llama", {});          // loads config, weights, tokenizer
//   auto stream = (*engine)->submit({.prompt_token_ids = ids, .max_tokens = 64});
//   while (auto ev = (*stream)->next()) print(ev->text);         // deltas; the last has finish_reason
//
// A request with n > 1 yields n independent completions (sample streams): each event names its
// stream (`index`), each stream ends with its own finish_reason, and the request's last event is
// the one after which no stream is left. The streams compute the prompt once and share its K/V.
//
// Determinism: sampling draw n of a request depends only on (seed, n) and its own tokens, so a
// request's tokens do not depend on what else runs; with EngineOptions::batch_invariant the logits
// are bit-identical too, so a request's output equals that of running it alone, preemptions
// included.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/status.h"

namespace tessera {

class Tokenizer;
class ModelRunner;  // src/model/model_runner.h

// Sampling as OpenAI and vLLM name it; semantics in src/engine/sampler.h (penalties, then
// temperature, top-k, top-p, min-p).
struct SamplingOptions {
  float temperature = 1.0f;         // < 1e-5: greedy
  int32_t top_k = 0;                // 0 or -1: off
  float top_p = 1.0f;               // (0, 1]; 1: off
  float min_p = 0.0f;               // [0, 1]; 0: off
  float repetition_penalty = 1.0f;  // > 0; 1: off (prompt and output tokens)
  float presence_penalty = 0.0f;    // [-2, 2] (output tokens)
  float frequency_penalty = 0.0f;   // [-2, 2] (output tokens)
  std::optional<uint64_t> seed;     // draw n is f(seed, n); unset: a seed from the engine
};

// Most sample streams one request may ask for (OpenAI's limit on `n`).
constexpr int32_t kMaxSampleStreams = 128;

struct GenerationRequest {
  std::string request_id;  // empty: the engine names it "req-<n>"
  std::vector<int32_t> prompt_token_ids;
  // Independent completions of the prompt, in [1, kMaxSampleStreams]. Stream i samples with seed
  // engine::Sampler::stream_seed(seed, i) (stream 0 with the request's seed itself), so stream i
  // equals the same request with n = 1 and that seed.
  int32_t n = 1;
  int64_t max_tokens = 16;  // tokens to generate at most (>= 1)
  int64_t min_tokens = 0;   // EOS and stop tokens cannot end generation before this many
  SamplingOptions sampling;
  bool ignore_eos = false;              // keep going past the model's end-of-sequence tokens
  std::vector<int32_t> stop_token_ids;  // extra tokens that end generation (their text is dropped)
  std::vector<std::string> stop;        // stop strings (need a tokenizer); the match is not output
  int32_t priority = 0;                 // lower is served first; FCFS within a priority
  std::string cache_salt;               // prefixes are shared only between equal salts
  int32_t logprobs = -1;                // -1: none; 0: the sampled token's; k <= 20: also the top k
  bool detokenize = true;               // text deltas (when the model has a tokenizer)
};

enum class FinishReason { kStop, kLength, kCancelled, kError };
const char* finish_reason_name(FinishReason reason);  // "stop", "length", "cancelled", "error"

struct TokenLogprob {
  int32_t token_id = 0;
  float logprob = 0.0f;                        // log-softmax of the model's raw logits
  int32_t rank = 0;                            // 1 for the most likely token
  std::vector<std::pair<int32_t, float>> top;  // the top k (token, logprob), most likely first
};

struct Usage {
  int64_t prompt_tokens = 0;         // once per request, whatever n is
  int64_t completion_tokens = 0;     // over all sample streams
  int64_t cached_prompt_tokens = 0;  // prompt tokens taken from the prefix cache (by stream 0)
};

struct TokenEvent {
  std::string request_id;
  int32_t index = 0;                   // the sample stream, in [0, n)
  std::vector<int32_t> token_ids;      // tokens new in this event
  std::string text;                    // text they complete (the incremental detokenizer's delta)
  std::vector<TokenLogprob> logprobs;  // one per new token, when asked for
  std::optional<FinishReason> finish_reason;  // set on the last event of stream `index` only
  int32_t unfinished_streams = 0;      // streams of the request still going after this event
  std::string error;                   // why, with FinishReason::kError
  Usage usage;                         // totals so far
  std::chrono::steady_clock::time_point time;  // when the engine produced it (for latency stats)
  // The request's last event: its stream finished and no other is left.
  bool finished() const { return finish_reason.has_value() && unfinished_streams == 0; }
};

struct StreamState;  // shared by a stream and the engine

// The events of one request, in order. Thread-safe; one reader at a time.
class RequestStream {
 public:
  explicit RequestStream(std::shared_ptr<StreamState> state);
  const std::string& request_id() const;
  // Blocks until the next event; nullopt after the request's last one (see TokenEvent::finished).
  std::optional<TokenEvent> next();
  // Like next() but gives up after `timeout`; nullopt then too (check finished()).
  std::optional<TokenEvent> next_for(std::chrono::milliseconds timeout);
  // True once the last event has been read.
  bool finished() const;
  // Lets an event loop read without blocking in next(): `on_event` is called whenever an event
  // becomes readable — on the engine thread right after the event is queued, or from this call
  // when events are already waiting — and the reader then drains with next_for(0). It must only
  // schedule that read (e.g. post to the loop) and never block or call into the engine. Null
  // removes it; an event may still reach the old callback while this call runs.
  void set_on_event(std::function<void()> on_event);

 private:
  std::shared_ptr<StreamState> state_;
};

struct EngineOptions {
  int32_t block_size = 16;                 // tokens per KV block
  int64_t num_blocks = 0;                  // KV blocks; 0: as many as fit in kv_cache_bytes
  int64_t kv_cache_bytes = 512ll << 20;
  int32_t max_num_seqs = 64;               // running requests at most
  int64_t max_num_batched_tokens = 2048;   // token budget of one step
  int64_t max_model_len = 0;               // 0: the model's max_position_embeddings
  bool enable_prefix_caching = true;
  bool batch_invariant = false;            // bit-identical logits whatever the batch (slower; cpu only)
  std::string device = "cpu";              // "cpu", "cuda" or "cuda:N": where the model runs (bf16 on a GPU)
  double gpu_memory_fraction = 0.90;       // cuda with num_blocks 0: the KV cache takes what the weights
                                           // and activations leave of this share of the GPU's memory
  std::optional<uint64_t> seed;            // source of seeds for unseeded requests; unset: random
};

// A histogram over fixed bucket bounds (Prometheus style: counts[i] holds values <= bounds[i],
// the last count holds the rest).
struct Histogram {
  std::vector<double> bounds;
  std::vector<int64_t> counts;
  int64_t count = 0;
  double sum = 0.0;

  static Histogram latency_seconds();  // 1 ms .. 100 s
  static Histogram token_counts();     // 1 .. 16384
  void observe(double value);
  double mean() const { return count ? sum / static_cast<double>(count) : 0.0; }
  // Estimate of quantile q in [0, 1], interpolated within its bucket.
  double quantile(double q) const;
};

struct EngineMetrics {
  // Gauges.
  int64_t num_running = 0;
  int64_t num_waiting = 0;
  double kv_cache_usage = 0.0;  // fraction of KV blocks held by requests
  int64_t num_kv_blocks = 0;
  // Counters.
  int64_t num_steps = 0;
  int64_t num_preemptions = 0;
  int64_t prefix_cache_query_tokens = 0;  // tokens looked up when requests were admitted
  int64_t prefix_cache_hit_tokens = 0;    // of those, found in the cache
  int64_t shared_prompt_tokens = 0;       // prompt tokens a sample stream took from a sibling (n > 1)
  int64_t computed_tokens = 0;            // tokens run through the model (prompt, recompute, decode)
  int64_t generated_tokens = 0;
  int64_t requests_finished[4] = {0, 0, 0, 0};  // sample streams finished, by FinishReason
  // Distributions.
  Histogram time_to_first_token_s = Histogram::latency_seconds();
  Histogram inter_token_latency_s = Histogram::latency_seconds();
  Histogram e2e_latency_s = Histogram::latency_seconds();
  Histogram queue_time_s = Histogram::latency_seconds();
  Histogram step_tokens = Histogram::token_counts();  // tokens scheduled per step
};

struct EngineInfo {
  int64_t max_model_len = 0;
  int64_t vocab_size = 0;
  int64_t num_kv_blocks = 0;
  int32_t block_size = 0;
  int32_t max_num_seqs = 0;
  int64_t max_num_batched_tokens = 0;
};

class Engine {
 public:
  // Loads DIR (config.json, safetensors, tokenizer.json when present) on the CPU backend and
  // starts the engine thread.
  static Expected<std::unique_ptr<Engine>> create(const std::string& model_dir, const EngineOptions& options);
  // Same over a given model runner (tests, other backends); tokenizer may be null (no text).
  static Expected<std::unique_ptr<Engine>> create(std::unique_ptr<ModelRunner> runner,
                                                  std::shared_ptr<const Tokenizer> tokenizer,
                                                  const EngineOptions& options);
  ~Engine();  // stops the thread; unfinished streams end with FinishReason::kCancelled
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates (an error names the field) and queues the request.
  Expected<std::shared_ptr<RequestStream>> submit(GenerationRequest request);
  // Ends a request, every sample stream of it: its blocks are freed before the next step and each
  // unfinished stream ends with FinishReason::kCancelled. False when no such request is live.
  bool cancel(const std::string& request_id);
  EngineMetrics metrics() const;
  const EngineInfo& info() const;

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera
