// src/server/openai_response.cpp — ResponseBuilder: the engine's TokenEvents of one HTTP request
// into OpenAI's response bodies, whole or as server-sent events.
//
// Invariants: choice p * n + s is prompt p's sample stream s and is reported once it ends and
// never again; a streamed choice's chunks concatenate to exactly the text a non-streamed request
// would return (echo included); chat's first chunk of a choice is the role chunk; usage counts
// each prompt's tokens once (from the request, so a prompt whose stream never produced an event
// still counts) and the completion and cached tokens the engine reported.
#include <algorithm>
#include <cmath>

#include "src/server/openai_api.h"
#include "src/server/openai_internal.h"

namespace tessera::server {

using detail::OJson;

namespace {

struct Choice {
  std::string text;                      // non-streaming: everything so far (echo included)
  int64_t chars = 0;                     // code points of the text so far, for text_offset
  bool started = false;                  // first event seen (streaming: role chunk / echo sent)
  std::optional<std::string> finish;     // "stop", "length", "abort"
  OJson logprobs = nullptr;              // non-streaming: accumulated, in the endpoint's shape
};

}  // namespace

struct ResponseBuilder::State {
  Endpoint endpoint = Endpoint::kCompletions;
  bool stream = false;
  bool include_usage = false;
  bool echo = false;
  int32_t n = 1;
  int32_t logprobs = -1;
  std::string id;
  std::string model;
  int64_t created = 0;
  std::shared_ptr<const Tokenizer> tokenizer;
  std::vector<std::string> prompt_texts;
  std::vector<int64_t> prompt_tokens;  // per prompt
  std::vector<Usage> usage;            // per prompt: the largest totals the engine reported
  std::vector<Choice> choices;
  size_t num_finished = 0;
  std::optional<ApiError> error;  // the first engine error
  bool error_sent = false;

  bool chat() const { return endpoint == Endpoint::kChatCompletions; }

  OJson envelope() const {
    OJson j = OJson::object();
    j["id"] = id;
    j["object"] = chat() ? (stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    j["created"] = created;
    j["model"] = model;
    return j;
  }

  std::string token_text(int32_t token) const {
    if (!tokenizer) return "token_id:" + std::to_string(token);
    return tokenizer->decode({token}, /*skip_special_tokens=*/false);
  }

  // Chat's per-token entry: {"token", "logprob", "bytes"} (+ "top_logprobs" for the sampled one).
  OJson chat_token(int32_t token, float logprob) const {
    const std::string text = token_text(token);
    OJson bytes = OJson::array();
    for (unsigned char c : text) bytes.push_back(static_cast<int>(c));
    OJson j = OJson::object();
    j["token"] = text;
    j["logprob"] = detail::json_logprob(logprob);
    j["bytes"] = std::move(bytes);
    return j;
  }

  // Appends the event's tokens to `lp` in the endpoint's logprobs shape. `chars_before` is the
  // text_offset of the event's first token (completions).
  void add_logprobs(OJson& lp, const TokenEvent& ev, int64_t chars_before) const {
    if (chat()) {
      if (lp.is_null()) lp = OJson{{"content", OJson::array()}, {"refusal", nullptr}};
      for (const TokenLogprob& t : ev.logprobs) {
        OJson entry = chat_token(t.token_id, t.logprob);
        OJson top = OJson::array();
        for (size_t k = 0; k < t.top.size() && static_cast<int32_t>(k) < logprobs; ++k)
          top.push_back(chat_token(t.top[k].first, t.top[k].second));
        entry["top_logprobs"] = std::move(top);
        lp["content"].push_back(std::move(entry));
      }
      return;
    }
    if (lp.is_null())
      lp = OJson{{"tokens", OJson::array()}, {"token_logprobs", OJson::array()}, {"top_logprobs", OJson::array()},
                 {"text_offset", OJson::array()}};
    const int64_t event_chars = detail::utf8_length(ev.text);
    int64_t within = 0;  // offsets advance by token text, never past the event's own text
    for (const TokenLogprob& t : ev.logprobs) {
      const std::string text = token_text(t.token_id);
      lp["tokens"].push_back(text);
      lp["token_logprobs"].push_back(detail::json_logprob(t.logprob));
      // The top `logprobs` tokens plus the sampled one (OpenAI: up to logprobs + 1 entries).
      OJson top = OJson::object();
      for (size_t k = 0; k < t.top.size() && static_cast<int32_t>(k) < logprobs; ++k)
        top[token_text(t.top[k].first)] = detail::json_logprob(t.top[k].second);
      top[text] = detail::json_logprob(t.logprob);
      lp["top_logprobs"].push_back(std::move(top));
      lp["text_offset"].push_back(chars_before + std::min(within, event_chars));
      within += detail::utf8_length(text);
    }
  }

  static const char* finish_name(FinishReason r) {
    switch (r) {
      case FinishReason::kStop: return "stop";
      case FinishReason::kLength: return "length";
      case FinishReason::kCancelled: return "abort";
      case FinishReason::kError: return "error";
    }
    return "abort";
  }

  OJson usage_json() const {
    Usage u = total_usage();
    OJson j = OJson::object();
    j["prompt_tokens"] = u.prompt_tokens;
    j["completion_tokens"] = u.completion_tokens;
    j["total_tokens"] = u.prompt_tokens + u.completion_tokens;
    j["prompt_tokens_details"] = OJson{{"cached_tokens", u.cached_prompt_tokens}};
    return j;
  }

  Usage total_usage() const {
    Usage total;
    for (size_t p = 0; p < usage.size(); ++p) {
      total.prompt_tokens += prompt_tokens[p];
      total.completion_tokens += usage[p].completion_tokens;
      total.cached_prompt_tokens += usage[p].cached_prompt_tokens;
    }
    return total;
  }

  // One streamed chunk for choice `index`.
  std::string chunk(size_t index, const std::string& text, bool role, const OJson& logprobs_json,
                    const std::optional<std::string>& finish) const {
    OJson c = OJson::object();
    c["index"] = index;
    if (chat()) {
      OJson delta = OJson::object();
      if (role) {
        delta["role"] = "assistant";
        delta["content"] = "";
      } else if (!text.empty() || !finish) {
        delta["content"] = text;
      }
      c["delta"] = std::move(delta);
    } else {
      c["text"] = text;
    }
    c["logprobs"] = logprobs_json;
    c["finish_reason"] = finish ? OJson(*finish) : OJson(nullptr);
    OJson j = envelope();
    j["choices"] = OJson::array({std::move(c)});
    if (include_usage) j["usage"] = nullptr;  // as OpenAI: only the last chunk carries usage
    return "data: " + detail::dump(j) + "\n\n";
  }
};

ResponseBuilder::ResponseBuilder(const ApiRequest& request, const ModelContext& model, std::string id,
                                 int64_t created_unix)
    : s_(std::make_unique<State>()) {
  s_->endpoint = request.endpoint;
  s_->stream = request.stream;
  s_->include_usage = request.include_usage;
  s_->echo = request.echo;
  s_->n = std::max<int32_t>(request.n, 1);
  s_->logprobs = request.logprobs;
  s_->id = std::move(id);
  s_->model = request.model.empty() ? model.model_name : request.model;
  s_->created = created_unix;
  s_->tokenizer = model.tokenizer;
  s_->prompt_texts = request.prompt_texts;
  s_->prompt_texts.resize(request.prompts.size());
  for (const GenerationRequest& g : request.prompts)
    s_->prompt_tokens.push_back(static_cast<int64_t>(g.prompt_token_ids.size()));
  s_->usage.resize(request.prompts.size());
  s_->choices.resize(request.prompts.size() * static_cast<size_t>(s_->n));
}

ResponseBuilder::~ResponseBuilder() = default;
ResponseBuilder::ResponseBuilder(ResponseBuilder&&) noexcept = default;
ResponseBuilder& ResponseBuilder::operator=(ResponseBuilder&&) noexcept = default;

std::string ResponseBuilder::on_event(size_t prompt_index, const TokenEvent& ev) {
  State& s = *s_;
  if (prompt_index >= s.usage.size() || ev.index < 0 || ev.index >= s.n) return "";
  const size_t index = prompt_index * static_cast<size_t>(s.n) + static_cast<size_t>(ev.index);
  Choice& c = s.choices[index];
  if (c.finish) return "";  // a choice ends once
  Usage& u = s.usage[prompt_index];
  u.completion_tokens = std::max(u.completion_tokens, ev.usage.completion_tokens);
  u.cached_prompt_tokens = std::max(u.cached_prompt_tokens, ev.usage.cached_prompt_tokens);

  std::string out;
  const bool first = !c.started;
  c.started = true;
  std::string text = ev.text;
  if (first && s.echo) text = s.prompt_texts[prompt_index] + text;
  if (first && s.stream && s.chat()) out += s.chunk(index, "", /*role=*/true, nullptr, std::nullopt);

  std::optional<std::string> finish;
  if (ev.finish_reason) {
    ++s.num_finished;
    if (*ev.finish_reason == FinishReason::kError) {
      // The engine failed this request: the whole answer is an error (the first one reported).
      c.finish = "error";
      if (!s.error) s.error = ApiError::internal(ev.error.empty() ? "the engine failed the request" : ev.error);
      if (s.stream && !s.error_sent) {
        s.error_sent = true;
        out += sse_error(*s.error);
      }
      return out;
    }
    finish = State::finish_name(*ev.finish_reason);
    c.finish = finish;
  }

  const int64_t chars_before = c.chars + (first && s.echo ? detail::utf8_length(s.prompt_texts[prompt_index]) : 0);
  OJson lp = nullptr;
  const bool has_logprobs = s.logprobs >= 0 && !ev.logprobs.empty();
  if (has_logprobs) s.add_logprobs(s.stream ? lp : c.logprobs, ev, chars_before);
  c.chars += detail::utf8_length(text);
  if (!s.stream) {
    c.text += text;
    return "";
  }
  // Nothing new to say: half a character held back by the detokenizer, no logprobs, no end.
  if (text.empty() && !has_logprobs && !finish) return out;
  out += s.chunk(index, text, /*role=*/false, lp, finish);
  return out;
}

bool ResponseBuilder::done() const { return s_->num_finished >= s_->choices.size(); }

std::string ResponseBuilder::finish() {
  State& s = *s_;
  if (s.stream) {
    std::string out;
    if (s.include_usage) {
      OJson j = s.envelope();
      j["choices"] = OJson::array();
      j["usage"] = s.usage_json();
      out += "data: " + detail::dump(j) + "\n\n";
    }
    out += "data: [DONE]\n\n";
    return out;
  }
  if (s.error) return error_body(*s.error);
  OJson choices = OJson::array();
  for (size_t i = 0; i < s.choices.size(); ++i) {
    Choice& c = s.choices[i];
    OJson j = OJson::object();
    j["index"] = i;
    if (s.chat()) {
      j["message"] = OJson{{"role", "assistant"}, {"content", c.text}};
    } else {
      // A choice whose stream never produced an event still shows its echoed prompt.
      j["text"] = c.started || !s.echo ? c.text : s.prompt_texts[i / static_cast<size_t>(s.n)];
    }
    if (s.logprobs >= 0 && c.logprobs.is_null()) {
      OJson empty;  // null: add_logprobs gives it the endpoint's shape, with no tokens
      s.add_logprobs(empty, TokenEvent{}, 0);
      j["logprobs"] = std::move(empty);
    } else {
      j["logprobs"] = c.logprobs;
    }
    j["finish_reason"] = c.finish.value_or("abort");
    choices.push_back(std::move(j));
  }
  OJson body = s.envelope();
  body["choices"] = std::move(choices);
  body["usage"] = s.usage_json();
  return detail::dump(body);
}

int ResponseBuilder::http_status() const { return !s_->stream && s_->error ? s_->error->status : 200; }

const char* ResponseBuilder::content_type() const { return s_->stream ? "text/event-stream" : "application/json"; }

Usage ResponseBuilder::usage() const { return s_->total_usage(); }

}  // namespace tessera::server
