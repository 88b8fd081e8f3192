// tests/cpp/server/test_openai_api.cpp — the OpenAI API layer's errors, response ids and the small
// routes (/v1/models, /tokenize, /detokenize) on the demo model and on real tokenizers.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "tests/cpp/server/test_openai_util.h"

namespace tessera::server {
namespace {

using testing::body_json;
using testing::demo_context;
using testing::json;

TEST(OpenAiErrors, BodyHasOpenAiShape) {
  const json j = json::parse(error_body(ApiError::invalid("n", "n: must be in [1, 128], got 0")));
  ASSERT_TRUE(j.contains("error"));
  EXPECT_EQ(j["error"]["message"], "n: must be in [1, 128], got 0");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "n");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_EQ(j["error"].size(), 4u);
  // param and code are null when not set.
  const json u = json::parse(error_body(ApiError::unauthorized()));
  EXPECT_TRUE(u["error"]["param"].is_null());
  EXPECT_EQ(u["error"]["code"], "invalid_api_key");
}

TEST(OpenAiErrors, StatusesAndTypes) {
  EXPECT_EQ(ApiError::invalid("x", "m").status, 400);
  EXPECT_EQ(ApiError::unauthorized().status, 401);
  EXPECT_EQ(ApiError::model_not_found("gpt-9").status, 404);
  EXPECT_EQ(ApiError::model_not_found("gpt-9").code, "model_not_found");
  EXPECT_NE(ApiError::model_not_found("gpt-9").message.find("gpt-9"), std::string::npos);
  EXPECT_EQ(ApiError::not_found("GET /nope").status, 404);
  EXPECT_EQ(ApiError::method_not_allowed("GET", "/v1/completions").status, 405);
  const ApiError big = ApiError::payload_too_large(1024);
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.message.find("1024"), std::string::npos);
  EXPECT_EQ(ApiError::too_many_requests("queue full").status, 429);
  EXPECT_EQ(ApiError::too_many_requests("queue full").type, "rate_limit_error");
  EXPECT_EQ(ApiError::unavailable("loading").status, 503);
  EXPECT_EQ(ApiError::internal("bug").status, 500);
  EXPECT_EQ(ApiError::internal("bug").type, "server_error");
}

TEST(OpenAiErrors, FromEngineStatus) {
  const ApiError bad = ApiError::from_status(invalid_argument("max_tokens: must be at least 1, got 0"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.message, "max_tokens: must be at least 1, got 0");
  EXPECT_EQ(ApiError::from_status(Status(StatusCode::kCancelled, "engine: shutting down")).status, 503);
  EXPECT_EQ(ApiError::from_status(internal_error("boom")).status, 500);
  // The engine's messages about a request name its field first: that becomes `param` (it was null),
  // with the engine's prompt_token_ids read as the request's prompt; other messages keep it null.
  EXPECT_EQ(bad.param, "max_tokens");
  EXPECT_EQ(ApiError::from_status(invalid_argument("prompt_token_ids[3]: token id 9 is outside the vocabulary")).param,
            "prompt[3]");
  EXPECT_EQ(ApiError::from_status(invalid_argument("top_p: must be in (0, 1], got 0")).param, "top_p");
  EXPECT_EQ(ApiError::from_status(invalid_argument("sampler: logits must be [rows, >= vocab] fp32")).param, "");
  EXPECT_EQ(ApiError::from_status(invalid_argument("a message: with a space first")).param, "");
  EXPECT_EQ(ApiError::from_status(invalid_argument("no colon at all")).param, "");
  EXPECT_EQ(ApiError::from_status(invalid_argument("stop: x"), "messages").param, "messages");  // given wins
}

TEST(OpenAiErrors, SseErrorIsOneEvent) {
  const std::string s = sse_error(ApiError::internal("engine failed"));
  ASSERT_EQ(s.rfind("data: ", 0), 0u);
  ASSERT_EQ(s.substr(s.size() - 2), "\n\n");
  EXPECT_EQ(json::parse(s.substr(6))["error"]["message"], "engine failed");
}

TEST(OpenAiIds, PrefixedUniqueHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string c = make_response_id(Endpoint::kCompletions);
    ASSERT_EQ(c.rfind("cmpl-", 0), 0u);
    ASSERT_EQ(c.size(), 5u + 32u);
    EXPECT_EQ(c.find_first_not_of("0123456789abcdef", 5), std::string::npos);
    EXPECT_TRUE(seen.insert(c).second);
  }
  EXPECT_EQ(make_response_id(Endpoint::kChatCompletions).rfind("chatcmpl-", 0), 0u);
}

TEST(OpenAiModels, ListAndOne) {
  const ModelContext& m = demo_context();
  ASSERT_FALSE(m.model_name.empty()) << "demo model could not be made";
  const json list = json::parse(models_body(m, 1700000000));
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], "demo");
  EXPECT_EQ(list["data"][0]["object"], "model");
  EXPECT_EQ(list["data"][0]["created"], 1700000000);
  EXPECT_EQ(list["data"][0]["owned_by"], "tessera");
  EXPECT_EQ(list["data"][0]["max_model_len"], 2048);
  EXPECT_EQ(body_json(model_body("demo", m, 5))["id"], "demo");
  const json missing = body_json(model_body("gpt-4", m, 5));
  EXPECT_EQ(missing["status"], 404);
  EXPECT_EQ(missing["error"]["code"], "model_not_found");
}

TEST(OpenAiTokenize, PromptRoundTrip) {
  const ModelContext& m = demo_context();
  ASSERT_TRUE(m.tokenizer);
  const json t = body_json(tokenize_body(R"({"model": "demo", "prompt": "Hello world, the quick brown fox."})", m));
  ASSERT_FALSE(t.contains("error")) << t.dump();
  const std::vector<int32_t> want = *m.tokenizer->encode("Hello world, the quick brown fox.", true);
  EXPECT_EQ(t["tokens"].get<std::vector<int32_t>>(), want);
  EXPECT_EQ(t["tokens"][0], 1) << "add_special_tokens defaults to true for a prompt (bos first)";
  EXPECT_EQ(t["count"], want.size());
  EXPECT_EQ(t["max_model_len"], 2048);
  EXPECT_TRUE(t["token_strs"].is_null());
  const json d = body_json(detokenize_body(json{{"tokens", t["tokens"]}}.dump(), m));
  EXPECT_EQ(d["prompt"], "<|begin_of_text|>Hello world, the quick brown fox.");
  // Without special tokens, and with token strings.
  const json plain =
      body_json(tokenize_body(R"({"prompt": "Hello", "add_special_tokens": false, "return_token_strs": true})", m));
  EXPECT_EQ(plain["tokens"].get<std::vector<int32_t>>(), *m.tokenizer->encode("Hello", false));
  ASSERT_EQ(plain["token_strs"].size(), plain["tokens"].size());
  EXPECT_EQ(plain["token_strs"][0], *m.tokenizer->id_to_token(plain["tokens"][0].get<int32_t>()));
}

TEST(OpenAiTokenize, MessagesUseTheChatTemplate) {
  const ModelContext& m = demo_context();
  const json t = body_json(tokenize_body(R"({"messages": [{"role": "user", "content": "  hi  "}]})", m));
  ASSERT_FALSE(t.contains("error")) << t.dump();
  // The demo template: bos, "user: hi\n", then "assistant:" (add_generation_prompt defaults on).
  EXPECT_EQ(m.tokenizer->decode(t["tokens"].get<std::vector<int32_t>>()), "<|begin_of_text|>user: hi\nassistant:");
  const json no_gen = body_json(
      tokenize_body(R"({"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": false})", m));
  EXPECT_EQ(m.tokenizer->decode(no_gen["tokens"].get<std::vector<int32_t>>()), "<|begin_of_text|>user: hi\n");
}

TEST(OpenAiTokenize, Errors) {
  const ModelContext& m = demo_context();
  auto err = [&](const std::string& body) { return body_json(tokenize_body(body, m)); };
  EXPECT_EQ(err("{}")["error"]["param"], "prompt");
  EXPECT_EQ(err(R"({"prompt": "a", "messages": []})")["status"], 400);
  EXPECT_EQ(err(R"({"prompt": 3})")["error"]["message"], "prompt: must be a string, got integer 3");
  EXPECT_EQ(err(R"({"prompt": "a", "model": "other"})")["status"], 404);
  EXPECT_EQ(err(R"({"prompt": "a", "add_special_tokens": "yes"})")["error"]["param"], "add_special_tokens");
  EXPECT_EQ(err(R"({"messages": [{"role": "wizard", "content": "x"}]})")["error"]["param"], "messages[0].role");
  EXPECT_EQ(err("not json")["status"], 400);
  EXPECT_EQ(err("[1, 2]")["error"]["message"], "request body: must be a JSON object, got array of 2");
}

TEST(OpenAiDetokenize, Errors) {
  const ModelContext& m = demo_context();
  auto err = [&](const std::string& body) { return body_json(detokenize_body(body, m)); };
  EXPECT_EQ(err("{}")["error"]["param"], "tokens");
  EXPECT_EQ(err(R"({"tokens": "abc"})")["error"]["param"], "tokens");
  const json out = err(R"({"tokens": [5, 4096]})");
  EXPECT_EQ(out["error"]["param"], "tokens[1]");
  EXPECT_EQ(out["error"]["message"], "tokens[1]: token id 4096 is outside the vocabulary [0, 4096)");
  EXPECT_EQ(err(R"({"tokens": [-1]})")["error"]["param"], "tokens[0]");
  EXPECT_EQ(err(R"({"tokens": [1.5]})")["error"]["param"], "tokens[0]");
  EXPECT_EQ(err(R"({"tokens": [18446744073709551615]})")["error"]["param"], "tokens[0]");
  EXPECT_EQ(err(R"({"tokens": []})")["prompt"], "");
}

TEST(OpenAiBody, DepthIsBoundedBeforeParsing) {
  const ModelContext& m = demo_context();
  const std::string deep = "{\"tokens\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  const json j = body_json(detokenize_body(deep, m));
  EXPECT_EQ(j["status"], 400);
  EXPECT_NE(j["error"]["message"].get<std::string>().find("nested deeper than 64"), std::string::npos);
  // Brackets inside strings do not count.
  const json s = body_json(tokenize_body("{\"prompt\": \"" + std::string(200, '[') + "\\\"\"}", m));
  EXPECT_EQ(s["count"], s["tokens"].size());
  EXPECT_FALSE(s.contains("error"));
}

// A body of `members` members: "prompt" and k1..k(members-1).
std::string wide_body(int members) {
  std::string body = "{\"prompt\": \"x\"";
  for (int i = 1; i < members; ++i) {
    body += ", \"k";
    body += std::to_string(i);
    body += "\": [1, 2]";
  }
  return body + "}";
}

TEST(OpenAiBody, ObjectMembersAreBoundedBeforeParsing) {
  // Objects keep key order in a map searched linearly: without the bound, 100,000 keys would take
  // seconds to parse.
  const ModelContext& m = demo_context();
  EXPECT_FALSE(body_json(tokenize_body(wide_body(256), m)).contains("error"));
  const json wide = body_json(tokenize_body(wide_body(257), m));
  EXPECT_EQ(wide["status"], 400);
  EXPECT_EQ(wide["error"]["message"], "request body: a JSON object has more than 256 members");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(body_json(tokenize_body(wide_body(100000), m))["status"], 400);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // Commas in arrays and strings do not count.
  json many = json::object();
  many["prompt"] = std::string(1000, ',');
  many["tokens"] = std::vector<int>(5000, 1);
  EXPECT_FALSE(body_json(tokenize_body(many.dump(), m)).contains("error"));
}

TEST(OpenAiBody, NumbersBeyondDoubleAreA400) {
  const json j = body_json(tokenize_body(R"({"prompt": "x", "n": 1e400})", demo_context()));
  EXPECT_EQ(j["status"], 400);
  EXPECT_EQ(j["error"]["message"].get<std::string>().rfind("request body: unsupported JSON", 0), 0u) << j.dump();
}

TEST(OpenAiTokenize, RealTokenizerAndTemplate) {
  auto m = testing::real_context("llama-3.1-instruct", "llama-3.1-instruct", 128256);
  if (!m) GTEST_SKIP() << "shared tokenizer data not found under " << testing::shared_data();
  const json t = body_json(tokenize_body(
      R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]}], "chat_template_kwargs": {"date_string": "26 Jul 2024"}})",
      *m));
  ASSERT_FALSE(t.contains("error")) << t.dump();
  const std::string text = m->tokenizer->decode(t["tokens"].get<std::vector<int32_t>>());
  EXPECT_EQ(text.rfind("<|begin_of_text|><|start_header_id|>system<|end_header_id|>", 0), 0u) << text;
  EXPECT_NE(text.find("Today Date: 26 Jul 2024"), std::string::npos) << text;
  EXPECT_NE(text.find("<|start_header_id|>user<|end_header_id|>\n\nHi\nthere<|eot_id|>"), std::string::npos) << text;
  EXPECT_TRUE(text.ends_with("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")) << text;
  // One bos only: chat text is tokenized without adding special tokens again.
  EXPECT_EQ(t["tokens"][1], m->tokenizer->token_to_id("<|start_header_id|>").value());
}

}  // namespace
}  // namespace tessera::server
