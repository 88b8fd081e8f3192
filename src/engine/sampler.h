// src/engine/sampler.h — the engine's sampler: request-level sampling parameters (as OpenAI and
// vLLM name them), the per-sequence state they need, and Sampler::sample over a batch of logit rows
// on the CPU twin or, given device logits, handed to the device that holds them (sample_device).
//
// Semantics (users compare with vLLM / transformers / OpenAI):
//   - penalties as vLLM applies them, before temperature: repetition_penalty (HF: divide a
//     positive logit, multiply a negative one) over prompt and output tokens; presence and
//     frequency penalties (OpenAI) over output tokens only;
//   - then temperature, top-k, top-p, min-p; temperature < 1e-5 (vLLM's epsilon) or top_k 1 is
//     greedy; while fewer than min_tokens are out, the stop tokens (and EOS unless ignore_eos)
//     cannot be drawn;
//   - logprobs are log-softmax of the raw logits (before penalties and temperature), vLLM's
//     default; the top n come best first with the sampled token's logprob and rank.
// Reproducibility: draw number c of a stream is f(stream seed, c), where c is how many tokens the
// stream has sampled. Nothing is drawn from a shared generator, so a seeded request gives the same
// tokens whatever else is in the batch, in any order, and after a preemption that recomputes it.
// Unseeded requests get a random seed from request_seed(). With n > 1, stream i of a request has
// seed stream_seed(request seed, i) (stream 0's is the request seed itself).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/sampling/params.h"
#include "tessera/status.h"


namespace tessera::engine {

// Below this temperature sampling is greedy (vLLM's _SAMPLING_EPS).
constexpr float kGreedyTemperature = 1e-5f;

struct SamplingParams {
  int32_t n = 1;  // independent sample streams of one prompt
  float temperature = 1.0f;
  float top_p = 1.0f;  // (0, 1]; 1: off
  int32_t top_k = 0;   // 0 or -1: off
  float min_p = 0.0f;  // [0, 1]; 0: off
  float repetition_penalty = 1.0f;  // > 0; 1: off
  float presence_penalty = 0.0f;    // [-2, 2]
  float frequency_penalty = 0.0f;   // [-2, 2]
  std::optional<uint64_t> seed;     // unset: the engine picks one per request
  std::optional<int64_t> max_tokens;  // unset: up to the model's context
  int64_t min_tokens = 0;             // stop tokens and EOS are banned until this many are out
  std::vector<int32_t> stop_token_ids;
  std::vector<std::string> stop;  // stop strings; the match is not part of the output
  bool ignore_eos = false;
  std::optional<int32_t> logprobs;  // unset: none; 0: the sampled token's; n <= 20: also the top n

  // The first field that is out of range, e.g. "top_p must be in (0, 1], got 1.5". With
  // vocab_size > 0 token ids are checked against it too.
  Status validate(int64_t vocab_size = 0) const;
  bool is_greedy() const { return temperature < kGreedyTemperature || top_k == 1; }
  bool has_penalties() const {
    return repetition_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f;
  }
};

// What one sample stream (one sequence) carries between steps: its seed, how many tokens it has
// sampled, and, when the request has penalties, the distinct tokens of its prompt and output with
// their output counts. Keep it with the sequence across preemption; rebuilding it from the prompt
// and the output so far gives the same state.
class SequenceSamplingState {
 public:
  SequenceSamplingState(const SamplingParams& params, uint64_t seed, std::span<const int32_t> prompt,
                        std::span<const int32_t> output = {});
  // A sampled token accepted into the output.
  void append(int32_t token);

  uint64_t seed() const { return seed_; }
  int64_t num_output_tokens() const { return num_output_; }
  // Distinct tokens seen (prompt first, in first-seen order) and how often each is in the output.
  const std::vector<int32_t>& penalty_tokens() const { return tokens_; }
  const std::vector<int32_t>& penalty_counts() const { return counts_; }

 private:
  uint64_t seed_;
  int64_t num_output_ = 0;
  bool tracked_;
  std::vector<int32_t> tokens_, counts_;
  std::unordered_map<int32_t, size_t> index_;
};

// One row of a sample() batch.
struct SampleRow {
  const SamplingParams* params = nullptr;
  const SequenceSamplingState* state = nullptr;
};

struct TopLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct SampleOutput {
  int32_t token = -1;
  float logprob = 0.0f;  // raw logprob of `token` (when params.logprobs is set)
  int32_t rank = 0;      // tokens with a raw logit >= token's (the best is 1), when logprobs is set
  std::vector<TopLogprob> top;  // the top params.logprobs tokens, best first, ties to the lower id
};

class Sampler {
 public:
  // eos_token_ids: the model's end-of-sequence tokens (banned before min_tokens unless ignore_eos).
  // engine_seed: the source of request_seed() for unseeded requests; unset: std::random_device.
  Sampler(int64_t vocab_size, std::vector<int32_t> eos_token_ids, std::optional<uint64_t> engine_seed = {});
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  int64_t vocab_size() const { return vocab_; }

  // The request's seed: params.seed, or a fresh random one. Not thread-safe (the engine thread's).
  uint64_t request_seed(const SamplingParams& params);
  // Seed of stream `index` of a request (0: the request seed itself).
  static uint64_t stream_seed(uint64_t request_seed, int32_t index);

  // logits: [rows.size(), vocab] fp32 in host memory, row r at logits + r * row_stride. One output
  // per row, in order. With logits_rows given (one per row), row r reads logits row
  // logits_rows[r] instead, each in [0, logits_num_rows): a subset of a batch's rows, ungathered.
  Expected<std::vector<SampleOutput>> sample(const float* logits, int64_t row_stride, std::span<const SampleRow> rows,
                                             std::span<const int32_t> logits_rows = {}, int64_t logits_num_rows = 0);

  // The same with the logits in device memory. `run` gets the packed batch: its logits those
  // given, every other array (parameters, lists, outputs) in host memory; it runs the sampling
  // kernel there and fills the output arrays before it returns (ModelRunner::sample_device; a
  // DeviceSampler in tests). Only the tokens and logprobs cross back.
  using DeviceKernel = std::function<Status(const kernels::SamplingBatch& host_batch)>;
  Expected<std::vector<SampleOutput>> sample_device(const float* logits, int64_t row_stride,
                                                    std::span<const SampleRow> rows, const DeviceKernel& run,
                                                    std::span<const int32_t> logits_rows = {},
                                                    int64_t logits_num_rows = 0);

 private:
  struct HostBatch;
  Status build(std::span<const SampleRow> rows, std::span<const int32_t> logits_rows, int64_t logits_num_rows,
               HostBatch& hb) const;
  static std::vector<SampleOutput> outputs(std::span<const SampleRow> rows, const HostBatch& hb);
  // The kernel's view of `hb` (host pointers) over `logits`.
  kernels::SamplingBatch kernel_batch(HostBatch& hb, const float* logits, int64_t row_stride,
                                      int64_t logits_num_rows) const;

  int64_t vocab_;
  std::vector<int32_t> eos_;
  std::mt19937_64 seed_source_;
};

}  // namespace tessera::engine
