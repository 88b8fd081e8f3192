#include "src/core/json_util.h"

#include <cstdint>
#include <cmath>

namespace tessera {

Expected<Json> parse_json(const std::string& text, const std::string& source) {
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return invalid_argument(source + ": invalid JSON at byte " + std::to_string(e.byte) + ": " +
                            e.what());
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range for 1e999
    return invalid_argument(source + ": invalid JSON: " + e.what());
  }
}

std::string json_excerpt(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
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
