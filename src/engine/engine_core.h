// src/engine/engine_core.h — the engine's step loop, single-threaded and synchronous: requests in,
// schedule → run → sample → update, token events out. Engine (engine.cpp) puts a thread and
// per-request streams around it; tests drive it directly, step by step.
//
// It owns every live request (the scheduler holds pointers to its sample streams) with, per
// stream, its sampling state, stop checker and incremental detokenizer, and the metrics. Sampling (sampler.h) and stop
// decisions (stop_strings.h) happen here, between the runner and Scheduler::update_from_output.
// Invariants: a request is live from add_request until the event that ends its last stream; each
// stream's finish_reason is produced exactly once (finish, cancel, or a runner error); sampling draw n of a request
// depends only on its seed, n and its own tokens, so it is the same in any batch.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/engine/model_runner.h"
#include "src/engine/sampler.h"
#include "src/engine/scheduler.h"
#include "src/engine/stop_strings.h"
#include "src/tokenizer/tokenizer.h"
#include "tessera/engine.h"

namespace tessera::engine {

// What one step did (for tests and logs).
struct StepStats {
  int64_t num_scheduled_tokens = 0;
  int64_t num_seqs = 0;
  int64_t num_sampled = 0;
  int64_t num_preempted = 0;
};

// The sampler's view of a request: sampling options, stop conditions, max_tokens, logprobs.
SamplingParams sampling_params_of(const GenerationRequest& request);

class EngineCore {
 public:
  // The runner fixes the KV geometry (options.block_size / num_blocks are not read here).
  static Expected<std::unique_ptr<EngineCore>> create(std::unique_ptr<ModelRunner> runner,
                                                      std::shared_ptr<const Tokenizer> tokenizer,
                                                      const EngineOptions& options);

  // The options' own consistency (limits, budget vs running cap); an error names the field.
  static Status validate_options(const EngineOptions& options);
  // The longest sequence (prompt + generated tokens) a cache of that many blocks holds; the
  // engine's max_model_len never exceeds it (an explicit larger one is refused by create()).
  static int64_t longest_sequence_in_cache(int64_t num_blocks, int64_t block_size);
  const EngineInfo& info() const { return info_; }
  // Checks a request against the model, the context and the KV cache; the error names the field.
  Status validate(const GenerationRequest& request) const;
  // Validates and queues. request_id must be set and not live.
  Status add_request(const GenerationRequest& request);
  // Ends a live request now, every unfinished sample stream of it (their blocks are freed), and
  // returns their last events (kCancelled), the request's last one last. Empty when not live.
  std::vector<TokenEvent> abort_request(const std::string& request_id);
  // Ends every live request with `reason` (shutdown); returns their last events.
  std::vector<TokenEvent> abort_all(FinishReason reason, const std::string& error = "");
  // One step. Returns an event for each request that got a token or finished.
  std::vector<TokenEvent> step();

  bool has_unfinished() const { return scheduler_.has_unfinished(); }
  bool is_live(const std::string& request_id) const { return requests_.count(request_id) != 0; }
  const EngineMetrics& metrics() const { return metrics_; }
  const StepStats& last_step() const { return last_step_; }
  const Scheduler& scheduler() const { return scheduler_; }

 private:
  using Clock = std::chrono::steady_clock;
  // One sample stream: what the scheduler sees, and its own sampling, stop and text state.
  struct Stream {
    Request request;
    std::optional<SequenceSamplingState> sampling;  // kept across preemption
    std::optional<StopChecker> stop;
    std::optional<StreamDecoder> decoder;  // when text is streamed or stop strings are watched
    Clock::time_point last_token;
  };
  // One user request: n streams (never resized, so their Requests stay put for the scheduler).
  struct Live {
    std::string id;
    SamplingParams params;
    std::vector<std::unique_ptr<Stream>> streams;
    int32_t num_unfinished = 0;
    int64_t completion_tokens = 0;  // over all streams
    bool emit_text = false;
    Clock::time_point arrival;
    bool scheduled = false;
  };

  EngineCore(std::unique_ptr<ModelRunner> runner, std::shared_ptr<const Tokenizer> tokenizer,
             const EngineOptions& options);
  Usage usage_of(const Live& live) const;
  // The last event of `stream` (already out of the scheduler); counts it in the metrics.
  TokenEvent final_event(Live& live, Stream& stream, FinishReason reason, const std::string& error);
  // Ends every unfinished stream of `live` with `reason` and forgets the request.
  std::vector<TokenEvent> end_request(Live& live, FinishReason reason, const std::string& error);
  // Ends every request of a step that cannot complete (runner or sampler failure).
  std::vector<TokenEvent> fail_step(const std::vector<Live*>& lives, const Status& error);

  // The stages of step(). Per row of the scheduler output: its request and sample stream, and the
  // rows that sample (indices into out.scheduled, which are the logits' rows).
  struct StepRows {
    std::vector<Live*> lives;
    std::vector<Stream*> streams;
    std::vector<int32_t> sample_rows;
    std::vector<SampleRow> rows;  // the sampler's view of each sample row
  };
  // Per row: the sampled token (-1: none), whether its stream stops, and the text to emit.
  struct StepTokens {
    std::vector<int32_t> sampled;
    std::vector<std::optional<FinishReason>> finish;
    std::vector<std::string> texts;
  };
  StepRows map_rows(const SchedulerOutput& out);
  // Runs the model and samples the sample rows: on the runner's device when it keeps its logits
  // there (the runner also waits for a step that samples nothing), else on the host.
  Expected<std::vector<SampleOutput>> run_model(const SchedulerOutput& out, const StepRows& rows);
  StepTokens decide_stops(const StepRows& rows, const std::vector<SampleOutput>& drawn);
  std::vector<TokenEvent> emit_events(const StepRows& rows, const std::vector<SampleOutput>& drawn,
                                      StepTokens& tokens);
  void forget_finished(const std::vector<Request*>& finished);
  void count_step(const SchedulerOutput& out);
  void refresh_gauges();

  std::unique_ptr<ModelRunner> runner_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  EngineInfo info_;
  std::vector<int32_t> eos_token_ids_;
  Sampler sampler_;
  KvCacheManager kv_;
  Scheduler scheduler_;
  std::unordered_map<std::string, std::unique_ptr<Live>> requests_;
  uint64_t next_arrival_ = 0;
  std::vector<float> logits_;          // [scheduled, vocab] from a host runner
  EngineMetrics metrics_;
  StepStats last_step_;
};

}  // namespace tessera::engine
