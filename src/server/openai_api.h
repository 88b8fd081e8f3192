// src/server/openai_api.h — the OpenAI API layer of `tessera serve`: everything between an HTTP
// body and the engine that does not touch a socket. The transport (http_server.h) reads a body,
// calls one function here, submits the resulting GenerationRequests, feeds the engine's
// TokenEvents to a ResponseBuilder and writes back whatever text it returns.
//
//   auto parsed = parse_request(Endpoint::kChatCompletions, body, model, limits);
//   if (auto* e = std::get_if<ApiError>(&parsed)) return reply(e->status, error_body(*e));
//   ApiRequest& req = std::get<ApiRequest>(parsed);
//   const std::string id = make_response_id(req.endpoint);
//   assign_request_ids(req, id);                       // engine ids "<id>-<prompt index>"
//   ResponseBuilder out(req, model, id, unix_now());
//   for each prompt i: stream_i = engine.submit(req.prompts[i])   (ApiError::from_status on error)
//   for each event ev of stream i: send(out.on_event(i, ev));     ("" when nothing to send yet)
//   send(out.finish());  // streamed: usage chunk + [DONE]; else the whole body, out.http_status()
//
// Invariants: every function here is total — any body, however malformed, deep or large, gives
// either a value or one ApiError naming the field and what was expected (never an exception out,
// a crash or unbounded work beyond the body's size). Unknown fields are ignored, as OpenAI does.
// parse_request and the *_body functions are thread-safe (ModelContext is read-only); a
// ResponseBuilder belongs to one HTTP request and is not.
//
// Choice indices follow OpenAI: with P prompts and n completions each, prompt p's stream s is
// choice p * n + s. Usage counts each prompt once whatever n is; completion tokens over all
// choices; prompt_tokens_details.cached_tokens are the prefix-cache hits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/tokenizer/chat_template.h"
#include "src/tokenizer/tokenizer.h"
#include "tessera/engine.h"
#include "tessera/status.h"

namespace tessera::server {

// ---- errors ------------------------------------------------------------------------------------

// An error as OpenAI returns it: HTTP `status` and the body
//   {"error": {"message": ..., "type": ..., "param": ... | null, "code": ... | null}}.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the request field at fault, e.g. "messages[2].content"; "" is null
  std::string code;   // a machine-readable reason, e.g. "model_not_found"; "" is null

  // 400: a field is missing, of the wrong type or out of range. `param` names it.
  static ApiError invalid(std::string param, std::string message);
  // 404, code "model_not_found": the request names a model this server does not serve.
  static ApiError model_not_found(std::string_view model);
  // 404: no such route (`what` is the method and path, e.g. "GET /v2/x").
  static ApiError not_found(std::string_view what);
  // 405: the route exists but not for this method.
  static ApiError method_not_allowed(std::string_view method, std::string_view path);
  // 401, code "invalid_api_key": no or a wrong `Authorization: Bearer` key.
  static ApiError unauthorized();
  // 413: the body is larger than `limit_bytes`.
  static ApiError payload_too_large(size_t limit_bytes);
  // 429, type "rate_limit_error": the queue is full (the transport adds Retry-After).
  static ApiError too_many_requests(std::string message);
  // 503, type "server_error": loading or shutting down.
  static ApiError unavailable(std::string message);
  // 500, type "server_error".
  static ApiError internal(std::string message);
  // An engine Status (from Engine::submit): invalid argument → 400 with the engine's message
  // (which names the field), cancelled → 503 (the engine is stopping), anything else → 500.
  static ApiError from_status(const Status& status, std::string param = "");
};

// The JSON body of an error (no trailing newline).
std::string error_body(const ApiError& error);
// The same body as one server-sent event, "data: {...}\n\n", for an error after a stream began.
std::string sse_error(const ApiError& error);

// ---- the served model --------------------------------------------------------------------------

// What the API layer needs to know about the model it serves. Read-only once built; shared by
// every request thread.
struct ModelContext {
  std::string model_name;                      // the id clients send as "model" and see in /v1/models
  std::shared_ptr<const Tokenizer> tokenizer;  // null: the model takes token ids only
  std::optional<ChatTemplate> chat_template;   // unset: /v1/chat/completions answers 400
  ChatContext chat_context;                    // special tokens (bos_token, ...) for the template
  int64_t max_model_len = 0;                   // context length: prompt + generated tokens
  int64_t vocab_size = 0;                      // the model's: token ids must lie in [0, vocab_size)
  std::string owned_by = "tessera";
};

// Builds the context of the model in `model_dir`: its tokenizer.json (when present), the default
// chat template and special tokens of tokenizer_config.json / chat_template.jinja (when present),
// and the engine's max_model_len and vocab_size. A malformed file is an error naming it.
Expected<ModelContext> load_model_context(const std::string& model_dir, std::string model_name,
                                          const EngineInfo& info);

// ---- requests ----------------------------------------------------------------------------------

enum class Endpoint { kCompletions, kChatCompletions };

// Bounds on what one request may ask for. Each one exceeded is a 400 naming the field and bound.
struct ApiLimits {
  int32_t max_n = kMaxSampleStreams;      // n (completions per prompt)
  int32_t max_prompts = 64;               // prompts in one completions request (a list prompt)
  int32_t max_choices = 256;              // prompts x n
  int32_t max_stop = 16;                  // stop strings
  size_t max_stop_bytes = 256;            // bytes of each stop string
  int32_t max_stop_token_ids = 64;        // stop_token_ids entries
  int32_t max_logprobs = 20;              // logprobs (completions) / top_logprobs (chat)
  int32_t max_messages = 4096;            // chat messages
  int32_t max_json_depth = 64;            // nesting of arrays and objects in the body
  // Members of any one JSON object in the body. Objects keep their key order (as Python dicts do,
  // which chat templates see), and that map finds keys by linear search: the bound keeps parsing
  // linear in the body's size.
  int32_t max_object_members = 256;
  // max_tokens when a completions request leaves it out: 16, as OpenAI and vLLM. A chat request
  // without max_tokens / max_completion_tokens gets what the context leaves (vLLM's rule).
  int64_t default_completion_max_tokens = 16;
};

// A validated request, ready for Engine::submit.
struct ApiRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;             // the served model's name (echoed in every response)
  bool stream = false;
  bool include_usage = false;    // stream_options.include_usage: a last chunk with usage
  bool echo = false;             // completions: the prompt text precedes each choice's text
  int32_t n = 1;                 // completions per prompt (also in each prompts[i].n)
  // Completions: -1 none, else `logprobs` (top k, 0..20). Chat: -1 unless logprobs is true,
  // then top_logprobs (0..20). Also in each prompts[i].logprobs.
  int32_t logprobs = -1;
  std::string user;
  // One per prompt (chat: exactly one), with tokens, n, max_tokens resolved against the context,
  // sampling, stops, priority, cache_salt. request_id is empty: see assign_request_ids.
  std::vector<GenerationRequest> prompts;
  // The prompts as text (the string sent, or the decoded ids), for echo. Same size as prompts.
  std::vector<std::string> prompt_texts;

  size_t num_choices() const { return prompts.size() * static_cast<size_t>(n); }
  int64_t prompt_tokens() const;  // over all prompts
};

// Parses and validates a /v1/completions or /v1/chat/completions body against the served model:
// tokenizes prompts (completions: with the tokenizer's special tokens, as HF does, unless
// "add_special_tokens": false) or renders the chat template (with add_generation_prompt) and
// tokenizes that, and checks prompt + max_tokens against max_model_len. The "model" field must
// name the served model (404 otherwise); leaving it out means the served model.
std::variant<ApiRequest, ApiError> parse_request(Endpoint endpoint, std::string_view body,
                                                 const ModelContext& model, const ApiLimits& limits = {});

// A fresh response id: "cmpl-" or "chatcmpl-" and 32 random hex digits. Thread-safe.
std::string make_response_id(Endpoint endpoint);
// Names the engine requests: `id` when there is one prompt, "<id>-<i>" for prompt i otherwise.
void assign_request_ids(ApiRequest& request, const std::string& id);

// ---- responses ---------------------------------------------------------------------------------

// Turns the engine's events for one ApiRequest into the HTTP response body. Streaming requests
// get server-sent events as OpenAI sends them: `data: {chunk}\n\n` per event (the chat's first
// chunk of each choice carries role "assistant"; the one that ends a choice has its
// finish_reason), then, at finish(), a usage chunk with empty choices when include_usage, and
// `data: [DONE]\n\n`. Non-streaming requests accumulate and finish() returns the whole body.
// Engine finish reasons map to "stop" and "length"; a cancelled stream ends with "abort" (vLLM's
// name); an engine error becomes an error event (streamed) or a 500 body.
class ResponseBuilder {
 public:
  // Copies what it needs from `request` and `model` (both may die before the builder).
  ResponseBuilder(const ApiRequest& request, const ModelContext& model, std::string id, int64_t created_unix);
  ~ResponseBuilder();
  ResponseBuilder(ResponseBuilder&&) noexcept;
  ResponseBuilder& operator=(ResponseBuilder&&) noexcept;

  // One event of prompt `prompt_index`'s engine stream. Streaming: the SSE text to send now (""
  // when there is nothing yet, e.g. half a UTF-8 character). Non-streaming: "" (accumulates).
  // Events of an out-of-range prompt or stream index are ignored.
  std::string on_event(size_t prompt_index, const TokenEvent& event);
  // True once every choice has ended (its finish_reason was seen).
  bool done() const;
  // Streaming: the usage chunk (when asked for) and "data: [DONE]\n\n". Non-streaming: the body
  // (a completion, or an error body when the engine failed: see http_status). Call once, after
  // the last event (choices that never ended are reported with finish_reason "abort").
  std::string finish();
  // 200, or for a non-streamed request whose engine stream failed, 500 (finish() is the error).
  int http_status() const;
  // "text/event-stream" or "application/json".
  const char* content_type() const;
  // Usage so far, over all prompts (for logs and metrics).
  Usage usage() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// ---- other routes ------------------------------------------------------------------------------

// GET /v1/models: {"object": "list", "data": [{"id", "object": "model", "created", "owned_by",
// "root", "parent": null, "max_model_len"}]}.
std::string models_body(const ModelContext& model, int64_t created_unix);
// GET /v1/models/{id}: the one model object, or 404 model_not_found.
std::variant<std::string, ApiError> model_body(std::string_view id, const ModelContext& model, int64_t created_unix);
// POST /tokenize (vLLM's shape): {"prompt": str, "add_special_tokens": bool = true} or
// {"messages": [...], "add_generation_prompt": bool = true, "add_special_tokens": bool = false,
// "chat_template_kwargs": {...}}, plus optional "model" and "return_token_strs". Answers
// {"count", "max_model_len", "tokens", "token_strs"}.
std::variant<std::string, ApiError> tokenize_body(std::string_view body, const ModelContext& model,
                                                  const ApiLimits& limits = {});
// POST /detokenize: {"tokens": [ids], "model"?} → {"prompt": text}. Ids must lie in the vocabulary.
std::variant<std::string, ApiError> detokenize_body(std::string_view body, const ModelContext& model,
                                                    const ApiLimits& limits = {});

}  // namespace tessera::server
