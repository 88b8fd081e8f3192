// src/engine/engine_core.cpp — validation, the step (schedule → run → sample → stop → update),
// token events and metrics (engine_core.h).
#include "src/engine/engine_core.h"

#include <algorithm>
#include <sstream>

#include "src/core/logging.h"

namespace tessera::engine {
namespace {

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::vector<int32_t> eos_ids(const ModelConfig& c) {
  std::vector<int32_t> ids;
  for (int64_t id : c.eos_token_ids) ids.push_back(static_cast<int32_t>(id));
  return ids;
}

}  // namespace

SamplingParams sampling_params_of(const GenerationRequest& q) {
  SamplingParams p;
  p.n = q.n;
  p.temperature = q.sampling.temperature;
  p.top_k = q.sampling.top_k;
  p.top_p = q.sampling.top_p;
  p.min_p = q.sampling.min_p;
  p.repetition_penalty = q.sampling.repetition_penalty;
  p.presence_penalty = q.sampling.presence_penalty;
  p.frequency_penalty = q.sampling.frequency_penalty;
  p.seed = q.sampling.seed;
  p.max_tokens = q.max_tokens;
  p.min_tokens = q.min_tokens;
  p.stop_token_ids = q.stop_token_ids;
  p.stop = q.stop;
  p.ignore_eos = q.ignore_eos;
  if (q.logprobs >= 0) p.logprobs = q.logprobs;
  return p;
}

int64_t EngineCore::longest_sequence_in_cache(int64_t num_blocks, int64_t block_size) {
  // A sequence's last token is sampled, never stored: N slots hold a sequence of N + 1 tokens.
  return num_blocks * block_size + 1;
}

Status EngineCore::validate_options(const EngineOptions& options) {
  if (options.block_size < 1) return invalid_argument("block_size: must be at least 1");
  if (options.max_num_seqs < 1) return invalid_argument("max_num_seqs: must be at least 1");
  if (options.max_num_batched_tokens < options.max_num_seqs) {
    std::ostringstream s;
    s << "max_num_batched_tokens: " << options.max_num_batched_tokens << " is less than max_num_seqs "
      << options.max_num_seqs << " (each running request needs a token of the budget every step)";
    return invalid_argument(s.str());
  }
  if (options.max_model_len < 0) return invalid_argument("max_model_len: must not be negative");
  return Status::ok();
}

Expected<std::unique_ptr<EngineCore>> EngineCore::create(std::unique_ptr<ModelRunner> runner,
                                                         std::shared_ptr<const Tokenizer> tokenizer,
                                                         const EngineOptions& options) {
  if (!runner) return invalid_argument("engine: no model runner");
  TESSERA_RETURN_IF_ERROR(validate_options(options));
  if (runner->num_blocks() < 1 || runner->block_size() < 1)
    return invalid_argument("KV cache: needs at least one block of at least one token");
  // A context the cache cannot hold would fail every request that uses it, so an explicit one is
  // refused here, as vLLM refuses it at start-up (the default is clamped: see the constructor).
  const int64_t context = std::min(options.max_model_len, runner->config().max_position_embeddings);
  const int64_t longest = longest_sequence_in_cache(runner->num_blocks(), runner->block_size());
  if (options.max_model_len > 0 && context > longest) {
    std::ostringstream s;
    s << "max_model_len: " << context << " tokens do not fit in the KV cache (" << runner->num_blocks()
      << " blocks of " << runner->block_size() << " tokens hold a sequence of at most " << longest
      << "); lower --max-model-len or give the cache more room (--num-kv-blocks, --kv-cache-bytes)";
    return invalid_argument(s.str());
  }
  return std::unique_ptr<EngineCore>(new EngineCore(std::move(runner), std::move(tokenizer), options));
}

EngineCore::EngineCore(std::unique_ptr<ModelRunner> runner, std::shared_ptr<const Tokenizer> tokenizer,
                       const EngineOptions& options)
    : runner_(std::move(runner)),
      tokenizer_(std::move(tokenizer)),
      eos_token_ids_(eos_ids(runner_->config())),
      sampler_(runner_->config().vocab_size, eos_token_ids_, options.seed),
      kv_(runner_->num_blocks(), runner_->block_size(), options.enable_prefix_caching),
      scheduler_({options.max_num_seqs, options.max_num_batched_tokens}, kv_) {
  const ModelConfig& c = runner_->config();
  info_.vocab_size = c.vocab_size;
  info_.max_model_len = options.max_model_len > 0 ? std::min(options.max_model_len, c.max_position_embeddings)
                                                  : c.max_position_embeddings;
  const int64_t longest = longest_sequence_in_cache(runner_->num_blocks(), runner_->block_size());
  if (info_.max_model_len > longest) {
    // Only the model's default can get here (create refuses an explicit one): serve what fits, as
    // a request's default max_tokens (context - prompt) must fit too.
    LOG_WARN("max_model_len: the model's context of " << info_.max_model_len << " tokens does not fit in the KV cache ("
             << runner_->num_blocks() << " blocks of " << runner_->block_size() << " tokens); serving sequences of up to "
             << longest << " tokens (give the cache more room to serve longer ones)");
    info_.max_model_len = longest;
  }
  info_.num_kv_blocks = runner_->num_blocks();
  info_.block_size = runner_->block_size();
  info_.max_num_seqs = options.max_num_seqs;
  info_.max_num_batched_tokens = options.max_num_batched_tokens;
  metrics_.num_kv_blocks = info_.num_kv_blocks;
}

Status EngineCore::validate(const GenerationRequest& q) const {
  std::ostringstream s;
  const int64_t prompt_len = static_cast<int64_t>(q.prompt_token_ids.size());
  if (prompt_len == 0) return invalid_argument("prompt_token_ids: must not be empty");
  for (size_t i = 0; i < q.prompt_token_ids.size(); ++i) {
    const int32_t id = q.prompt_token_ids[i];
    if (id < 0 || id >= info_.vocab_size) {
      s << "prompt_token_ids[" << i << "]: token id " << id << " is outside the vocabulary [0, " << info_.vocab_size
        << ")";
      return invalid_argument(s.str());
    }
  }
  if (q.n < 1 || q.n > kMaxSampleStreams) {
    s << "n: must be in [1, " << kMaxSampleStreams << "] (completions of the prompt), got " << q.n;
    return invalid_argument(s.str());
  }
  if (q.max_tokens < 1) {
    s << "max_tokens: must be at least 1, got " << q.max_tokens;
    return invalid_argument(s.str());
  }
  if (prompt_len > info_.max_model_len || q.max_tokens > info_.max_model_len - prompt_len) {
    s << "max_tokens: " << prompt_len << " prompt tokens + " << q.max_tokens
      << " tokens exceed the model's context (max_model_len " << info_.max_model_len << ")";
    return invalid_argument(s.str());
  }
  // The last token is sampled, never stored: a request holds at most prompt + max_tokens - 1.
  const int64_t capacity = info_.num_kv_blocks * info_.block_size;
  if (prompt_len + q.max_tokens - 1 > capacity) {
    s << "max_tokens: " << prompt_len << " prompt tokens + " << q.max_tokens
      << " tokens do not fit in the KV cache (" << info_.num_kv_blocks << " blocks of " << info_.block_size
      << " = " << capacity << " tokens)";
    return invalid_argument(s.str());
  }
  if (q.logprobs < -1) {
    s << "logprobs: must be -1 (none) or in [0, 20], got " << q.logprobs;
    return invalid_argument(s.str());
  }
  if (!q.stop.empty() && !tokenizer_) return invalid_argument("stop: stop strings need the model's tokenizer.json");
  return sampling_params_of(q).validate(info_.vocab_size);
}

Status EngineCore::add_request(const GenerationRequest& q) {
  if (q.request_id.empty()) return invalid_argument("request_id: must not be empty");
  if (requests_.count(q.request_id)) {
    std::ostringstream s;
    s << "request_id: '" << q.request_id << "' is already in use";
    return invalid_argument(s.str());
  }
  TESSERA_RETURN_IF_ERROR(validate(q));
  auto live = std::make_unique<Live>();
  live->id = q.request_id;
  live->params = sampling_params_of(q);
  live->emit_text = q.detokenize && tokenizer_;
  live->arrival = Clock::now();
  live->num_unfinished = q.n;
  const uint64_t seed = sampler_.request_seed(live->params);
  const uint64_t group = next_arrival_;
  for (int32_t i = 0; i < q.n; ++i) {
    auto stream = std::make_unique<Stream>();
    Request& r = stream->request;
    r.id = q.request_id;
    r.arrival_index = next_arrival_++;  // consecutive: the streams are served in index order
    r.priority = q.priority;
    r.group = group;
    r.stream_index = i;
    r.num_streams = q.n;
    r.token_ids = q.prompt_token_ids;
    r.num_prompt_tokens = static_cast<int64_t>(q.prompt_token_ids.size());
    r.max_model_len = info_.max_model_len;
    r.cache_salt_hash = hash_cache_salt(q.cache_salt);
    stream->sampling.emplace(live->params, Sampler::stream_seed(seed, i), q.prompt_token_ids);
    stream->stop.emplace(live->params, eos_token_ids_, q.max_tokens);
    if (live->emit_text || !q.stop.empty()) stream->decoder.emplace(*tokenizer_, /*skip_special_tokens=*/true);
    stream->last_token = live->arrival;
    live->streams.push_back(std::move(stream));
  }
  for (auto& stream : live->streams) scheduler_.add_request(&stream->request);
  requests_.emplace(q.request_id, std::move(live));
  refresh_gauges();
  return Status::ok();
}

Usage EngineCore::usage_of(const Live& live) const {
  const Request& first = live.streams.front()->request;
  return {first.num_prompt_tokens, live.completion_tokens, std::max<int64_t>(0, first.num_cached_prompt_tokens)};
}

TokenEvent EngineCore::final_event(Live& live, Stream& stream, FinishReason reason, const std::string& error) {
  --live.num_unfinished;
  TokenEvent ev;
  ev.request_id = live.id;
  ev.index = stream.request.stream_index;
  ev.finish_reason = reason;
  ev.unfinished_streams = live.num_unfinished;
  ev.error = error;
  ev.usage = usage_of(live);
  ev.time = Clock::now();
  ++metrics_.requests_finished[static_cast<int>(reason)];
  if (live.num_unfinished == 0) metrics_.e2e_latency_s.observe(seconds(ev.time - live.arrival));
  return ev;
}

std::vector<TokenEvent> EngineCore::end_request(Live& live, FinishReason reason, const std::string& error) {
  std::vector<TokenEvent> events;
  for (auto& stream : live.streams)
    if (scheduler_.finish_request(&stream->request, reason)) events.push_back(final_event(live, *stream, reason, error));
  const std::string id = live.id;  // `live` dies with the erase
  requests_.erase(id);
  return events;
}

std::vector<TokenEvent> EngineCore::abort_request(const std::string& request_id) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return {};
  std::vector<TokenEvent> events = end_request(*it->second, FinishReason::kCancelled, "");
  refresh_gauges();
  return events;
}

std::vector<TokenEvent> EngineCore::abort_all(FinishReason reason, const std::string& error) {
  std::vector<Live*> lives;
  for (auto& [id, live] : requests_) lives.push_back(live.get());
  std::vector<TokenEvent> events;
  for (Live* live : lives) {
    std::vector<TokenEvent> ended = end_request(*live, reason, error);
    events.insert(events.end(), std::make_move_iterator(ended.begin()), std::make_move_iterator(ended.end()));
  }
  refresh_gauges();
  return events;
}

std::vector<TokenEvent> EngineCore::fail_step(const std::vector<Live*>& lives, const Status& error) {
  // Nothing of this step is kept: its requests (every stream of them) end with the error and free
  // their blocks (none of this step's blocks reached the prefix cache, which is filled after a
  // step succeeds).
  std::vector<Live*> unique(lives);  // several streams of one request may be in the step
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  std::vector<TokenEvent> events;
  for (Live* live : unique) {
    std::vector<TokenEvent> ended = end_request(*live, FinishReason::kError, error.message());
    events.insert(events.end(), std::make_move_iterator(ended.begin()), std::make_move_iterator(ended.end()));
  }
  refresh_gauges();
  return events;
}

// One step, in its stages: schedule, map the scheduled rows to their requests, run the model and
// sample, decide stops (they need each token's text), hand the tokens to the scheduler, emit the
// events, forget what ended, count.
std::vector<TokenEvent> EngineCore::step() {
  SchedulerOutput out = scheduler_.schedule();
  last_step_ = {out.num_scheduled_tokens, static_cast<int64_t>(out.scheduled.size()), 0,
                static_cast<int64_t>(out.preempted.size())};
  if (out.empty()) {
    refresh_gauges();
    return {};
  }
  const StepRows rows = map_rows(out);
  Expected<std::vector<SampleOutput>> drawn = run_model(out, rows);
  if (!drawn) return fail_step(rows.lives, drawn.status());
  StepTokens tokens = decide_stops(rows, *drawn);
  const std::vector<Request*> finished = scheduler_.update_from_output(out, tokens.sampled, tokens.finish);
  last_step_.num_sampled = static_cast<int64_t>(rows.sample_rows.size());
  std::vector<TokenEvent> events = emit_events(rows, *drawn, tokens);
  forget_finished(finished);
  count_step(out);
  return events;
}

EngineCore::StepRows EngineCore::map_rows(const SchedulerOutput& out) {
  const Clock::time_point start = Clock::now();
  StepRows s;
  for (const ScheduledRequest& sr : out.scheduled) {
    Live* live = requests_.at(sr.request->id).get();
    if (!live->scheduled) {
      live->scheduled = true;
      metrics_.queue_time_s.observe(seconds(start - live->arrival));
    }
    s.lives.push_back(live);
    s.streams.push_back(live->streams[static_cast<size_t>(sr.request->stream_index)].get());
  }
  // The rows whose request reached its last token sample; the others (a prompt chunk short of the
  // prompt's end) only fill the cache.
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    if (!out.scheduled[i].samples) continue;
    s.sample_rows.push_back(static_cast<int32_t>(i));
    s.rows.push_back({&s.lives[i]->params, &*s.streams[i]->sampling});
  }
  return s;
}

Expected<std::vector<SampleOutput>> EngineCore::run_model(const SchedulerOutput& out, const StepRows& s) {
  // One row of logits per scheduled request. A device runner leaves them on the device and the
  // sampler runs there (only the tokens come back); else they come to the host.
  const ForwardBatch batch = build_forward_batch(out, runner_->block_size());
  const auto num_rows = static_cast<int64_t>(out.scheduled.size());
  if (runner_->has_device_logits()) {
    TESSERA_ASSIGN_OR_RETURN(const ModelRunner::DeviceLogits dl, runner_->execute_device(batch));
    if (dl.rows != num_rows) return internal_error("model runner returned logits of the wrong size");
    // A step that samples nothing still has to finish (or fail) here.
    if (s.rows.empty()) TESSERA_RETURN_IF_ERROR(runner_->wait_for_step());
    return sampler_.sample_device(
        dl.data, dl.row_stride, s.rows,
        [this](const kernels::SamplingBatch& host_batch) { return runner_->sample_device(host_batch); },
        s.sample_rows, dl.rows);
  }
  TESSERA_RETURN_IF_ERROR(runner_->execute(batch, logits_));
  if (logits_.size() != static_cast<size_t>(num_rows) * static_cast<size_t>(info_.vocab_size))
    return internal_error("model runner returned logits of the wrong size");
  return sampler_.sample(logits_.data(), info_.vocab_size, s.rows, s.sample_rows, num_rows);
}

EngineCore::StepTokens EngineCore::decide_stops(const StepRows& s, const std::vector<SampleOutput>& drawn) {
  const size_t n = s.lives.size();
  StepTokens t{std::vector<int32_t>(n, -1), std::vector<std::optional<FinishReason>>(n), std::vector<std::string>(n)};
  for (size_t k = 0; k < s.sample_rows.size(); ++k) {
    const auto i = static_cast<size_t>(s.sample_rows[k]);
    Stream& stream = *s.streams[i];
    const int32_t token = drawn[k].token;
    t.sampled[i] = token;
    stream.sampling->append(token);
    const std::string delta = stream.decoder ? stream.decoder->step(token) : std::string();
    StopDecision d = stream.stop->on_token(token, delta);
    if (d.finish == FinishReason::kLength && stream.decoder) d.text.append(stream.decoder->flush());
    t.finish[i] = d.finish;
    if (s.lives[i]->emit_text) t.texts[i] = std::move(d.text);
  }
  return t;
}

std::vector<TokenEvent> EngineCore::emit_events(const StepRows& s, const std::vector<SampleOutput>& drawn,
                                                StepTokens& t) {
  std::vector<TokenEvent> events;
  const Clock::time_point now = Clock::now();
  for (size_t k = 0; k < s.sample_rows.size(); ++k) {
    const auto i = static_cast<size_t>(s.sample_rows[k]);
    Live& live = *s.lives[i];
    Stream& stream = *s.streams[i];
    const Request& r = stream.request;
    // Time to first token and inter-token latency are per stream.
    const bool first = r.num_output_tokens() == 1;
    (first ? metrics_.time_to_first_token_s : metrics_.inter_token_latency_s)
        .observe(seconds(now - stream.last_token));
    stream.last_token = now;
    ++live.completion_tokens;
    TokenEvent ev;
    if (r.is_finished()) {
      ev = final_event(live, stream, *r.finish_reason, "");
    } else {
      ev.request_id = live.id;
      ev.index = r.stream_index;
      ev.unfinished_streams = live.num_unfinished;
      ev.usage = usage_of(live);
    }
    ev.time = now;
    ev.token_ids.push_back(t.sampled[i]);
    ev.text = std::move(t.texts[i]);
    if (live.params.logprobs) {
      const SampleOutput& o = drawn[k];
      TokenLogprob lp{o.token, o.logprob, o.rank, {}};
      for (const TopLogprob& top : o.top) lp.top.emplace_back(top.token, top.logprob);
      ev.logprobs.push_back(std::move(lp));
    }
    events.push_back(std::move(ev));
  }
  return events;
}

void EngineCore::forget_finished(const std::vector<Request*>& finished) {
  // A request is forgotten once its last stream ended (several may end in one step: the ids are
  // taken before any erase, which frees the streams `finished` points into).
  std::vector<std::string> done;
  for (Request* r : finished)
    if (requests_.at(r->id)->num_unfinished == 0 && std::find(done.begin(), done.end(), r->id) == done.end())
      done.push_back(r->id);
  for (const std::string& id : done) requests_.erase(id);
}

void EngineCore::count_step(const SchedulerOutput& out) {
  ++metrics_.num_steps;
  metrics_.computed_tokens += out.num_scheduled_tokens;
  metrics_.generated_tokens += last_step_.num_sampled;
  metrics_.step_tokens.observe(static_cast<double>(out.num_scheduled_tokens));
  refresh_gauges();
}

void EngineCore::refresh_gauges() {
  metrics_.num_running = scheduler_.num_running();
  metrics_.num_waiting = scheduler_.num_waiting();
  metrics_.kv_cache_usage = kv_.usage();
  metrics_.num_preemptions = scheduler_.num_preemptions();
  metrics_.prefix_cache_query_tokens = kv_.prefix_query_tokens();
  metrics_.prefix_cache_hit_tokens = kv_.prefix_hit_tokens();
  metrics_.shared_prompt_tokens = kv_.shared_prompt_tokens();
}

}  // namespace tessera::engine
