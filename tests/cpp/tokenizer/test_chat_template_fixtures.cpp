// tests/cpp/tokenizer/test_chat_template_fixtures.cpp — chat templates rendered byte for byte as
// Python's jinja2 renders them with Hugging Face's settings. The expected outputs were made by
// tools/gen_chat_template_fixtures.py (jinja2 3.1) and are committed under
// tests/data/chat_templates/:
//   constructs.json      one small template per construct (and per error), self-contained;
//   real_templates.json  every template in ../shared/data (skipped when that folder is absent).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/tokenizer/chat_template.h"

namespace tessera {
namespace {

constexpr std::int64_t kFixtureNow = 1721952000;  // 2024-07-26 00:00:00, as in the generator

OrderedJson read_json(const std::filesystem::path& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return OrderedJson::parse(ss.str());
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ChatContext context_of(const OrderedJson& c) {
  ChatContext ctx;
  auto opt = [&](const char* key, std::optional<std::string>* out) {
    if (c.contains(key) && c[key].is_string()) *out = c[key].get<std::string>();
  };
  opt("bos_token", &ctx.bos_token);
  opt("eos_token", &ctx.eos_token);
  opt("unk_token", &ctx.unk_token);
  opt("pad_token", &ctx.pad_token);
  if (c.contains("tools")) ctx.tools = c["tools"];
  if (c.contains("documents")) ctx.documents = c["documents"];
  if (c.contains("variables")) ctx.variables = c["variables"];
  ctx.now_unix_seconds = kFixtureNow;
  return ctx;
}

// Renders one fixture case; returns "" when it matched, else what differed.
std::string check_case(const std::string& source, const OrderedJson& c) {
  std::string name = c["name"].get<std::string>();
  auto tmpl = ChatTemplate::parse(source, name);
  const bool want_error = c.contains("error");
  if (!tmpl) {
    if (want_error) return "";
    return name + ": parse failed: " + tmpl.status().message();
  }
  auto out = tmpl->render_json(c["messages"], c["add_generation_prompt"].get<bool>(), context_of(c["context"]));
  if (want_error) {
    if (out) return name + ": expected an error (" + c["error"].get<std::string>() + "), rendered:\n" + *out;
    if (c["error_kind"] == "raise" &&
        out.status().message().find(c["error"].get<std::string>()) == std::string::npos) {
      return name + ": error message lacks the template's own message '" + c["error"].get<std::string>() +
             "': " + out.status().message();
    }
    return "";
  }
  if (!out) return name + ": render failed: " + out.status().message();
  const std::string expected = c["expected"].get<std::string>();
  if (*out != expected) {
    return name + ": output differs\n--- jinja2:\n" + OrderedJson(expected).dump() + "\n--- tessera:\n" +
           OrderedJson(*out).dump();
  }
  return "";
}

TEST(ChatTemplateFixtures, ConstructsMatchJinja2) {
  const auto path = std::filesystem::path(TESSERA_TEST_DATA) / "chat_templates" / "constructs.json";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  OrderedJson cases = read_json(path);
  ASSERT_GT(cases.size(), 50u);
  int failures = 0;
  for (const auto& c : cases) {
    std::string diff = check_case(c["source"].get<std::string>(), c);
    if (!diff.empty()) {
      ++failures;
      ADD_FAILURE() << diff;
    }
  }
  EXPECT_EQ(failures, 0) << "of " << cases.size() << " construct cases";
}

TEST(ChatTemplateFixtures, RealTemplatesMatchJinja2) {
  const std::filesystem::path shared = TESSERA_SHARED_DATA;
  if (!std::filesystem::exists(shared / "chat_templates")) {
    GTEST_SKIP() << "shared data folder " << shared << " is absent: real chat templates not checked";
  }
  const auto path = std::filesystem::path(TESSERA_TEST_DATA) / "chat_templates" / "real_templates.json";
  OrderedJson cases = read_json(path);
  ASSERT_GT(cases.size(), 100u);
  int failures = 0, checked = 0;
  std::map<std::string, std::string> sources;
  for (const auto& c : cases) {
    const std::string rel = c["template"].get<std::string>();
    std::string source;
    if (rel.size() > 6 && rel.compare(rel.size() - 6, 6, ".jinja") == 0) {
      source = read_text(shared / rel);
    } else {
      source = read_json(shared / rel)["chat_template"].get<std::string>();
    }
    std::string diff = check_case(source, c);
    ++checked;
    if (!diff.empty()) {
      ++failures;
      ADD_FAILURE() << rel << ": " << diff;
    }
  }
  EXPECT_EQ(failures, 0) << "of " << checked << " real-template cases";
}

}  // namespace
}  // namespace tessera
