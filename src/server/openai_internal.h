// src/server/openai_internal.h — helpers shared by the OpenAI API layer's .cpp files (not part of
// its interface): the body parser with its depth bound, typed field readers whose errors name the
// field, JSON output that never throws on odd text, and the prompt helpers (token-id lists, text
// encoding, chat rendering) that both the generation routes and /tokenize use.
//
// Inside the layer a validation failure is thrown as `Invalid` and caught at each public entry
// point (parse_request, tokenize_body, ...), which turns it, or any other exception, into an
// ApiError: nothing thrown here ever leaves openai_api.h's functions.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/server/openai_api.h"

namespace tessera::server::detail {

using OJson = nlohmann::ordered_json;

struct Invalid {
  ApiError error;
};

[[noreturn]] void fail(std::string param, std::string message);

// What is wrong with the shape of JSON text before it is parsed: nesting deeper than
// limits.max_json_depth or an object of more than limits.max_object_members members (one pass over
// brackets and commas outside strings); nullopt when neither.
std::optional<std::string> json_shape_problem(std::string_view text, const ApiLimits& limits);

// Parses a request body: at most limits.max_json_depth nested arrays/objects and
// limits.max_object_members members per object (both checked on the raw text before parsing, so
// a hostile "[[[[..." or a 100,000-key object costs one pass), valid JSON, and an object at the
// top. Throws Invalid.
OJson parse_body(std::string_view body, const ApiLimits& limits);

// "string \"abc\"", "integer 3", "array of 2", ... for "got ..." in messages.
std::string describe(const OJson& v);
// `obj[key]`, or nullptr when the key is absent or null (OpenAI treats null as "not given").
const OJson* field(const OJson& obj, std::string_view key);

// Typed readers: throw Invalid naming `param` when the value has the wrong type or range.
bool as_bool(const OJson& v, const std::string& param);
std::string as_string(const OJson& v, const std::string& param);
int64_t as_int(const OJson& v, const std::string& param, int64_t lo, int64_t hi);
// A finite number in [lo, hi] (integers accepted); `lo_open` makes it (lo, hi].
double as_number(const OJson& v, const std::string& param, double lo, double hi, bool lo_open = false);
// as_number for a field the engine keeps as a 32-bit float: the range holds for the float too
// (top_p: 1e-320 is in (0, 1] as a double but 0 as a float).
float as_float(const OJson& v, const std::string& param, double lo, double hi, bool lo_open = false);

// Optional fields of `obj` (absent or null gives the fallback); `param` = prefix + key.
bool opt_bool(const OJson& obj, std::string_view key, bool fallback, const std::string& prefix = "");

// Token ids of a JSON array, each in [0, vocab_size). Throws Invalid naming param[i].
std::vector<int32_t> token_ids(const OJson& arr, const std::string& param, int64_t vocab_size);
// Text → ids with the model's tokenizer (400 naming `param` when the model has none).
std::vector<int32_t> encode_text(const ModelContext& model, std::string_view text, bool add_special_tokens,
                                 const std::string& param);
// Validates an OpenAI "messages" array (roles, content as a string or a list of text parts,
// "developer" read as "system") and renders it with the model's chat template. `kwargs` is the
// optional chat_template_kwargs object (extra template variables).
std::string render_chat(const ModelContext& model, const OJson& messages, bool add_generation_prompt,
                        const OJson* kwargs, const ApiLimits& limits);
// The served model check: absent "model" is fine; another name is 404 model_not_found.
void check_model(const OJson& body, const ModelContext& model);

// Compact JSON; invalid UTF-8 (never expected) becomes U+FFFD rather than an exception.
std::string dump(const OJson& v);
// A logprob as JSON: -inf and NaN are not JSON numbers, so they become -9999.0 (vLLM's choice).
double json_logprob(float logprob);
// Number of Unicode code points in UTF-8 text (offsets as Python's len() counts them).
int64_t utf8_length(std::string_view text);

// Turns any exception of the body of an entry point into an ApiError.
ApiError error_from_exception();

}  // namespace tessera::server::detail
