// src/tokenizer/chat_template.h — a model's chat template (Jinja), rendered exactly as Hugging Face
// transformers renders it: jinja2 with trim_blocks and lstrip_blocks on, the loopcontrols
// extension, HF's tojson (json.dumps, ensure_ascii off, no HTML escaping, keys as given),
// raise_exception() and strftime_now() as globals, and `messages`, `tools`, `documents`,
// `add_generation_prompt` plus the special tokens (bos_token, eos_token, ...) in the context.
//
// parse() turns any malformed template into one error naming the template and line; render()
// turns raise_exception(), undefined errors and unsupported constructs into one error naming the
// line. Neither crashes on any input: recursion depth, loop iterations and output size are capped.
// A ChatTemplate is immutable after parse() and safe to render from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/status.h"

namespace tessera {

// JSON that keeps keys in the order they were written (as Python dicts do): tool schemas and
// tool-call arguments are printed by tojson in that order.
using OrderedJson = nlohmann::ordered_json;

namespace jinja {
class Template;
}

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", "tool", ...
  OrderedJson content;  // a string usually; null (assistant turn with tool calls only) or a list of parts
  // Further fields of the message, in order after role and content: tool_calls, tool_call_id, name,
  // reasoning_content, ... Must be a JSON object (or null for none).
  OrderedJson extra = OrderedJson::object();

  ChatMessage() = default;
  ChatMessage(std::string role_, OrderedJson content_, OrderedJson extra_ = OrderedJson::object())
      : role(std::move(role_)), content(std::move(content_)), extra(std::move(extra_)) {}
};

// Everything the template sees besides the messages and add_generation_prompt.
struct ChatContext {
  // Special tokens as HF passes them (tokenizer.special_tokens_map): absent ones are undefined in
  // the template, exactly as in HF where the config says null.
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> unk_token;
  std::optional<std::string> pad_token;
  // HF always passes these two, as none when not given.
  OrderedJson tools;      // null → none; else a list of tool schemas
  OrderedJson documents;  // null → none
  // Any further template variables (HF's **kwargs of apply_chat_template): date_string,
  // enable_thinking, custom_tools, ... Must be an object. They override the names above.
  OrderedJson variables = OrderedJson::object();
  // The clock strftime_now() reads: unset = the real clock in local time (as Python's
  // datetime.now()); set = these Unix seconds, broken down as UTC. Tests pin it.
  std::optional<std::int64_t> now_unix_seconds;
};

// Limits that keep a hostile template from exhausting the machine; each limit is a clear error.
struct ChatTemplateLimits {
  std::size_t max_output_bytes = 64u << 20;  // rendered text
  int max_depth = 200;                       // nesting of expressions, blocks and macro calls
  std::int64_t max_steps = 50'000'000;       // loop iterations + expression evaluations
};

class ChatTemplate {
 public:
  // `name` names the template in errors: "tokenizer_config.json: chat_template", "chat_template.jinja".
  static Expected<ChatTemplate> parse(std::string_view source, std::string_view name = "chat_template");

  Expected<std::string> render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                               const ChatContext& context = {}) const;
  // Messages as a JSON array of objects (an OpenAI request's "messages", kept in key order).
  Expected<std::string> render_json(const OrderedJson& messages, bool add_generation_prompt,
                                    const ChatContext& context = {}) const;

  const std::string& name() const;
  const std::string& source() const;
  void set_limits(const ChatTemplateLimits& limits) { limits_ = limits; }
  const ChatTemplateLimits& limits() const { return limits_; }

 private:
  std::shared_ptr<const jinja::Template> impl_;
  ChatTemplateLimits limits_;
};

}  // namespace tessera
