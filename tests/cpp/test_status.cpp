// Status / Expected behaviour and the propagation macros.
#include <gtest/gtest.h>

#include "tessera/status.h"

namespace tessera {
namespace {

Expected<int> half_of(int x) {
  if (x % 2) return invalid_argument("odd: " + std::to_string(x));
  return x / 2;
}

Expected<int> quarter_of(int x) {
  TESSERA_ASSIGN_OR_RETURN(int h, half_of(x));
  TESSERA_ASSIGN_OR_RETURN(int q, half_of(h));
  return q;
}

Status check_even(int x) {
  TESSERA_RETURN_IF_ERROR(half_of(x).status());
  return Status::ok();
}

TEST(Status, OkAndError) {
  EXPECT_TRUE(Status::ok().is_ok());
  Status s = not_found("x.json: no such file");
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.to_string(), "not found: x.json: no such file");
  EXPECT_EQ(s.with_context("dir: ").message(), "dir: x.json: no such file");
}

TEST(Expected, ValueAndPropagation) {
  EXPECT_EQ(*quarter_of(8), 2);
  auto e = quarter_of(6);  // 6 -> 3 -> odd
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.status().message(), "odd: 3");
  EXPECT_TRUE(check_even(4).is_ok());
  EXPECT_EQ(check_even(5).code(), StatusCode::kInvalidArgument);
}

TEST(Expected, OkStatusIsNotAValue) {
  Expected<int> e = Status::ok();
  EXPECT_FALSE(e.has_value());
  EXPECT_EQ(e.status().code(), StatusCode::kInternal);
}

TEST(ExpectedDeathTest, ValueOfErrorAborts) {
  Expected<int> e = invalid_argument("bad");
  EXPECT_DEATH((void)e.value(), "bad");
}

}  // namespace
}  // namespace tessera
