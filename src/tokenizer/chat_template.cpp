// src/tokenizer/chat_template.cpp — ChatTemplate: parses with the jinja engine and renders with
// the context transformers builds in apply_chat_template (messages, tools, documents,
// add_generation_prompt, then the special tokens and any extra variables). Engine errors
// (JinjaError) become one Status naming the template and line.
#include "src/tokenizer/chat_template.h"

#include "src/tokenizer/jinja/interpreter.h"

namespace tessera {
namespace {

constexpr int kMaxJsonDepth = 128;

jinja::Value from_json(const OrderedJson& j, int depth) {
  if (depth > kMaxJsonDepth) {
    jinja::fail("input JSON nested too deeply (limit " + std::to_string(kMaxJsonDepth) + ")");
  }
  switch (j.type()) {
    case OrderedJson::value_t::null: return jinja::Value(jinja::None{});
    case OrderedJson::value_t::boolean: return jinja::Value(j.get<bool>());
    case OrderedJson::value_t::number_integer: return jinja::Value(j.get<std::int64_t>());
    case OrderedJson::value_t::number_unsigned: {
      auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) {
        jinja::fail("input integer " + std::to_string(u) + " is too large");
      }
      return jinja::Value(static_cast<std::int64_t>(u));
    }
    case OrderedJson::value_t::number_float: return jinja::Value(j.get<double>());
    case OrderedJson::value_t::string: return jinja::Value(j.get<std::string>());
    case OrderedJson::value_t::array: {
      std::vector<jinja::Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e, depth + 1));
      return jinja::Value(jinja::make_list(std::move(items)));
    }
    case OrderedJson::value_t::object: {
      auto d = jinja::make_dict();
      for (auto it = j.begin(); it != j.end(); ++it) d->set(it.key(), from_json(it.value(), depth + 1));
      return jinja::Value(d);
    }
    default: jinja::fail("unsupported JSON value in the chat input (binary or discarded)");
  }
}

Status to_status(const std::string& name, const jinja::JinjaError& e) {
  std::string where = e.line > 0 ? name + ", line " + std::to_string(e.line) + ": " : name + ": ";
  return invalid_argument(where + e.message);
}

}  // namespace

Expected<ChatTemplate> ChatTemplate::parse(std::string_view source, std::string_view name) {
  ChatTemplate t;
  try {
    t.impl_ = jinja::Template::parse(source, name, t.limits_.max_depth);
  } catch (const jinja::JinjaError& e) {
    return to_status(std::string(name), e);
  } catch (const std::bad_alloc&) {
    return out_of_memory(std::string(name) + ": out of memory while parsing the template");
  }
  return t;
}

// A default-constructed ChatTemplate (never parsed) has an empty name and source.
const std::string& ChatTemplate::name() const {
  static const std::string kEmpty;
  return impl_ ? impl_->name() : kEmpty;
}
const std::string& ChatTemplate::source() const {
  static const std::string kEmpty;
  return impl_ ? impl_->source() : kEmpty;
}

Expected<std::string> ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                           const ChatContext& context) const {
  OrderedJson list = OrderedJson::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    OrderedJson obj = OrderedJson::object();
    obj["role"] = m.role;
    obj["content"] = m.content;
    if (!m.extra.is_null()) {
      if (!m.extra.is_object()) {
        return invalid_argument("chat message " + std::to_string(i) + ": extra fields must be a JSON object");
      }
      for (auto it = m.extra.begin(); it != m.extra.end(); ++it) obj[it.key()] = it.value();
    }
    list.push_back(std::move(obj));
  }
  return render_json(list, add_generation_prompt, context);
}

Expected<std::string> ChatTemplate::render_json(const OrderedJson& messages, bool add_generation_prompt,
                                                const ChatContext& context) const {
  if (!impl_) return internal_error("ChatTemplate::render on a template that was not parsed");
  if (!messages.is_array()) return invalid_argument("chat messages must be a JSON array");
  if (!context.variables.is_null() && !context.variables.is_object()) {
    return invalid_argument("chat template variables must be a JSON object");
  }
  jinja::RenderLimits limits;
  limits.max_output_bytes = limits_.max_output_bytes;
  limits.max_depth = limits_.max_depth;
  limits.max_steps = limits_.max_steps;
  try {
    std::vector<std::pair<std::string, jinja::Value>> vars;
    vars.emplace_back("messages", from_json(messages, 0));
    vars.emplace_back("tools", from_json(context.tools, 0));
    vars.emplace_back("documents", from_json(context.documents, 0));
    vars.emplace_back("add_generation_prompt", jinja::Value(add_generation_prompt));
    auto token = [&](const char* key, const std::optional<std::string>& v) {
      if (v) vars.emplace_back(key, jinja::Value(*v));
    };
    token("bos_token", context.bos_token);
    token("eos_token", context.eos_token);
    token("unk_token", context.unk_token);
    token("pad_token", context.pad_token);
    if (context.variables.is_object()) {
      for (auto it = context.variables.begin(); it != context.variables.end(); ++it) {
        vars.emplace_back(it.key(), from_json(it.value(), 0));
      }
    }
    jinja::Interpreter interp(limits, context.now_unix_seconds);
    return interp.render(*impl_, vars);
  } catch (const jinja::JinjaError& e) {
    return to_status(impl_->name(), e);
  } catch (const std::bad_alloc&) {
    return out_of_memory(impl_->name() + ": out of memory while rendering");
  }
}

}  // namespace tessera
