// CPU backend ops against straightforward double-precision references.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "kernels/cpu/ops.h"

namespace tessera::kernels::cpu {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(CpuLinear, MatchesReferenceWithAndWithoutBias) {
  for (int64_t m : {1, 3, 17}) {
    const int64_t k = 33, n = 19;
    auto x = randn(static_cast<size_t>(m * k), 1), w = randn(static_cast<size_t>(n * k), 2), b = randn(static_cast<size_t>(n), 3);
    for (bool with_bias : {false, true}) {
      std::vector<float> y(static_cast<size_t>(m * n), NAN);
      linear(x.data(), m, k, w.data(), with_bias ? b.data() : nullptr, n, y.data());
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double ref = with_bias ? b[static_cast<size_t>(j)] : 0.0;
          for (int64_t t = 0; t < k; ++t) ref += static_cast<double>(x[static_cast<size_t>(i * k + t)]) * w[static_cast<size_t>(j * k + t)];
          ASSERT_NEAR(y[static_cast<size_t>(i * n + j)], ref, 1e-4) << "m=" << m << " i=" << i << " j=" << j;
        }
    }
  }
}

TEST(CpuNorm, RmsNormAndFusedResidual) {
  const int64_t t = 5, h = 97;
  auto x = randn(static_cast<size_t>(t * h), 4), w = randn(static_cast<size_t>(h), 5), d = randn(static_cast<size_t>(t * h), 6);
  std::vector<float> out(x.size(), NAN);
  rms_norm(x.data(), w.data(), t, h, 1e-5f, out.data());
  auto residual = x;
  std::vector<float> out2(x.size(), NAN);
  add_rms_norm(residual.data(), d.data(), w.data(), t, h, 1e-5f, out2.data());
  for (int64_t r = 0; r < t; ++r) {
    double ss = 0, ss2 = 0;
    for (int64_t i = 0; i < h; ++i) {
      const double v = x[static_cast<size_t>(r * h + i)];
      const double v2 = v + d[static_cast<size_t>(r * h + i)];
      ss += v * v;
      ss2 += v2 * v2;
    }
    const double inv = 1.0 / std::sqrt(ss / h + 1e-5), inv2 = 1.0 / std::sqrt(ss2 / h + 1e-5);
    for (int64_t i = 0; i < h; ++i) {
      const size_t idx = static_cast<size_t>(r * h + i);
      ASSERT_NEAR(out[idx], x[idx] * inv * w[static_cast<size_t>(i)], 1e-5);
      ASSERT_NEAR(residual[idx], x[idx] + d[idx], 1e-6);
      ASSERT_NEAR(out2[idx], (static_cast<double>(x[idx]) + d[idx]) * inv2 * w[static_cast<size_t>(i)], 1e-5);
    }
  }
}

TEST(CpuActivation, SiluMulAndEmbedding) {
  const int64_t t = 3, inter = 11;
  auto gu = randn(static_cast<size_t>(t * 2 * inter), 7, 3.0f);
  std::vector<float> out(static_cast<size_t>(t * inter), NAN);
  silu_mul(gu.data(), t, inter, out.data());
  for (int64_t r = 0; r < t; ++r)
    for (int64_t i = 0; i < inter; ++i) {
      const double g = gu[static_cast<size_t>(r * 2 * inter + i)], u = gu[static_cast<size_t>(r * 2 * inter + inter + i)];
      ASSERT_NEAR(out[static_cast<size_t>(r * inter + i)], g / (1 + std::exp(-g)) * u, 1e-5);
    }
  auto table = randn(10 * 4, 8);
  std::vector<int32_t> ids = {9, 0, 9};
  std::vector<float> e(12, NAN);
  embedding(ids.data(), 3, table.data(), 4, e.data());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(e[static_cast<size_t>(i)], table[static_cast<size_t>(36 + i)]);
    EXPECT_EQ(e[static_cast<size_t>(4 + i)], table[static_cast<size_t>(i)]);
  }
}

TEST(CpuRope, InvFreqForEachType) {
  RopeSpec s;
  s.rotary_dim = 16;
  s.theta = 10000.0;
  auto base = rope_inv_freq(s);
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(base[static_cast<size_t>(i)], std::pow(10000.0, -2.0 * i / 16), 1e-7 * base[static_cast<size_t>(i)] + 1e-12);
  s.kind = RopeKind::kLinear;
  s.factor = 4.0;
  auto lin = rope_inv_freq(s);
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(lin[static_cast<size_t>(i)], base[static_cast<size_t>(i)] / 4.0, 1e-6 * base[static_cast<size_t>(i)]);
  // llama3 with a 64-token original context: wavelengths below 16 keep their frequency,
  // above 64 are divided by the factor, in between interpolate.
  s.kind = RopeKind::kLlama3;
  s.factor = 8.0;
  s.low_freq_factor = 1.0;
  s.high_freq_factor = 4.0;
  s.original_max_position_embeddings = 64.0;
  auto l3 = rope_inv_freq(s);
  int regimes[3] = {0, 0, 0};
  for (int i = 0; i < 8; ++i) {
    const double f = base[static_cast<size_t>(i)];
    const double wavelen = 2 * std::numbers::pi / f;
    double expect;
    if (wavelen < 16.0) {
      expect = f;
      regimes[0]++;
    } else if (wavelen > 64.0) {
      expect = f / 8.0;
      regimes[2]++;
    } else {
      const double smooth = (64.0 / wavelen - 1.0) / 3.0;
      expect = (1 - smooth) * f / 8.0 + smooth * f;
      regimes[1]++;
    }
    EXPECT_NEAR(l3[static_cast<size_t>(i)], expect, 1e-6 * f) << i;
  }
  EXPECT_GT(regimes[0], 0);
  EXPECT_GT(regimes[1], 0);
  EXPECT_GT(regimes[2], 0);
}

TEST(CpuRope, RotationIsRelative) {
  // <rope(q, m), rope(k, n)> depends only on m - n, and position 0 is the identity.
  RopeSpec s;
  s.rotary_dim = 32;
  auto inv = rope_inv_freq(s);
  auto q = randn(32, 9), k = randn(32, 10);
  auto dot_at = [&](int32_t m, int32_t n) {
    auto qq = q, kk = k;
    apply_rope(qq.data(), 1, 32, 1, 32, &m, inv.data());
    apply_rope(kk.data(), 1, 32, 1, 32, &n, inv.data());
    double d = 0;
    for (int i = 0; i < 32; ++i) d += static_cast<double>(qq[static_cast<size_t>(i)]) * kk[static_cast<size_t>(i)];
    return d;
  };
  EXPECT_NEAR(dot_at(5, 2), dot_at(103, 100), 1e-3);
  EXPECT_NEAR(dot_at(7, 7), dot_at(0, 0), 1e-3);
  auto q0 = q;
  int32_t zero = 0;
  apply_rope(q0.data(), 1, 32, 1, 32, &zero, inv.data());
  for (int i = 0; i < 32; ++i) EXPECT_EQ(q0[static_cast<size_t>(i)], q[static_cast<size_t>(i)]);
}

}  // namespace
}  // namespace tessera::kernels::cpu
