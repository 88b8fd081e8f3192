// Tensor views and the fp16/bf16 conversions.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tessera/tensor.h"

namespace tessera {
namespace {

TEST(DType, F16RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    ASSERT_EQ(f32_to_f16(f), h) << "f16 bits " << h << " value " << f;
  }
}

TEST(DType, BF16RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), h);
  }
}

TEST(DType, RoundToNearestEven) {
  // 1 + 2^-8 is halfway between two bf16 values (1 and 1 + 2^-7): ties go to even (1).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 0x1.0p-8f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 0x1.8p-8f)), 1.0f + 0x1.0p-7f);
  // f16: 65520 rounds to inf, 65519 to 65504; the smallest subnormal survives.
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(65520.0f))));
  EXPECT_EQ(f16_to_f32(f32_to_f16(65519.0f)), 65504.0f);
  EXPECT_EQ(f16_to_f32(f32_to_f16(0x1.0p-24f)), 0x1.0p-24f);
  EXPECT_EQ(f16_to_f32(f32_to_f16(0x1.0p-26f)), 0.0f);
  EXPECT_EQ(f16_to_f32(f32_to_f16(-2.5f)), -2.5f);
}

TEST(DType, Names) {
  EXPECT_EQ(parse_dtype("BF16"), DType::kBF16);
  EXPECT_EQ(parse_dtype("float16"), DType::kF16);
  EXPECT_EQ(parse_dtype("F8_E4M3"), std::nullopt);
  EXPECT_EQ(dtype_name(DType::kI64), "i64");
}

TEST(Tensor, ViewsShareStorage) {
  auto t = Tensor::zeros({2, 3, 4}, DType::kF32);
  ASSERT_TRUE(t.has_value());
  float* p = t->data<float>();
  for (int i = 0; i < 24; ++i) p[i] = static_cast<float>(i);
  auto s = t->select(0, 1);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->shape(), (Shape{3, 4}));
  EXPECT_EQ(s->data<float>()[0], 12.0f);
  auto n = t->narrow(2, 1, 2);
  ASSERT_TRUE(n.has_value());
  EXPECT_FALSE(n->is_contiguous());
  EXPECT_EQ(n->data<float>()[0], 1.0f);
  auto v = t->view({6, 4});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->data_ptr(), t->data_ptr());
  EXPECT_FALSE(t->view({5, 5}).has_value());
  EXPECT_FALSE(t->narrow(1, 2, 2).has_value());
  EXPECT_FALSE(t->select(3, 0).has_value());
}

TEST(Tensor, ToDtype) {
  auto t = Tensor::empty({3}, DType::kF32);
  ASSERT_TRUE(t.has_value());
  t->data<float>()[0] = 1.5f;
  t->data<float>()[1] = -0.1f;
  t->data<float>()[2] = 3e5f;
  auto b = t->to_dtype(DType::kBF16);
  ASSERT_TRUE(b.has_value());
  auto back = b->to_dtype(DType::kF32);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->data<float>()[0], 1.5f);
  EXPECT_NEAR(back->data<float>()[1], -0.1f, 1e-3f);
  auto h = t->to_dtype(DType::kF16);
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(std::isinf(h->to_dtype(DType::kF32)->data<float>()[2]));
}

TEST(Tensor, RejectsBadShapes) {
  EXPECT_FALSE(Tensor::empty({-1, 2}, DType::kF32).has_value());
  EXPECT_FALSE(checked_numel({1ll << 40, 1ll << 40}).has_value());
#ifndef TESSERA_WITH_CUDA
  EXPECT_EQ(Tensor::empty({2}, DType::kF32, Device::cuda()).status().code(), StatusCode::kUnimplemented);
#endif
}

}  // namespace
}  // namespace tessera
