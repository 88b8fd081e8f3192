// tests/cpp/server/test_openai_request.cpp — parse_request: every field of /v1/completions and
// /v1/chat/completions into GenerationRequests, and every error path (type, range, limit, context
// length, unknown model), on the demo model (vocab 4096, context 2048) and on real templates.
#include <gtest/gtest.h>

#include "tests/cpp/server/test_openai_util.h"

namespace tessera::server {
namespace {

using testing::demo_context;
using testing::json;
using testing::parse_error;
using testing::parse_ok;

constexpr Endpoint kCmpl = Endpoint::kCompletions;
constexpr Endpoint kChat = Endpoint::kChatCompletions;

std::vector<int32_t> encode(const std::string& text, bool special = true) {
  return *demo_context().tokenizer->encode(text, special);
}

TEST(OpenAiRequest, CompletionDefaults) {
  const ApiRequest r = parse_ok(kCmpl, R"({"model": "demo", "prompt": "Hello world"})");
  EXPECT_EQ(r.endpoint, kCmpl);
  EXPECT_EQ(r.model, "demo");
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_FALSE(r.echo);
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(r.logprobs, -1);
  ASSERT_EQ(r.prompts.size(), 1u);
  const GenerationRequest& g = r.prompts[0];
  EXPECT_EQ(g.prompt_token_ids, encode("Hello world"));
  EXPECT_EQ(g.prompt_token_ids[0], 1) << "bos from the tokenizer's post-processor";
  EXPECT_EQ(g.max_tokens, 16) << "completions default, as OpenAI and vLLM";
  EXPECT_EQ(g.n, 1);
  EXPECT_FLOAT_EQ(g.sampling.temperature, 1.0f);
  EXPECT_FALSE(g.sampling.seed.has_value());
  EXPECT_TRUE(g.stop.empty());
  EXPECT_EQ(g.logprobs, -1);
  EXPECT_TRUE(g.request_id.empty());
  EXPECT_EQ(r.prompt_texts, std::vector<std::string>{"Hello world"});
  EXPECT_EQ(r.prompt_tokens(), static_cast<int64_t>(g.prompt_token_ids.size()));
  // "model" may be left out: the served model.
  EXPECT_EQ(parse_ok(kCmpl, R"({"prompt": "x"})").model, "demo");
}

TEST(OpenAiRequest, EveryFieldReachesTheEngineRequest) {
  const ApiRequest r = parse_ok(kCmpl, R"({
    "prompt": "Hi", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "n": 3, "stream": true,
    "stream_options": {"include_usage": true}, "stop": ["\n", "END"], "seed": 42, "logprobs": 2,
    "presence_penalty": 0.5, "frequency_penalty": -0.25, "user": "u1", "top_k": 40, "min_p": 0.05,
    "repetition_penalty": 1.1, "min_tokens": 2, "ignore_eos": true, "stop_token_ids": [5, 6],
    "priority": -3, "cache_salt": "tenant-a", "best_of": 3, "logit_bias": {}, "unknown_field": {"x": 1}})");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.n, 3);
  EXPECT_EQ(r.logprobs, 2);
  EXPECT_EQ(r.user, "u1");
  EXPECT_EQ(r.num_choices(), 3u);
  const GenerationRequest& g = r.prompts.at(0);
  EXPECT_EQ(g.max_tokens, 7);
  EXPECT_EQ(g.n, 3);
  EXPECT_FLOAT_EQ(g.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.top_p, 0.9f);
  EXPECT_EQ(g.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(g.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(g.sampling.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(g.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.frequency_penalty, -0.25f);
  EXPECT_EQ(g.sampling.seed, 42u);
  EXPECT_EQ(g.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_EQ(g.logprobs, 2);
  EXPECT_EQ(g.min_tokens, 2);
  EXPECT_TRUE(g.ignore_eos);
  EXPECT_EQ(g.stop_token_ids, (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(g.priority, -3);
  EXPECT_EQ(g.cache_salt, "tenant-a");
  // null means "not given" everywhere.
  const ApiRequest nulls = parse_ok(kCmpl, R"({"prompt": "Hi", "max_tokens": null, "stop": null, "seed": null,
    "temperature": null, "logprobs": null, "n": null, "stream": null})");
  EXPECT_EQ(nulls.prompts[0].max_tokens, 16);
  EXPECT_EQ(nulls.n, 1);
  // A single stop string, a negative seed.
  const ApiRequest one = parse_ok(kCmpl, R"({"prompt": "Hi", "stop": "x", "seed": -1})");
  EXPECT_EQ(one.prompts[0].stop, std::vector<std::string>{"x"});
  EXPECT_EQ(one.prompts[0].sampling.seed, UINT64_MAX);
}

TEST(OpenAiRequest, PromptShapes) {
  const ApiRequest ids = parse_ok(kCmpl, R"({"prompt": [1, 300, 301]})");
  ASSERT_EQ(ids.prompts.size(), 1u);
  EXPECT_EQ(ids.prompts[0].prompt_token_ids, (std::vector<int32_t>{1, 300, 301}));
  EXPECT_EQ(ids.prompt_texts[0], demo_context().tokenizer->decode({1, 300, 301}));

  const ApiRequest strs = parse_ok(kCmpl, R"({"prompt": ["a b", "c"], "n": 2})");
  ASSERT_EQ(strs.prompts.size(), 2u);
  EXPECT_EQ(strs.prompts[1].prompt_token_ids, encode("c"));
  EXPECT_EQ(strs.num_choices(), 4u);
  EXPECT_EQ(strs.prompt_texts, (std::vector<std::string>{"a b", "c"}));

  const ApiRequest lists = parse_ok(kCmpl, R"({"prompt": [[7, 8], [9]]})");
  ASSERT_EQ(lists.prompts.size(), 2u);
  EXPECT_EQ(lists.prompts[1].prompt_token_ids, std::vector<int32_t>{9});

  const ApiRequest plain = parse_ok(kCmpl, R"({"prompt": "Hi", "add_special_tokens": false})");
  EXPECT_EQ(plain.prompts[0].prompt_token_ids, encode("Hi", false));

  ApiRequest named = lists;
  assign_request_ids(named, "cmpl-abc");
  EXPECT_EQ(named.prompts[0].request_id, "cmpl-abc-0");
  EXPECT_EQ(named.prompts[1].request_id, "cmpl-abc-1");
  ApiRequest single = ids;
  assign_request_ids(single, "cmpl-abc");
  EXPECT_EQ(single.prompts[0].request_id, "cmpl-abc");
}

TEST(OpenAiRequest, PromptErrors) {
  auto param = [](const std::string& body) { return parse_error(kCmpl, body).param; };
  EXPECT_EQ(param(R"({})"), "prompt");
  EXPECT_EQ(param(R"({"prompt": 5})"), "prompt");
  EXPECT_EQ(param(R"({"prompt": []})"), "prompt");
  EXPECT_EQ(param(R"({"prompt": [1, "a"]})"), "prompt[1]");
  EXPECT_EQ(param(R"({"prompt": ["a", 1]})"), "prompt[1]");
  EXPECT_EQ(param(R"({"prompt": [[1], "a"]})"), "prompt[1]");
  EXPECT_EQ(param(R"({"prompt": [[1], [2, 5000]]})"), "prompt[1][1]");
  EXPECT_EQ(param(R"({"prompt": [[1], []]})"), "prompt[1]");
  EXPECT_EQ(param(R"({"prompt": [1, -5]})"), "prompt[1]");
  EXPECT_EQ(param(R"({"prompt": "", "add_special_tokens": false})"), "prompt");
  const ApiError e = parse_error(kCmpl, R"({"prompt": [1, 4096]})");
  EXPECT_EQ(e.message, "prompt[1]: token id 4096 is outside the vocabulary [0, 4096)");
  ApiLimits few;
  few.max_prompts = 2;
  EXPECT_EQ(parse_error(kCmpl, R"({"prompt": ["a", "b", "c"]})", demo_context(), few).message,
            "prompt: at most 2 prompts in one request, got 3");
}

TEST(OpenAiRequest, FieldTypeAndRangeErrors) {
  struct Case {
    const char* fields;
    const char* param;
  };
  const Case cases[] = {
      {R"("n": 0)", "n"},
      {R"("n": 129)", "n"},
      {R"("n": 1.5)", "n"},
      {R"("n": "2")", "n"},
      {R"("max_tokens": 0)", "max_tokens"},
      {R"("max_tokens": -1)", "max_tokens"},
      {R"("max_tokens": "5")", "max_tokens"},
      {R"("max_tokens": 2.0)", "max_tokens"},
      {R"("temperature": -0.1)", "temperature"},
      {R"("temperature": 2.5)", "temperature"},
      {R"("temperature": "hot")", "temperature"},
      {R"("top_p": 0)", "top_p"},
      {R"("top_p": 1.01)", "top_p"},
      {R"("top_k": -2)", "top_k"},
      {R"("top_k": 0.5)", "top_k"},
      {R"("min_p": 1.5)", "min_p"},
      {R"("repetition_penalty": 0)", "repetition_penalty"},
      {R"("presence_penalty": 2.1)", "presence_penalty"},
      {R"("frequency_penalty": -3)", "frequency_penalty"},
      {R"("seed": 1.5)", "seed"},
      {R"("seed": "1")", "seed"},
      {R"("stream": 1)", "stream"},
      {R"("stream_options": {"include_usage": true})", "stream_options"},
      {R"("stream": true, "stream_options": {"include_usage": "yes"})", "stream_options.include_usage"},
      {R"("stream": true, "stream_options": 3)", "stream_options"},
      {R"("stop": 3)", "stop"},
      {R"("stop": [""])", "stop[0]"},
      {R"("stop": "")", "stop"},
      {R"("stop": ["a", 3])", "stop[1]"},
      {R"("logprobs": 21)", "logprobs"},
      {R"("logprobs": -1)", "logprobs"},
      {R"("logprobs": true)", "logprobs"},
      {R"("echo": "yes")", "echo"},
      {R"("echo": true, "logprobs": 1)", "echo"},
      {R"("user": 5)", "user"},
      {R"("min_tokens": -1)", "min_tokens"},
      {R"("min_tokens": 20, "max_tokens": 10)", "min_tokens"},
      {R"("ignore_eos": "no")", "ignore_eos"},
      {R"("stop_token_ids": [4096])", "stop_token_ids[0]"},
      {R"("stop_token_ids": 5)", "stop_token_ids"},
      {R"("priority": 1e3)", "priority"},
      {R"("priority": 3000000000)", "priority"},
      {R"("cache_salt": "")", "cache_salt"},
      {R"("cache_salt": 1)", "cache_salt"},
      {R"("best_of": 2)", "best_of"},
      {R"("logit_bias": {"5": 10})", "logit_bias"},
      {R"("logit_bias": [1])", "logit_bias"},
      {R"("suffix": "tail")", "suffix"},
      {R"("add_special_tokens": 0)", "add_special_tokens"},
  };
  for (const Case& c : cases) {
    const std::string body = std::string(R"({"prompt": "Hi", )") + c.fields + "}";
    const ApiError e = parse_error(kCmpl, body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, c.param) << body << " -> " << e.message;
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.message.rfind(c.param, 0), 0u) << "the message names the field: " << e.message;
  }
  EXPECT_EQ(parse_error(kCmpl, R"({"prompt": "Hi", "n": 0})").message, "n: must be in [1, 128], got integer 0");
  EXPECT_EQ(parse_error(kCmpl, R"({"prompt": "Hi", "temperature": "hot"})").message,
            "temperature: must be a number in [0, 2], got string \"hot\"");
}

TEST(OpenAiRequest, LimitsOnStopsAndChoices) {
  ApiLimits limits;
  limits.max_stop = 2;
  limits.max_stop_bytes = 4;
  limits.max_choices = 5;
  limits.max_stop_token_ids = 1;
  const ModelContext& m = demo_context();
  EXPECT_EQ(parse_error(kCmpl, R"({"prompt": "Hi", "stop": ["a", "b", "c"]})", m, limits).message,
            "stop: at most 2 stop strings, got 3");
  EXPECT_EQ(parse_error(kCmpl, R"({"prompt": "Hi", "stop": ["a", "abcde"]})", m, limits).message,
            "stop[1]: at most 4 bytes, got 5");
  EXPECT_EQ(parse_error(kCmpl, R"({"prompt": "Hi", "stop_token_ids": [3, 4]})", m, limits).param, "stop_token_ids");
  const ApiError choices = parse_error(kCmpl, R"({"prompt": ["a", "b", "c"], "n": 2})", m, limits);
  EXPECT_EQ(choices.param, "n");
  EXPECT_NE(choices.message.find("6 choices; at most 5"), std::string::npos) << choices.message;
  parse_ok(kCmpl, R"({"prompt": ["a"], "n": 5})", m, limits);
}

TEST(OpenAiRequest, ContextLength) {
  ASSERT_EQ(demo_context().max_model_len, 2048);
  json ids = json::array();
  for (int i = 0; i < 2000; ++i) ids.push_back(300 + i % 100);
  // Explicit max_tokens that does not fit: both numbers in the message.
  const ApiError e = parse_error(kCmpl, json{{"prompt", ids}, {"max_tokens", 49}}.dump());
  EXPECT_EQ(e.param, "max_tokens");
  EXPECT_EQ(e.message,
            "max_tokens: 2000 prompt tokens + 49 = 2049 tokens exceed the model's context length of 2048 tokens; "
            "ask for at most 48");
  EXPECT_EQ(parse_ok(kCmpl, json{{"prompt", ids}, {"max_tokens", 48}}.dump()).prompts[0].max_tokens, 48);
  // Absent max_tokens: the default, cut to what fits.
  ids.insert(ids.end(), 40, 300);  // 2040 tokens
  EXPECT_EQ(parse_ok(kCmpl, json{{"prompt", ids}}.dump()).prompts[0].max_tokens, 8);
  // A prompt that fills the context.
  json full = json::array();
  for (int i = 0; i < 2048; ++i) full.push_back(7);
  const ApiError f = parse_error(kCmpl, json{{"prompt", full}}.dump());
  EXPECT_EQ(f.param, "prompt");
  EXPECT_NE(f.message.find("2048 tokens, but the model's context length is 2048"), std::string::npos) << f.message;
  // Chat without max_tokens: the rest of the context.
  const ApiRequest chat = parse_ok(kChat, R"({"messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_EQ(chat.prompts[0].max_tokens, 2048 - static_cast<int64_t>(chat.prompts[0].prompt_token_ids.size()));
  // Chat: max_completion_tokens wins over max_tokens and names itself in errors.
  const ApiRequest both =
      parse_ok(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 9, "max_completion_tokens": 5})");
  EXPECT_EQ(both.prompts[0].max_tokens, 5);
  EXPECT_EQ(parse_error(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 5000})")
                .param,
            "max_completion_tokens");
}

TEST(OpenAiRequest, UnknownModelIs404) {
  const ApiError e = parse_error(kCmpl, R"({"model": "gpt-4o", "prompt": "Hi"})");
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.code, "model_not_found");
  EXPECT_EQ(parse_error(kChat, R"({"model": 3, "messages": []})").param, "model");
}

TEST(OpenAiRequest, MalformedBodies) {
  for (const char* body : {"", "{", "null", "[]", "\"text\"", "{\"prompt\": \"a\",}", "{\"prompt\": \"\xff\"}"}) {
    const ApiError e = parse_error(kCmpl, body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.message.rfind("request body: ", 0), 0u) << e.message;
  }
}

TEST(OpenAiRequest, ChatRendersTheTemplate) {
  const ApiRequest r = parse_ok(kChat, R"({"model": "demo", "messages": [
      {"role": "developer", "content": "Be terse."},
      {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
      {"role": "assistant", "content": "ok"},
      {"role": "user", "content": "three"}], "logprobs": true, "top_logprobs": 3, "n": 2, "echo": true})");
  ASSERT_EQ(r.prompts.size(), 1u);
  const std::string want = "<|begin_of_text|>system: Be terse.\nuser: one\ntwo\nassistant: ok\nuser: three\nassistant:";
  EXPECT_EQ(r.prompt_texts[0], want);
  EXPECT_EQ(r.prompts[0].prompt_token_ids, encode(want, false)) << "no second bos";
  EXPECT_EQ(r.logprobs, 3);
  EXPECT_EQ(r.prompts[0].logprobs, 3);
  EXPECT_EQ(r.n, 2);
  EXPECT_FALSE(r.echo) << "echo is a completions field";
  EXPECT_EQ(parse_ok(kChat, R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})").logprobs, 0);
  EXPECT_EQ(parse_ok(kChat, R"({"messages": [{"role": "user", "content": "x"}], "logprobs": false})").logprobs, -1);
  // add_generation_prompt: false (vLLM's extra).
  const ApiRequest cont =
      parse_ok(kChat, R"({"messages": [{"role": "user", "content": "x"}], "add_generation_prompt": false})");
  EXPECT_EQ(cont.prompt_texts[0], "<|begin_of_text|>user: x\n");
}

TEST(OpenAiRequest, ChatErrors) {
  auto param = [](const std::string& body) { return parse_error(kChat, body).param; };
  EXPECT_EQ(param(R"({})"), "messages");
  EXPECT_EQ(param(R"({"messages": "hi"})"), "messages");
  EXPECT_EQ(param(R"({"messages": []})"), "messages");
  EXPECT_EQ(param(R"({"messages": [3]})"), "messages[0]");
  EXPECT_EQ(param(R"({"messages": [{"content": "x"}]})"), "messages[0].role");
  EXPECT_EQ(param(R"({"messages": [{"role": 1, "content": "x"}]})"), "messages[0].role");
  EXPECT_EQ(param(R"({"messages": [{"role": "robot", "content": "x"}]})"), "messages[0].role");
  EXPECT_EQ(param(R"({"messages": [{"role": "user"}]})"), "messages[0].content");
  EXPECT_EQ(param(R"({"messages": [{"role": "user", "content": 5}]})"), "messages[0].content");
  EXPECT_EQ(param(R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})"),
            "messages[0].content[0].type");
  EXPECT_EQ(param(R"({"messages": [{"role": "user", "content": [{"text": "x"}]}]})"), "messages[0].content[0].type");
  EXPECT_EQ(param(R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})"), "messages[0].content[0].text");
  EXPECT_EQ(param(R"({"messages": [{"role": "user", "content": ["x"]}]})"), "messages[0].content[0]");
  const std::string ok = R"("messages": [{"role": "user", "content": "x"}])";
  EXPECT_EQ(param("{" + ok + R"(, "logprobs": 1})"), "logprobs");
  EXPECT_EQ(param("{" + ok + R"(, "top_logprobs": 2})"), "top_logprobs");
  EXPECT_EQ(param("{" + ok + R"(, "logprobs": true, "top_logprobs": 21})"), "top_logprobs");
  EXPECT_EQ(param("{" + ok + R"(, "tools": [{"type": "function", "function": {"name": "f"}}]})"), "tools");
  EXPECT_EQ(param("{" + ok + R"(, "response_format": {"type": "json_object"}})"), "response_format.type");
  EXPECT_EQ(param("{" + ok + R"(, "chat_template_kwargs": [1]})"), "chat_template_kwargs");
  EXPECT_EQ(param("{" + ok + R"(, "chat_template_kwargs": {"messages": [3]}})"), "chat_template_kwargs.messages");
  EXPECT_EQ(param("{" + ok + R"(, "chat_template_kwargs": {"tools": [{}]}})"), "chat_template_kwargs.tools");
  EXPECT_EQ(param("{" + ok + R"(, "chat_template_kwargs": {"add_generation_prompt": false}})"),
            "chat_template_kwargs.add_generation_prompt");
  parse_ok(kChat, "{" + ok + R"(, "chat_template_kwargs": {"enable_thinking": false, "bos_token": "<s>"}})");
  EXPECT_EQ(param("{" + ok + R"(, "max_completion_tokens": 0})"), "max_completion_tokens");
  parse_ok(kChat, "{" + ok + R"(, "tools": [], "response_format": {"type": "text"}})");
  ApiLimits few;
  few.max_messages = 1;
  EXPECT_EQ(parse_error(kChat, R"({"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}]})",
                        demo_context(), few)
                .message,
            "messages: at most 1 messages, got 2");
}

TEST(OpenAiRequest, ModelWithoutTokenizerOrTemplate) {
  ModelContext bare;
  bare.model_name = "ids-only";
  bare.max_model_len = 64;
  bare.vocab_size = 100;
  const ApiRequest r = parse_ok(kCmpl, R"({"prompt": [1, 2, 3], "max_tokens": 4})", bare);
  EXPECT_EQ(r.prompt_texts[0], "");
  EXPECT_EQ(parse_error(kCmpl, R"({"prompt": "text"})", bare).param, "prompt");
  EXPECT_EQ(parse_error(kCmpl, R"({"prompt": [1], "stop": "x"})", bare).param, "stop");
  EXPECT_NE(parse_error(kChat, R"({"messages": [{"role": "user", "content": "x"}]})", bare).message.find("no chat template"),
            std::string::npos);
}

TEST(OpenAiRequest, RealTemplateRefusalIsA400) {
  auto m = testing::real_context("mistral-7b-v0.1", "mistral-7b-instruct-v0.1", 32000);
  if (!m) GTEST_SKIP() << "shared tokenizer data not found under " << testing::shared_data();
  // Mistral's template insists on alternating user/assistant turns.
  const ApiError e = parse_error(
      kChat, R"({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]})", *m);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "messages");
  EXPECT_NE(e.message.find("alternate"), std::string::npos) << e.message;
  const ApiRequest ok = parse_ok(kChat, R"({"messages": [{"role": "user", "content": "Hello"}]})", *m);
  EXPECT_EQ(ok.prompts[0].prompt_token_ids.front(), 1) << "<s> from the template, once";
  EXPECT_NE(ok.prompts[0].prompt_token_ids[1], 1);
}

TEST(OpenAiRequest, ToolCallArgumentsBecomeObjectsForTheTemplate) {
  auto m = testing::real_context("qwen2", "qwen2.5-instruct", 151936);
  if (!m) GTEST_SKIP() << "shared tokenizer data not found under " << testing::shared_data();
  const ApiRequest r = parse_ok(kChat, R"({"messages": [
      {"role": "user", "content": "Weather?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "content": "22C", "tool_call_id": "c1"}]})",
                                *m);
  EXPECT_NE(r.prompt_texts[0].find(R"({"name": "get_weather", "arguments": {"city": "Paris"}})"), std::string::npos)
      << r.prompt_texts[0];
  EXPECT_NE(r.prompt_texts[0].find("<tool_response>\n22C\n</tool_response>"), std::string::npos) << r.prompt_texts[0];
}

}  // namespace
}  // namespace tessera::server
