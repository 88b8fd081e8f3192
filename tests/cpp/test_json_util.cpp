// src/core/json_util: the nesting bound every JSON file reader gets from parse_json, and
// json_excerpt's bounded rendering, which must hold for values far deeper and larger than any
// file may contain (a 100,000-deep value overflowed the stack through nlohmann's recursive dump).
#include "src/core/json_util.h"

#include <gtest/gtest.h>

#include <string>

namespace tessera {
namespace {

std::string nested(int depth, char open = '[', char close = ']') {
  return std::string(static_cast<size_t>(depth), open) +
         std::string(static_cast<size_t>(depth), close);
}

TEST(JsonUtil, TooDeepAtCountsBracketsOutsideStrings) {
  EXPECT_EQ(json_too_deep_at("[[1]]", 2), std::nullopt);
  EXPECT_EQ(json_too_deep_at("[[1]]", 1), std::optional<size_t>(1));
  EXPECT_EQ(json_too_deep_at(R"({"a": [{"b": 1}]})", 3), std::nullopt);
  EXPECT_EQ(json_too_deep_at(R"({"a": [{"b": 1}]})", 2), std::optional<size_t>(7));
  // Brackets inside strings, escaped quotes included, do not count.
  EXPECT_EQ(json_too_deep_at(R"(["[[[[", "\"[[[[", "\\"])", 1), std::nullopt);
  EXPECT_EQ(json_too_deep_at(R"(["\\", [1]])", 1), std::optional<size_t>(7));
  // Closing brackets never go below zero: "]]]][[" nests 2 deep, not 0.
  EXPECT_EQ(json_too_deep_at("]]]][[", 1), std::optional<size_t>(5));
  EXPECT_EQ(json_too_deep_at("", 0), std::nullopt);
}

TEST(JsonUtil, ParseJsonRefusesNestingPastTheBound) {
  EXPECT_TRUE(parse_json(nested(kMaxJsonDepth), "ok.json").has_value());
  for (int depth : {kMaxJsonDepth + 1, 100'000}) {
    const auto j = parse_json(nested(depth, '{', '}'), "deep.json");
    ASSERT_FALSE(j.has_value());
    EXPECT_EQ(j.status().code(), StatusCode::kDataLoss);
    EXPECT_EQ(j.status().message(), "deep.json: invalid JSON at byte " +
                                        std::to_string(kMaxJsonDepth) +
                                        ": nested deeper than 512 levels of arrays and objects");
  }
  const auto bad = parse_json("{\"a\": ", "bad.json");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("bad.json: invalid JSON at byte"), std::string::npos);
}

TEST(JsonUtil, ExcerptIsShortAndBoundedWhateverTheValue) {
  EXPECT_EQ(json_excerpt(Json(4096)), "4096");
  EXPECT_EQ(json_excerpt(Json("abc")), "\"abc\"");
  EXPECT_EQ(json_excerpt(Json::parse(R"({"a":[1,2,{"b":null}],"c":true})")),
            R"({"a":[1,2,{"b":null}],"c":true})");
  EXPECT_EQ(json_excerpt(Json::array({1, 2, 3})), Json::array({1, 2, 3}).dump());
  const std::string long_text(10'000'000, 'x');
  std::string expected = "\"";
  expected.append(36, 'x').append("...");
  EXPECT_EQ(json_excerpt(Json(long_text)), expected);
  EXPECT_EQ(json_excerpt(Json(std::string("\xff\xfe"))),
            "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // invalid UTF-8: U+FFFD

  // 100,000 levels, built without recursion (the parser would refuse it now).
  Json deep = Json::array();
  for (int i = 0; i < 100'000; ++i) deep = Json::array({std::move(deep)});
  const std::string e = json_excerpt(deep);
  expected.assign(37, '[').append("...");
  EXPECT_EQ(e, expected);
}

}  // namespace
}  // namespace tessera
