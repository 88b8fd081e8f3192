// src/cli/args.h — command-line flags: `--name value` or `--name=value`, boolean `--name`. Each
// command declares its flags; an unknown flag, a missing value or a value of the wrong type is
// one error naming the flag.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tessera/status.h"

namespace tessera::cli {

struct FlagSpec {
  std::string name;       // without dashes
  bool takes_value = true;
  std::string help;
};

class Args {
 public:
  static Expected<Args> parse(const std::vector<std::string>& argv, const std::vector<FlagSpec>& specs);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  Expected<int64_t> get_int(const std::string& name, int64_t fallback, int64_t min_value, int64_t max_value) const;
  Expected<double> get_double(const std::string& name, double fallback, double min_value, double max_value) const;
  // "1,2,3" or "1 2 3" -> ids
  Expected<std::vector<int32_t>> get_ids(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
};

// Parses comma/whitespace separated non-negative integers; `source` names the flag or file.
Expected<std::vector<int32_t>> parse_id_list(const std::string& text, const std::string& source);

std::string format_flag_help(const std::vector<FlagSpec>& specs);

}  // namespace tessera::cli
