// src/tokenizer/tokenizer_config.h — tokenizer_config.json (and chat_template.jinja) of a Hugging
// Face checkpoint folder: the special tokens, add_bos_token/add_eos_token and the chat templates.
//
// Special tokens may be written as a string or as an AddedToken object {"content": "<s>", ...};
// both read as the string. chat_template may be a string or a list of {"name", "template"}; a
// chat_template.jinja file next to tokenizer_config.json wins over the config's "default"
// template, as in transformers.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/core/json_util.h"
#include "src/tokenizer/chat_template.h"
#include "tessera/status.h"

namespace tessera {

struct NamedChatTemplate {
  std::string name;    // "default", "tool_use", "rag", ...
  std::string source;  // the Jinja text
  std::string origin;  // where it came from, for errors: "tokenizer_config.json: chat_template"
};

struct TokenizerConfig {
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> unk_token;
  std::optional<std::string> pad_token;
  std::vector<std::string> additional_special_tokens;
  // As written in the file; unset when the file does not say (the default then depends on the
  // tokenizer class and on tokenizer.json's post_processor, which the tokenizer decides).
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
  std::optional<bool> clean_up_tokenization_spaces;
  std::string tokenizer_class;  // "" when absent
  std::vector<NamedChatTemplate> chat_templates;  // empty when the checkpoint has none
  Json raw = Json::object();  // the whole file, for fields not listed above

  // The template of that name; "default" falls back to the only template when there is just one.
  const NamedChatTemplate* find_chat_template(std::string_view name = "default") const;
  // Parses find_chat_template(name); not_found when the checkpoint has no such template.
  Expected<ChatTemplate> chat_template(std::string_view name = "default") const;
  // bos/eos/unk/pad filled in from this config, for ChatTemplate::render.
  ChatContext chat_context() const;
};

// Reads `dir`/tokenizer_config.json and `dir`/chat_template.jinja. Either may be absent (the
// fields then keep their defaults); an unreadable or malformed file is an error naming it.
Expected<TokenizerConfig> load_tokenizer_config(const std::filesystem::path& dir);

// Parses the text of a tokenizer_config.json; `source` names it in errors.
Expected<TokenizerConfig> parse_tokenizer_config(std::string_view json_text, std::string_view source);

}  // namespace tessera
