// src/server/openai_api.cpp — the OpenAI API layer's errors, the served model's context, response
// ids, the small routes (/v1/models, /tokenize, /detokenize) and the shared helpers of
// openai_internal.h (body parsing with a depth bound, typed field readers, prompt encoding and
// chat rendering). Request parsing is openai_request.cpp; response assembly openai_response.cpp.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <mutex>
#include <random>
#include <sstream>

#include "src/server/openai_api.h"
#include "src/server/openai_internal.h"
#include "src/model/model_files.h"
#include "src/tokenizer/tokenizer_config.h"

namespace tessera::server {

using detail::OJson;

// ---- errors ------------------------------------------------------------------------------------

ApiError ApiError::invalid(std::string param, std::string message) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

ApiError ApiError::model_not_found(std::string_view model) {
  ApiError e;
  e.status = 404;
  e.message = "The model '" + std::string(model) + "' does not exist.";
  e.param = "model";
  e.code = "model_not_found";
  return e;
}

ApiError ApiError::not_found(std::string_view what) {
  ApiError e;
  e.status = 404;
  e.message = "Not found: " + std::string(what);
  e.code = "not_found";
  return e;
}

ApiError ApiError::method_not_allowed(std::string_view method, std::string_view path) {
  ApiError e;
  e.status = 405;
  e.message = "Method " + std::string(method) + " is not allowed on " + std::string(path);
  e.code = "method_not_allowed";
  return e;
}

ApiError ApiError::unauthorized() {
  ApiError e;
  e.status = 401;
  e.message = "Missing or incorrect API key: send it as 'Authorization: Bearer <key>'.";
  e.type = "authentication_error";
  e.code = "invalid_api_key";
  return e;
}

ApiError ApiError::payload_too_large(size_t limit_bytes) {
  ApiError e;
  e.status = 413;
  e.message = "Request body too large: the limit is " + std::to_string(limit_bytes) + " bytes.";
  e.code = "payload_too_large";
  return e;
}

ApiError ApiError::too_many_requests(std::string message) {
  ApiError e;
  e.status = 429;
  e.message = std::move(message);
  e.type = "rate_limit_error";
  e.code = "rate_limit_exceeded";
  return e;
}

ApiError ApiError::unavailable(std::string message) {
  ApiError e;
  e.status = 503;
  e.message = std::move(message);
  e.type = "server_error";
  e.code = "service_unavailable";
  return e;
}

ApiError ApiError::internal(std::string message) {
  ApiError e;
  e.status = 500;
  e.message = std::move(message);
  e.type = "server_error";
  e.code = "internal_error";
  return e;
}

namespace {

// The request field an engine message names: its messages about a request start "<field>: ...",
// e.g. "prompt_token_ids[3]: token id 9 is outside ..." or "top_p: must be in (0, 1], got 0". The
// engine's prompt_token_ids is the request's prompt. Messages about anything else ("sampler: ...")
// name no request field and keep param null.
std::string param_of_engine_message(const std::string& message) {
  static constexpr std::string_view kFields[] = {
      "prompt_token_ids", "max_tokens", "min_tokens", "n", "temperature", "top_p", "top_k", "min_p",
      "repetition_penalty", "presence_penalty", "frequency_penalty", "stop", "stop_token_ids", "logprobs", "seed"};
  const size_t colon = message.find(": ");
  if (colon == std::string::npos) return "";
  const std::string param = message.substr(0, colon);
  const std::string_view name = std::string_view(param).substr(0, param.find('['));
  if (std::find(std::begin(kFields), std::end(kFields), name) == std::end(kFields)) return "";
  for (char c : std::string_view(param).substr(name.size()))
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '[' || c == ']')) return "";
  if (name == "prompt_token_ids") return "prompt" + param.substr(name.size());
  return param;
}

}  // namespace

ApiError ApiError::from_status(const Status& status, std::string param) {
  if (param.empty() && status.code() == StatusCode::kInvalidArgument) param = param_of_engine_message(status.message());
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kUnimplemented: return invalid(std::move(param), status.message());
    case StatusCode::kCancelled: return unavailable(status.message().empty() ? "the engine is stopping" : status.message());
    default: return internal(status.message());
  }
}

std::string error_body(const ApiError& error) {
  OJson e = OJson::object();
  e["message"] = error.message;
  e["type"] = error.type;
  e["param"] = error.param.empty() ? OJson(nullptr) : OJson(error.param);
  e["code"] = error.code.empty() ? OJson(nullptr) : OJson(error.code);
  OJson body = OJson::object();
  body["error"] = std::move(e);
  return detail::dump(body);
}

std::string sse_error(const ApiError& error) { return "data: " + error_body(error) + "\n\n"; }

// ---- model context and ids ---------------------------------------------------------------------

Expected<ModelContext> load_model_context(const std::string& model_dir, std::string model_name,
                                          const EngineInfo& info) {
  ModelContext m;
  m.model_name = std::move(model_name);
  m.max_model_len = info.max_model_len;
  m.vocab_size = info.vocab_size;
  TESSERA_ASSIGN_OR_RETURN(std::optional<Tokenizer> tok, load_model_tokenizer_if_any(model_dir));
  if (tok) m.tokenizer = std::make_shared<const Tokenizer>(std::move(*tok));
  TESSERA_ASSIGN_OR_RETURN(TokenizerConfig config, load_model_tokenizer_config(model_dir));
  m.chat_context = config.chat_context();
  if (config.find_chat_template("default")) {
    TESSERA_ASSIGN_OR_RETURN(ChatTemplate tmpl, config.chat_template("default"));
    m.chat_template = std::move(tmpl);
  }
  return m;
}

std::string make_response_id(Endpoint endpoint) {
  // Ids only need to be unique, not secret: a per-thread generator seeded once from the OS.
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32)};
  std::ostringstream s;
  s << (endpoint == Endpoint::kChatCompletions ? "chatcmpl-" : "cmpl-") << std::hex << std::setfill('0')
    << std::setw(16) << rng() << std::setw(16) << rng();
  return s.str();
}

void assign_request_ids(ApiRequest& request, const std::string& id) {
  for (size_t i = 0; i < request.prompts.size(); ++i)
    request.prompts[i].request_id = request.prompts.size() == 1 ? id : id + "-" + std::to_string(i);
}

int64_t ApiRequest::prompt_tokens() const {
  int64_t total = 0;
  for (const GenerationRequest& p : prompts) total += static_cast<int64_t>(p.prompt_token_ids.size());
  return total;
}

// ---- /v1/models, /tokenize, /detokenize --------------------------------------------------------

namespace {

OJson model_object(const ModelContext& model, int64_t created_unix) {
  OJson m = OJson::object();
  m["id"] = model.model_name;
  m["object"] = "model";
  m["created"] = created_unix;
  m["owned_by"] = model.owned_by;
  m["root"] = model.model_name;
  m["parent"] = nullptr;
  m["max_model_len"] = model.max_model_len;
  return m;
}

}  // namespace

std::string models_body(const ModelContext& model, int64_t created_unix) {
  OJson body = OJson::object();
  body["object"] = "list";
  body["data"] = OJson::array({model_object(model, created_unix)});
  return detail::dump(body);
}

std::variant<std::string, ApiError> model_body(std::string_view id, const ModelContext& model, int64_t created_unix) {
  if (id != model.model_name) return ApiError::model_not_found(id);
  return detail::dump(model_object(model, created_unix));
}

std::variant<std::string, ApiError> tokenize_body(std::string_view body, const ModelContext& model,
                                                  const ApiLimits& limits) {
  try {
    const OJson req = detail::parse_body(body, limits);
    detail::check_model(req, model);
    const OJson* prompt = detail::field(req, "prompt");
    const OJson* messages = detail::field(req, "messages");
    if ((prompt != nullptr) == (messages != nullptr))
      detail::fail(prompt ? "messages" : "prompt", "give exactly one of 'prompt' (text) and 'messages' (a chat)");
    std::vector<int32_t> ids;
    if (prompt) {
      const std::string text = detail::as_string(*prompt, "prompt");
      ids = detail::encode_text(model, text, detail::opt_bool(req, "add_special_tokens", true), "prompt");
    } else {
      const OJson* kwargs = detail::field(req, "chat_template_kwargs");
      const std::string text =
          detail::render_chat(model, *messages, detail::opt_bool(req, "add_generation_prompt", true), kwargs, limits);
      ids = detail::encode_text(model, text, detail::opt_bool(req, "add_special_tokens", false), "messages");
    }
    OJson out = OJson::object();
    out["count"] = ids.size();
    out["max_model_len"] = model.max_model_len;
    out["tokens"] = ids;
    if (detail::opt_bool(req, "return_token_strs", false)) {
      OJson strs = OJson::array();
      for (int32_t id : ids) strs.push_back(model.tokenizer->id_to_token(id).value_or(""));
      out["token_strs"] = std::move(strs);
    } else {
      out["token_strs"] = nullptr;
    }
    return detail::dump(out);
  } catch (...) {
    return detail::error_from_exception();
  }
}

std::variant<std::string, ApiError> detokenize_body(std::string_view body, const ModelContext& model,
                                                    const ApiLimits& limits) {
  try {
    const OJson req = detail::parse_body(body, limits);
    detail::check_model(req, model);
    const OJson* tokens = detail::field(req, "tokens");
    if (!tokens) detail::fail("tokens", "tokens: required (a list of token ids)");
    const std::vector<int32_t> ids = detail::token_ids(*tokens, "tokens", model.vocab_size);
    if (!model.tokenizer) detail::fail("tokens", "tokens: this model has no tokenizer.json, so ids cannot become text");
    OJson out = OJson::object();
    out["prompt"] = model.tokenizer->decode(ids, /*skip_special_tokens=*/false);
    return detail::dump(out);
  } catch (...) {
    return detail::error_from_exception();
  }
}

// ---- shared helpers ----------------------------------------------------------------------------

namespace detail {

void fail(std::string param, std::string message) { throw Invalid{ApiError::invalid(std::move(param), std::move(message))}; }

std::optional<std::string> json_shape_problem(std::string_view text, const ApiLimits& limits) {
  // Brackets and commas outside strings. Malformed text is left to the parser; this pass only has
  // to bound what the parser will build.
  std::vector<std::pair<bool, int32_t>> open;  // per open bracket: is an object, commas seen
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      open.emplace_back(c == '{', 0);
      if (open.size() > static_cast<size_t>(limits.max_json_depth))
        return "JSON nested deeper than " + std::to_string(limits.max_json_depth) + " levels";
    } else if (c == ']' || c == '}') {
      if (!open.empty()) open.pop_back();
    } else if (c == ',' && !open.empty() && open.back().first) {
      if (++open.back().second >= limits.max_object_members)
        return "a JSON object has more than " + std::to_string(limits.max_object_members) + " members";
    }
  }
  return std::nullopt;
}

OJson parse_body(std::string_view body, const ApiLimits& limits) {
  if (auto problem = json_shape_problem(body, limits)) fail("", "request body: " + *problem);
  OJson v;
  try {
    v = OJson::parse(body.begin(), body.end());
  } catch (const nlohmann::json::parse_error& e) {
    fail("", "request body: invalid JSON (syntax error at byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception& e) {
    // Valid syntax the parser cannot hold, e.g. a number beyond double's range ("1e400").
    fail("", std::string("request body: unsupported JSON: ") + e.what());
  }
  if (!v.is_object()) fail("", "request body: must be a JSON object, got " + describe(v));
  return v;
}

std::string describe(const OJson& v) {
  std::string text = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  switch (v.type()) {
    case OJson::value_t::null: return "null";
    case OJson::value_t::boolean: return "boolean " + text;
    case OJson::value_t::string: return "string " + text;
    case OJson::value_t::number_integer:
    case OJson::value_t::number_unsigned: return "integer " + text;
    case OJson::value_t::number_float: return "number " + text;
    case OJson::value_t::array: return "array of " + std::to_string(v.size());
    case OJson::value_t::object: return "object";
    default: return "unsupported value";
  }
}

const OJson* field(const OJson& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

bool as_bool(const OJson& v, const std::string& param) {
  if (!v.is_boolean()) fail(param, param + ": must be a boolean, got " + describe(v));
  return v.get<bool>();
}

std::string as_string(const OJson& v, const std::string& param) {
  if (!v.is_string()) fail(param, param + ": must be a string, got " + describe(v));
  return v.get<std::string>();
}

int64_t as_int(const OJson& v, const std::string& param, int64_t lo, int64_t hi) {
  auto range = [&] {
    return " in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  };
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    // nlohmann reads every non-negative literal as unsigned: check both ends here too.
    if (hi >= 0 && u <= static_cast<uint64_t>(hi) && (lo <= 0 || u >= static_cast<uint64_t>(lo)))
      return static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i >= lo && i <= hi) return i;
  } else {
    fail(param, param + ": must be an integer" + range() + ", got " + describe(v));
  }
  fail(param, param + ": must be" + range() + ", got " + describe(v));
}

double as_number(const OJson& v, const std::string& param, double lo, double hi, bool lo_open) {
  std::ostringstream range;
  range << (lo_open ? " in (" : " in [") << lo << ", " << hi << "]";
  if (!v.is_number()) fail(param, param + ": must be a number" + range.str() + ", got " + describe(v));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x > hi || (lo_open ? x <= lo : x < lo))
    fail(param, param + ": must be" + range.str() + ", got " + describe(v));
  return x;
}

float as_float(const OJson& v, const std::string& param, double lo, double hi, bool lo_open) {
  const double x = as_number(v, param, lo, hi, lo_open);
  const auto f = static_cast<float>(x);
  if (lo_open ? f <= lo : f < lo) {
    std::ostringstream s;
    s << param << ": must be" << (lo_open ? " in (" : " in [") << lo << ", " << hi << "] as a 32-bit float, got "
      << describe(v) << ", which rounds to " << f;
    fail(param, s.str());
  }
  return f;
}

bool opt_bool(const OJson& obj, std::string_view key, bool fallback, const std::string& prefix) {
  const OJson* v = field(obj, key);
  return v ? as_bool(*v, prefix + std::string(key)) : fallback;
}

std::vector<int32_t> token_ids(const OJson& arr, const std::string& param, int64_t vocab_size) {
  if (!arr.is_array()) fail(param, param + ": must be a list of token ids, got " + describe(arr));
  std::vector<int32_t> ids;
  ids.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string p = param + "[" + std::to_string(i) + "]";
    const OJson& t = arr[i];
    if (!t.is_number_integer()) fail(p, p + ": must be a token id (an integer), got " + describe(t));
    const bool in_vocab = t.is_number_unsigned() ? t.get<uint64_t>() < static_cast<uint64_t>(std::max<int64_t>(vocab_size, 0))
                                                 : (t.get<int64_t>() >= 0 && t.get<int64_t>() < vocab_size);
    if (!in_vocab)
      fail(p, p + ": token id " + t.dump() + " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return ids;
}

std::vector<int32_t> encode_text(const ModelContext& model, std::string_view text, bool add_special_tokens,
                                 const std::string& param) {
  if (!model.tokenizer) fail(param, param + ": this model has no tokenizer.json: send token ids instead of text");
  auto ids = model.tokenizer->encode(text, add_special_tokens);
  if (!ids) fail(param, param + ": " + ids.status().message());
  return std::move(*ids);
}

namespace {

// OpenAI's content: a string, or a list of parts of which tessera takes the text ones (joined
// by "\n", as vLLM's "string" content format does for templates that expect a string).
OJson message_content(const OJson& content, const std::string& param) {
  if (content.is_string()) return content;
  if (!content.is_array())
    fail(param, param + ": must be a string or a list of content parts, got " + describe(content));
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const std::string p = param + "[" + std::to_string(i) + "]";
    const OJson& part = content[i];
    if (!part.is_object()) fail(p, p + ": must be a content part object {\"type\": \"text\", ...}, got " + describe(part));
    const OJson* type = field(part, "type");
    if (!type) fail(p + ".type", p + ".type: required");
    const std::string t = as_string(*type, p + ".type");
    if (t != "text") fail(p + ".type", p + ".type: '" + t + "' is not supported (this model takes text parts only)");
    const OJson* part_text = field(part, "text");
    if (!part_text) fail(p + ".text", p + ".text: required for a text part");
    if (i > 0) text += '\n';
    text += as_string(*part_text, p + ".text");
  }
  return text;
}

}  // namespace

std::string render_chat(const ModelContext& model, const OJson& messages, bool add_generation_prompt,
                        const OJson* kwargs, const ApiLimits& limits) {
  if (!messages.is_array()) fail("messages", "messages: must be a list of messages, got " + describe(messages));
  if (messages.empty()) fail("messages", "messages: must not be empty");
  if (messages.size() > static_cast<size_t>(limits.max_messages))
    fail("messages", "messages: at most " + std::to_string(limits.max_messages) + " messages, got " +
                         std::to_string(messages.size()));
  if (!model.chat_template) fail("messages", "messages: this model has no chat template: use /v1/completions");
  OJson normalized = OJson::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string p = "messages[" + std::to_string(i) + "]";
    const OJson& m = messages[i];
    if (!m.is_object()) fail(p, p + ": must be a message object {\"role\", \"content\"}, got " + describe(m));
    const OJson* role_v = field(m, "role");
    if (!role_v) fail(p + ".role", p + ".role: required");
    std::string role = as_string(*role_v, p + ".role");
    static const char* kRoles[] = {"system", "developer", "user", "assistant", "tool", "function"};
    if (std::find_if(std::begin(kRoles), std::end(kRoles), [&](const char* r) { return role == r; }) == std::end(kRoles))
      fail(p + ".role", p + ".role: must be one of system, developer, user, assistant, tool, function; got '" + role + "'");
    if (role == "developer") role = "system";  // OpenAI's newer name; templates know "system"
    OJson out = OJson::object();
    out["role"] = role;
    const OJson* content = field(m, "content");
    if (content) {
      out["content"] = message_content(*content, p + ".content");
    } else if (role == "assistant") {
      out["content"] = nullptr;  // an assistant turn with tool calls only
    } else {
      fail(p + ".content", p + ".content: required for role '" + role + "'");
    }
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (it.key() == "role" || it.key() == "content") continue;
      out[it.key()] = it.value();
    }
    // OpenAI sends tool-call arguments as a JSON string; HF templates expect the object.
    if (OJson* calls = out.contains("tool_calls") ? &out["tool_calls"] : nullptr; calls && calls->is_array()) {
      for (OJson& call : *calls) {
        if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
        OJson& fn = call["function"];
        if (!fn.contains("arguments") || !fn["arguments"].is_string()) continue;
        const std::string& args = fn["arguments"].get_ref<const std::string&>();
        // The string escaped the body's shape check: bound it the same way, or keep it a string.
        if (json_shape_problem(args, limits)) continue;
        OJson parsed = OJson::parse(args, nullptr, false);
        if (!parsed.is_discarded() && parsed.is_object()) fn["arguments"] = std::move(parsed);
      }
    }
    normalized.push_back(std::move(out));
  }
  ChatContext ctx = model.chat_context;
  if (kwargs) {
    if (!kwargs->is_object()) fail("chat_template_kwargs", "chat_template_kwargs: must be an object, got " + describe(*kwargs));
    for (auto it = kwargs->begin(); it != kwargs->end(); ++it) {
      // Template variables override every other name, so these would bypass the request's own,
      // validated fields (or features refused above).
      static const char* kReserved[] = {"messages", "add_generation_prompt", "tools", "documents"};
      for (const char* r : kReserved)
        if (it.key() == r)
          fail("chat_template_kwargs." + it.key(), "chat_template_kwargs." + it.key() +
                                                       ": reserved: the template gets it from the request itself");
      ctx.variables[it.key()] = it.value();
    }
  }
  auto text = model.chat_template->render_json(normalized, add_generation_prompt, ctx);
  if (!text) fail("messages", "messages: the chat template refused them: " + text.status().message());
  return std::move(*text);
}

void check_model(const OJson& body, const ModelContext& model) {
  const OJson* m = field(body, "model");
  if (!m) return;
  const std::string name = as_string(*m, "model");
  if (name != model.model_name) throw Invalid{ApiError::model_not_found(name)};
}

std::string dump(const OJson& v) { return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

double json_logprob(float logprob) { return std::isfinite(logprob) ? static_cast<double>(logprob) : -9999.0; }

int64_t utf8_length(std::string_view text) {
  int64_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

ApiError error_from_exception() {
  try {
    throw;
  } catch (const Invalid& e) {
    return e.error;
  } catch (const std::bad_alloc&) {
    return ApiError::internal("out of memory while handling the request");
  } catch (const std::exception& e) {
    return ApiError::internal(std::string("internal error: ") + e.what());
  } catch (...) {
    return ApiError::internal("internal error");
  }
}

}  // namespace detail
}  // namespace tessera::server
