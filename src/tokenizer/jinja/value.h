// src/tokenizer/jinja/value.h — the values a template computes with, with Python's semantics:
// none, bool, int, float, str, list/tuple, dict (insertion-ordered), callables, and jinja2's
// Undefined. str() / repr() / ==, <, truthiness follow Python 3 so that rendered text matches
// jinja2 byte for byte.
//
// Strings are UTF-8 std::string; length, indexing and slicing count code points as Python does.
// Lists and dicts are shared (Python reference semantics: a namespace mutated through one name is
// seen through every other). Errors inside the engine are thrown as JinjaError and turned into a
// Status at the API boundary (chat_template.cpp); they never leave tessera::jinja.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tessera::jinja {

// An error while parsing or rendering; line 0 = unknown (filled in by the caller that knows it).
struct JinjaError {
  std::string message;
  int line = 0;
};
[[noreturn]] void fail(std::string message, int line = 0);

class Value;
struct List;
struct Dict;
struct Callable;
using ListPtr = std::shared_ptr<List>;
using DictPtr = std::shared_ptr<Dict>;
using CallablePtr = std::shared_ptr<Callable>;

struct Undefined {
  std::string hint;  // "'x' is undefined" / "'dict object' has no attribute 'y'"
};
struct None {};

class Value {
 public:
  using Storage = std::variant<Undefined, None, bool, std::int64_t, double, std::string, ListPtr,
                               DictPtr, CallablePtr>;
  Value() : v_(Undefined{}) {}
  Value(None) : v_(None{}) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(static_cast<std::int64_t>(i)) {}
  Value(std::int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(ListPtr l) : v_(std::move(l)) {}
  Value(DictPtr d) : v_(std::move(d)) {}
  Value(CallablePtr c) : v_(std::move(c)) {}
  static Value undefined(std::string hint) { Value v; v.v_ = Undefined{std::move(hint)}; return v; }

  bool is_undefined() const { return std::holds_alternative<Undefined>(v_); }
  bool is_none() const { return std::holds_alternative<None>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<std::int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_list() const { return std::holds_alternative<ListPtr>(v_); }
  bool is_dict() const { return std::holds_alternative<DictPtr>(v_); }
  bool is_callable() const { return std::holds_alternative<CallablePtr>(v_); }

  bool as_bool() const { return std::get<bool>(v_); }
  std::int64_t as_int() const { return std::get<std::int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const ListPtr& as_list() const { return std::get<ListPtr>(v_); }
  const DictPtr& as_dict() const { return std::get<DictPtr>(v_); }
  const CallablePtr& as_callable() const { return std::get<CallablePtr>(v_); }
  const std::string& undefined_hint() const { return std::get<Undefined>(v_).hint; }
  // int, bool (as 0/1) or float, as a double.
  double to_double() const;

  const Storage& storage() const { return v_; }

 private:
  Storage v_;
};

// Python's list and tuple, and the lazy iterables jinja2 filters return (generators, dict views,
// range, reversed): those iterate like lists but print as Python objects, which we refuse.
enum class ListFlavor { kList, kTuple, kGenerator, kDictView, kRange };

// Containers record their nesting depth (1 + deepest child) so that no value can nest deeper than
// kMaxValueDepth: recursive printing, comparison and destruction then stay within the stack.
// Containers cannot form cycles (lists are immutable; a namespace cannot be stored into itself).
constexpr int kMaxValueDepth = 256;
int depth_of(const Value& v);

struct List {
  std::vector<Value> items;
  int depth = 1;
  ListFlavor flavor = ListFlavor::kList;
  std::size_t consumed = 0;  // generators are single-use: items before this were taken already
  // A jinja2 filter generator is lazy: a bad input (5|map('x')) fails only when iterated. Such a
  // generator carries the error it raises then.
  std::string deferred_error;
};

struct Dict {
  std::vector<std::pair<std::string, Value>> items;  // insertion order
  bool is_namespace = false;                         // jinja2 namespace(): attributes assignable
  int depth = 1;
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  void set(std::string key, Value v);  // fails past kMaxValueDepth
};

// A positional + keyword argument list.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  int line = 0;
};

class Interpreter;
struct Callable {
  std::string name;  // for messages and str(): "raise_exception", "str.strip"
  std::function<Value(Interpreter&, CallArgs&)> fn;
};

ListPtr make_list(std::vector<Value> items = {}, ListFlavor flavor = ListFlavor::kList);
DictPtr make_dict();

// Python type names for messages: "str", "int", "dict object", ...
std::string type_name(const Value& v);
bool truthy(const Value& v);
// str(v) (undefined → ""). Generators, views and callables are refused (their Python text
// contains an address).
std::string to_str(const Value& v);
std::string repr(const Value& v);
std::string py_float_repr(double d);
bool equals(const Value& a, const Value& b);
// a < b with Python's rules; mismatched types are an error.
bool less_than(const Value& a, const Value& b);
// The remaining (unconsumed) items of a list-like value; dicts give keys, strings code points,
// undefined nothing. Marks generators consumed. Anything else is an error ("'int' object is not
// iterable").
std::vector<Value> iterate(const Value& v);

// ---- UTF-8 helpers ---------------------------------------------------------------------------
// Code points of s. Bytes that are not valid UTF-8 decode to themselves as U+DC80.. (Python's
// surrogateescape) so that encoding back restores them.
std::vector<char32_t> utf8_decode(std::string_view s);
std::string utf8_encode(const std::vector<char32_t>& cps, std::size_t begin = 0, std::size_t end = SIZE_MAX);
void utf8_append(std::string* out, char32_t cp);
std::size_t utf8_length(std::string_view s);
bool is_py_space(char32_t c);
bool is_py_linebreak(char32_t c);
// Python's str.splitlines(keepends) of s.
std::vector<std::string> py_splitlines(std::string_view s, bool keepends);
char32_t py_upper_simple(char32_t c);
char32_t py_lower_simple(char32_t c);
bool is_cased_letter(char32_t c);
bool is_upper_char(char32_t c);
bool is_lower_char(char32_t c);
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
bool is_ascii(std::string_view s);

// ---- JSON ------------------------------------------------------------------------------------
struct JsonDumpOptions {
  int indent = -1;  // -1: none (one line)
  std::string item_separator;  // defaults chosen by json.dumps when empty and !has_separators
  std::string key_separator;
  bool has_separators = false;
  bool ensure_ascii = false;
  bool sort_keys = false;
};
// json.dumps(v, ...) as Python writes it.
std::string json_dumps(const Value& v, const JsonDumpOptions& options);

}  // namespace tessera::jinja
