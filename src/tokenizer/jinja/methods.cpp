// src/tokenizer/jinja/methods.cpp — attribute/item/slice access with the rules of jinja2's
// ImmutableSandboxedEnvironment, the Python str/dict/list methods templates call, and the global
// functions (namespace, range, dict, raise_exception, strftime_now).
//
// Sandbox rules kept: methods that would modify a list or dict (append, update, pop, ...) fail
// when called; range() is capped at 100000 items as jinja2's sandbox caps it.
#include <ctime>

#include "src/tokenizer/jinja/builtins.h"

namespace tessera::jinja {

// ---- argument binding --------------------------------------------------------------------------

Args::Args(CallArgs& args, const std::string& fname, std::initializer_list<const char*> params)
    : fname_(fname), names_(params), values_(params.size()) {
  if (args.positional.size() > names_.size()) {
    fail(fname_ + "() takes at most " + std::to_string(names_.size()) + " argument(s) (" +
         std::to_string(args.positional.size()) + " given)");
  }
  for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = args.positional[i];
  for (auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < names_.size() && key != names_[i]) ++i;
    if (i == names_.size()) fail(fname_ + "() got an unexpected keyword argument '" + key + "'");
    if (values_[i]) fail(fname_ + "() got multiple values for argument '" + key + "'");
    values_[i] = value;
  }
}

const Value& Args::get(size_t i) const {
  static const Value kMissing;
  return values_[i] ? *values_[i] : kMissing;
}

std::int64_t Args::get_int(size_t i, std::int64_t fallback) const {
  if (!has(i) || values_[i]->is_none()) return fallback;
  const Value& v = *values_[i];
  if (v.is_int()) return v.as_int();
  if (v.is_bool()) return v.as_bool();
  fail(fname_ + "(): argument '" + names_[i] + "' must be an integer, got " + type_name(v));
}

std::string Args::get_str(size_t i, const std::string& fallback) const {
  if (!has(i)) return fallback;
  const Value& v = *values_[i];
  if (!v.is_string()) fail(fname_ + "(): argument '" + names_[i] + "' must be a string, got " + type_name(v));
  return v.as_string();
}

namespace {

CallablePtr method(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn) {
  auto c = std::make_shared<Callable>();
  c->name = std::move(name);
  c->fn = std::move(fn);
  return c;
}

CallablePtr unsafe_method(const std::string& owner, const std::string& name) {
  return method(owner + "." + name, [owner, name](Interpreter&, CallArgs&) -> Value {
    fail("access to attribute '" + name + "' of '" + owner +
         "' object is unsafe (templates cannot modify values: jinja2's immutable sandbox)");
  });
}

const std::string& need_str(const Value& v, const std::string& fname) {
  if (!v.is_string()) fail(fname + "() argument must be str, not " + type_name(v));
  return v.as_string();
}

// Python str.strip family. chars: none = whitespace.
std::string strip_chars(const std::string& s, const Value& chars, bool left, bool right) {
  std::vector<char32_t> cps = utf8_decode(s);
  std::vector<char32_t> set;
  bool ws = chars.is_undefined() || chars.is_none();
  if (!ws) set = utf8_decode(need_str(chars, "strip"));
  auto strip_it = [&](char32_t c) {
    if (ws) return is_py_space(c);
    for (char32_t x : set) {
      if (x == c) return true;
    }
    return false;
  };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && strip_it(cps[b])) ++b;
  }
  if (right) {
    while (e > b && strip_it(cps[e - 1])) --e;
  }
  return utf8_encode(cps, b, e);
}

std::vector<Value> split_str(const std::string& s, const Value& sep_v, std::int64_t maxsplit, bool from_right) {
  std::vector<Value> parts;
  if (sep_v.is_undefined() || sep_v.is_none()) {
    std::vector<char32_t> cps = utf8_decode(s);
    std::vector<std::pair<size_t, size_t>> words;
    if (!from_right) {
      size_t i = 0;
      while (i < cps.size()) {
        while (i < cps.size() && is_py_space(cps[i])) ++i;
        if (i >= cps.size()) break;
        if (maxsplit >= 0 && static_cast<std::int64_t>(words.size()) == maxsplit) {
          size_t e = cps.size();
          while (e > i && is_py_space(cps[e - 1])) --e;
          words.emplace_back(i, e);
          break;
        }
        size_t j = i;
        while (j < cps.size() && !is_py_space(cps[j])) ++j;
        words.emplace_back(i, j);
        i = j;
      }
    } else {
      size_t i = cps.size();
      while (i > 0) {
        while (i > 0 && is_py_space(cps[i - 1])) --i;
        if (i == 0) break;
        if (maxsplit >= 0 && static_cast<std::int64_t>(words.size()) == maxsplit) {
          size_t b = 0;
          while (b < i && is_py_space(cps[b])) ++b;
          words.emplace_back(b, i);
          break;
        }
        size_t j = i;
        while (j > 0 && !is_py_space(cps[j - 1])) --j;
        words.emplace_back(j, i);
        i = j;
      }
      std::reverse(words.begin(), words.end());
    }
    for (auto [b, e] : words) parts.emplace_back(utf8_encode(cps, b, e));
    return parts;
  }
  const std::string sep = need_str(sep_v, "split");  // a copy: gcc 13 flags the reference as dangling
  if (sep.empty()) fail("empty separator");
  if (!from_right) {
    size_t start = 0;
    while (true) {
      size_t at = s.find(sep, start);
      if (at == std::string::npos || (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) == maxsplit)) {
        parts.emplace_back(s.substr(start));
        break;
      }
      parts.emplace_back(s.substr(start, at - start));
      start = at + sep.size();
    }
  } else {
    size_t end = s.size();
    while (true) {
      size_t at = end >= sep.size() ? s.rfind(sep, end - sep.size()) : std::string::npos;
      if (at == std::string::npos || (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) == maxsplit)) {
        parts.emplace_back(s.substr(0, end));
        break;
      }
      parts.emplace_back(s.substr(at + sep.size(), end - at - sep.size()));
      end = at;
    }
    std::reverse(parts.begin(), parts.end());
  }
  return parts;
}

bool affix_match(const std::string& s, const Value& affix, bool prefix, const std::string& fname) {
  auto one = [&](const Value& a) {
    const std::string& x = need_str(a, fname);
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_list() && affix.as_list()->flavor == ListFlavor::kTuple) {
    for (const auto& a : affix.as_list()->items) {
      if (one(a)) return true;
    }
    return false;
  }
  if (!affix.is_string()) fail(fname + " first arg must be str or a tuple of str, not " + type_name(affix));
  return one(affix);
}

// Python str.title(): a cased character after an uncased one is upper-cased, others lowered.
std::string title_str(const std::string& s) {
  std::string out;
  bool prev_cased = false;
  for (char32_t c : utf8_decode(s)) {
    if (prev_cased) {
      if (c == 0x3a3 || c == 0x130) {
        out += py_lower(utf8_encode({c}));
      } else {
        utf8_append(&out, py_lower_simple(c));
      }
    } else if (c == 0xdf) {
      out += "Ss";
    } else {
      utf8_append(&out, py_upper_simple(c));
    }
    prev_cased = is_cased_letter(c);
  }
  return out;
}

std::string capitalize_str(const std::string& s) {
  std::vector<char32_t> cps = utf8_decode(s);
  if (cps.empty()) return "";
  std::string out = cps[0] == 0xdf ? std::string("Ss") : utf8_encode({py_upper_simple(cps[0])});
  return out + py_lower(utf8_encode(cps, 1));
}

std::string replace_str(Interpreter& in, const std::string& s, const std::string& old_s,
                        const std::string& new_s, std::int64_t count) {
  std::string out;
  if (old_s.empty()) {
    std::vector<char32_t> cps = utf8_decode(s);
    std::int64_t n = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || n < count) {
        out += new_s;
        ++n;
      }
      if (i < cps.size()) utf8_append(&out, cps[i]);
      in.check_size(out.size());
    }
    return out;
  }
  size_t start = 0;
  std::int64_t n = 0;
  while (count < 0 || n < count) {
    size_t at = s.find(old_s, start);
    if (at == std::string::npos) break;
    out.append(s, start, at - start);
    out += new_s;
    in.check_size(out.size());
    start = at + old_s.size();
    ++n;
  }
  out.append(s, start);
  return out;
}

std::vector<Value> splitlines(const std::string& s, bool keepends) {
  std::vector<Value> lines;
  for (std::string& line : py_splitlines(s, keepends)) lines.emplace_back(std::move(line));
  return lines;
}

bool all_chars(const std::string& s, bool (*pred)(char32_t)) {
  std::vector<char32_t> cps = utf8_decode(s);
  if (cps.empty()) return false;
  for (char32_t c : cps) {
    if (!pred(c)) return false;
  }
  return true;
}

Value string_method(const std::string& s, const std::string& name) {
  auto m = [&](auto fn) { return Value(method("str." + name, fn)); };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    bool l = name != "rstrip", r = name != "lstrip";
    return m([s, name, l, r](Interpreter&, CallArgs& a) {
      Args args(a, name, {"chars"});
      return Value(strip_chars(s, args.get(0), l, r));
    });
  }
  if (name == "split" || name == "rsplit") {
    bool right = name == "rsplit";
    return m([s, name, right](Interpreter&, CallArgs& a) {
      Args args(a, name, {"sep", "maxsplit"});
      return Value(make_list(split_str(s, args.get(0), args.get_int(1, -1), right)));
    });
  }
  if (name == "startswith" || name == "endswith") {
    bool prefix = name == "startswith";
    return m([s, name, prefix](Interpreter&, CallArgs& a) {
      Args args(a, name, {"prefix"});
      return Value(affix_match(s, args.get(0), prefix, name));
    });
  }
  if (name == "upper") return m([s](Interpreter&, CallArgs& a) { Args(a, "upper", {}); return Value(py_upper(s)); });
  if (name == "lower") return m([s](Interpreter&, CallArgs& a) { Args(a, "lower", {}); return Value(py_lower(s)); });
  if (name == "title") return m([s](Interpreter&, CallArgs& a) { Args(a, "title", {}); return Value(title_str(s)); });
  if (name == "capitalize") {
    return m([s](Interpreter&, CallArgs& a) { Args(a, "capitalize", {}); return Value(capitalize_str(s)); });
  }
  if (name == "replace") {
    return m([s](Interpreter& in, CallArgs& a) {
      Args args(a, "replace", {"old", "new", "count"});
      return Value(replace_str(in, s, need_str(args.get(0), "replace"), need_str(args.get(1), "replace"),
                               args.get_int(2, -1)));
    });
  }
  if (name == "find" || name == "rfind" || name == "count" || name == "index" || name == "rindex") {
    return m([s, name](Interpreter&, CallArgs& a) -> Value {
      Args args(a, name, {"sub"});
      const std::string& sub = need_str(args.get(0), name);
      if (name == "count") {
        if (sub.empty()) return Value(static_cast<std::int64_t>(utf8_length(s) + 1));
        std::int64_t n = 0;
        for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
        return Value(n);
      }
      size_t at = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
      if (at == std::string::npos) {
        if (name == "index" || name == "rindex") fail("substring not found");
        return Value(std::int64_t{-1});
      }
      return Value(static_cast<std::int64_t>(utf8_length(std::string_view(s).substr(0, at))));
    });
  }
  if (name == "join") {
    return m([s](Interpreter& in, CallArgs& a) {
      Args args(a, "join", {"iterable"});
      std::string out;
      bool first = true;
      for (const Value& v : iterate(args.get(0))) {
        if (!first) out += s;
        first = false;
        out += need_str(v, "join");
        in.check_size(out.size());
      }
      return Value(std::move(out));
    });
  }
  if (name == "splitlines") {
    return m([s](Interpreter&, CallArgs& a) {
      Args args(a, "splitlines", {"keepends"});
      return Value(make_list(splitlines(s, args.get_bool(0, false))));
    });
  }
  static const std::pair<const char*, bool (*)(char32_t)> kPredicates[] = {
      {"isspace", [](char32_t c) { return is_py_space(c); }},
      {"isdigit", [](char32_t c) { return c >= '0' && c <= '9'; }},
      {"isalpha", [](char32_t c) { return is_cased_letter(c) || c >= 0x2e80; }},
      {"isalnum", [](char32_t c) { return (c >= '0' && c <= '9') || is_cased_letter(c) || c >= 0x2e80; }},
  };
  for (const auto& [pname, pred] : kPredicates) {
    if (name == pname) {
      auto p = pred;
      return m([s, p, name](Interpreter&, CallArgs& a) { Args(a, name, {}); return Value(all_chars(s, p)); });
    }
  }
  if (name == "islower" || name == "isupper") {
    bool lower = name == "islower";
    return m([s, lower, name](Interpreter&, CallArgs& a) {
      Args(a, name, {});
      bool any_cased = false;
      for (char32_t c : utf8_decode(s)) {
        if (lower ? is_upper_char(c) : is_lower_char(c)) return Value(false);
        any_cased = any_cased || is_cased_letter(c);
      }
      return Value(any_cased);
    });
  }
  static const char* kUnsupported[] = {"format", "format_map", "encode", "center", "ljust", "rjust", "zfill",
                                       "partition", "rpartition", "swapcase", "casefold", "expandtabs",
                                       "translate", "maketrans", "isnumeric", "isdecimal", "istitle",
                                       "isidentifier", "isprintable", "isascii", "removeprefix", "removesuffix"};
  for (const char* u : kUnsupported) {
    if (name == u) fail("the string method '" + name + "' is not supported");
  }
  return Value::undefined("'str object' has no attribute '" + name + "'");
}

Value dict_method(const DictPtr& d, const std::string& name) {
  auto m = [&](auto fn) { return Value(method("dict." + name, fn)); };
  if (name == "get") {
    return m([d](Interpreter&, CallArgs& a) {
      Args args(a, "get", {"key", "default"});
      const Value& key = args.get(0);
      if (key.is_string()) {
        if (const Value* v = d->find(key.as_string())) return *v;
      }
      return args.get_or(1, Value(None{}));
    });
  }
  if (name == "items" || name == "keys" || name == "values") {
    return m([d, name](Interpreter&, CallArgs& a) {
      Args(a, name, {});
      std::vector<Value> out;
      for (const auto& [k, v] : d->items) {
        if (name == "items") {
          out.emplace_back(make_list({Value(k), v}, ListFlavor::kTuple));
        } else {
          out.push_back(name == "keys" ? Value(k) : v);
        }
      }
      return Value(make_list(std::move(out), ListFlavor::kDictView));
    });
  }
  if (name == "copy") {
    return m([d](Interpreter&, CallArgs& a) {
      Args(a, "copy", {});
      auto c = make_dict();
      c->items = d->items;
      c->depth = d->depth;
      return Value(c);
    });
  }
  static const char* kUnsafe[] = {"pop", "popitem", "update", "setdefault", "clear", "fromkeys"};
  for (const char* u : kUnsafe) {
    if (name == u) return Value(unsafe_method("dict", name));
  }
  return Value();
}

Value list_method(const ListPtr& l, const std::string& name) {
  if (name == "index" || name == "count") {
    return Value(method("list." + name, [l, name](Interpreter&, CallArgs& a) -> Value {
      Args args(a, name, {"value"});
      std::int64_t n = 0;
      for (size_t i = 0; i < l->items.size(); ++i) {
        if (equals(l->items[i], args.get(0))) {
          if (name == "index") return Value(static_cast<std::int64_t>(i));
          ++n;
        }
      }
      if (name == "index") fail("value is not in list");
      return Value(n);
    }));
  }
  static const char* kUnsafe[] = {"append", "extend", "insert", "pop", "remove", "sort", "reverse", "clear"};
  for (const char* u : kUnsafe) {
    if (name == u) return Value(unsafe_method("list", name));
  }
  return Value();
}

std::string object_desc(const Value& v) {
  if (v.is_none()) return "None";
  return type_name(v) + " object";
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_dict()) {
    const DictPtr& d = obj.as_dict();
    if (!d->is_namespace) {
      Value m = dict_method(d, name);
      if (!m.is_undefined()) return m;
    }
    if (const Value* v = d->find(name)) return *v;
  } else if (obj.is_string()) {
    return string_method(obj.as_string(), name);
  } else if (obj.is_list() && obj.as_list()->flavor != ListFlavor::kGenerator) {
    Value m = list_method(obj.as_list(), name);
    if (!m.is_undefined()) return m;
  }
  return Value::undefined(std::string("'") + object_desc(obj) + "' has no attribute '" + name + "'");
}

namespace {

// Python index normalization: negative counts from the end; -1 if out of range.
std::int64_t normalize_index(const Value& key, size_t size) {
  std::int64_t i = key.is_bool() ? key.as_bool() : key.as_int();
  if (i < 0) i += static_cast<std::int64_t>(size);
  return (i < 0 || i >= static_cast<std::int64_t>(size)) ? -1 : i;
}

}  // namespace

Value get_item(const Value& obj, const Value& key) {
  const bool int_key = key.is_int() || key.is_bool();
  if (obj.is_dict() && key.is_string()) {
    if (const Value* v = obj.as_dict()->find(key.as_string())) return *v;
  } else if (obj.is_list() && int_key &&
             (obj.as_list()->flavor == ListFlavor::kList || obj.as_list()->flavor == ListFlavor::kTuple ||
              obj.as_list()->flavor == ListFlavor::kRange)) {
    const auto& items = obj.as_list()->items;
    std::int64_t i = normalize_index(key, items.size());
    if (i >= 0) return items[static_cast<size_t>(i)];
  } else if (obj.is_string() && int_key) {
    const std::string& s = obj.as_string();
    if (is_ascii(s)) {
      std::int64_t i = normalize_index(key, s.size());
      if (i >= 0) return Value(s.substr(static_cast<size_t>(i), 1));
    } else {
      std::vector<char32_t> cps = utf8_decode(s);
      std::int64_t i = normalize_index(key, cps.size());
      if (i >= 0) return Value(utf8_encode(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1));
    }
  }
  // jinja2 falls back to an attribute of that name (d['items'] is the method when no such key).
  if (key.is_string() && !obj.is_dict()) {
    Value attr = get_attr(obj, key.as_string());
    if (!attr.is_undefined()) return attr;
  } else if (key.is_string() && !obj.as_dict()->is_namespace) {
    Value m = dict_method(obj.as_dict(), key.as_string());
    if (!m.is_undefined()) return m;
  }
  return Value::undefined(std::string("'") + object_desc(obj) + "' has no attribute '" + to_str(key) + "'");
}

Value get_slice(Interpreter& in, const Value& obj, const Value& start_v, const Value& stop_v, const Value& step_v) {
  auto as_index = [](const Value& v, bool* ok) -> std::int64_t {
    if (v.is_none()) return 0;
    if (v.is_int()) return v.as_int();
    if (v.is_bool()) return v.as_bool();
    *ok = false;
    return 0;
  };
  bool ok = true;
  std::int64_t step = step_v.is_none() ? 1 : as_index(step_v, &ok);
  std::int64_t start = as_index(start_v, &ok);
  std::int64_t stop = as_index(stop_v, &ok);
  // jinja2 compiles slices to a plain Python subscript (no sandbox getitem fallback to
  // undefined), so slicing anything but a sequence is an error.
  bool seq = obj.is_string() || (obj.is_list() && (obj.as_list()->flavor == ListFlavor::kList ||
                                                   obj.as_list()->flavor == ListFlavor::kTuple ||
                                                   obj.as_list()->flavor == ListFlavor::kRange));
  if (!seq) {
    if (obj.is_dict()) fail("unhashable type: 'slice'");
    std::string msg = "'";
    msg += type_name(obj);
    msg += "' object is not subscriptable";
    fail(msg);
  }
  if (!ok) fail("slice indices must be integers or None or have an __index__ method");
  if (step == 0) fail("slice step cannot be zero");
  std::vector<char32_t> cps;
  std::int64_t len;
  if (obj.is_string()) {
    cps = utf8_decode(obj.as_string());
    len = static_cast<std::int64_t>(cps.size());
  } else {
    len = static_cast<std::int64_t>(obj.as_list()->items.size());
  }
  std::int64_t lower = step > 0 ? 0 : -1, upper = step > 0 ? len : len - 1;
  auto adjust = [&](const Value& given, std::int64_t v, std::int64_t def) {
    if (given.is_none()) return def;
    if (v < 0) {
      v += len;
      if (v < lower) v = lower;
    } else if (v > upper) {
      v = upper;
    }
    return v;
  };
  start = adjust(start_v, start, step > 0 ? lower : upper);
  stop = adjust(stop_v, stop, step > 0 ? upper : lower);
  std::vector<std::int64_t> idx;
  for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    in.step();
    idx.push_back(i);
  }
  if (obj.is_string()) {
    std::string out;
    for (auto i : idx) utf8_append(&out, cps[static_cast<size_t>(i)]);
    return Value(std::move(out));
  }
  std::vector<Value> items;
  for (auto i : idx) items.push_back(obj.as_list()->items[static_cast<size_t>(i)]);
  return Value(make_list(std::move(items), obj.as_list()->flavor));
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string()) fail("'in <string>' requires string as left operand, not " + type_name(item));
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_dict()) {
    if (container.as_dict()->is_namespace) fail("argument of type 'Namespace' is not iterable");
    if (item.is_list() || item.is_dict()) fail("unhashable type: '" + type_name(item) + "'");
    return item.is_string() && container.as_dict()->find(item.as_string()) != nullptr;
  }
  if (container.is_list() || container.is_undefined()) {
    for (const Value& v : iterate(container)) {
      if (equals(v, item)) return true;
    }
    return false;
  }
  fail("argument of type '" + type_name(container) + "' is not iterable");
}

void install_globals(Frame* globals) {
  (*globals)["raise_exception"] = Value(method("raise_exception", [](Interpreter&, CallArgs& a) -> Value {
    Args args(a, "raise_exception", {"message"});
    fail(to_str(args.get(0)));
  }));
  (*globals)["strftime_now"] = Value(method("strftime_now", [](Interpreter& in, CallArgs& a) -> Value {
    Args args(a, "strftime_now", {"format"});
    std::string fmt = args.get_str(0, "");
    std::time_t now = in.now_unix_seconds() ? static_cast<std::time_t>(*in.now_unix_seconds()) : std::time(nullptr);
    std::tm tm{};
    if (in.now_unix_seconds()) {
      gmtime_r(&now, &tm);  // a pinned clock is read as the wall-clock time itself
    } else {
      localtime_r(&now, &tm);
    }
    if (fmt.size() > 1000) fail("strftime_now: format too long");
    std::string out(fmt.size() * 16 + 64, '\0');
    size_t n = std::strftime(out.data(), out.size(), fmt.c_str(), &tm);
    if (n == 0 && !fmt.empty()) return Value(std::string());
    out.resize(n);
    return Value(std::move(out));
  }));
  (*globals)["namespace"] = Value(method("namespace", [](Interpreter&, CallArgs& a) -> Value {
    auto ns = make_dict();
    ns->is_namespace = true;
    if (a.positional.size() > 1) fail("namespace() takes at most one positional argument");
    if (a.positional.size() == 1) {
      if (!a.positional[0].is_dict()) fail("namespace() positional argument must be a dict");
      ns->items = a.positional[0].as_dict()->items;
      ns->depth = a.positional[0].as_dict()->depth;
    }
    for (auto& [k, v] : a.keyword) ns->set(k, v);
    return Value(ns);
  }));
  (*globals)["dict"] = Value(method("dict", [](Interpreter&, CallArgs& a) -> Value {
    if (!a.positional.empty()) fail("dict() with positional arguments is not supported");
    auto d = make_dict();
    for (auto& [k, v] : a.keyword) d->set(k, v);
    return Value(d);
  }));
  (*globals)["range"] = Value(method("range", [](Interpreter& in, CallArgs& a) -> Value {
    if (!a.keyword.empty() || a.positional.empty() || a.positional.size() > 3) {
      fail("range() takes 1 to 3 positional integer arguments");
    }
    std::int64_t v[3] = {0, 0, 1};
    for (size_t i = 0; i < a.positional.size(); ++i) {
      const Value& p = a.positional[i];
      if (!p.is_int() && !p.is_bool()) fail("range() arguments must be integers, got " + type_name(p));
    }
    auto iv = [&](size_t i) { return a.positional[i].is_bool() ? a.positional[i].as_bool() : a.positional[i].as_int(); };
    if (a.positional.size() == 1) {
      v[1] = iv(0);
    } else {
      v[0] = iv(0);
      v[1] = iv(1);
      if (a.positional.size() == 3) v[2] = iv(2);
    }
    if (v[2] == 0) fail("range() arg 3 must not be zero");
    std::vector<Value> items;
    for (std::int64_t i = v[0]; v[2] > 0 ? i < v[1] : i > v[1]; i += v[2]) {
      if (items.size() >= 100000) fail("range too big, maximum size for range is 100000");
      in.step();
      items.emplace_back(i);
      if ((v[2] > 0 && i > INT64_MAX - v[2]) || (v[2] < 0 && i < INT64_MIN - v[2])) break;
    }
    return Value(make_list(std::move(items), ListFlavor::kRange));
  }));
}

}  // namespace tessera::jinja
