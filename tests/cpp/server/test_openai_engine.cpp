// tests/cpp/server/test_openai_engine.cpp — the OpenAI layer end to end over the real engine on the
// demo model (CPU): parse_request → Engine::submit → ResponseBuilder, as the HTTP server does.
// Streamed and non-streamed answers agree, n and several prompts fill every choice, seeds repeat,
// stop strings cut the text, and usage and logprobs match what was generated.
#include <gtest/gtest.h>

#include <map>

#include "tests/cpp/server/test_openai_util.h"

namespace tessera::server {
namespace {

using testing::demo_context;
using testing::json;
using testing::parse_ok;
using testing::sse_events;

constexpr Endpoint kCmpl = Endpoint::kCompletions;
constexpr Endpoint kChat = Endpoint::kChatCompletions;

Engine& demo_engine() {
  static std::unique_ptr<Engine> engine = [] {
    EngineOptions options;
    options.kv_cache_bytes = 64ll << 20;
    options.seed = 1234;
    auto dir = ensure_demo_model();
    if (!dir) return std::unique_ptr<Engine>();
    auto e = Engine::create(*dir, options);
    return e ? std::move(*e) : std::unique_ptr<Engine>();
  }();
  return *engine;
}

// Runs a request body through the engine; returns the whole response text (body or SSE).
std::string run(Endpoint ep, const std::string& body, int* status = nullptr) {
  ApiRequest req = parse_ok(ep, body);
  const std::string id = make_response_id(ep);
  assign_request_ids(req, id);
  ResponseBuilder b(req, demo_context(), id, 1700000000);
  std::string out;
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const GenerationRequest& g : req.prompts) {
    auto s = demo_engine().submit(g);
    if (!s) {
      ADD_FAILURE() << s.status().message();
      return "";
    }
    streams.push_back(*s);
  }
  for (size_t p = 0; p < streams.size(); ++p)
    while (auto ev = streams[p]->next()) out += b.on_event(p, *ev);
  EXPECT_TRUE(b.done());
  out += b.finish();
  if (status) *status = b.http_status();
  return out;
}

std::map<int, std::string> texts_of(const std::string& out, bool stream, std::map<int, std::string>* finish = nullptr) {
  std::map<int, std::string> texts;
  if (!stream) {
    const json j = json::parse(out);
    for (const json& c : j["choices"]) {
      texts[c["index"]] = c.contains("message") ? c["message"]["content"] : c["text"];
      if (finish) (*finish)[c["index"]] = c["finish_reason"];
    }
    return texts;
  }
  for (const json& e : sse_events(out)) {
    if (!e.is_object()) continue;
    for (const json& c : e["choices"]) {
      const int i = c["index"];
      if (c.contains("text")) texts[i] += c["text"].get<std::string>();
      if (c.contains("delta") && c["delta"].contains("content")) texts[i] += c["delta"]["content"].get<std::string>();
      if (finish && !c["finish_reason"].is_null()) (*finish)[i] = c["finish_reason"];
    }
  }
  return texts;
}

TEST(OpenAiEngine, StreamedEqualsWholeForPromptsTimesN) {
  ASSERT_TRUE(demo_context().tokenizer);
  const std::string base = R"({"prompt": ["Once upon a time", "The quick brown fox"], "n": 2, "max_tokens": 6,
                               "temperature": 0.8, "seed": 5, "ignore_eos": true)";
  const std::string whole = run(kCmpl, base + "}");
  const std::string streamed = run(kCmpl, base + R"(, "stream": true, "stream_options": {"include_usage": true}})");
  std::map<int, std::string> fin_whole, fin_stream;
  const auto a = texts_of(whole, false, &fin_whole);
  const auto b = texts_of(streamed, true, &fin_stream);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a, b);
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(a.at(i).empty());
    EXPECT_EQ(fin_whole[i], "length");
    EXPECT_EQ(fin_stream[i], "length");
  }
  const json usage = json::parse(whole)["usage"];
  EXPECT_EQ(usage["completion_tokens"], 4 * 6);
  const auto ids_a = *demo_context().tokenizer->encode("Once upon a time", true);
  const auto ids_b = *demo_context().tokenizer->encode("The quick brown fox", true);
  EXPECT_EQ(usage["prompt_tokens"], ids_a.size() + ids_b.size());
  const std::vector<json> ev = sse_events(streamed);
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[ev.size() - 2]["usage"], usage);
  EXPECT_EQ(ev.back(), "[DONE]");
}

TEST(OpenAiEngine, SeedsRepeat) {
  const std::string body = R"({"prompt": "Hello", "max_tokens": 8, "temperature": 1.0, "seed": 99, "ignore_eos": true})";
  EXPECT_EQ(texts_of(run(kCmpl, body), false), texts_of(run(kCmpl, body), false));
}

TEST(OpenAiEngine, StopStringCutsTheText) {
  const std::string greedy = R"({"prompt": "In the beginning", "max_tokens": 16, "temperature": 0, "ignore_eos": true)";
  const std::string full = texts_of(run(kCmpl, greedy + "}"), false).at(0);
  ASSERT_GE(full.size(), 6u) << full;
  const std::string stop = full.substr(3, 2);
  const size_t at = full.find(stop);
  std::map<int, std::string> finish;
  const std::string cut = texts_of(run(kCmpl, greedy + R"(, "stop": [")" + stop + R"("]})"), false, &finish).at(0);
  EXPECT_EQ(cut, full.substr(0, at)) << "full: '" << full << "', stop: '" << stop << "'";
  EXPECT_EQ(finish[0], "stop");
}

TEST(OpenAiEngine, LogprobsMatchTheTokens) {
  const json j = json::parse(run(kCmpl, R"({"prompt": "Hello", "max_tokens": 5, "logprobs": 3, "ignore_eos": true})"));
  const json& lp = j["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 5u);
  std::string joined;
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
    const size_t k = lp["top_logprobs"][i].size();
    EXPECT_TRUE(k >= 1 && k <= 4) << k;
    joined += lp["tokens"][i].get<std::string>();
  }
  EXPECT_EQ(joined, j["choices"][0]["text"].get<std::string>()) << "ASCII-ish demo tokens concatenate to the text";
  EXPECT_EQ(lp["text_offset"][0], 0);

  const json c = json::parse(run(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4,
                                            "logprobs": true, "top_logprobs": 2, "ignore_eos": true})"));
  const json& content = c["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 4u);
  for (const json& t : content) EXPECT_EQ(t["top_logprobs"].size(), 2u);
  EXPECT_EQ(c["usage"]["completion_tokens"], 4);
}

TEST(OpenAiEngine, ChatStreamAndWholeAgree) {
  const std::string base = R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                               "max_completion_tokens": 7, "temperature": 0, "n": 2)";
  const std::string streamed = run(kChat, base + R"(, "stream": true})");
  EXPECT_EQ(texts_of(run(kChat, base + "}"), false), texts_of(streamed, true));
  const std::vector<json> ev = sse_events(streamed);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(ev[0]["object"], "chat.completion.chunk");
}

TEST(OpenAiEngine, EchoPrependsThePrompt) {
  const auto t = texts_of(run(kCmpl, R"({"prompt": "Echo me", "max_tokens": 3, "echo": true, "temperature": 0})"), false);
  EXPECT_EQ(t.at(0).rfind("Echo me", 0), 0u) << t.at(0);
}

}  // namespace
}  // namespace tessera::server
