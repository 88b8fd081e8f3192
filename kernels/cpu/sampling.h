// kernels/cpu/sampling.h — token sampling on the CPU: the twin of the CUDA sampler
// (kernels/sampling/sampling.h). Both take a SamplingBatch (kernels/sampling/params.h) and do the
// same arithmetic (kernels/sampling/sampling_math.h), so they choose the same token, bit for bit.
//
// Order: penalties, temperature, top-k, top-p, min-p (transformers' order of the filters; vLLM
// applies min-p before top-k/top-p). Each filter is a threshold on the scaled logit and keeps its
// ties. The random draw is counter-based: it depends only on the stream's seed and how many tokens
// it has sampled, never on what else is in the batch, so a seeded request reproduces exactly.
#pragma once

#include <cstdint>

#include "kernels/sampling/params.h"
#include "kernels/sampling/sampling_math.h"

namespace tessera::kernels::cpu {

// The filters of one stream, for single-row callers (the CLI's generate).
struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
};

using kernels::splitmix64;

// Index of the largest logit; ties go to the lowest index (as torch.argmax). NaN never wins.
int32_t argmax(const float* logits, int64_t vocab);

// A uniform double in [0, 1) from (seed, counter): draw_bits(seed, counter) * 2^-64, 53 bits.
double uniform_from(uint64_t seed, uint64_t counter);

// Samples one token from logits: [vocab] fp32. `u` is a uniform draw in [0, 1) (uniform_from);
// the same u gives the same token as a batch row whose seed and counter produce it.
int32_t sample_token(const float* logits, int64_t vocab, const SamplingParams& params, double u);

// Samples every row of `batch` (host pointers; batch.workspace is not used). Returns false and
// writes nothing when the batch is malformed (null arrays, a token id outside [0, vocab), more
// top logprobs than the stride holds).
bool sample(const SamplingBatch& batch);

}  // namespace tessera::kernels::cpu
