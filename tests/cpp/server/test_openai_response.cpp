// tests/cpp/server/test_openai_response.cpp — ResponseBuilder on hand-made engine events: the
// non-streamed bodies and the server-sent events of both endpoints, choice indices for several
// prompts x n, logprobs in each endpoint's shape, echo, usage, and engine errors and cancels.
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

// An event of stream `index` with `text` from token `token`; `finish` ends the stream.
TokenEvent event(int32_t index, const std::string& text, int32_t token = 300,
                 std::optional<FinishReason> finish = std::nullopt, int64_t completion_tokens = 0) {
  TokenEvent ev;
  ev.index = index;
  ev.text = text;
  ev.token_ids = {token};
  ev.finish_reason = finish;
  ev.usage.completion_tokens = completion_tokens;
  return ev;
}

// "p<prompt>s<stream>" (appended, not concatenated: GCC 12's -Wrestrict misfires on the latter at -O3).
std::string label(int prompt, int stream) {
  std::string r = "p";
  r += std::to_string(prompt);
  r += 's';
  r += std::to_string(stream);
  return r;
}

// The text of each choice, by index, from a list of streamed chunks (either endpoint).
std::map<int, std::string> streamed_texts(const std::vector<json>& events) {
  std::map<int, std::string> texts;
  for (const json& e : events) {
    if (!e.is_object() || !e.contains("choices")) continue;
    for (const json& c : e["choices"]) {
      const int i = c["index"];
      if (c.contains("text")) texts[i] += c["text"].get<std::string>();
      if (c.contains("delta") && c["delta"].contains("content")) texts[i] += c["delta"]["content"].get<std::string>();
    }
  }
  return texts;
}

TEST(OpenAiResponse, CompletionBody) {
  const ApiRequest req = parse_ok(kCmpl, R"({"prompt": "Hi there", "max_tokens": 3})");
  ResponseBuilder b(req, demo_context(), "cmpl-1", 1700000000);
  EXPECT_STREQ(b.content_type(), "application/json");
  EXPECT_EQ(b.on_event(0, event(0, "Hel", 300, std::nullopt, 1)), "");
  EXPECT_FALSE(b.done());
  EXPECT_EQ(b.on_event(0, event(0, "lo", 301, FinishReason::kLength, 2)), "");
  EXPECT_TRUE(b.done());
  EXPECT_EQ(b.http_status(), 200);
  const json j = json::parse(b.finish());
  EXPECT_EQ(j["id"], "cmpl-1");
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "demo");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["text"], "Hello");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  const int64_t prompt = req.prompt_tokens();
  EXPECT_EQ(j["usage"]["prompt_tokens"], prompt);
  EXPECT_EQ(j["usage"]["completion_tokens"], 2);
  EXPECT_EQ(j["usage"]["total_tokens"], prompt + 2);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  EXPECT_EQ(b.usage().completion_tokens, 2);
}

TEST(OpenAiResponse, ChatBody) {
  const ApiRequest req = parse_ok(kChat, R"({"messages": [{"role": "user", "content": "hi"}]})");
  ResponseBuilder b(req, demo_context(), "chatcmpl-1", 5);
  b.on_event(0, event(0, "Hi", 300, std::nullopt, 1));
  TokenEvent last = event(0, "!", 301, FinishReason::kStop, 2);
  last.usage.cached_prompt_tokens = 4;
  b.on_event(0, last);
  const json j = json::parse(b.finish());
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"], (json{{"role", "assistant"}, {"content", "Hi!"}}));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
}

TEST(OpenAiResponse, CompletionStreamWithUsage) {
  const ApiRequest req =
      parse_ok(kCmpl, R"({"prompt": "Hi", "stream": true, "stream_options": {"include_usage": true}})");
  ResponseBuilder b(req, demo_context(), "cmpl-2", 7);
  EXPECT_STREQ(b.content_type(), "text/event-stream");
  std::string sse = b.on_event(0, event(0, "A", 300, std::nullopt, 1));
  EXPECT_EQ(b.on_event(0, event(0, "", 301, std::nullopt, 2)), "") << "nothing to say: no chunk";
  sse += b.on_event(0, event(0, "B", 302, FinishReason::kStop, 3));
  sse += b.finish();
  const std::vector<json> ev = sse_events(sse);
  ASSERT_EQ(ev.size(), 4u) << sse;
  EXPECT_EQ(ev[0]["object"], "text_completion");
  EXPECT_EQ(ev[0]["id"], "cmpl-2");
  EXPECT_EQ(ev[0]["choices"][0]["text"], "A");
  EXPECT_TRUE(ev[0]["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(ev[0].contains("usage") && ev[0]["usage"].is_null());
  EXPECT_EQ(ev[1]["choices"][0]["text"], "B");
  EXPECT_EQ(ev[1]["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(ev[2]["choices"].empty());
  EXPECT_EQ(ev[2]["usage"]["completion_tokens"], 3);
  EXPECT_EQ(ev[2]["usage"]["total_tokens"], req.prompt_tokens() + 3);
  EXPECT_EQ(ev[3], "[DONE]");
}

TEST(OpenAiResponse, ChatStreamStartsWithTheRole) {
  const ApiRequest req = parse_ok(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "stream": true})");
  ResponseBuilder b(req, demo_context(), "chatcmpl-2", 7);
  std::string sse = b.on_event(0, event(0, "Hel"));
  sse += b.on_event(0, event(0, "lo"));
  sse += b.on_event(0, event(0, "", 2, FinishReason::kStop));
  sse += b.finish();
  const std::vector<json> ev = sse_events(sse);
  ASSERT_EQ(ev.size(), 5u) << sse;
  EXPECT_EQ(ev[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(ev[0]["choices"][0]["delta"], (json{{"role", "assistant"}, {"content", ""}}));
  EXPECT_EQ(ev[1]["choices"][0]["delta"], (json{{"content", "Hel"}}));
  EXPECT_EQ(ev[2]["choices"][0]["delta"], (json{{"content", "lo"}}));
  EXPECT_TRUE(ev[3]["choices"][0]["delta"].empty()) << "the last chunk's delta is empty when it has no text";
  EXPECT_EQ(ev[3]["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(ev[0].contains("usage")) << "usage: null only with include_usage";
  EXPECT_EQ(ev[4], "[DONE]");
}

TEST(OpenAiResponse, PromptsTimesNMapToChoiceIndices) {
  for (bool stream : {false, true}) {
    const ApiRequest req =
        parse_ok(kCmpl, json{{"prompt", {"a", "b"}}, {"n", 3}, {"stream", stream}, {"max_tokens", 4}}.dump());
    ResponseBuilder b(req, demo_context(), "cmpl-3", 7);
    std::string sse;
    // Interleaved: prompt 1 first, streams out of order; usage totals per prompt grow.
    for (int s : {2, 0, 1}) sse += b.on_event(1, event(s, label(1, s), 300, FinishReason::kLength, 3 + s));
    for (int s : {0, 1, 2}) sse += b.on_event(0, event(s, label(0, s), 300, FinishReason::kStop, 1 + s));
    EXPECT_TRUE(b.done());
    sse += b.on_event(0, event(0, "late")) + b.on_event(5, event(0, "bad prompt")) + b.on_event(0, event(3, "bad s"));
    const std::string body = b.finish();
    std::map<int, std::string> texts;
    if (stream) {
      texts = streamed_texts(sse_events(sse + body));
    } else {
      const json j = json::parse(body);
      ASSERT_EQ(j["choices"].size(), 6u);
      for (size_t i = 0; i < 6; ++i) {
        EXPECT_EQ(j["choices"][i]["index"], i);
        texts[static_cast<int>(i)] = j["choices"][i]["text"];
        EXPECT_EQ(j["choices"][i]["finish_reason"], i < 3 ? "stop" : "length");
      }
      EXPECT_EQ(j["usage"]["prompt_tokens"], req.prompt_tokens()) << "each prompt once, whatever n";
      EXPECT_EQ(j["usage"]["completion_tokens"], 3 + 5);  // the largest total of each prompt
    }
    for (int p = 0; p < 2; ++p)
      for (int s = 0; s < 3; ++s) EXPECT_EQ(texts[p * 3 + s], label(p, s));
  }
}

TEST(OpenAiResponse, CompletionLogprobs) {
  const ModelContext& m = demo_context();
  const Tokenizer& tok = *m.tokenizer;
  const std::vector<int32_t> ids = *tok.encode(" hello world", false);
  ASSERT_GE(ids.size(), 2u);
  for (bool stream : {false, true}) {
    const ApiRequest req = parse_ok(kCmpl, json{{"prompt", "x"}, {"logprobs", 2}, {"stream", stream}}.dump());
    ResponseBuilder b(req, m, "cmpl-4", 7);
    std::string sse;
    for (size_t i = 0; i < 2; ++i) {
      TokenEvent ev = event(0, tok.decode({ids[i]}), ids[i], i == 1 ? std::optional(FinishReason::kLength) : std::nullopt);
      // The sampled token is 2nd most likely at step 0 and outside the top 2 at step 1.
      const int32_t other = ids[i] == 500 ? 501 : 500;
      ev.logprobs.push_back({ids[i], i == 0 ? -0.5f : -3.0f, i == 0 ? 2 : 7,
                             {{other, -0.25f}, {i == 0 ? ids[i] : 502, i == 0 ? -0.5f : -1.0f}}});
      if (i == 1) ev.logprobs[0].logprob = -std::numeric_limits<float>::infinity();
      sse += b.on_event(0, ev);
    }
    json lp;
    if (stream) {
      const std::vector<json> ev = sse_events(sse + b.finish());
      ASSERT_EQ(ev.size(), 3u);
      lp = ev[0]["choices"][0]["logprobs"];
      const json& lp1 = ev[1]["choices"][0]["logprobs"];
      for (const char* k : {"tokens", "token_logprobs", "top_logprobs", "text_offset"}) lp[k].push_back(lp1[k][0]);
    } else {
      lp = json::parse(b.finish())["choices"][0]["logprobs"];
    }
    const std::string t0 = tok.decode({ids[0]}), t1 = tok.decode({ids[1]});
    EXPECT_EQ(lp["tokens"], (json{t0, t1}));
    EXPECT_EQ(lp["token_logprobs"], (json{-0.5, -9999.0})) << "-inf is not JSON: -9999";
    EXPECT_EQ(lp["text_offset"], (json{0, testing::json(t0).get<std::string>().size()}));
    ASSERT_EQ(lp["top_logprobs"].size(), 2u);
    EXPECT_EQ(lp["top_logprobs"][0].size(), 2u) << "top 2 holding the sampled token";
    EXPECT_EQ(lp["top_logprobs"][0][t0], -0.5);
    EXPECT_EQ(lp["top_logprobs"][1].size(), 3u) << "top 2 plus the sampled token";
    EXPECT_EQ(lp["top_logprobs"][1][t1], -9999.0);
  }
}

TEST(OpenAiResponse, ChatLogprobs) {
  const ModelContext& m = demo_context();
  const ApiRequest req =
      parse_ok(kChat, R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 1})");
  ResponseBuilder b(req, m, "chatcmpl-4", 7);
  const int32_t id = m.tokenizer->encode(" caf\xc3\xa9", false)->back();
  TokenEvent ev = event(0, "x", id, FinishReason::kStop);
  ev.logprobs.push_back({id, -1.5f, 2, {{600, -0.5f}, {id, -1.5f}}});
  b.on_event(0, ev);
  const json lp = json::parse(b.finish())["choices"][0]["logprobs"];
  ASSERT_EQ(lp["content"].size(), 1u);
  const json& e = lp["content"][0];
  const std::string text = m.tokenizer->decode({id});
  EXPECT_EQ(e["token"].get<std::string>(), text);
  EXPECT_EQ(e["logprob"], -1.5);
  std::vector<int> bytes(text.begin(), text.end());
  for (int& c : bytes) c &= 0xFF;
  EXPECT_EQ(e["bytes"], json(bytes));
  ASSERT_EQ(e["top_logprobs"].size(), 1u) << "exactly top_logprobs entries";
  EXPECT_EQ(e["top_logprobs"][0]["token"], m.tokenizer->decode({600}));
  EXPECT_EQ(e["top_logprobs"][0]["logprob"], -0.5);
  EXPECT_TRUE(lp["refusal"].is_null());
  // Without logprobs the field is null; with logprobs but no token, an empty list.
  const ApiRequest none = parse_ok(kChat, R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})");
  ResponseBuilder empty(none, m, "chatcmpl-5", 7);
  empty.on_event(0, TokenEvent{});  // a cancel before any token: no tokens, no logprobs
  EXPECT_EQ(json::parse(empty.finish())["choices"][0]["logprobs"]["content"], json::array());
}

TEST(OpenAiResponse, Echo) {
  const ApiRequest req = parse_ok(kCmpl, R"({"prompt": ["Say:", "Do:"], "echo": true})");
  ResponseBuilder b(req, demo_context(), "cmpl-5", 7);
  b.on_event(0, event(0, " hi", 300, FinishReason::kLength));
  const json j = json::parse(b.finish());
  EXPECT_EQ(j["choices"][0]["text"], "Say: hi");
  EXPECT_EQ(j["choices"][1]["text"], "Do:") << "a choice without events still echoes its prompt";
  EXPECT_EQ(j["choices"][1]["finish_reason"], "abort");
  const ApiRequest sreq = parse_ok(kCmpl, R"({"prompt": "Say:", "echo": true, "stream": true})");
  ResponseBuilder s(sreq, demo_context(), "cmpl-6", 7);
  std::string sse = s.on_event(0, event(0, ""));  // the echo goes out with the first event
  sse += s.on_event(0, event(0, " hi", 300, FinishReason::kStop));
  EXPECT_EQ(streamed_texts(sse_events(sse + s.finish()))[0], "Say: hi");
}

TEST(OpenAiResponse, EngineErrorAndCancel) {
  const ApiRequest req = parse_ok(kCmpl, R"({"prompt": "x", "n": 2})");
  ResponseBuilder b(req, demo_context(), "cmpl-7", 7);
  b.on_event(0, event(0, "a"));
  TokenEvent err;
  err.index = 1;
  err.finish_reason = FinishReason::kError;
  err.error = "model runner failed";
  b.on_event(0, err);
  TokenEvent cancel;
  cancel.index = 0;
  cancel.finish_reason = FinishReason::kCancelled;
  b.on_event(0, cancel);
  EXPECT_TRUE(b.done());
  EXPECT_EQ(b.http_status(), 500);
  const json j = json::parse(b.finish());
  EXPECT_EQ(j["error"]["message"], "model runner failed");
  EXPECT_EQ(j["error"]["type"], "server_error");

  const ApiRequest sreq = parse_ok(kChat, R"({"messages": [{"role": "user", "content": "x"}], "stream": true, "n": 2})");
  ResponseBuilder s(sreq, demo_context(), "chatcmpl-7", 7);
  std::string sse = s.on_event(0, event(0, "a"));
  sse += s.on_event(0, cancel);
  sse += s.on_event(0, err);
  sse += s.finish();
  EXPECT_EQ(s.http_status(), 200) << "a stream has sent its status already";
  const std::vector<json> ev = sse_events(sse);
  ASSERT_EQ(ev.size(), 6u) << sse;
  EXPECT_EQ(ev[2]["choices"][0]["finish_reason"], "abort");
  EXPECT_EQ(ev[3]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(ev[4]["error"]["message"], "model runner failed");
  EXPECT_EQ(ev[5], "[DONE]");
}

TEST(OpenAiResponse, UnfinishedChoicesAreAborted) {
  const ApiRequest req = parse_ok(kChat, R"({"messages": [{"role": "user", "content": "x"}]})");
  ResponseBuilder b(req, demo_context(), "chatcmpl-8", 7);
  b.on_event(0, event(0, "partial"));
  EXPECT_FALSE(b.done());
  const json j = json::parse(b.finish());
  EXPECT_EQ(j["choices"][0]["message"]["content"], "partial");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "abort");
}

}  // namespace
}  // namespace tessera::server
