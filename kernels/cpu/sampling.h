// kernels/cpu/sampling.h — token sampling from one row of logits on the CPU.
//
// Order of filters as in transformers' logits warpers: temperature, top-k, top-p, min-p. The
// random draw comes from a counter-based generator: u = uniform(seed, step) depends only on the
// request's seed and how many tokens it has sampled, never on what else is in the batch, so a
// seeded request reproduces exactly.
#pragma once

#include <cstdint>

namespace tessera::kernels::cpu {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
};

// splitmix64: a 64-bit mixer, the counter-based source of every random number in tessera's
// CPU code (sampling draws, random checkpoints).
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Index of the largest logit; ties go to the lowest index (as torch.argmax).
int32_t argmax(const float* logits, int64_t vocab);

// A uniform double in [0, 1) from (seed, counter): splitmix64 of both, 53 random bits.
double uniform_from(uint64_t seed, uint64_t counter);

// Samples one token. `u` is a uniform draw in [0, 1) (from uniform_from).
int32_t sample_token(const float* logits, int64_t vocab, const SamplingParams& params, double u);

}  // namespace tessera::kernels::cpu
