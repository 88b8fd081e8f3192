// kernels/cpu/rope.cpp — rotary position embedding: inverse frequencies for the default, linear
// and llama3 rope types (as transformers' rope utilities define them) and the rotate-half rotation.
#include <cmath>
#include <numbers>

#include "kernels/cpu/ops.h"
#include "src/core/thread_pool.h"

namespace tessera::kernels::cpu {

std::vector<float> rope_inv_freq(const RopeSpec& spec) {
  const int32_t half = spec.rotary_dim / 2;
  std::vector<float> inv(static_cast<size_t>(half));
  for (int32_t i = 0; i < half; ++i) {
    // transformers: 1 / theta^(2i / d), evaluated in fp32.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(spec.rotary_dim);
    float f = 1.0f / std::pow(static_cast<float>(spec.theta), exponent);
    if (spec.kind == RopeKind::kLinear) {
      f = f / static_cast<float>(spec.factor);
    } else if (spec.kind == RopeKind::kLlama3) {
      // Keep high frequencies, divide low ones by `factor`, interpolate in between.
      const double old_ctx = spec.original_max_position_embeddings;
      const double low_wavelen = old_ctx / spec.low_freq_factor;
      const double high_wavelen = old_ctx / spec.high_freq_factor;
      const double wavelen = 2.0 * std::numbers::pi / static_cast<double>(f);
      const float factor = static_cast<float>(spec.factor);
      if (wavelen > low_wavelen) {
        f = f / factor;
      } else if (wavelen >= high_wavelen) {
        const float smooth = static_cast<float>((old_ctx / wavelen - spec.low_freq_factor) /
                                                (spec.high_freq_factor - spec.low_freq_factor));
        f = (1.0f - smooth) * f / factor + smooth * f;
      }
    }
    inv[static_cast<size_t>(i)] = f;
  }
  return inv;
}

void apply_rope(float* x, int64_t num_tokens, int64_t token_stride, int32_t num_heads,
                int32_t head_dim, const int32_t* positions, const float* inv_freq) {
  const int32_t half = head_dim / 2;
  parallel_for(num_tokens, 4, [&](int64_t b, int64_t e) {
    std::vector<float> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
    for (int64_t t = b; t < e; ++t) {
      const float pos = static_cast<float>(positions[t]);
      for (int32_t i = 0; i < half; ++i) {
        const float angle = pos * inv_freq[i];  // fp32 product, as HF computes freqs
        cos_t[static_cast<size_t>(i)] = std::cos(angle);
        sin_t[static_cast<size_t>(i)] = std::sin(angle);
      }
      for (int32_t h = 0; h < num_heads; ++h) {
        float* v = x + t * token_stride + static_cast<int64_t>(h) * head_dim;
        for (int32_t i = 0; i < half; ++i) {
          const float a = v[i], bb = v[i + half];
          const float c = cos_t[static_cast<size_t>(i)], s = sin_t[static_cast<size_t>(i)];
          v[i] = a * c - bb * s;
          v[i + half] = bb * c + a * s;
        }
      }
    }
  });
}

}  // namespace tessera::kernels::cpu
