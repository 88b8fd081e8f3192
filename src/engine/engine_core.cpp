// src/engine/engine_core.cpp — validation, the step (schedule → run → sample → update), token
// events and metrics (engine_core.h).
#include "src/engine/engine_core.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "kernels/cpu/sampling.h"

namespace tessera::engine {
namespace {

constexpr int32_t kMaxLogprobs = 20;

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

// log-softmax of one logits row at `token`, and the top k entries.
TokenLogprob logprobs_of(const float* row, int64_t vocab, int32_t token, int32_t top_k) {
  const float max_l = *std::max_element(row, row + vocab);
  double total = 0.0;
  for (int64_t i = 0; i < vocab; ++i) total += std::exp(static_cast<double>(row[i]) - max_l);
  const double log_z = max_l + std::log(total);
  TokenLogprob lp;
  lp.token_id = token;
  lp.logprob = static_cast<float>(row[token] - log_z);
  if (top_k > 0) {
    std::vector<int32_t> idx(static_cast<size_t>(vocab));
    std::iota(idx.begin(), idx.end(), 0);
    const size_t k = std::min<size_t>(static_cast<size_t>(top_k), idx.size());
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                      [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    for (size_t i = 0; i < k; ++i) lp.top.emplace_back(idx[i], static_cast<float>(row[idx[i]] - log_z));
  }
  return lp;
}

std::string field_error(const char* field, const std::string& what) {
  std::ostringstream s;
  s << field << ": " << what;
  return s.str();
}

}  // namespace

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
  return std::unique_ptr<EngineCore>(new EngineCore(std::move(runner), std::move(tokenizer), options));
}

EngineCore::EngineCore(std::unique_ptr<ModelRunner> runner, std::shared_ptr<const Tokenizer> tokenizer,
                       const EngineOptions& options)
    : runner_(std::move(runner)),
      tokenizer_(std::move(tokenizer)),
      kv_(runner_->num_blocks(), runner_->block_size(), options.enable_prefix_caching),
      scheduler_({options.max_num_seqs, options.max_num_batched_tokens}, kv_) {
  const ModelConfig& c = runner_->config();
  info_.vocab_size = c.vocab_size;
  info_.max_model_len = options.max_model_len > 0 ? std::min(options.max_model_len, c.max_position_embeddings)
                                                  : c.max_position_embeddings;
  info_.num_kv_blocks = runner_->num_blocks();
  info_.block_size = runner_->block_size();
  info_.max_num_seqs = options.max_num_seqs;
  info_.max_num_batched_tokens = options.max_num_batched_tokens;
  for (int64_t id : c.eos_token_ids) eos_token_ids_.push_back(static_cast<int32_t>(id));
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
  if (q.max_tokens < 1) {
    s << "max_tokens: must be at least 1, got " << q.max_tokens;
    return invalid_argument(s.str());
  }
  if (prompt_len > info_.max_model_len || q.max_tokens > info_.max_model_len - prompt_len) {
    s << "prompt_token_ids + max_tokens: " << prompt_len << " + " << q.max_tokens
      << " tokens exceed the model's context (max_model_len " << info_.max_model_len << ")";
    return invalid_argument(s.str());
  }
  // The last token is sampled, never stored: a request holds at most prompt + max_tokens - 1.
  const int64_t capacity = info_.num_kv_blocks * info_.block_size;
  if (prompt_len + q.max_tokens - 1 > capacity) {
    s << "prompt_token_ids + max_tokens: " << prompt_len << " + " << q.max_tokens
      << " tokens do not fit in the KV cache (" << info_.num_kv_blocks << " blocks of " << info_.block_size
      << " = " << capacity << " tokens)";
    return invalid_argument(s.str());
  }
  const SamplingOptions& sp = q.sampling;
  if (!std::isfinite(sp.temperature) || sp.temperature < 0.0f)
    return invalid_argument(field_error("sampling.temperature", "must be a finite number >= 0"));
  if (sp.top_k < 0) return invalid_argument(field_error("sampling.top_k", "must be >= 0 (0 turns it off)"));
  if (!(sp.top_p > 0.0f && sp.top_p <= 1.0f)) return invalid_argument(field_error("sampling.top_p", "must be in (0, 1]"));
  if (!(sp.min_p >= 0.0f && sp.min_p <= 1.0f)) return invalid_argument(field_error("sampling.min_p", "must be in [0, 1]"));
  if (q.logprobs < -1 || q.logprobs > kMaxLogprobs) {
    s << "logprobs: must be -1 (none) to " << kMaxLogprobs << ", got " << q.logprobs;
    return invalid_argument(s.str());
  }
  return Status::ok();
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
  Request& r = live->request;
  r.id = q.request_id;
  r.arrival_index = next_arrival_++;
  r.priority = q.priority;
  r.token_ids = q.prompt_token_ids;
  r.num_prompt_tokens = static_cast<int64_t>(q.prompt_token_ids.size());
  r.max_tokens = q.max_tokens;
  r.max_model_len = info_.max_model_len;
  r.sampling = {q.sampling.temperature, q.sampling.top_k, q.sampling.top_p, q.sampling.min_p};
  r.seed = q.sampling.seed;
  r.eos_token_ids = eos_token_ids_;
  r.ignore_eos = q.ignore_eos;
  r.stop_token_ids = q.stop_token_ids;
  r.cache_salt_hash = hash_cache_salt(q.cache_salt);
  live->logprobs = q.logprobs;
  if (q.detokenize && tokenizer_) live->decoder.emplace(*tokenizer_, /*skip_special_tokens=*/true);
  live->arrival = live->last_token = Clock::now();
  scheduler_.add_request(&r);
  requests_.emplace(q.request_id, std::move(live));
  refresh_gauges();
  return Status::ok();
}

TokenEvent EngineCore::final_event(Live& live, FinishReason reason, const std::string& error) {
  const Request& r = live.request;
  TokenEvent ev;
  ev.request_id = r.id;
  ev.finish_reason = reason;
  ev.error = error;
  if (live.decoder) ev.text = live.decoder->flush();
  ev.usage = {r.num_prompt_tokens, r.num_output_tokens(), std::max<int64_t>(0, r.num_cached_prompt_tokens)};
  ev.time = Clock::now();
  ++metrics_.requests_finished[static_cast<int>(reason)];
  metrics_.e2e_latency_s.observe(seconds(ev.time - live.arrival));
  return ev;
}

std::optional<TokenEvent> EngineCore::abort_request(const std::string& request_id) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return std::nullopt;
  scheduler_.finish_request(&it->second->request, FinishReason::kCancelled);
  TokenEvent ev = final_event(*it->second, FinishReason::kCancelled, "");
  requests_.erase(it);
  refresh_gauges();
  return ev;
}

std::vector<TokenEvent> EngineCore::abort_all(FinishReason reason, const std::string& error) {
  std::vector<TokenEvent> events;
  for (auto& [id, live] : requests_) {
    scheduler_.finish_request(&live->request, reason);
    events.push_back(final_event(*live, reason, error));
  }
  requests_.clear();
  refresh_gauges();
  return events;
}

std::vector<TokenEvent> EngineCore::step() {
  std::vector<TokenEvent> events;
  SchedulerOutput out = scheduler_.schedule();
  last_step_ = {out.num_scheduled_tokens, static_cast<int64_t>(out.scheduled.size()), 0,
                static_cast<int64_t>(out.preempted.size())};
  if (out.empty()) {
    refresh_gauges();
    return events;
  }
  const Clock::time_point start = Clock::now();
  std::vector<Live*> lives;
  for (const ScheduledRequest& s : out.scheduled) {
    Live* live = requests_.at(s.request->id).get();
    if (!live->scheduled) {
      live->scheduled = true;
      metrics_.queue_time_s.observe(seconds(start - live->arrival));
    }
    lives.push_back(live);
  }

  const ForwardBatch batch = build_forward_batch(out, runner_->block_size());
  Status st = runner_->execute(batch, logits_);
  const int64_t vocab = info_.vocab_size;
  if (st.is_ok() && logits_.size() != out.scheduled.size() * static_cast<size_t>(vocab))
    st = internal_error("model runner returned logits of the wrong size");
  if (!st.is_ok()) {
    // Nothing of this step is kept: the requests in it end with the error, their blocks are freed
    // (none of this step's blocks reached the prefix cache).
    for (Live* live : lives) {
      scheduler_.finish_request(&live->request, FinishReason::kError);
      events.push_back(final_event(*live, FinishReason::kError, st.message()));
      requests_.erase(live->request.id);
    }
    refresh_gauges();
    return events;
  }

  std::vector<int32_t> sampled(out.scheduled.size(), -1);
  std::vector<std::optional<TokenLogprob>> logprobs(out.scheduled.size());
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    if (!out.scheduled[i].samples) continue;
    const Request& r = *out.scheduled[i].request;
    const float* row = logits_.data() + i * static_cast<size_t>(vocab);
    const double u = kernels::cpu::uniform_from(r.seed, static_cast<uint64_t>(r.num_output_tokens()));
    sampled[i] = kernels::cpu::sample_token(row, vocab, r.sampling, u);
    if (lives[i]->logprobs >= 0) logprobs[i] = logprobs_of(row, vocab, sampled[i], lives[i]->logprobs);
    ++last_step_.num_sampled;
  }
  const std::vector<Request*> finished = scheduler_.update_from_output(out, sampled);

  const Clock::time_point now = Clock::now();
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    if (!out.scheduled[i].samples) continue;
    Live& live = *lives[i];
    const Request& r = live.request;
    (r.num_output_tokens() == 1 ? metrics_.time_to_first_token_s : metrics_.inter_token_latency_s)
        .observe(seconds(now - (r.num_output_tokens() == 1 ? live.arrival : live.last_token)));
    live.last_token = now;
    std::string text = live.decoder ? live.decoder->step(sampled[i]) : std::string();
    TokenEvent ev;
    if (r.is_finished()) {
      ev = final_event(live, *r.finish_reason, "");  // flushes the decoder after this token
      text.append(ev.text);
    } else {
      ev.request_id = r.id;
      ev.usage = {r.num_prompt_tokens, r.num_output_tokens(), std::max<int64_t>(0, r.num_cached_prompt_tokens)};
    }
    ev.text = std::move(text);
    ev.time = now;
    ev.token_ids.push_back(sampled[i]);
    if (logprobs[i]) ev.logprobs.push_back(std::move(*logprobs[i]));
    events.push_back(std::move(ev));
  }
  for (Request* r : finished) requests_.erase(r->id);

  ++metrics_.num_steps;
  metrics_.computed_tokens += out.num_scheduled_tokens;
  metrics_.generated_tokens += last_step_.num_sampled;
  metrics_.step_tokens.observe(static_cast<double>(out.num_scheduled_tokens));
  refresh_gauges();
  return events;
}

void EngineCore::refresh_gauges() {
  metrics_.num_running = scheduler_.num_running();
  metrics_.num_waiting = scheduler_.num_waiting();
  metrics_.kv_cache_usage = kv_.usage();
  metrics_.num_preemptions = scheduler_.num_preemptions();
  metrics_.prefix_cache_query_tokens = kv_.prefix_query_tokens();
  metrics_.prefix_cache_hit_tokens = kv_.prefix_hit_tokens();
}

}  // namespace tessera::engine
