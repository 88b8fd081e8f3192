// src/engine/sampler.cpp — request parameters to kernel rows (kernels/sampling/params.h), and one
// batch on the CPU twin or handed to a device (see sampler.h).
#include "src/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "kernels/cpu/sampling.h"
#include "kernels/sampling/sampling_math.h"


namespace tessera::engine {
namespace {

template <typename T>
Status out_of_range(const char* field, const char* expected, const T& got) {
  std::ostringstream s;
  s << field << ": must be " << expected << ", got " << got;
  return invalid_argument(s.str());
}

bool in_vocab(int32_t t, int64_t vocab) { return t >= 0 && (vocab <= 0 || t < vocab); }

}  // namespace

Status SamplingParams::validate(int64_t vocab_size) const {
  if (n < 1) return out_of_range("n", ">= 1", n);
  if (!(std::isfinite(temperature) && temperature >= 0.0f)) return out_of_range("temperature", "a finite number >= 0", temperature);
  if (!(top_p > 0.0f && top_p <= 1.0f)) return out_of_range("top_p", "in (0, 1]", top_p);
  if (top_k < -1) return out_of_range("top_k", "-1 or 0 (off) or >= 1", top_k);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return out_of_range("min_p", "in [0, 1]", min_p);
  if (!(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f))
    return out_of_range("repetition_penalty", "a finite number > 0", repetition_penalty);
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    return out_of_range("presence_penalty", "in [-2, 2]", presence_penalty);
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    return out_of_range("frequency_penalty", "in [-2, 2]", frequency_penalty);
  if (max_tokens && *max_tokens < 1) return out_of_range("max_tokens", ">= 1", *max_tokens);
  if (min_tokens < 0) return out_of_range("min_tokens", ">= 0", min_tokens);
  if (max_tokens && min_tokens > *max_tokens) {
    std::ostringstream s;
    s << "min_tokens: must be <= max_tokens (" << *max_tokens << "), got " << min_tokens;
    return invalid_argument(s.str());
  }
  for (int32_t t : stop_token_ids) {
    if (!in_vocab(t, vocab_size)) {
      std::ostringstream s;
      s << "stop_token_ids: must be token ids in [0, " << vocab_size << "), got " << t;
      return invalid_argument(s.str());
    }
  }
  for (const std::string& s : stop) {
    if (s.empty()) return invalid_argument("stop: must not contain an empty string");
  }
  if (logprobs && (*logprobs < 0 || *logprobs > kernels::kMaxTopLogprobs)) {
    std::ostringstream s;
    s << "logprobs: must be in [0, " << kernels::kMaxTopLogprobs << "], got " << *logprobs;
    return invalid_argument(s.str());
  }
  return Status::ok();
}

// ---- SequenceSamplingState --------------------------------------------------------------------

SequenceSamplingState::SequenceSamplingState(const SamplingParams& params, uint64_t seed,
                                             std::span<const int32_t> prompt, std::span<const int32_t> output)
    : seed_(seed), tracked_(params.has_penalties()) {
  if (tracked_) {
    for (int32_t t : prompt) {
      if (index_.emplace(t, tokens_.size()).second) {
        tokens_.push_back(t);
        counts_.push_back(0);
      }
    }
  }
  for (int32_t t : output) append(t);
}

void SequenceSamplingState::append(int32_t token) {
  ++num_output_;
  if (!tracked_) return;
  auto [it, inserted] = index_.emplace(token, tokens_.size());
  if (inserted) {
    tokens_.push_back(token);
    counts_.push_back(1);
  } else {
    ++counts_[it->second];
  }
}

// ---- Sampler ----------------------------------------------------------------------------------

// The kernel's view of one batch, in host memory, and room for its outputs.
struct Sampler::HostBatch {
  std::vector<kernels::SamplingRowParams> rows;
  std::vector<int32_t> pen_off{0}, pen_tok, pen_cnt, ban_off{0}, ban_tok;
  std::vector<int32_t> logits_rows;  // empty: row r reads logits row r
  int32_t top_stride = 0;
  std::vector<int32_t> tokens, ranks, top_ids;
  std::vector<float> logprobs, top_lp;

  bool has_lists() const { return !pen_tok.empty() || !ban_tok.empty(); }
  void size_outputs() {
    const size_t n = rows.size();
    tokens.assign(n, -1);
    ranks.assign(n, 0);
    logprobs.assign(n, 0.0f);
    top_ids.assign(n * static_cast<size_t>(top_stride), -1);
    top_lp.assign(n * static_cast<size_t>(top_stride), 0.0f);
  }
};

Sampler::Sampler(int64_t vocab_size, std::vector<int32_t> eos_token_ids, std::optional<uint64_t> engine_seed)
    : vocab_(vocab_size), eos_(std::move(eos_token_ids)),
      seed_source_(engine_seed ? *engine_seed : (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()) {}

Sampler::~Sampler() = default;

uint64_t Sampler::request_seed(const SamplingParams& params) { return params.seed ? *params.seed : seed_source_(); }

uint64_t Sampler::stream_seed(uint64_t request_seed, int32_t index) {
  if (index == 0) return request_seed;
  return kernels::splitmix64(request_seed + static_cast<uint64_t>(index) * 0x9e3779b97f4a7c15ull);
}

Status Sampler::build(std::span<const SampleRow> rows, std::span<const int32_t> logits_rows, int64_t logits_num_rows,
                      HostBatch& hb) const {
  if (!logits_rows.empty()) {
    std::ostringstream s;
    if (logits_rows.size() != rows.size()) {
      s << "sampler: " << logits_rows.size() << " logits rows given for " << rows.size() << " sample rows";
      return invalid_argument(s.str());
    }
    for (size_t r = 0; r < logits_rows.size(); ++r) {
      if (logits_rows[r] < 0 || logits_rows[r] >= logits_num_rows) {
        s << "sampler: row " << r << " reads logits row " << logits_rows[r] << ", outside the " << logits_num_rows
          << " rows given";
        return invalid_argument(s.str());
      }
    }
    hb.logits_rows.assign(logits_rows.begin(), logits_rows.end());
  }
  hb.rows.reserve(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const SamplingParams* p = rows[r].params;
    const SequenceSamplingState* st = rows[r].state;
    if (!p || !st) {
      std::ostringstream s;
      s << "sampler: row " << r << " has no " << (p ? "state" : "params");
      return internal_error(s.str());
    }
    kernels::SamplingRowParams k;
    k.temperature = p->is_greedy() ? 0.0f : p->temperature;
    k.top_k = p->top_k > 0 ? p->top_k : 0;
    k.top_p = p->top_p;
    k.min_p = p->min_p;
    k.repetition_penalty = p->repetition_penalty;
    k.presence_penalty = p->presence_penalty;
    k.frequency_penalty = p->frequency_penalty;
    k.num_logprobs = p->logprobs ? std::min(*p->logprobs, kernels::kMaxTopLogprobs) : -1;
    k.seed = st->seed();
    k.counter = static_cast<uint64_t>(st->num_output_tokens());
    hb.rows.push_back(k);
    hb.top_stride = std::max(hb.top_stride, k.num_logprobs);

    if (p->has_penalties()) {
      const auto& toks = st->penalty_tokens();
      const auto& counts = st->penalty_counts();
      for (size_t j = 0; j < toks.size(); ++j) {
        if (!in_vocab(toks[j], vocab_)) continue;  // the kernels would reject or skip it alike
        hb.pen_tok.push_back(toks[j]);
        hb.pen_cnt.push_back(counts[j]);
      }
    }
    hb.pen_off.push_back(static_cast<int32_t>(hb.pen_tok.size()));
    if (st->num_output_tokens() < p->min_tokens) {
      for (int32_t t : p->stop_token_ids) {
        if (in_vocab(t, vocab_)) hb.ban_tok.push_back(t);
      }
      if (!p->ignore_eos) {
        for (int32_t t : eos_) {
          if (in_vocab(t, vocab_)) hb.ban_tok.push_back(t);
        }
      }
    }
    hb.ban_off.push_back(static_cast<int32_t>(hb.ban_tok.size()));
  }
  if (hb.pen_tok.size() > 0x7fffffffu || hb.ban_tok.size() > 0x7fffffffu)
    return invalid_argument("sampler: penalty lists of this batch exceed 2^31 entries");
  hb.size_outputs();
  return Status::ok();
}

std::vector<SampleOutput> Sampler::outputs(std::span<const SampleRow> rows, const HostBatch& hb) {
  std::vector<SampleOutput> out(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    out[r].token = hb.tokens[r];
    const int32_t n = hb.rows[r].num_logprobs;
    if (n < 0) continue;
    out[r].logprob = hb.logprobs[r];
    out[r].rank = hb.ranks[r];
    for (int32_t j = 0; j < n; ++j) {
      const size_t k = r * static_cast<size_t>(hb.top_stride) + static_cast<size_t>(j);
      if (hb.top_ids[k] < 0) break;
      out[r].top.push_back({hb.top_ids[k], hb.top_lp[k]});
    }
  }
  return out;
}

kernels::SamplingBatch Sampler::kernel_batch(HostBatch& hb, const float* logits, int64_t row_stride,
                                             int64_t logits_num_rows) const {
  kernels::SamplingBatch b;
  b.logits = logits;
  b.logits_row_stride = row_stride;
  b.num_rows = static_cast<int64_t>(hb.rows.size());
  b.vocab = vocab_;
  b.rows = hb.rows.data();
  if (!hb.logits_rows.empty()) {
    b.logits_rows = hb.logits_rows.data();
    b.logits_num_rows = logits_num_rows;
  }
  b.penalty_offsets = hb.pen_off.data();
  b.penalty_tokens = hb.pen_tok.data();
  b.penalty_counts = hb.pen_cnt.data();
  b.banned_offsets = hb.ban_off.data();
  b.banned_tokens = hb.ban_tok.data();
  b.out_tokens = hb.tokens.data();
  b.out_logprobs = hb.logprobs.data();
  b.out_ranks = hb.ranks.data();
  b.out_top_ids = hb.top_ids.data();
  b.out_top_logprobs = hb.top_lp.data();
  b.top_logprobs_stride = hb.top_stride;
  return b;
}

Expected<std::vector<SampleOutput>> Sampler::sample(const float* logits, int64_t row_stride,
                                                    std::span<const SampleRow> rows,
                                                    std::span<const int32_t> logits_rows, int64_t logits_num_rows) {
  if (rows.empty()) return std::vector<SampleOutput>{};
  if (!logits || row_stride < vocab_) return invalid_argument("sampler: logits must be [rows, >= vocab] fp32");
  HostBatch hb;
  TESSERA_RETURN_IF_ERROR(build(rows, logits_rows, logits_num_rows, hb));
  if (!kernels::cpu::sample(kernel_batch(hb, logits, row_stride, logits_num_rows)))
    return internal_error("sampler: the CPU sampler rejected the batch");
  return outputs(rows, hb);
}

Expected<std::vector<SampleOutput>> Sampler::sample_device(const float* logits, int64_t row_stride,
                                                           std::span<const SampleRow> rows, const DeviceKernel& run,
                                                           std::span<const int32_t> logits_rows,
                                                           int64_t logits_num_rows) {
  if (rows.empty()) return std::vector<SampleOutput>{};
  if (!logits || row_stride < vocab_) return invalid_argument("sampler: logits must be [rows, >= vocab] fp32");
  HostBatch hb;
  TESSERA_RETURN_IF_ERROR(build(rows, logits_rows, logits_num_rows, hb));
  TESSERA_RETURN_IF_ERROR(run(kernel_batch(hb, logits, row_stride, logits_num_rows)));
  return outputs(rows, hb);
}



}  // namespace tessera::engine
