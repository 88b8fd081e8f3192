// kernels/cpu/elementwise.cpp — embedding gather, RMSNorm (plain and fused with the residual add)
// and SiLU·mul, parallel over tokens. Reductions accumulate in double so results do not depend on
// how the pool splits work, and stay within fp32 rounding of PyTorch's fp32 reference.
#include <cmath>
#include <cstring>

#include "kernels/cpu/ops.h"
#include "src/core/thread_pool.h"

namespace tessera::kernels::cpu {
namespace {

inline void rms_norm_row(const float* x, const float* weight, int64_t hidden, float eps,
                         float* out) {
  double sum_sq = 0.0;
  for (int64_t i = 0; i < hidden; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  // HF: x * rsqrt(mean(x^2) + eps) in fp32, then weight * x.
  const float inv = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(hidden)) + eps);
  for (int64_t i = 0; i < hidden; ++i) out[i] = weight[i] * (x[i] * inv);
}

}  // namespace

void embedding(const int32_t* ids, int64_t num_tokens, const float* table, int64_t hidden,
               float* out) {
  parallel_for(num_tokens, 4, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t)
      std::memcpy(out + t * hidden, table + static_cast<int64_t>(ids[t]) * hidden,
                  static_cast<size_t>(hidden) * sizeof(float));
  });
}

void rms_norm(const float* x, const float* weight, int64_t num_tokens, int64_t hidden, float eps,
              float* out) {
  parallel_for(num_tokens, 8, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) rms_norm_row(x + t * hidden, weight, hidden, eps, out + t * hidden);
  });
}

void add_rms_norm(float* residual, const float* x, const float* weight, int64_t num_tokens,
                  int64_t hidden, float eps, float* out) {
  parallel_for(num_tokens, 8, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* r = residual + t * hidden;
      const float* xt = x + t * hidden;
      for (int64_t i = 0; i < hidden; ++i) r[i] += xt[i];
      rms_norm_row(r, weight, hidden, eps, out + t * hidden);
    }
  });
}

void gelu_tanh_mul(const float* gate_up, int64_t num_tokens, int64_t inter, float* out) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  parallel_for(num_tokens, 4, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const float* g = gate_up + t * 2 * inter;
      const float* u = g + inter;
      float* o = out + t * inter;
      for (int64_t i = 0; i < inter; ++i) {
        const float x = g[i];
        o[i] = 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x))) * u[i];
      }
    }
  });
}

void softcap(float* x, int64_t n, float cap) {
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) x[i] = cap * std::tanh(x[i] / cap);
  });
}

void silu_mul(const float* gate_up, int64_t num_tokens, int64_t inter, float* out) {
  parallel_for(num_tokens, 4, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const float* g = gate_up + t * 2 * inter;
      const float* u = g + inter;
      float* o = out + t * inter;
      for (int64_t i = 0; i < inter; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    }
  });
}

}  // namespace tessera::kernels::cpu
