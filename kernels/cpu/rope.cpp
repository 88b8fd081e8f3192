// kernels/cpu/rope.cpp — rotary position embedding: inverse frequencies for the default, linear
// and llama3 rope types (as transformers' rope utilities define them), the cos/sin table the append
// kernels read, and the rotation itself (rotate-half or interleaved, whole or partial head).
//
// Invariant: every rotation goes through rope_rotate_row, whose products are rounded to fp32 one by
// one (decode.h's contract), so the CPU append, apply_rope and the CUDA kernel agree bit for bit
// given the same cos/sin values.
#include <cmath>
#include <numbers>

#include "kernels/cpu/ops.h"
#include "src/core/thread_pool.h"

namespace tessera::kernels::cpu {
namespace {

// a * b rounded to fp32 on its own. Going through a volatile keeps the compiler from fusing the
// product with the add or subtract that follows into an FMA: GCC contracts across statements under
// its default -ffp-contract=fast for C++, and FMA is in the baseline of aarch64 and x86-64-v3.
inline float rounded_product(float a, float b) {
  volatile float p = a * b;
  return p;
}

}  // namespace

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
      // Keep high frequencies, divide low ones by `factor`, interpolate in between. Every step in
      // fp32, as transformers does it on fp32 tensors (its Python scalars become fp32 operands): a
      // blend in double lands an ulp away from its values for some pairs (33 and 34 of Llama 3.1).
      const float old_ctx = static_cast<float>(spec.original_max_position_embeddings);
      const float low_wavelen = static_cast<float>(spec.original_max_position_embeddings / spec.low_freq_factor);
      const float high_wavelen = static_cast<float>(spec.original_max_position_embeddings / spec.high_freq_factor);
      const float wavelen = static_cast<float>(2.0 * std::numbers::pi) / f;
      const float factor = static_cast<float>(spec.factor);
      if (wavelen > low_wavelen) {
        f = f / factor;
      } else if (!(wavelen < high_wavelen)) {
        const float smooth = (old_ctx / wavelen - static_cast<float>(spec.low_freq_factor)) /
                             static_cast<float>(spec.high_freq_factor - spec.low_freq_factor);
        f = rounded_product(1.0f - smooth, f) / factor + rounded_product(smooth, f);
      }
    }
    if (!spec.freq_factors.empty()) f = f / spec.freq_factors[static_cast<size_t>(i)];
    inv[static_cast<size_t>(i)] = f;
  }
  return inv;
}

void rope_rotate_row(const float* in, float* out, int32_t head_dim, int32_t rotary_dim,
                     RopeLayout layout, const float* cos, const float* sin) {
  const int32_t rotated = layout == RopeLayout::kNone ? 0 : (rotary_dim > 0 ? rotary_dim : head_dim);
  const int32_t half = rotated / 2;
  // Pair i is (x[first], x[first + partner]).
  const bool interleaved = layout == RopeLayout::kInterleaved;
  const int32_t step = interleaved ? 2 : 1;
  const int32_t partner = interleaved ? 1 : half;
  for (int32_t i = 0; i < half; ++i) {
    const int32_t first = i * step, second = first + partner;
    const float x = in[first], y = in[second];  // both read before either is written (out may be in)
    out[first] = rounded_product(x, cos[i]) - rounded_product(y, sin[i]);
    out[second] = rounded_product(y, cos[i]) + rounded_product(x, sin[i]);
  }
  if (out != in)
    for (int32_t e = rotated; e < head_dim; ++e) out[e] = in[e];
}

void rope_cos_sin_table(const RopeSpec& spec, int32_t max_position, float* cos, float* sin) {
  const std::vector<float> inv_freq = rope_inv_freq(spec);
  const int64_t half = static_cast<int64_t>(inv_freq.size());
  parallel_for(max_position, 64, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      for (int64_t i = 0; i < half; ++i) {
        // The angle is the fp32 product HF forms (inv_freq @ positions in fp32). cos/sin are then
        // taken in double and rounded once: that is the correctly rounded fp32 value (checked
        // against long double on 1.3M Llama-3 angles: no difference), the same on every libm,
        // whereas glibc 2.36's cosf/sinf are 1 ulp off on about 1% of those angles. HF's own
        // fp32 cos (torch, <= 1 ulp) may differ from this by that ulp.
        const float angle = static_cast<float>(p) * inv_freq[static_cast<size_t>(i)];
        cos[p * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
        sin[p * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
      }
    }
  });
}

void apply_rope(float* x, int64_t num_tokens, int64_t token_stride, int32_t num_heads,
                int32_t head_dim, const int32_t* positions, const float* inv_freq,
                RopeLayout layout, int32_t rotary_dim) {
  if (layout == RopeLayout::kNone) return;
  const int32_t rotated = rotary_dim > 0 ? rotary_dim : head_dim;
  const int32_t half = rotated / 2;
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
        rope_rotate_row(v, v, head_dim, rotated, layout, cos_t.data(), sin_t.data());
      }
    }
  });
}

}  // namespace tessera::kernels::cpu
