// src/cli/args.cpp — flag parsing with errors that name the flag.
#include "src/cli/args.h"

#include <algorithm>
#include <cstdint>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace tessera::cli {

Expected<Args> Args::parse(const std::vector<std::string>& argv, const std::vector<FlagSpec>& specs) {
  Args a;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    // `--name`, or `-x` for a one-letter flag (`-n 32`).
    const bool is_long = arg.rfind("--", 0) == 0 && arg.size() > 2;
    const bool is_short = !is_long && arg.size() == 2 && arg[0] == '-' && arg[1] != '-';
    if (!is_long && !is_short)
      return invalid_argument("unexpected argument '" + arg + "' (flags start with --)");
    std::string name = arg.substr(is_long ? 2 : 1);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == name) spec = &s;
    if (!spec) return invalid_argument("unknown flag --" + name);
    if (spec->takes_value) {
      if (!value) {
        if (i + 1 >= argv.size()) return invalid_argument("flag --" + name + " needs a value");
        value = argv[++i];
      }
    } else {
      if (value) return invalid_argument("flag --" + name + " takes no value");
      value = "1";
    }
    if (a.values_.count(name)) return invalid_argument("flag --" + name + " given twice");
    a.values_[name] = *value;
  }
  return a;
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

Expected<int64_t> Args::get_int(const std::string& name, int64_t fallback, int64_t min_value,
                                int64_t max_value) const {
  auto v = get(name);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE)
    return invalid_argument("--" + name + " must be an integer, got '" + *v + "'");
  if (x < min_value || x > max_value)
    return invalid_argument("--" + name + " must be in [" + std::to_string(min_value) + ", " +
                            std::to_string(max_value) + "], got " + *v);
  return static_cast<int64_t>(x);
}

Expected<double> Args::get_double(const std::string& name, double fallback, double min_value,
                                  double max_value) const {
  auto v = get(name);
  if (!v) return fallback;
  char* end = nullptr;
  const double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || !std::isfinite(x))
    return invalid_argument("--" + name + " must be a number, got '" + *v + "'");
  if (x < min_value || x > max_value)
    return invalid_argument("--" + name + " must be in [" + std::to_string(min_value) + ", " +
                            std::to_string(max_value) + "], got " + *v);
  return x;
}

Expected<std::vector<int32_t>> parse_id_list(const std::string& text, const std::string& source) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    const char ch = text[i];
    if (ch == ',' || ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r') {
      ++i;
      continue;
    }
    if (ch < '0' || ch > '9')
      return invalid_argument(source + ": expected token ids (non-negative integers separated by commas or spaces), found '" +
                              std::string(1, ch) + "' at offset " + std::to_string(i));
    int64_t v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      v = v * 10 + (text[i] - '0');
      if (v > INT32_MAX) return invalid_argument(source + ": token id too large at offset " + std::to_string(i));
      ++i;
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

Expected<std::vector<int32_t>> Args::get_ids(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::vector<int32_t>{};
  return parse_id_list(*v, "--" + name);
}

std::string format_flag_help(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    std::string left = "  --" + s.name + (s.takes_value ? " V" : "");
    left.resize(std::max<size_t>(left.size() + 2, 26), ' ');
    out += left + s.help + "\n";
  }
  return out;
}

}  // namespace tessera::cli
