// .npy reading and writing, including malformed files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "src/core/mapped_file.h"
#include "src/core/npy.h"

namespace tessera {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tessera_npy_" + name)).string();
}

TEST(Npy, RoundTrip) {
  const std::string p = temp_path("rt.npy");
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(write_npy_f32(p, v.data(), {2, 3}).is_ok());
  auto a = read_npy(p);
  ASSERT_TRUE(a.has_value()) << a.status().message();
  EXPECT_EQ(a->descr, "<f4");
  EXPECT_EQ(a->shape, (Shape{2, 3}));
  ASSERT_EQ(a->data.size(), 24u);
  EXPECT_EQ(reinterpret_cast<const float*>(a->data.data())[5], 6.0f);
  std::vector<int64_t> ids = {7};
  ASSERT_TRUE(write_npy_i64(p, ids.data(), {1}).is_ok());
  a = read_npy(p);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->shape, (Shape{1}));
  EXPECT_EQ(reinterpret_cast<const int64_t*>(a->data.data())[0], 7);
}

TEST(Npy, Malformed) {
  const std::string p = temp_path("bad.npy");
  ASSERT_TRUE(write_text_file(p, "not numpy at all").is_ok());
  EXPECT_EQ(read_npy(p).status().code(), StatusCode::kDataLoss);
  std::vector<float> v(100, 1.0f);
  ASSERT_TRUE(write_npy_f32(p, v.data(), {100}).is_ok());
  std::filesystem::resize_file(p, 200);  // data cut short
  auto a = read_npy(p);
  ASSERT_FALSE(a.has_value());
  EXPECT_NE(a.status().message().find("shorter than its shape"), std::string::npos);
  EXPECT_EQ(read_npy(temp_path("missing.npy")).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera
