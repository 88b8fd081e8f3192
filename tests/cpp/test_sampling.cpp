// Sampling: greedy, filters, and that the draws follow the softmax distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/cpu/sampling.h"

namespace tessera::kernels::cpu {
namespace {

TEST(Sampling, GreedyAndTies) {
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(argmax(l.data(), 4), 1);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  EXPECT_EQ(sample_token(l.data(), 4, greedy, 0.99), 1);
  SamplingParams k1;
  k1.top_k = 1;
  EXPECT_EQ(sample_token(l.data(), 4, k1, 0.99), 1);
}

TEST(Sampling, FrequenciesFollowSoftmax) {
  std::vector<float> l = {1.0f, 2.0f, 0.0f, 1.5f};
  double z = 0;
  for (float x : l) z += std::exp(x);
  std::vector<int> counts(4, 0);
  const int n = 200000;
  for (int i = 0; i < n; ++i) counts[static_cast<size_t>(sample_token(l.data(), 4, {}, uniform_from(42, static_cast<uint64_t>(i))))]++;
  for (int j = 0; j < 4; ++j) {
    const double p = std::exp(l[static_cast<size_t>(j)]) / z;
    const double sd = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(counts[static_cast<size_t>(j)] / static_cast<double>(n), p, 5 * sd) << j;
  }
}

TEST(Sampling, FiltersRestrictSupport) {
  std::vector<float> l = {0.0f, 5.0f, 4.9f, 1.0f, 4.8f};
  SamplingParams topk;
  topk.top_k = 2;
  SamplingParams topp;
  topp.top_p = 0.5f;  // token 1 alone has ~0.36 mass: 1 and 2 needed
  SamplingParams minp;
  minp.min_p = 0.5f;
  for (int i = 0; i < 2000; ++i) {
    const double u = uniform_from(7, static_cast<uint64_t>(i));
    const int a = sample_token(l.data(), 5, topk, u);
    EXPECT_TRUE(a == 1 || a == 2);
    const int b = sample_token(l.data(), 5, topp, u);
    EXPECT_TRUE(b == 1 || b == 2);
    const int c = sample_token(l.data(), 5, minp, u);
    EXPECT_TRUE(c == 1 || c == 2 || c == 4);
  }
}

TEST(Sampling, UniformIsDeterministicAndInRange) {
  EXPECT_EQ(uniform_from(1, 2), uniform_from(1, 2));
  EXPECT_NE(uniform_from(1, 2), uniform_from(2, 2));
  double mean = 0;
  for (int i = 0; i < 10000; ++i) {
    const double u = uniform_from(3, static_cast<uint64_t>(i));
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    mean += u;
  }
  EXPECT_NEAR(mean / 10000, 0.5, 0.01);
}

}  // namespace
}  // namespace tessera::kernels::cpu
