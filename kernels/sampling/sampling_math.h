// kernels/sampling/sampling_math.h — the arithmetic the CPU twin and the CUDA sampler share, bit
// for bit, so that both choose the same token from the same logits.
//
// Why bit for bit: an inverse-CDF draw compares u * total against running sums; if the sums are
// floats added in a different order (a block reduction vs a loop), every token boundary moves by
// an ulp and ~vocab * eps of the draws land on a different token. So:
//   - every float operation here is a single IEEE operation rounded to nearest, never contracted
//     into an FMA (CUDA __f*_rn intrinsics; on the host a register barrier stops the compiler);
//   - exp is our own (det_exp: floor, multiplies and adds only), not libm's or CUDA's expf;
//   - probabilities become integer masses (2^40 for the top token) and every sum of masses is a
//     uint64 sum, which is associative: any reduction order gives the same total;
//   - the draw is 53 random bits from splitmix64 of (seed, counter), and target = (bits * total)
//     >> 64: the token is the first, in token-id order, whose running mass exceeds it.
// Float thresholds (top-k, top-p, min-p) compare these same values, so they agree as well.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define TESSERA_HD __host__ __device__ __forceinline__
#else
#define TESSERA_HD inline
#endif

namespace tessera::kernels {

// A mass is p * 2^kMassBits (p = exp(x - max x) <= 1), so a vocabulary of up to 2^23 tokens sums
// below 2^64. Below exp(-kMassRange) < 2^-40 a token has mass 0 and is never drawn.
constexpr int kMassBits = 40;
constexpr float kMassRange = 28.0f;

// splitmix64: a 64-bit mixer, the counter-based source of every random number in tessera.
TESSERA_HD uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The random bits of draw number `counter` of stream `seed`: 53 bits in the high end of a uint64
// (the low 11 are zero), so uniform_from(seed, counter) == draw_bits(seed, counter) * 2^-64 exactly.
TESSERA_HD uint64_t draw_bits(uint64_t seed, uint64_t counter) {
  const uint64_t r = splitmix64(splitmix64(seed) ^ (counter * 0xd1b54a32d192ed03ull));
  return r & ~uint64_t{0x7ff};
}

// The high 64 bits of a * b.
TESSERA_HD uint64_t mul_hi64(uint64_t a, uint64_t b) {
#if defined(__CUDA_ARCH__)
  return __umul64hi(a, b);
#else
  const uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32, b_lo = b & 0xffffffffu, b_hi = b >> 32;
  const uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
  const uint64_t mid = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
  return hi_hi + (hi_lo >> 32) + (mid >> 32);
#endif
}

// ---- single IEEE operations, never fused ------------------------------------------------------
#if !defined(__CUDA_ARCH__)
// Keeps `v` in a register as an opaque value: the compiler cannot fuse the operation that made it
// with the one that uses it (GCC contracts a * b + c into an FMA in C++ whenever the target has one).
inline void fp_barrier(float& v) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__("" : "+x"(v));
#elif defined(__aarch64__)
  __asm__("" : "+w"(v));
#else
  volatile float t = v;
  v = t;
#endif
}
#endif

TESSERA_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  float r = a * b;
  fp_barrier(r);
  return r;
#endif
}
TESSERA_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  float r = a + b;
  fp_barrier(r);
  return r;
#endif
}
TESSERA_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  float r = a - b;
  fp_barrier(r);
  return r;
#endif
}
TESSERA_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  float r = a / b;
  fp_barrier(r);
  return r;
#endif
}

TESSERA_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
TESSERA_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// A logit as the sampler sees it: NaN becomes -inf (never drawn, never the argmax).
TESSERA_HD float canonical(float v) { return v == v ? v : -INFINITY; }

// Order-preserving key: a >= b (floats, no NaN) iff key(a) >= key(b); -0 and +0 share a key.
TESSERA_HD uint32_t order_key(float f) {
  const uint32_t u = float_bits(f == 0.0f ? 0.0f : f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
TESSERA_HD float key_float(uint32_t k) { return bits_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k); }

// e^d for d <= 0, from floor, multiplies and adds only (identical on every backend). Relative
// error ~1e-6 over [-28, 0], which no sampling statistic can see.
TESSERA_HD float det_exp(float d) {
  if (!(d >= -kMassRange)) return 0.0f;
  const float t = mul_rn(d, 1.44269504f);  // log2(e)
  const float n = floorf(t);                // in [-41, 0]
  const float y = mul_rn(sub_rn(t, n), 0.693147182f);  // (t - n) is exact; y in [0, ln 2)
  // e^y, Taylor to degree 8 (remainder < 1e-7 on [0, ln 2)).
  float p = 2.48015873e-5f;  // 1/8!
  p = add_rn(mul_rn(p, y), 1.98412698e-4f);
  p = add_rn(mul_rn(p, y), 1.38888889e-3f);
  p = add_rn(mul_rn(p, y), 8.33333333e-3f);
  p = add_rn(mul_rn(p, y), 4.16666667e-2f);
  p = add_rn(mul_rn(p, y), 1.66666667e-1f);
  p = add_rn(mul_rn(p, y), 0.5f);
  p = add_rn(mul_rn(p, y), 1.0f);
  p = add_rn(mul_rn(p, y), 1.0f);
  const int e = static_cast<int>(n) + 127;  // 2^n, a normal float
  return mul_rn(p, bits_float(static_cast<uint32_t>(e) << 23));
}

// The integer mass of a token with scaled logit x, in a row whose largest is x_max (> -inf):
// p = exp(x - x_max) (exactly 1 at the max), 0 when p < min_p (min-p; pass 0 for none).
TESSERA_HD uint64_t token_mass(float x, float x_max, float min_p) {
  if (x == x_max) return uint64_t{1} << kMassBits;
  const float p = det_exp(sub_rn(x, x_max));
  if (p < min_p || p == 0.0f) return 0;
  return static_cast<uint64_t>(mul_rn(p, 1099511627776.0f));  // p * 2^40, truncated
}

// Top-p keeps the shortest run of the largest values whose mass reaches ceil(top_p * total).
TESSERA_HD uint64_t top_p_target(float top_p, uint64_t total) {
#if defined(__CUDA_ARCH__)
  const double want = __dmul_rn(static_cast<double>(top_p), __ull2double_rn(total));
#else
  const double want = static_cast<double>(top_p) * static_cast<double>(total);
#endif
  uint64_t t = static_cast<uint64_t>(want);
  if (static_cast<double>(t) < want) ++t;
  if (t > total) t = total;
  return t == 0 ? 1 : t;
}

// vLLM's penalties on one raw logit: repetition (HF) for any listed token, then frequency and
// presence for a token the stream has output `count` > 0 times.
TESSERA_HD float penalize(float logit, int32_t count, float repetition, float presence, float frequency) {
  float v = logit > 0.0f ? div_rn(logit, repetition) : mul_rn(logit, repetition);
  if (count > 0) {
    v = sub_rn(v, mul_rn(frequency, static_cast<float>(count)));
    v = sub_rn(v, presence);
  }
  return canonical(v);
}

// 1 / temperature, the factor every logit of a sampled row is scaled by (1 for greedy rows).
TESSERA_HD float inverse_temperature(float temperature) {
  return temperature > 0.0f ? div_rn(1.0f, temperature) : 1.0f;
}

}  // namespace tessera::kernels
