// src/tokenizer/tokenizer_config.cpp — reads tokenizer_config.json and chat_template.jinja.
// Every error names the file and the field.
#include "src/tokenizer/tokenizer_config.h"

#include <system_error>

#include "src/core/mapped_file.h"

namespace tessera {
namespace {

// A special token is null, a string, or an AddedToken object {"content": "...", ...}.
Status read_special_token(const Json& obj, const std::string& key, const std::string& source,
                          std::optional<std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::ok();
  if (it->is_string()) {
    *out = it->get<std::string>();
    return Status::ok();
  }
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) {
      *out = c->get<std::string>();
      return Status::ok();
    }
  }
  return invalid_argument(source + ": field '" + key +
                          "' must be a string or an object with a string \"content\", got " +
                          json_excerpt(*it));
}

Status read_optional_bool(const Json& obj, const std::string& key, const std::string& source,
                          std::optional<bool>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::ok();
  if (!it->is_boolean()) {
    return invalid_argument(source + ": field '" + key + "' must be true or false, got " +
                            json_excerpt(*it));
  }
  *out = it->get<bool>();
  return Status::ok();
}

Status read_chat_templates(const Json& obj, const std::string& source,
                           std::vector<NamedChatTemplate>* out) {
  auto it = obj.find("chat_template");
  if (it == obj.end() || it->is_null()) return Status::ok();
  if (it->is_string()) {
    out->push_back({"default", it->get<std::string>(), source + ": chat_template"});
    return Status::ok();
  }
  if (!it->is_array()) {
    return invalid_argument(source + ": field 'chat_template' must be a string or a list of " +
                            "{\"name\", \"template\"} objects, got " + json_excerpt(*it));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& entry = (*it)[i];
    std::string where = source + ": chat_template[" + std::to_string(i) + "]";
    if (!entry.is_object()) return invalid_argument(where + " must be an object, got " + json_excerpt(entry));
    auto name = entry.find("name");
    auto text = entry.find("template");
    if (name == entry.end() || !name->is_string()) {
      return invalid_argument(where + ": field 'name' must be a string");
    }
    if (text == entry.end() || !text->is_string()) {
      return invalid_argument(where + ": field 'template' must be a string");
    }
    out->push_back({name->get<std::string>(), text->get<std::string>(),
                    source + ": chat_template '" + name->get<std::string>() + "'"});
  }
  return Status::ok();
}

}  // namespace

const NamedChatTemplate* TokenizerConfig::find_chat_template(std::string_view name) const {
  for (const auto& t : chat_templates) {
    if (t.name == name) return &t;
  }
  if (name == "default" && chat_templates.size() == 1) return &chat_templates[0];
  return nullptr;
}

Expected<ChatTemplate> TokenizerConfig::chat_template(std::string_view name) const {
  const NamedChatTemplate* t = find_chat_template(name);
  if (t == nullptr) {
    std::string have;
    for (const auto& c : chat_templates) have += (have.empty() ? "" : ", ") + c.name;
    return not_found("no chat template named '" + std::string(name) + "' in the checkpoint" +
                     (have.empty() ? std::string(" (it has none)") : " (it has: " + have + ")"));
  }
  return ChatTemplate::parse(t->source, t->origin);
}

ChatContext TokenizerConfig::chat_context() const {
  ChatContext ctx;
  ctx.bos_token = bos_token;
  ctx.eos_token = eos_token;
  ctx.unk_token = unk_token;
  ctx.pad_token = pad_token;
  if (!additional_special_tokens.empty()) {
    ctx.variables["additional_special_tokens"] = additional_special_tokens;
  }
  return ctx;
}

Expected<TokenizerConfig> parse_tokenizer_config(std::string_view json_text, std::string_view source_view) {
  const std::string source(source_view);
  TESSERA_ASSIGN_OR_RETURN(Json root, parse_json(std::string(json_text), source));
  if (!root.is_object()) return invalid_argument(source + ": must be a JSON object, got " + json_excerpt(root));
  TokenizerConfig cfg;
  TESSERA_RETURN_IF_ERROR(read_special_token(root, "bos_token", source, &cfg.bos_token));
  TESSERA_RETURN_IF_ERROR(read_special_token(root, "eos_token", source, &cfg.eos_token));
  TESSERA_RETURN_IF_ERROR(read_special_token(root, "unk_token", source, &cfg.unk_token));
  TESSERA_RETURN_IF_ERROR(read_special_token(root, "pad_token", source, &cfg.pad_token));
  TESSERA_RETURN_IF_ERROR(read_optional_bool(root, "add_bos_token", source, &cfg.add_bos_token));
  TESSERA_RETURN_IF_ERROR(read_optional_bool(root, "add_eos_token", source, &cfg.add_eos_token));
  TESSERA_RETURN_IF_ERROR(read_optional_bool(root, "clean_up_tokenization_spaces", source,
                                             &cfg.clean_up_tokenization_spaces));
  if (auto it = root.find("additional_special_tokens"); it != root.end() && !it->is_null()) {
    if (!it->is_array()) {
      return invalid_argument(source + ": field 'additional_special_tokens' must be a list, got " +
                              json_excerpt(*it));
    }
    for (size_t i = 0; i < it->size(); ++i) {
      std::optional<std::string> tok;
      Json holder = Json::object();
      holder["t"] = (*it)[i];
      Status st = read_special_token(holder, "t", source, &tok);
      if (!st.is_ok() || !tok) {
        return invalid_argument(source + ": field 'additional_special_tokens[" + std::to_string(i) +
                                "]' must be a string or an AddedToken object");
      }
      cfg.additional_special_tokens.push_back(*tok);
    }
  }
  if (auto it = root.find("tokenizer_class"); it != root.end() && it->is_string()) {
    cfg.tokenizer_class = it->get<std::string>();
  }
  TESSERA_RETURN_IF_ERROR(read_chat_templates(root, source, &cfg.chat_templates));
  cfg.raw = std::move(root);
  return cfg;
}

Expected<TokenizerConfig> load_tokenizer_config(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return not_found(dir.string() + ": not a directory (expected a checkpoint folder)");
  }
  TokenizerConfig cfg;
  const std::filesystem::path config_path = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_path, ec)) {
    TESSERA_ASSIGN_OR_RETURN(std::string text, read_text_file(config_path.string()));
    TESSERA_ASSIGN_OR_RETURN(cfg, parse_tokenizer_config(text, config_path.string()));
  }
  // transformers (>= 4.43) saves the template as chat_template.jinja and, on load, lets that
  // file replace the config's default template.
  const std::filesystem::path jinja_path = dir / "chat_template.jinja";
  if (std::filesystem::exists(jinja_path, ec)) {
    TESSERA_ASSIGN_OR_RETURN(std::string text, read_text_file(jinja_path.string()));
    NamedChatTemplate t{"default", std::move(text), jinja_path.string()};
    bool replaced = false;
    for (auto& c : cfg.chat_templates) {
      if (c.name == "default") {
        c = t;
        replaced = true;
      }
    }
    if (!replaced) cfg.chat_templates.insert(cfg.chat_templates.begin(), std::move(t));
  }
  return cfg;
}

}  // namespace tessera
