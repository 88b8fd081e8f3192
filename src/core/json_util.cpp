#include "src/core/json_util.h"

#include <cstdint>
#include <cmath>

namespace tessera {

std::optional<size_t> json_too_deep_at(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character cannot end the string
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

Expected<Json> parse_json(const std::string& text, const std::string& source) {
  // Text that is not JSON (or nests too deep) is a corrupt file, whatever its fields would say:
  // kDataLoss, which the command line reports with exit status 1 like any other bad file.
  if (const auto at = json_too_deep_at(text, kMaxJsonDepth))
    return data_loss(source + ": invalid JSON at byte " + std::to_string(*at) + ": nested deeper than " +
                     std::to_string(kMaxJsonDepth) + " levels of arrays and objects");
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return data_loss(source + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range for 1e999
    return data_loss(source + ": invalid JSON: " + e.what());
  }
}

namespace {

constexpr size_t kExcerptChars = 40;

// Appends v's compact dump to `out` until `out` holds more than `limit` characters. Every level
// appends at least one character before it descends, so the recursion is at most `limit` deep.
void append_excerpt(const Json& v, std::string& out, size_t limit) {
  if (out.size() > limit) return;
  if (v.is_array() || v.is_object()) {
    out += v.is_array() ? '[' : '{';
    bool first = true;
    for (auto it = v.begin(); it != v.end() && out.size() <= limit; ++it) {
      if (!first) out += ',';
      first = false;
      if (v.is_object()) out += Json(it.key()).dump(-1, ' ', false, Json::error_handler_t::replace) + ':';
      append_excerpt(it.value(), out, limit);
    }
    out += v.is_array() ? ']' : '}';
    return;
  }
  if (v.is_string()) {
    // Only the head of a long string: dumping a 100 MB value to show 40 characters is waste.
    const auto& s = v.get_ref<const std::string&>();
    out += Json(s.substr(0, limit + 1)).dump(-1, ' ', false, Json::error_handler_t::replace);
    return;
  }
  out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string json_excerpt(const Json& v) {
  std::string s;
  append_excerpt(v, s, kExcerptChars);
  if (s.size() > kExcerptChars) s = s.substr(0, kExcerptChars - 3) + "...";
  return s;
}

bool JsonObject::has(const std::string& key) const {
  auto it = obj_.find(key);
  return it != obj_.end() && !it->is_null();
}

const Json* JsonObject::find(const std::string& key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) return nullptr;
  return &*it;
}

Status JsonObject::field_error(const std::string& key, const std::string& what) const {
  return invalid_argument(source_ + ": field '" + key + "' " + what);
}

Expected<int64_t> JsonObject::get_int(const std::string& key, int64_t min_value,
                                      int64_t max_value) const {
  const Json* v = find(key);
  if (!v) return field_error(key, "is missing");
  int64_t out;
  if (v->is_number_integer()) {
    out = v->get<int64_t>();
  } else if (v->is_number_float() && std::isfinite(v->get<double>()) &&
             std::floor(v->get<double>()) == v->get<double>() &&
             std::fabs(v->get<double>()) < 9.0e15) {
    out = static_cast<int64_t>(v->get<double>());  // 4096.0 is accepted as 4096
  } else {
    return field_error(key, "must be an integer, got " + json_excerpt(*v));
  }
  if (out < min_value || out > max_value) {
    std::string range = "must be ";
    if (min_value != INT64_MIN && max_value != INT64_MAX)
      range += "in [" + std::to_string(min_value) + ", " + std::to_string(max_value) + "]";
    else if (min_value != INT64_MIN)
      range += ">= " + std::to_string(min_value);
    else
      range += "<= " + std::to_string(max_value);
    return field_error(key, range + ", got " + std::to_string(out));
  }
  return out;
}

Expected<double> JsonObject::get_double(const std::string& key) const {
  const Json* v = find(key);
  if (!v) return field_error(key, "is missing");
  if (!v->is_number()) return field_error(key, "must be a number, got " + json_excerpt(*v));
  return v->get<double>();
}

Expected<std::string> JsonObject::get_string(const std::string& key) const {
  const Json* v = find(key);
  if (!v) return field_error(key, "is missing");
  if (!v->is_string()) return field_error(key, "must be a string, got " + json_excerpt(*v));
  return v->get<std::string>();
}

Expected<bool> JsonObject::get_bool(const std::string& key) const {
  const Json* v = find(key);
  if (!v) return field_error(key, "is missing");
  if (!v->is_boolean()) return field_error(key, "must be true or false, got " + json_excerpt(*v));
  return v->get<bool>();
}

Expected<int64_t> JsonObject::get_int_or(const std::string& key, int64_t fallback,
                                         int64_t min_value, int64_t max_value) const {
  if (!has(key)) return fallback;
  return get_int(key, min_value, max_value);
}

Expected<double> JsonObject::get_double_or(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  return get_double(key);
}

Expected<std::string> JsonObject::get_string_or(const std::string& key,
                                                std::string fallback) const {
  if (!has(key)) return fallback;
  return get_string(key);
}

Expected<bool> JsonObject::get_bool_or(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  return get_bool(key);
}

}  // namespace tessera
