// src/cli/args.h — command-line flags: `--name value` or `--name=value`, boolean `--name`, a
// declared one-letter `-x value`, long aliases (`--gpu-memory-utilization` for
// `--gpu-memory-fraction`) and at most one positional argument (the model folder). Each command
// declares its flags; an unknown flag (with the nearest declared name when one is close), a
// missing value, a value of the wrong type or a flag given twice under any of its names is one
// error naming the flag as it was typed.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/status.h"

namespace tessera::cli {

// `{"port", "PORT", "TCP port"}`, or `FlagSpec{...}.with_short('n').with_alias("max-tokens")`.
struct FlagSpec {
  std::string name;         // the main long name, without dashes: --name
  std::string placeholder;  // the value's name in --help (N, DIR, ...); empty: a switch, no value
  std::string help;
  std::vector<std::string> aliases;  // other long names, without dashes, meaning the same flag
  char short_name = '\0';            // the one-letter form -x, or none
  bool positional = false;           // a bare argument (not starting with -) is this flag's value

  FlagSpec(std::string flag_name, std::string value_placeholder, std::string help_text)
      : name(std::move(flag_name)),
        placeholder(std::move(value_placeholder)),
        help(std::move(help_text)) {}
  FlagSpec with_alias(std::string alias) const {
    FlagSpec f = *this;
    f.aliases.push_back(std::move(alias));
    return f;
  }
  FlagSpec with_short(char letter) const {
    FlagSpec f = *this;
    f.short_name = letter;
    return f;
  }
  FlagSpec as_positional() const {
    FlagSpec f = *this;
    f.positional = true;
    return f;
  }
  bool takes_value() const { return !placeholder.empty(); }
};

class Args {
 public:
  static Expected<Args> parse(const std::vector<std::string>& argv,
                              const std::vector<FlagSpec>& specs);

  // All by the main name; a value given under an alias is found under the main name.
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  // The flag as it was typed ("-n", "--gpu-memory-utilization"), for messages; "--name" when it
  // was not given or was given as the positional argument.
  std::string flag(const std::string& name) const;
  // Whether the value came as the bare positional argument rather than as a flag.
  bool given_as_argument(const std::string& name) const;
  Expected<int64_t> get_int(const std::string& name, int64_t fallback, int64_t min_value,
                            int64_t max_value) const;
  Expected<double> get_double(const std::string& name, double fallback, double min_value,
                              double max_value) const;
  // "1,2,3" or "1 2 3" -> ids
  Expected<std::vector<int32_t>> get_ids(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> spelled_;  // main name -> as typed; "" for the positional
};

// The spec that `arg` names: `name` is what follows the dashes (before any '='), `is_short` says
// whether it came after one dash. Null when none does.
const FlagSpec* find_flag(const std::vector<FlagSpec>& specs, const std::string& name,
                          bool is_short);

// Levenshtein distance (insertions, deletions, substitutions), for "did you mean".
size_t edit_distance(const std::string& a, const std::string& b);
// The candidate nearest to `typed`, when it is near enough to be a likely typo (an exact match
// counts too); nullopt otherwise. Ties go to the earlier candidate.
std::optional<std::string> nearest_name(const std::string& typed,
                                        const std::vector<std::string>& candidates);

// Parses comma/whitespace separated non-negative integers; `source` names the flag or file.
Expected<std::vector<int32_t>> parse_id_list(const std::string& text, const std::string& source);

// One line per flag: `  -m, --model DIR   help`, aliases after the main name.
std::string format_flag_help(const std::vector<FlagSpec>& specs);

}  // namespace tessera::cli
