// src/core/json_util.h — typed, bounds-checked field access on parsed JSON with messages that
// name the file and the field: "config.json: field 'hidden_size' must be a positive integer,
// got \"abc\"". Used by every JSON reader (config, safetensors headers, tokenizer files).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/status.h"

namespace tessera {

using Json = nlohmann::json;

// Nesting of arrays and objects that parse_json accepts. Model files are shallow (tokenizer.json
// nests about 6 levels); the bound keeps every recursive walk of a parsed value (nlohmann's dump,
// copy, comparison) far from the stack's end: 100,000 levels overflowed it.
inline constexpr int kMaxJsonDepth = 512;

// Parses text; a syntax error names `source` and the byte offset, and so does nesting deeper
// than kMaxJsonDepth (checked before parsing). Both are kDataLoss (a corrupt file); the readers'
// field errors (JsonObject) are kInvalidArgument.
Expected<Json> parse_json(const std::string& text, const std::string& source);

// The byte offset of the first '[' or '{' that opens level `max_depth + 1`, outside strings;
// nullopt when the text never nests deeper than `max_depth`. Linear, no recursion, and any text
// (valid JSON or not) is fine.
std::optional<size_t> json_too_deep_at(std::string_view text, int max_depth);

// A view of one JSON object with the name of where it came from ("config.json", or
// "config.json: rope_scaling"). It holds a reference: the Json must outlive it (never build one
// from a temporary).
class JsonObject {
 public:
  JsonObject(const Json& obj, std::string source) : obj_(obj), source_(std::move(source)) {}

  bool has(const std::string& key) const;  // present and not null
  const Json* find(const std::string& key) const;
  const std::string& source() const { return source_; }

  // Required fields: an error if missing, null or of the wrong type / out of range.
  Expected<int64_t> get_int(const std::string& key, int64_t min_value = INT64_MIN,
                            int64_t max_value = INT64_MAX) const;
  Expected<double> get_double(const std::string& key) const;
  Expected<std::string> get_string(const std::string& key) const;
  Expected<bool> get_bool(const std::string& key) const;

  // Optional fields: the default when missing or null, an error when present with a bad type.
  Expected<int64_t> get_int_or(const std::string& key, int64_t fallback,
                               int64_t min_value = INT64_MIN, int64_t max_value = INT64_MAX) const;
  Expected<double> get_double_or(const std::string& key, double fallback) const;
  Expected<std::string> get_string_or(const std::string& key, std::string fallback) const;
  Expected<bool> get_bool_or(const std::string& key, bool fallback) const;

  Status field_error(const std::string& key, const std::string& what) const;

 private:
  const Json& obj_;
  std::string source_;
};

// A short rendering of a JSON value for messages, cut at ~40 characters. It renders only what it
// shows, so its cost and stack depth are bounded whatever the value's size and nesting.
std::string json_excerpt(const Json& v);

}  // namespace tessera
