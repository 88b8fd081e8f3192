// src/tokenizer/jinja/builtins.cpp — jinja2's builtin filters and tests, with HF's tojson
// (json.dumps with ensure_ascii=False, no HTML escaping, keys in order, optional indent,
// separators and sort_keys). Filters jinja2 has but chat templates do not use fail with a clear
// message when reached; names jinja2 does not know fail at parse time (as in jinja2).
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "src/tokenizer/jinja/builtins.h"

namespace tessera::jinja {
namespace {

const char* const kFilters[] = {
    "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first",
    "float", "forceescape", "indent", "int", "items", "join", "last", "length", "list", "lower",
    "map", "max", "min", "reject", "batch", "rejectattr", "replace", "reverse", "round", "safe", "select",
    "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "unique", "upper",
    // known to jinja2, not supported here (an error when reached)
    "center", "filesizeformat", "format", "groupby", "pprint", "random", "slice",
    "striptags", "truncate", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr"};
const char* const kUnsupportedFilters[] = {
    "center", "filesizeformat", "format", "groupby", "pprint", "random", "slice",
    "striptags", "truncate", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr"};
const char* const kTests[] = {
    "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "escaped", "even",
    "false", "filter", "float", "ge", ">=", "gt", "greaterthan", ">", "in", "integer",
    "iterable", "le", "<=", "lower", "lt", "lessthan", "<", "mapping", "ne", "!=", "none",
    "number", "odd", "sameas", "sequence", "string", "test", "true", "undefined", "upper"};

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// jinja2's make_attrgetter: "a.b.0" looks up each part with getitem (digits as indexes).
Value attr_path(const Value& item, const std::string& path) {
  Value cur = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur.is_undefined()) fail(cur.undefined_hint());
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    cur = digits && part.size() < 18 ? get_item(cur, Value(static_cast<std::int64_t>(std::atoll(part.c_str()))))
                                     : get_item(cur, Value(part));
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

Value generator(std::vector<Value> items) { return Value(make_list(std::move(items), ListFlavor::kGenerator)); }

bool is_iterable(const Value& v) {
  return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.as_dict()->is_namespace);
}

// What a lazy jinja2 filter returns for an input it cannot iterate: a generator that fails when used.
Value failing_generator(const Value& input) {
  auto l = make_list({}, ListFlavor::kGenerator);
  l->deferred_error = "'" + type_name(input) + "' object is not iterable";
  return Value(l);
}

Value fold_case(const Value& v, bool case_sensitive) {
  return (!case_sensitive && v.is_string()) ? Value(py_lower(v.as_string())) : v;
}

std::int64_t length_of(const Value& v) {
  if (v.is_undefined()) return 0;
  if (v.is_string()) return static_cast<std::int64_t>(utf8_length(v.as_string()));
  if (v.is_dict() && !v.as_dict()->is_namespace) return static_cast<std::int64_t>(v.as_dict()->items.size());
  if (v.is_list() && v.as_list()->flavor != ListFlavor::kGenerator) {
    return static_cast<std::int64_t>(v.as_list()->items.size());
  }
  fail("object of type '" + type_name(v) + "' has no len()");
}

// select/reject/selectattr/rejectattr: args after the test name are the test's arguments.
Value select_items(Interpreter& in, const Value& input, CallArgs& args, bool with_attr, bool keep_matching,
                   const std::string& fname) {
  size_t off = 0;
  std::string attr;
  if (with_attr) {
    if (args.positional.empty() || !args.positional[0].is_string()) fail(fname + "() needs an attribute name");
    attr = args.positional[0].as_string();
    off = 1;
  }
  std::string test;
  if (args.positional.size() > off) {
    if (!args.positional[off].is_string()) fail(fname + "(): the test name must be a string");
    test = args.positional[off].as_string();
    bool known = false;
    for (const char* t : kTests) known = known || test == t;
    if (!known) fail("no test named '" + test + "'");
  }
  if (!args.keyword.empty()) fail(fname + "() takes no keyword arguments");
  std::vector<Value> out;
  if (!truthy(input)) return generator({});  // jinja2 tests `if value:` before iterating
  if (!is_iterable(input)) return failing_generator(input);
  for (const Value& item : iterate(input)) {
    in.step();
    Value subject = with_attr ? attr_path(item, attr) : item;
    bool ok;
    if (test.empty()) {
      ok = truthy(subject);
    } else {
      CallArgs targs;
      targs.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(off + 1), args.positional.end());
      ok = call_test(in, test, subject, targs);
    }
    if (ok == keep_matching) out.push_back(item);
  }
  return generator(std::move(out));
}

std::vector<Value> sorted_values(std::vector<Value> items, bool reverse, bool case_sensitive, const std::string& attr) {
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& v : items) {
    Value key = attr.empty() ? v : attr_path(v, attr);
    keyed.emplace_back(fold_case(key, case_sensitive), std::move(v));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& a, const auto& b) {
    return reverse ? less_than(b.first, a.first) : less_than(a.first, b.first);
  });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return out;
}

// Python int(str): optional whitespace and sign, decimal digits with single underscores.
bool parse_py_int(std::string s, std::int64_t* out) {
  while (!s.empty() && is_py_space(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && is_py_space(static_cast<unsigned char>(s[i]))) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i >= s.size()) return false;
  std::int64_t v = 0;
  bool prev_digit = false;
  for (; i < s.size(); ++i) {
    if (s[i] == '_' && prev_digit && i + 1 < s.size() && s[i + 1] != '_') {
      prev_digit = false;
      continue;
    }
    if (s[i] < '0' || s[i] > '9') return false;
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v)) fail("integer too large");
    prev_digit = true;
  }
  *out = neg ? -v : v;
  return prev_digit;
}

bool parse_py_float(const std::string& s, double* out) {
  std::string t;
  for (char c : s) {
    if (!is_py_space(static_cast<unsigned char>(c))) t += c;
  }
  if (t.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size() && t.find_first_of("xXpP") == std::string::npos;
}

double round_half_even(double x, std::int64_t ndigits) {
  double scale = std::pow(10.0, static_cast<double>(ndigits));
  double y = x * scale;
  double r = std::nearbyint(y);  // default rounding mode: to nearest, ties to even
  return r / scale;
}

Value indent_filter(const std::string& s_in, const Value& width, bool first, bool blank) {
  std::string indention = width.is_string() ? width.as_string()
                          : (width.is_int() || width.is_bool())
                              ? std::string(static_cast<size_t>(std::clamp<std::int64_t>(width.is_bool() ? width.as_bool() : width.as_int(), 0, 1 << 16)), ' ')
                              : (width.is_undefined() ? std::string(4, ' ') : (fail("indent(): width must be an integer or a string"), ""));
  std::string s = s_in + "\n";
  const std::vector<std::string> lines = py_splitlines(s, false);
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + indention;
      rv += lines[i];
    }
  } else {
    rv = lines.empty() ? "" : lines[0];
    if (lines.size() > 1) {
      rv += "\n";
      for (size_t i = 1; i < lines.size(); ++i) {
        if (i > 1) rv += "\n";
        rv += lines[i].empty() ? lines[i] : indention + lines[i];
      }
    }
  }
  if (first) rv = indention + rv;
  return Value(std::move(rv));
}

Value tojson_filter(Interpreter& in, const Value& input, CallArgs& a) {
  Args args(a, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions o;
  o.ensure_ascii = args.get_bool(0, false);
  const Value& indent = args.get(1);
  if (indent.is_int() || indent.is_bool()) {
    std::int64_t n = indent.is_bool() ? indent.as_bool() : indent.as_int();
    o.indent = static_cast<int>(std::clamp<std::int64_t>(n, 0, 1 << 10));
  } else if (!indent.is_undefined() && !indent.is_none()) {
    fail("tojson(): indent must be an integer or none");
  }
  const Value& seps = args.get(2);
  if (!seps.is_undefined() && !seps.is_none()) {
    if (!seps.is_list() || seps.as_list()->items.size() != 2 || !seps.as_list()->items[0].is_string() ||
        !seps.as_list()->items[1].is_string()) {
      fail("tojson(): separators must be a pair of strings");
    }
    o.has_separators = true;
    o.item_separator = seps.as_list()->items[0].as_string();
    o.key_separator = seps.as_list()->items[1].as_string();
  }
  o.sort_keys = args.get_bool(3, false);
  std::string out = json_dumps(input, o);
  in.check_size(out.size());
  return Value(std::move(out));
}

}  // namespace

bool is_known_filter(const std::string& name) {
  for (const char* f : kFilters) {
    if (name == f) return true;
  }
  return false;
}

bool is_known_test(const std::string& name) {
  for (const char* t : kTests) {
    if (name == t) return true;
  }
  return false;
}

Value call_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& a) {
  for (const char* u : kUnsupportedFilters) {
    if (name == u) fail("the '" + name + "' filter is not supported");
  }
  if (name == "tojson") return tojson_filter(in, input, a);
  if (name == "default" || name == "d") {
    Args args(a, name, {"default_value", "boolean"});
    bool use_default = input.is_undefined() || (args.get_bool(1, false) && !truthy(input));
    return use_default ? args.get_or(0, Value(std::string())) : input;
  }
  if (name == "length" || name == "count") {
    Args(a, name, {});
    return Value(length_of(input));
  }
  if (name == "string" || name == "safe") {
    Args(a, name, {});
    return Value(to_str(input));
  }
  if (name == "e" || name == "escape" || name == "forceescape") {
    Args(a, name, {});
    return Value(html_escape(to_str(input)));
  }
  if (name == "trim") {
    Args args(a, name, {"chars"});
    return get_attr(Value(to_str(input)), "strip").as_callable()->fn(in, a);
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    Args(a, name, {});
    std::string s = to_str(input);
    if (name == "upper") return Value(py_upper(s));
    if (name == "lower") return Value(py_lower(s));
    if (name == "capitalize") {
      CallArgs none;
      return get_attr(Value(s), "capitalize").as_callable()->fn(in, none);
    }
    // jinja2's title: words start after runs of whitespace, '-', '(', '{', '[', '<'.
    std::vector<char32_t> cps = utf8_decode(s);
    std::string out;
    bool word_start = true;
    for (char32_t c : cps) {
      bool sep = is_py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
      if (sep) {
        utf8_append(&out, c);
        word_start = true;
      } else if (word_start) {
        out += py_upper(utf8_encode({c}));
        word_start = false;
      } else {
        out += py_lower(utf8_encode({c}));
      }
    }
    return Value(std::move(out));
  }
  if (name == "replace") {
    Args args(a, name, {"old", "new", "count"});
    CallArgs margs;
    margs.positional = {Value(to_str(args.get(0))), Value(to_str(args.get(1)))};
    if (args.has(2) && !args.get(2).is_none()) margs.positional.push_back(args.get(2));
    return get_attr(Value(to_str(input)), "replace").as_callable()->fn(in, margs);
  }
  if (name == "indent") {
    Args args(a, name, {"width", "first", "blank"});
    // jinja2 appends "\n" to the value itself: anything but a string fails there.
    if (input.is_undefined()) fail(input.undefined_hint());
    if (!input.is_string()) fail("unsupported operand type(s) for +=: '" + type_name(input) + "' and 'str'");
    return indent_filter(input.as_string(), args.get(0), args.get_bool(1, false), args.get_bool(2, false));
  }
  if (name == "join") {
    Args args(a, name, {"d", "attribute"});
    std::string sep = to_str(args.get_or(0, Value(std::string())));
    std::string out;
    bool first = true;
    for (const Value& v : iterate(input)) {
      if (!first) out += sep;
      first = false;
      out += to_str(args.has(1) && !args.get(1).is_none() ? attr_path(v, to_str(args.get(1))) : v);
      in.check_size(out.size());
    }
    return Value(std::move(out));
  }
  if (name == "first") {
    Args(a, name, {});
    if (input.is_list() && input.as_list()->flavor == ListFlavor::kGenerator) {
      List& l = *input.as_list();
      if (!l.deferred_error.empty()) fail(l.deferred_error);
      if (l.consumed < l.items.size()) return l.items[l.consumed++];
      return Value::undefined("No first item, sequence was empty.");
    }
    if (!input.is_undefined() && !input.is_string() && !input.is_list() && !input.is_dict()) {
      fail("'" + type_name(input) + "' object is not iterable");
    }
    std::vector<Value> items = iterate(input);
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
  }
  if (name == "last") {
    Args(a, name, {});
    if (input.is_list() && input.as_list()->flavor == ListFlavor::kGenerator) {
      fail("'generator' object is not reversible");
    }
    std::vector<Value> items = iterate(input);
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
  }
  if (name == "list") {
    Args(a, name, {});
    return Value(make_list(iterate(input)));
  }
  if (name == "items") {
    Args(a, name, {});
    if (input.is_undefined()) return generator({});
    if (!input.is_dict() || input.as_dict()->is_namespace) {
      auto l = make_list({}, ListFlavor::kGenerator);
      l->deferred_error = "Can only get item pairs from a mapping.";
      return Value(l);
    }
    std::vector<Value> out;
    for (const auto& [k, v] : input.as_dict()->items) out.emplace_back(make_list({Value(k), v}, ListFlavor::kTuple));
    return generator(std::move(out));
  }
  if (name == "reverse") {
    Args(a, name, {});
    if (input.is_string()) {
      std::vector<char32_t> cps = utf8_decode(input.as_string());
      std::reverse(cps.begin(), cps.end());
      return Value(utf8_encode(cps));
    }
    if (input.is_list() && input.as_list()->flavor == ListFlavor::kGenerator) {
      std::vector<Value> items = iterate(input);
      std::reverse(items.begin(), items.end());
      return Value(make_list(std::move(items)));
    }
    std::vector<Value> items = iterate(input);
    std::reverse(items.begin(), items.end());
    return generator(std::move(items));
  }
  if (name == "map") {
    if (truthy(input) && !is_iterable(input)) return failing_generator(input);
    std::vector<Value> items = truthy(input) ? iterate(input) : std::vector<Value>{};  // `if value:` first
    std::vector<Value> out;
    bool has_attr = false;
    std::string attr;
    Value def;
    bool has_def = false;
    for (auto& [k, v] : a.keyword) {
      if (k == "attribute") {
        has_attr = true;
        attr = to_str(v);
      } else if (k == "default") {
        def = v;
        has_def = true;
      } else if (has_attr) {
        fail("map(): unexpected keyword argument '" + k + "'");
      }
    }
    if (has_attr) {
      if (!a.positional.empty()) fail("map(): positional arguments with attribute= are not supported");
      for (const Value& v : items) {
        Value r = attr_path(v, attr);
        out.push_back(r.is_undefined() && has_def ? def : r);
      }
      return generator(std::move(out));
    }
    if (a.positional.empty() || !a.positional[0].is_string()) fail("map() needs a filter name or attribute=");
    std::string fname = a.positional[0].as_string();
    if (!is_known_filter(fname)) fail("no filter named '" + fname + "'");
    for (const Value& v : items) {
      in.step();
      CallArgs fargs;
      fargs.positional.assign(a.positional.begin() + 1, a.positional.end());
      fargs.keyword = a.keyword;
      out.push_back(call_filter(in, fname, v, fargs));
    }
    return generator(std::move(out));
  }
  if (name == "batch") {
    Args args(a, name, {"linecount", "fill_with"});
    std::int64_t n = args.get_int(0, -1);
    if (n < 1) fail("batch(): linecount must be a positive integer");
    if (!is_iterable(input)) return failing_generator(input);
    std::vector<Value> rows, row;
    for (const Value& v : iterate(input)) {
      if (static_cast<std::int64_t>(row.size()) == n) {
        rows.emplace_back(make_list(std::move(row)));
        row.clear();
      }
      row.push_back(v);
    }
    if (!row.empty()) {
      if (args.has(1) && !args.get(1).is_none()) {
        while (static_cast<std::int64_t>(row.size()) < n) row.push_back(args.get(1));
      }
      rows.emplace_back(make_list(std::move(row)));
    }
    return generator(std::move(rows));
  }
  if (name == "select") return select_items(in, input, a, false, true, name);
  if (name == "reject") return select_items(in, input, a, false, false, name);
  if (name == "selectattr") return select_items(in, input, a, true, true, name);
  if (name == "rejectattr") return select_items(in, input, a, true, false, name);
  if (name == "sort") {
    Args args(a, name, {"reverse", "case_sensitive", "attribute"});
    return Value(make_list(sorted_values(iterate(input), args.get_bool(0, false), args.get_bool(1, false),
                                         args.has(2) && !args.get(2).is_none() ? to_str(args.get(2)) : "")));
  }
  if (name == "dictsort") {
    Args args(a, name, {"case_sensitive", "by", "reverse"});
    if (!input.is_dict()) fail("dictsort(): argument must be a dict");
    std::string by = args.get_str(1, "key");
    if (by != "key" && by != "value") fail("You can only sort by either 'key' or 'value'");
    std::vector<Value> pairs;
    for (const auto& [k, v] : input.as_dict()->items) pairs.emplace_back(make_list({Value(k), v}, ListFlavor::kTuple));
    return Value(make_list(sorted_values(std::move(pairs), args.get_bool(2, false), args.get_bool(0, false),
                                         by == "key" ? "0" : "1")));
  }
  if (name == "unique") {
    Args args(a, name, {"case_sensitive", "attribute"});
    bool cs = args.get_bool(0, false);
    std::string attr = args.has(1) && !args.get(1).is_none() ? to_str(args.get(1)) : "";
    std::vector<Value> seen, out;
    if (!is_iterable(input)) return failing_generator(input);
    for (const Value& v : iterate(input)) {
      Value key = fold_case(attr.empty() ? v : attr_path(v, attr), cs);
      if (key.is_dict() || (key.is_list() && key.as_list()->flavor != ListFlavor::kTuple)) {
        fail("unhashable type: '" + type_name(key) + "'");
      }
      bool dup = false;
      for (const Value& s : seen) dup = dup || equals(s, key);
      if (!dup) {
        seen.push_back(key);
        out.push_back(v);
      }
    }
    return generator(std::move(out));
  }
  if (name == "max" || name == "min") {
    Args args(a, name, {"case_sensitive", "attribute"});
    bool cs = args.get_bool(0, false);
    std::string attr = args.has(1) && !args.get(1).is_none() ? to_str(args.get(1)) : "";
    std::vector<Value> items = iterate(input);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    size_t best = 0;
    Value best_key = fold_case(attr.empty() ? items[0] : attr_path(items[0], attr), cs);
    for (size_t i = 1; i < items.size(); ++i) {
      Value key = fold_case(attr.empty() ? items[i] : attr_path(items[i], attr), cs);
      if (name == "max" ? less_than(best_key, key) : less_than(key, best_key)) {
        best = i;
        best_key = key;
      }
    }
    return items[best];
  }
  if (name == "sum") {
    Args args(a, name, {"attribute", "start"});
    Value total = args.get_or(1, Value(std::int64_t{0}));
    std::string attr = args.has(0) && !args.get(0).is_none() ? to_str(args.get(0)) : "";
    for (const Value& v : iterate(input)) {
      Value x = attr.empty() ? v : attr_path(v, attr);
      if (!total.is_number() || !x.is_number()) fail("unsupported operand type(s) for +: '" + type_name(total) + "' and '" + type_name(x) + "'");
      if (total.is_float() || x.is_float()) {
        total = Value(total.to_double() + x.to_double());
      } else {
        std::int64_t r;
        if (__builtin_add_overflow(static_cast<std::int64_t>(total.to_double()), static_cast<std::int64_t>(x.to_double()), &r)) fail("integer overflow");
        total = Value(r);
      }
    }
    return total;
  }
  if (name == "abs") {
    Args(a, name, {});
    if (input.is_int()) {
      if (input.as_int() == INT64_MIN) fail("integer overflow");
      return Value(input.as_int() < 0 ? -input.as_int() : input.as_int());
    }
    if (input.is_bool()) return Value(static_cast<std::int64_t>(input.as_bool()));
    if (input.is_float()) return Value(std::fabs(input.as_float()));
    if (input.is_undefined()) fail(input.undefined_hint());
    fail("bad operand type for abs(): '" + type_name(input) + "'");
  }
  if (name == "int") {
    Args args(a, name, {"default", "base"});
    if (args.has(1) && args.get_int(1, 10) != 10) fail("int(): only base 10 is supported");
    Value def = args.get_or(0, Value(std::int64_t{0}));
    if (input.is_undefined()) fail(input.undefined_hint());
    if (input.is_int()) return input;
    if (input.is_bool()) return Value(static_cast<std::int64_t>(input.as_bool()));
    if (input.is_float()) {
      double d = input.as_float();
      if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return def;
      return Value(static_cast<std::int64_t>(d));
    }
    if (input.is_string()) {
      std::int64_t v;
      if (parse_py_int(input.as_string(), &v)) return Value(v);
      double d;
      if (parse_py_float(input.as_string(), &d) && std::isfinite(d) && std::fabs(d) < 9.2e18) {
        return Value(static_cast<std::int64_t>(d));
      }
    }
    return def;
  }
  if (name == "float") {
    Args args(a, name, {"default"});
    Value def = args.get_or(0, Value(0.0));
    if (input.is_undefined()) fail(input.undefined_hint());
    if (input.is_number()) return Value(input.to_double());
    double d;
    if (input.is_string() && parse_py_float(input.as_string(), &d)) return Value(d);
    return def;
  }
  if (name == "round") {
    Args args(a, name, {"precision", "method"});
    std::int64_t precision = std::clamp<std::int64_t>(args.get_int(0, 0), -300, 300);
    std::string method = args.get_str(1, "common");
    if (!input.is_number()) fail("round(): value must be a number, got " + type_name(input));
    double x = input.to_double();
    double scale = std::pow(10.0, static_cast<double>(precision));
    if (method == "common") {
      if (!input.is_float()) {  // Python's round() of an int (or bool) stays an int
        std::int64_t v = input.is_bool() ? input.as_bool() : input.as_int();
        if (precision >= 0) return Value(v);
        if (precision < -18) return Value(std::int64_t{0});
        std::int64_t unit = 1;
        for (std::int64_t i = 0; i < -precision; ++i) unit *= 10;
        std::int64_t q = v / unit, r = v % unit;
        if (r < 0) {
          q -= 1;
          r += unit;
        }
        if (2 * r > unit || (2 * r == unit && q % 2 != 0)) q += 1;
        std::int64_t out;
        if (__builtin_mul_overflow(q, unit, &out)) fail("integer overflow");
        return Value(out);
      }
      return Value(round_half_even(x, precision));
    }
    if (method == "ceil") return Value(std::ceil(x * scale) / scale);
    if (method == "floor") return Value(std::floor(x * scale) / scale);
    fail("method must be common, ceil or floor");
  }
  if (name == "attr") {
    Args args(a, name, {"name"});
    if (input.is_undefined()) fail(input.undefined_hint());
    // Python attributes only (methods): unlike obj.name, |attr never falls back to a dict key.
    std::string attr = to_str(args.get(0));
    if (input.is_dict() && !input.as_dict()->is_namespace && input.as_dict()->find(attr) != nullptr) {
      auto probe = make_dict();
      Value m = get_attr(Value(probe), attr);
      return m.is_callable() ? get_attr(input, attr) : Value::undefined("no attribute '" + attr + "'");
    }
    return get_attr(input, attr);
  }
  fail("no filter named '" + name + "'");
}

bool call_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& a) {
  auto one_arg = [&]() -> Value {
    Args args(a, name, {"other"});
    return args.get(0);
  };
  auto no_args = [&]() { Args(a, name, {}); };
  if (name == "defined") return no_args(), !v.is_undefined();
  if (name == "undefined") return no_args(), v.is_undefined();
  if (name == "none") return no_args(), v.is_none();
  if (name == "boolean") return no_args(), v.is_bool();
  if (name == "false") return no_args(), v.is_bool() && !v.as_bool();
  if (name == "true") return no_args(), v.is_bool() && v.as_bool();
  if (name == "integer") return no_args(), v.is_int();
  if (name == "float") return no_args(), v.is_float();
  if (name == "number") return no_args(), v.is_number();
  if (name == "string") return no_args(), v.is_string();
  if (name == "mapping") return no_args(), v.is_dict() && !v.as_dict()->is_namespace;
  if (name == "callable") return no_args(), v.is_callable();
  if (name == "escaped") return no_args(), false;
  if (name == "iterable") {
    no_args();
    return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.as_dict()->is_namespace);
  }
  if (name == "sequence") {
    no_args();
    return v.is_undefined() || v.is_string() || (v.is_dict() && !v.as_dict()->is_namespace) ||
           (v.is_list() && v.as_list()->flavor != ListFlavor::kGenerator && v.as_list()->flavor != ListFlavor::kDictView);
  }
  if (name == "lower" || name == "upper") {
    no_args();
    CallArgs none;
    return truthy(get_attr(Value(to_str(v)), name == "lower" ? "islower" : "isupper").as_callable()->fn(in, none));
  }
  if (name == "even" || name == "odd" || name == "divisibleby") {
    std::int64_t m = 2;
    if (name == "divisibleby") {
      Value d = one_arg();
      if (!d.is_int()) fail("divisibleby(): the divisor must be an integer");
      m = d.as_int();
      if (m == 0) fail("integer modulo by zero");
    } else {
      no_args();
    }
    if (v.is_float()) {  // Python: value % m on a float
      double r = std::fmod(v.as_float(), static_cast<double>(m));
      if (r != 0 && ((r < 0) != (m < 0))) r += static_cast<double>(m);
      return name == "odd" ? r == 1.0 : r == 0.0;
    }
    if (!v.is_int() && !v.is_bool()) {
      if (v.is_undefined()) fail(v.undefined_hint());
      fail("test '" + name + "' needs a number, got " + type_name(v));
    }
    std::int64_t x = v.is_bool() ? v.as_bool() : v.as_int();
    std::int64_t r = m == -1 ? 0 : ((x % m) + m) % m;
    if (name == "odd") return r == 1;
    return r == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return equals(v, one_arg());
  if (name == "ne" || name == "!=") return !equals(v, one_arg());
  if (name == "lt" || name == "lessthan" || name == "<") return less_than(v, one_arg());
  if (name == "gt" || name == "greaterthan" || name == ">") return less_than(one_arg(), v);
  if (name == "le" || name == "<=") {
    Value o = one_arg();
    return less_than(v, o) || equals(v, o);
  }
  if (name == "ge" || name == ">=") {
    Value o = one_arg();
    return less_than(o, v) || equals(v, o);
  }
  if (name == "in") return contains(one_arg(), v);
  if (name == "sameas") {
    Value o = one_arg();
    if (v.is_list() && o.is_list()) return v.as_list() == o.as_list();
    if (v.is_dict() && o.is_dict()) return v.as_dict() == o.as_dict();
    if (v.is_bool() || v.is_none() || o.is_bool() || o.is_none()) {
      return v.storage().index() == o.storage().index() && equals(v, o);
    }
    return v.storage().index() == o.storage().index() && equals(v, o);
  }
  if (name == "filter" || name == "test") {
    Value o = one_arg();
    if (!v.is_string()) return false;
    return name == "filter" ? is_known_filter(v.as_string()) : is_known_test(v.as_string());
  }
  fail("no test named '" + name + "'");
}

}  // namespace tessera::jinja
