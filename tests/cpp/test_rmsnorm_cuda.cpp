// CUDA RMSNorm against the CPU backend's fp32 math, for every float dtype, with poisoned outputs
// and odd sizes. Skips (does not fail) on a machine without a GPU; tools/gpu.sh runs it on one.
#include <algorithm>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/ops.h"
#include "kernels/norm/rmsnorm.h"
#include "tessera/dtype.h"
#include "tests/cpp/cuda_test_util.h"

namespace tessera::kernels {
namespace {

using test::from_bits;
using test::has_gpu;
using test::to_bits;

// Host copies in the storage dtype, rounded like the device will see them.
struct HostArray {
  FloatType t;
  std::vector<float> f32;  // values exactly representable in t
  std::vector<char> raw;
  HostArray(FloatType type, std::vector<float> v) : t(type), f32(std::move(v)) {
    const size_t es = t == FloatType::kF32 ? 4 : 2;
    raw.resize(f32.size() * es);
    for (size_t i = 0; i < f32.size(); ++i) {
      if (t == FloatType::kF32) {
        std::memcpy(raw.data() + i * 4, &f32[i], 4);
      } else {
        const uint16_t b = to_bits(f32[i], t);
        f32[i] = from_bits(b, t);
        std::memcpy(raw.data() + i * 2, &b, 2);
      }
    }
  }
  float at(const std::vector<char>& bytes, size_t i) const {
    if (t == FloatType::kF32) {
      float v;
      std::memcpy(&v, bytes.data() + i * 4, 4);
      return v;
    }
    uint16_t b;
    std::memcpy(&b, bytes.data() + i * 2, 2);
    return from_bits(b, t);
  }
};

void* to_device(const std::vector<char>& bytes) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, bytes.size()), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(p, bytes.data(), bytes.size(), cudaMemcpyHostToDevice), cudaSuccess);
  return p;
}

std::vector<char> to_host(const void* p, size_t n) {
  std::vector<char> out(n);
  EXPECT_EQ(cudaMemcpy(out.data(), p, n, cudaMemcpyDeviceToHost), cudaSuccess);
  return out;
}

TEST(CudaRmsNorm, MatchesCpuReference) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  std::mt19937 rng(123);
  std::normal_distribution<float> nd;
  for (FloatType t : {FloatType::kF32, FloatType::kF16, FloatType::kBF16}) {
    const size_t es = t == FloatType::kF32 ? 4 : 2;
    const float tol = t == FloatType::kF32 ? 1e-5f : (t == FloatType::kF16 ? 2e-3f : 1.6e-2f);
    for (int64_t tokens : {1, 17, 97}) {
      for (int64_t hidden : {64, 1025, 4096, 10000}) {
        for (bool fused : {false, true}) {
          const size_t n = static_cast<size_t>(tokens * hidden);
          std::vector<float> xv(n), rv(n), wv(static_cast<size_t>(hidden));
          for (auto& v : xv) v = nd(rng);
          for (auto& v : rv) v = nd(rng);
          for (auto& v : wv) v = 1.0f + 0.3f * nd(rng);
          HostArray x(t, xv), r(t, rv), w(t, wv);
          std::vector<char> poison(n * es, static_cast<char>(0xff));  // NaN in every dtype
          void* dx = to_device(x.raw);
          void* dr = to_device(r.raw);
          void* dw = to_device(w.raw);
          void* dy = to_device(poison);
          RmsNormParams p;
          p.x = dx;
          p.residual = fused ? dr : nullptr;
          p.y = dy;
          p.weight = dw;
          p.num_tokens = tokens;
          p.hidden = hidden;
          p.x_row_stride = p.residual_row_stride = p.y_row_stride = hidden;
          p.eps = 1e-5f;
          p.dtype = t;
          ASSERT_EQ(rms_norm(p, nullptr), cudaSuccess);
          ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
          const auto y = to_host(dy, n * es);
          const auto res = to_host(dr, n * es);
          // Reference: fp32 CPU backend on the same rounded inputs.
          std::vector<float> in = x.f32, ref(n);
          if (fused) {
            for (size_t i = 0; i < n; ++i) in[i] = r.f32[i] + x.f32[i];
          }
          cpu::rms_norm(in.data(), w.f32.data(), tokens, hidden, 1e-5f, ref.data());
          float max_err = 0.f;
          for (size_t i = 0; i < n; ++i) {
            const float got = x.at(y, i);
            ASSERT_FALSE(std::isnan(got)) << "unwritten output at " << i;
            max_err = std::max(max_err, std::fabs(got - ref[i]) / (1.0f + std::fabs(ref[i])));
            if (fused) {
              ASSERT_NEAR(x.at(res, i), in[i], tol * (1.0f + std::fabs(in[i])));
            }
          }
          EXPECT_LE(max_err, tol) << "dtype " << static_cast<int>(t) << " tokens " << tokens << " hidden " << hidden
                                  << " fused " << fused;
          cudaFree(dx);
          cudaFree(dr);
          cudaFree(dw);
          cudaFree(dy);
        }
      }
    }
  }
}

TEST(CudaRmsNorm, RejectsBadParams) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  RmsNormParams p;
  p.num_tokens = 4;
  p.hidden = 0;
  EXPECT_EQ(rms_norm(p, nullptr), cudaErrorInvalidValue);
}

}  // namespace
}  // namespace tessera::kernels
