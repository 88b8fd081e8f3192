// src/tokenizer/jinja/builtins.h — jinja2's filters and tests, Python methods on str/dict/list,
// attribute and item access as jinja2's ImmutableSandboxedEnvironment does them, and the
// globals HF adds (raise_exception, strftime_now) besides jinja2's (namespace, range, dict).
#pragma once

#include <optional>
#include <string>

#include "src/tokenizer/jinja/interpreter.h"

namespace tessera::jinja {

Value call_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args);
bool call_test(Interpreter& in, const std::string& name, const Value& input, CallArgs& args);

// obj.name: a method of str/dict/list, else a dict key, else undefined. obj must not be undefined.
Value get_attr(const Value& obj, const std::string& name);
// obj[key]: index (negative from the end) / key, else undefined. obj must not be undefined.
Value get_item(const Value& obj, const Value& key);
// obj[start:stop:step] on str, list or tuple; unset parts are none.
Value get_slice(Interpreter& in, const Value& obj, const Value& start, const Value& stop, const Value& step);
bool contains(const Value& container, const Value& item);

void install_globals(Frame* globals);

// Names jinja2 knows (an unknown one is a syntax error, as in jinja2).
bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

// Argument binding for builtins: positional then keyword, by parameter name. Unknown or
// duplicate arguments are errors naming the function.
class Args {
 public:
  Args(CallArgs& args, const std::string& fname, std::initializer_list<const char*> params);
  bool has(size_t i) const { return values_[i].has_value(); }
  const Value& get(size_t i) const;  // undefined when absent
  Value get_or(size_t i, Value fallback) const { return has(i) ? *values_[i] : std::move(fallback); }
  std::int64_t get_int(size_t i, std::int64_t fallback) const;
  bool get_bool(size_t i, bool fallback) const { return has(i) ? truthy(*values_[i]) : fallback; }
  std::string get_str(size_t i, const std::string& fallback) const;

 private:
  std::string fname_;
  std::vector<const char*> names_;
  std::vector<std::optional<Value>> values_;
};

}  // namespace tessera::jinja
