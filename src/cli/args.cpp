// src/cli/args.cpp — flag parsing with errors that name the flag as typed, "did you mean" for
// near misses, and the --help table of a command's flags.
#include "src/cli/args.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace tessera::cli {

namespace {

// Edits a typo of this length may have and still be "near": none for one or two letters (any
// letter is one edit from any other), up to three for long names.
size_t max_typo_distance(size_t length) {
  return length <= 2 ? 0 : length <= 5 ? 1 : length <= 9 ? 2 : 3;
}

// The index of the candidate nearest to `typed` (see nearest_name); `group[i]` says which thing
// candidate i names, so a prefix of several names of one flag still counts as unambiguous.
std::optional<size_t> nearest_index(const std::string& typed,
                                    const std::vector<std::string>& candidates,
                                    const std::vector<size_t>& group) {
  std::optional<size_t> best;
  size_t best_distance = max_typo_distance(typed.size()) + 1;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const size_t d = edit_distance(typed, candidates[i]);
    if (d < best_distance) best = i, best_distance = d;
  }
  if (best || typed.size() < 3) return best;
  // `--gpu-mem`: the start of one flag's names only.
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].rfind(typed, 0) != 0) continue;
    if (best && group[*best] != group[i]) return std::nullopt;
    if (!best) best = i;
  }
  return best;
}

std::string unknown_flag_message(const std::string& typed, const std::string& name,
                                 const std::vector<FlagSpec>& specs) {
  std::vector<std::string> bare, shown;
  std::vector<size_t> group;
  for (size_t i = 0; i < specs.size(); ++i) {
    const FlagSpec& s = specs[i];
    if (s.short_name) {
      bare.emplace_back(1, s.short_name);
      shown.push_back(std::string("-") + s.short_name);
      group.push_back(i);
    }
    std::vector<std::string> longs = {s.name};
    longs.insert(longs.end(), s.aliases.begin(), s.aliases.end());
    for (const std::string& n : longs) {
      bare.push_back(n);
      shown.push_back("--" + n);
      group.push_back(i);
    }
  }
  std::string msg = "unknown flag " + typed;
  if (auto i = nearest_index(name, bare, group)) msg += " (did you mean " + shown[*i] + "?)";
  return msg;
}

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];  // row[i-1][j-1]
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::optional<std::string> nearest_name(const std::string& typed,
                                        const std::vector<std::string>& candidates) {
  std::vector<size_t> group(candidates.size());
  for (size_t i = 0; i < group.size(); ++i) group[i] = i;
  if (auto i = nearest_index(typed, candidates, group)) return candidates[*i];
  return std::nullopt;
}

const FlagSpec* find_flag(const std::vector<FlagSpec>& specs, const std::string& name,
                          bool is_short) {
  for (const FlagSpec& s : specs) {
    if (is_short) {
      if (name.size() == 1 && s.short_name == name[0]) return &s;
    } else if (s.name == name ||
               std::find(s.aliases.begin(), s.aliases.end(), name) != s.aliases.end()) {
      return &s;
    }
  }
  return nullptr;
}

Expected<Args> Args::parse(const std::vector<std::string>& argv,
                           const std::vector<FlagSpec>& specs) {
  Args a;
  const FlagSpec* positional_spec = nullptr;
  for (const FlagSpec& s : specs)
    if (s.positional) positional_spec = &s;
  std::optional<std::string> positional;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg.empty() || arg[0] != '-') {
      if (!positional_spec)
        return invalid_argument("unexpected argument '" + arg + "' (flags start with --)");
      if (positional)
        return invalid_argument("--" + positional_spec->name + " given twice: as the arguments '" +
                                *positional + "' and '" + arg +
                                "' (a bare argument is the model folder; give one)");
      positional = arg;
      continue;
    }
    // `--name`, or `-x` for a declared one-letter flag (`-n 32`).
    const bool is_long = arg.rfind("--", 0) == 0 && arg.size() > 2;
    const bool is_short = !is_long && arg.size() == 2 && arg[1] != '-';
    if (!is_long && !is_short) {
      std::string msg = "unexpected argument '" + arg + "' (flags start with --)";
      const std::string stem =
          arg.substr(1, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 1);
      if (arg.size() > 2 && arg[1] != '-' && find_flag(specs, stem, false))
        msg = "unexpected argument '" + arg + "' (did you mean --" + stem + "?)";
      return invalid_argument(msg);
    }
    std::string name = arg.substr(is_long ? 2 : 1);
    std::optional<std::string> value;
    if (auto eq = name.find('='); is_long && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const std::string typed = (is_long ? "--" : "-") + name;
    const FlagSpec* spec = find_flag(specs, name, is_short);
    if (!spec) return invalid_argument(unknown_flag_message(typed, name, specs));
    if (spec->takes_value()) {
      if (!value) {
        if (i + 1 >= argv.size())
          return invalid_argument("flag " + typed + " needs a value (" + spec->placeholder + ")");
        value = argv[++i];
      }
    } else {
      if (value) return invalid_argument("flag " + typed + " takes no value");
      value = "1";
    }
    if (auto it = a.spelled_.find(spec->name); it != a.spelled_.end()) {
      const std::string& before = it->second;
      return invalid_argument("flag --" + spec->name + " given twice" +
                              (before == typed ? "" : " (as " + before + " and " + typed + ")"));
    }
    a.values_[spec->name] = *value;
    a.spelled_[spec->name] = typed;
  }
  if (positional) {
    const std::string& name = positional_spec->name;
    if (a.has(name))
      return invalid_argument("--" + name + " given twice: as the argument '" + *positional +
                              "' and as " + a.spelled_[name] + " " + a.values_[name] +
                              " (give one)");
    a.values_[name] = *positional;
    a.spelled_[name] = "";
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

std::string Args::flag(const std::string& name) const {
  auto it = spelled_.find(name);
  return it == spelled_.end() || it->second.empty() ? "--" + name : it->second;
}

bool Args::given_as_argument(const std::string& name) const {
  auto it = spelled_.find(name);
  return it != spelled_.end() && it->second.empty();
}

Expected<int64_t> Args::get_int(const std::string& name, int64_t fallback, int64_t min_value,
                                int64_t max_value) const {
  auto v = get(name);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE)
    return invalid_argument(flag(name) + " must be an integer, got '" + *v + "'");
  if (x < min_value || x > max_value)
    return invalid_argument(flag(name) + " must be in [" + std::to_string(min_value) + ", " +
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
    return invalid_argument(flag(name) + " must be a number, got '" + *v + "'");
  if (x < min_value || x > max_value)
    return invalid_argument(flag(name) + " must be in [" + std::to_string(min_value) + ", " +
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
      return invalid_argument(source +
                              ": expected token ids (non-negative integers separated by commas or "
                              "spaces), found '" +
                              std::string(1, ch) + "' at offset " + std::to_string(i));
    int64_t v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      v = v * 10 + (text[i] - '0');
      if (v > INT32_MAX)
        return invalid_argument(source + ": token id too large at offset " + std::to_string(i));
      ++i;
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

Expected<std::vector<int32_t>> Args::get_ids(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::vector<int32_t>{};
  return parse_id_list(*v, flag(name));
}

std::string format_flag_help(const std::vector<FlagSpec>& specs) {
  // Long names line up after the short ones (`-m, --model`, `    --port`) when any flag has one;
  // help starts in one column, or on the next line after a label too long for it.
  const bool any_short =
      std::any_of(specs.begin(), specs.end(), [](const FlagSpec& s) { return s.short_name; });
  std::vector<std::string> labels;
  size_t column = 0;
  constexpr size_t kMaxColumn = 36;
  for (const FlagSpec& s : specs) {
    std::string label = "  ";
    if (s.short_name) {
      label += std::string("-") + s.short_name + ", ";
    } else if (any_short) {
      label += "    ";
    }
    label += "--" + s.name;
    for (const std::string& a : s.aliases) label += ", --" + a;
    if (s.takes_value()) label += " " + s.placeholder;
    if (label.size() + 2 <= kMaxColumn) column = std::max(column, label.size() + 2);
    labels.push_back(std::move(label));
  }
  std::string out;
  for (size_t i = 0; i < specs.size(); ++i) {
    std::string line = labels[i];
    if (line.size() + 2 > column) {
      line += "\n";
      line += std::string(column, ' ');
    } else {
      line.resize(column, ' ');
    }
    out += line + specs[i].help + "\n";
  }
  return out;
}

}  // namespace tessera::cli
