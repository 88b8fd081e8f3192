// fuzz/fuzz_chat_template.cpp — libFuzzer target for the chat-template parser and renderer.
//
// The input is a template source. It is parsed and, when it parses, rendered twice (with and
// without add_generation_prompt) against a fixed conversation that has system/user/assistant
// turns, a tool call and a tool result. Any outcome is fine except a crash, a sanitizer report, a
// hang or unbounded memory: the limits below turn runaway templates into errors.
//
// Build and run (clang from Debian; not part of the default build):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. -Iinclude \
//     fuzz/fuzz_chat_template.cpp src/tokenizer/chat_template.cpp src/tokenizer/jinja/*.cpp \
//     src/core/status.cpp -o build/fuzz_chat_template
//   build/fuzz_chat_template -max_total_time=600 -timeout=10 -rss_limit_mb=2048 \
//     -dict=fuzz/chat_template.dict CORPUS_DIR ../shared/data/chat_templates
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/tokenizer/chat_template.h"

namespace {

const tessera::OrderedJson& conversation() {
  static const tessera::OrderedJson messages = tessera::OrderedJson::parse(R"([
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Weather in Paris? <b>&'\"</b> é 日本"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call12345", "type": "function",
      "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2.5, null, true]}}}]},
    {"role": "tool", "content": "{\"t\": 22}", "tool_call_id": "call12345"},
    {"role": "assistant", "content": "<think>\nhm\n</think>\n\nIt is 22C."},
    {"role": "user", "content": "  thanks  \n"}
  ])");
  return messages;
}

tessera::ChatContext context() {
  tessera::ChatContext ctx;
  ctx.bos_token = "<s>";
  ctx.eos_token = "</s>";
  ctx.tools = tessera::OrderedJson::parse(
      R"([{"type": "function", "function": {"name": "get_weather", "description": "d",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
  ctx.variables = {{"enable_thinking", false}, {"date_string", "26 Jul 2024"}};
  ctx.now_unix_seconds = 1721952000;
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view source(reinterpret_cast<const char*>(data), size);
  auto tmpl = tessera::ChatTemplate::parse(source, "fuzz.jinja");
  if (!tmpl) return 0;
  tessera::ChatTemplateLimits limits;
  limits.max_output_bytes = 1 << 20;
  limits.max_steps = 200000;
  limits.max_depth = 100;
  tmpl->set_limits(limits);
  static const tessera::ChatContext ctx = context();
  for (bool agp : {false, true}) {
    auto out = tmpl->render_json(conversation(), agp, ctx);
    (void)out;
  }
  return 0;
}
