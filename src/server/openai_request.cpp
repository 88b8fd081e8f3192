// src/server/openai_request.cpp — parse_request: a /v1/completions or /v1/chat/completions body
// into validated GenerationRequests for the engine.
//
// Every field the OpenAI API or vLLM's extras define is read with its type and range checked,
// in one place each, so that the error for a bad value always names that field. Fields that would
// change the answer in ways tessera cannot honour (logit_bias, suffix, tools and tool_choice,
// guided decoding, a JSON response_format, best_of != n, echo with logprobs: kUnsupportedFields)
// are refused with a 400 naming the field rather than silently ignored; fields nobody defines are ignored, as OpenAI does. Prompt length is checked here too,
// with both numbers in the message, so a client learns the limit before the engine is involved.
#include <algorithm>
#include <climits>
#include <string>

#include "src/server/openai_api.h"
#include "src/server/openai_internal.h"

namespace tessera::server {

using detail::as_bool;
using detail::as_int;
using detail::as_string;
using detail::describe;
using detail::fail;
using detail::field;
using detail::OJson;

namespace {

// What a request asks for besides its prompts; copied into each prompt's GenerationRequest.
struct CommonOptions {
  GenerationRequest base;  // everything but prompt_token_ids and max_tokens
  std::optional<int64_t> max_tokens;
  std::string max_tokens_param = "max_tokens";
};

std::vector<std::string> read_stop(const OJson& v, const ApiLimits& limits) {
  std::vector<std::string> stops;
  if (v.is_string()) {
    stops.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (v.size() > static_cast<size_t>(limits.max_stop))
      fail("stop", "stop: at most " + std::to_string(limits.max_stop) + " stop strings, got " + std::to_string(v.size()));
    for (size_t i = 0; i < v.size(); ++i) stops.push_back(as_string(v[i], "stop[" + std::to_string(i) + "]"));
  } else {
    fail("stop", "stop: must be a string or a list of strings, got " + describe(v));
  }
  for (size_t i = 0; i < stops.size(); ++i) {
    const std::string p = v.is_array() ? "stop[" + std::to_string(i) + "]" : "stop";
    if (stops[i].empty()) fail(p, p + ": must not be an empty string");
    if (stops[i].size() > limits.max_stop_bytes)
      fail(p, p + ": at most " + std::to_string(limits.max_stop_bytes) + " bytes, got " + std::to_string(stops[i].size()));
  }
  return stops;
}

// Fields of OpenAI's API and vLLM's extras that would change what the answer means and that
// tessera does not implement: a request that sets one gets a 400 naming it, never an answer that
// quietly ignores it. Each may still be sent with its "off" value (null, false, an empty list or
// object, "none", ["text"]), which clients and SDKs do by default.
struct UnsupportedField {
  const char* name;
  bool chat_only;
  const char* feature;  // what tessera would need for it
};
constexpr UnsupportedField kUnsupportedFields[] = {
    {"tools", true, "tool calling"},
    {"tool_choice", true, "tool calling"},
    {"parallel_tool_calls", true, "tool calling"},
    {"functions", true, "function calling"},
    {"function_call", true, "function calling"},
    {"modalities", true, "output modalities other than text"},
    {"audio", true, "audio output"},
    {"web_search_options", true, "web search"},
    {"documents", true, "documents for the chat template"},
    {"continue_final_message", true, "continuing the final message"},
    {"guided_json", false, "structured output"},
    {"guided_regex", false, "structured output"},
    {"guided_choice", false, "structured output"},
    {"guided_grammar", false, "structured output"},
    {"structured_outputs", false, "structured output"},
    {"prompt_logprobs", false, "log probabilities of the prompt"},
    {"allowed_token_ids", false, "restricting the vocabulary"},
    {"bad_words", false, "banned words"},
    {"logits_processors", false, "logits processors"},
    {"truncate_prompt_tokens", false, "prompt truncation"},
    {"use_beam_search", false, "beam search"},
    {"include_stop_str_in_output", false, "stop strings kept in the output"},
};

bool is_off_value(const OJson& v) {
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_array() || v.is_object()) {
    // modalities: ["text"] is what every answer is anyway.
    return v.empty() || (v.is_array() && v.size() == 1 && v[0].is_string() && v[0].get<std::string>() == "text");
  }
  if (v.is_string()) return v.get_ref<const std::string&>() == "none";  // tool_choice, function_call
  return false;
}

void refuse_unsupported(const OJson& req, bool chat) {
  for (const UnsupportedField& f : kUnsupportedFields) {
    if (f.chat_only && !chat) continue;
    const OJson* v = field(req, f.name);
    if (v && !is_off_value(*v))
      fail(f.name, std::string(f.name) + ": " + f.feature + " is not supported by this server, got " + describe(*v));
  }
}

CommonOptions read_common(const OJson& req, Endpoint endpoint, const ModelContext& model, const ApiLimits& limits,
                          ApiRequest& out) {
  const bool chat = endpoint == Endpoint::kChatCompletions;
  CommonOptions c;
  GenerationRequest& g = c.base;
  SamplingOptions& s = g.sampling;

  out.stream = detail::opt_bool(req, "stream", false);
  if (const OJson* so = field(req, "stream_options")) {
    if (!out.stream) fail("stream_options", "stream_options: only allowed when stream is true");
    if (!so->is_object()) fail("stream_options", "stream_options: must be an object, got " + describe(*so));
    out.include_usage = detail::opt_bool(*so, "include_usage", false, "stream_options.");
    (void)detail::opt_bool(*so, "continuous_usage_stats", false, "stream_options.");
  }

  if (const OJson* v = field(req, "n")) out.n = static_cast<int32_t>(as_int(*v, "n", 1, limits.max_n));
  g.n = out.n;
  if (const OJson* v = field(req, "best_of")) {
    const int64_t best_of = as_int(*v, "best_of", 1, limits.max_n);
    if (best_of != out.n)
      fail("best_of", "best_of: tessera returns n completions and does not rank extra candidates, so best_of must "
                      "equal n (" + std::to_string(out.n) + ") or be left out, got " + std::to_string(best_of));
  }

  // Sampling (src/engine/sampler.h applies them: penalties, temperature, top-k, top-p, min-p).
  if (const OJson* v = field(req, "temperature")) s.temperature = detail::as_float(*v, "temperature", 0.0, 2.0);
  if (const OJson* v = field(req, "top_p")) s.top_p = detail::as_float(*v, "top_p", 0.0, 1.0, /*lo_open=*/true);
  if (const OJson* v = field(req, "top_k")) {
    s.top_k = static_cast<int32_t>(as_int(*v, "top_k", -1, INT32_MAX));
  }
  if (const OJson* v = field(req, "min_p")) s.min_p = detail::as_float(*v, "min_p", 0.0, 1.0);
  if (const OJson* v = field(req, "repetition_penalty"))
    s.repetition_penalty = detail::as_float(*v, "repetition_penalty", 0.0, 10.0, /*lo_open=*/true);
  if (const OJson* v = field(req, "presence_penalty"))
    s.presence_penalty = detail::as_float(*v, "presence_penalty", -2.0, 2.0);
  if (const OJson* v = field(req, "frequency_penalty"))
    s.frequency_penalty = detail::as_float(*v, "frequency_penalty", -2.0, 2.0);
  if (const OJson* v = field(req, "seed")) {
    // Any 64-bit integer: negative seeds are as good as positive ones (two's complement).
    if (v->is_number_unsigned()) s.seed = v->get<uint64_t>();
    else if (v->is_number_integer()) s.seed = static_cast<uint64_t>(v->get<int64_t>());
    else fail("seed", "seed: must be an integer, got " + describe(*v));
  }

  // Length. Chat prefers the newer max_completion_tokens; both are accepted.
  const OJson* max_tokens = chat ? field(req, "max_completion_tokens") : nullptr;
  if (max_tokens) c.max_tokens_param = "max_completion_tokens";
  else max_tokens = field(req, "max_tokens");
  if (max_tokens) c.max_tokens = as_int(*max_tokens, c.max_tokens_param, 1, INT32_MAX);
  if (const OJson* v = field(req, "min_tokens")) g.min_tokens = as_int(*v, "min_tokens", 0, INT32_MAX);

  // Stops.
  if (const OJson* v = field(req, "stop")) g.stop = read_stop(*v, limits);
  if (const OJson* v = field(req, "stop_token_ids")) {
    if (v->is_array() && v->size() > static_cast<size_t>(limits.max_stop_token_ids))
      fail("stop_token_ids", "stop_token_ids: at most " + std::to_string(limits.max_stop_token_ids) + " ids, got " +
                                 std::to_string(v->size()));
    g.stop_token_ids = detail::token_ids(*v, "stop_token_ids", model.vocab_size);
  }
  g.ignore_eos = detail::opt_bool(req, "ignore_eos", false);
  if (!g.stop.empty() && !model.tokenizer)
    fail("stop", "stop: stop strings need the model's tokenizer.json, which this model has not");

  // Log probabilities: an int for completions; a bool plus top_logprobs for chat.
  const std::string max_lp = std::to_string(limits.max_logprobs);
  if (chat) {
    const bool want = detail::opt_bool(req, "logprobs", false);
    const OJson* top = field(req, "top_logprobs");
    if (top) {
      const int64_t k = as_int(*top, "top_logprobs", 0, limits.max_logprobs);
      if (!want) fail("top_logprobs", "top_logprobs: needs \"logprobs\": true");
      out.logprobs = static_cast<int32_t>(k);
    } else if (want) {
      out.logprobs = 0;
    }
  } else if (const OJson* v = field(req, "logprobs")) {
    if (v->is_boolean())
      fail("logprobs", "logprobs: must be an integer in [0, " + max_lp + "] (how many top tokens), got " + describe(*v));
    out.logprobs = static_cast<int32_t>(as_int(*v, "logprobs", 0, limits.max_logprobs));
  }
  g.logprobs = out.logprobs;

  if (!chat) {
    out.echo = detail::opt_bool(req, "echo", false);
    if (out.echo && out.logprobs >= 0)
      fail("echo", "echo: with logprobs it needs the prompt's log probabilities, which tessera does not compute; "
                   "use one or the other");
    if (const OJson* v = field(req, "suffix"); v && !(v->is_string() && v->get_ref<const std::string&>().empty()))
      fail("suffix", "suffix: insertion (a text after the completion) is not supported");
  }

  // Scheduling and caching (vLLM's extras).
  if (const OJson* v = field(req, "priority")) g.priority = static_cast<int32_t>(as_int(*v, "priority", INT32_MIN, INT32_MAX));
  if (const OJson* v = field(req, "cache_salt")) {
    g.cache_salt = as_string(*v, "cache_salt");
    if (g.cache_salt.empty()) fail("cache_salt", "cache_salt: must not be empty when given");
  }
  if (const OJson* v = field(req, "user")) out.user = as_string(*v, "user");

  // Features that change the answer and that tessera does not have: refuse, never ignore.
  if (const OJson* v = field(req, "logit_bias")) {
    if (!v->is_object()) fail("logit_bias", "logit_bias: must be an object of token id to bias, got " + describe(*v));
    if (!v->empty()) fail("logit_bias", "logit_bias: is not supported");
  }
  refuse_unsupported(req, chat);
  if (const OJson* v = field(req, "response_format")) {
    const OJson* type = v->is_object() ? field(*v, "type") : nullptr;
    if (!type) fail("response_format", "response_format: must be an object with a \"type\", got " + describe(*v));
    const std::string t = as_string(*type, "response_format.type");
    if (t != "text")
      fail("response_format.type", "response_format.type: only \"text\" is supported, got '" + t +
                                       "' (structured output is not implemented yet)");
  }
  return c;
}

struct Prompt {
  std::vector<int32_t> ids;
  std::string text;   // for echo
  std::string param;  // names it in errors: "prompt", "prompt[2]", "messages"
};

std::vector<Prompt> read_prompts(const OJson& req, const ModelContext& model, const ApiLimits& limits) {
  const OJson* p = field(req, "prompt");
  if (!p) fail("prompt", "prompt: required (a string, a list of strings, a list of token ids or a list of lists)");
  const bool add_special = detail::opt_bool(req, "add_special_tokens", true);
  std::vector<Prompt> prompts;
  auto from_text = [&](const OJson& v, const std::string& param) {
    Prompt q;
    q.text = as_string(v, param);
    q.ids = detail::encode_text(model, q.text, add_special, param);
    q.param = param;
    return q;
  };
  auto from_ids = [&](const OJson& v, const std::string& param) {
    Prompt q;
    q.ids = detail::token_ids(v, param, model.vocab_size);
    if (model.tokenizer) q.text = model.tokenizer->decode(q.ids);
    q.param = param;
    return q;
  };
  if (p->is_string()) {
    prompts.push_back(from_text(*p, "prompt"));
  } else if (p->is_array()) {
    if (p->empty()) fail("prompt", "prompt: must not be an empty list");
    if ((*p)[0].is_number()) {
      prompts.push_back(from_ids(*p, "prompt"));  // one prompt of token ids
    } else {
      if (p->size() > static_cast<size_t>(limits.max_prompts))
        fail("prompt", "prompt: at most " + std::to_string(limits.max_prompts) + " prompts in one request, got " +
                           std::to_string(p->size()));
      const bool strings = (*p)[0].is_string();
      for (size_t i = 0; i < p->size(); ++i) {
        const std::string param = "prompt[" + std::to_string(i) + "]";
        const OJson& item = (*p)[i];
        if (strings ? !item.is_string() : !item.is_array())
          fail(param, param + ": a prompt list must hold only strings or only lists of token ids, got " + describe(item));
        prompts.push_back(strings ? from_text(item, param) : from_ids(item, param));
      }
    }
  } else {
    fail("prompt", "prompt: must be a string, a list of strings, a list of token ids or a list of lists, got " +
                       describe(*p));
  }
  return prompts;
}

// Resolves max_tokens against the context: explicit values must fit, absent ones take what fits.
int64_t resolve_max_tokens(const Prompt& prompt, const CommonOptions& c, Endpoint endpoint, const ModelContext& model,
                           const ApiLimits& limits) {
  const int64_t len = static_cast<int64_t>(prompt.ids.size());
  const int64_t ctx = model.max_model_len;
  if (len == 0) fail(prompt.param, prompt.param + ": must not be empty (it has no tokens)");
  if (len >= ctx)
    fail(prompt.param, prompt.param + ": " + std::to_string(len) + " tokens, but the model's context length is " +
                           std::to_string(ctx) + " tokens, which must also hold at least one generated token");
  if (c.max_tokens) {
    if (len + *c.max_tokens > ctx)
      fail(c.max_tokens_param, c.max_tokens_param + ": " + std::to_string(len) + " prompt tokens + " +
                                   std::to_string(*c.max_tokens) + " = " + std::to_string(len + *c.max_tokens) +
                                   " tokens exceed the model's context length of " + std::to_string(ctx) +
                                   " tokens; ask for at most " + std::to_string(ctx - len));
    return *c.max_tokens;
  }
  if (endpoint == Endpoint::kChatCompletions) return ctx - len;
  return std::min(limits.default_completion_max_tokens, ctx - len);
}

}  // namespace

std::variant<ApiRequest, ApiError> parse_request(Endpoint endpoint, std::string_view body, const ModelContext& model,
                                                 const ApiLimits& limits) {
  try {
    const OJson req = detail::parse_body(body, limits);
    detail::check_model(req, model);
    ApiRequest out;
    out.endpoint = endpoint;
    out.model = model.model_name;
    const CommonOptions common = read_common(req, endpoint, model, limits, out);

    std::vector<Prompt> prompts;
    if (endpoint == Endpoint::kChatCompletions) {
      const OJson* messages = field(req, "messages");
      if (!messages) fail("messages", "messages: required (a list of {\"role\", \"content\"})");
      Prompt q;
      q.param = "messages";
      q.text = detail::render_chat(model, *messages, detail::opt_bool(req, "add_generation_prompt", true),
                                   field(req, "chat_template_kwargs"), limits);
      // The template writes the special tokens itself (bos included), so none are added again.
      q.ids = detail::encode_text(model, q.text, detail::opt_bool(req, "add_special_tokens", false), "messages");
      prompts.push_back(std::move(q));
    } else {
      prompts = read_prompts(req, model, limits);
    }
    if (prompts.size() * static_cast<size_t>(out.n) > static_cast<size_t>(limits.max_choices))
      fail("n", "n: " + std::to_string(prompts.size()) + " prompts x n = " + std::to_string(out.n) + " give " +
                    std::to_string(prompts.size() * static_cast<size_t>(out.n)) + " choices; at most " +
                    std::to_string(limits.max_choices) + " per request");

    for (Prompt& q : prompts) {
      GenerationRequest g = common.base;
      g.max_tokens = resolve_max_tokens(q, common, endpoint, model, limits);
      if (g.min_tokens > g.max_tokens)
        fail("min_tokens", "min_tokens: must be at most max_tokens (" + std::to_string(g.max_tokens) + "), got " +
                               std::to_string(g.min_tokens));
      g.prompt_token_ids = std::move(q.ids);
      out.prompts.push_back(std::move(g));
      out.prompt_texts.push_back(std::move(q.text));
    }
    return out;
  } catch (...) {
    return detail::error_from_exception();
  }
}

}  // namespace tessera::server
