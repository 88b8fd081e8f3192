// kernels/sampling/params.h — what the sampler takes, on the CPU (kernels/cpu/sampling.h) and on
// the GPU (kernels/sampling/sampling.h) alike: plain structs, raw pointers, no CUDA types.
//
// One row of logits is one sample stream (a sequence). Per row, in this order (vLLM's order for
// the penalties, transformers' order for the filters):
//   1. penalties on the row's token list: repetition (HF: divide a positive logit, multiply a
//      negative one) for every listed token, then frequency (x count) and presence (once) for the
//      tokens with an output count > 0; then banned tokens are set to -inf (min_tokens);
//   2. temperature: x = logit * (1 / temperature); temperature <= 0 (or top_k == 1) is greedy:
//      the lowest index of the largest penalized logit;
//   3. top-k, top-p, min-p, each a threshold on x (ties at a threshold are all kept);
//   4. one draw from the kept tokens in proportion to exp(x - max x), by inverse CDF in token-id
//      order with integer masses (sampling_math.h), so the choice is bit-exact on both backends.
// Logprobs are log-softmax of the raw logits (before penalties and temperature), as vLLM's default.
//
// Invariants: a row's penalty list holds each token id at most once; every id is in [0, vocab).
#pragma once

#include <cstdint>

namespace tessera::kernels {

// OpenAI's cap on top_logprobs; the output stride of top-n logprobs may be anything up to it.
constexpr int32_t kMaxTopLogprobs = 20;

struct SamplingRowParams {
  float temperature = 1.0f;         // <= 0: greedy
  int32_t top_k = 0;                // <= 0 or >= vocab: off; 1: greedy
  float top_p = 1.0f;               // >= 1: off; else in (0, 1)
  float min_p = 0.0f;               // <= 0: off; else in (0, 1]
  float repetition_penalty = 1.0f;  // > 0; 1: off
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int32_t num_logprobs = -1;  // -1: no logprobs; 0: the sampled token's; n: also the top n
  uint64_t seed = 0;          // this stream's seed
  uint64_t counter = 0;       // tokens this stream has sampled so far: the draw is f(seed, counter)
};

struct SamplingBatch {
  // logits: [num_rows, vocab] fp32, row r at logits + r * logits_row_stride. Never written.
  const float* logits = nullptr;
  int64_t logits_row_stride = 0;  // elements
  int64_t num_rows = 0;
  int64_t vocab = 0;
  const SamplingRowParams* rows = nullptr;  // [num_rows]
  // Optional [num_rows]: row r samples logits row logits_rows[r] (in [0, logits_num_rows)) instead
  // of row r, so a caller can sample some rows of a batch's logits without gathering them.
  const int32_t* logits_rows = nullptr;
  int64_t logits_num_rows = 0;  // rows the logits buffer holds, when logits_rows is given

  // Penalty lists, CSR: row r's tokens are penalty_tokens[penalty_offsets[r] .. [r + 1]).
  // penalty_counts[j]: how often token j occurs in the output (0: prompt only). Optional (null).
  const int32_t* penalty_offsets = nullptr;  // [num_rows + 1]
  const int32_t* penalty_tokens = nullptr;   // [nnz]
  const int32_t* penalty_counts = nullptr;   // [nnz]
  // Banned tokens (-inf before sampling; min_tokens bans the stop tokens), CSR. Optional.
  const int32_t* banned_offsets = nullptr;  // [num_rows + 1]
  const int32_t* banned_tokens = nullptr;   // [nnz]

  // The penalized, temperature-scaled logits of rows that have penalty or banned entries:
  // [num_rows, vocab] fp32. Required (on the device) when either list is given; the CPU ignores it.
  float* workspace = nullptr;

  int32_t* out_tokens = nullptr;    // [num_rows]
  float* out_logprobs = nullptr;    // [num_rows] raw logprob of the sampled token (NaN: not asked); optional
  // [num_rows] how many tokens have a raw logit >= the sampled token's (the best is 1; ties rank
  // pessimistically, as vLLM counts); 0 where the row asks for no logprobs. Optional.
  int32_t* out_ranks = nullptr;
  // Top-n: [num_rows, top_logprobs_stride], best first, ties to the lower id; -1 / NaN past n.
  int32_t* out_top_ids = nullptr;
  float* out_top_logprobs = nullptr;
  int32_t top_logprobs_stride = 0;  // <= kMaxTopLogprobs
};

}  // namespace tessera::kernels
