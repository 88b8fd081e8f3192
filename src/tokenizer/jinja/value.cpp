// src/tokenizer/jinja/value.cpp — Python semantics of template values: str(), repr(), ==, <,
// truthiness, iteration, UTF-8 code points and simple case mapping.
#include "src/tokenizer/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace tessera::jinja {

void fail(std::string message, int line) { throw JinjaError{std::move(message), line}; }

int depth_of(const Value& v) {
  if (v.is_list()) return v.as_list()->depth;
  if (v.is_dict()) return v.as_dict()->depth;
  return 0;
}

ListPtr make_list(std::vector<Value> items, ListFlavor flavor) {
  auto l = std::make_shared<List>();
  int depth = 1;
  for (const Value& v : items) depth = std::max(depth, depth_of(v) + 1);
  if (depth > kMaxValueDepth) fail("value nested too deeply (limit " + std::to_string(kMaxValueDepth) + ")");
  l->items = std::move(items);
  l->flavor = flavor;
  l->depth = depth;
  return l;
}

DictPtr make_dict() { return std::make_shared<Dict>(); }

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : items) {
    if (k == key) return &v;
  }
  return nullptr;
}

Value* Dict::find(std::string_view key) {
  for (auto& [k, v] : items) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::set(std::string key, Value v) {
  int d = depth_of(v) + 1;
  if (d > kMaxValueDepth) fail("value nested too deeply (limit " + std::to_string(kMaxValueDepth) + ")");
  depth = std::max(depth, d);
  if (Value* slot = find(key)) {
    *slot = std::move(v);
  } else {
    items.emplace_back(std::move(key), std::move(v));
  }
}

double Value::to_double() const {
  if (is_int()) return static_cast<double>(as_int());
  if (is_bool()) return as_bool() ? 1.0 : 0.0;
  return as_float();
}

std::string type_name(const Value& v) {
  if (v.is_undefined()) return "Undefined";
  if (v.is_none()) return "NoneType";
  if (v.is_bool()) return "bool";
  if (v.is_int()) return "int";
  if (v.is_float()) return "float";
  if (v.is_string()) return "str";
  if (v.is_dict()) return v.as_dict()->is_namespace ? "Namespace" : "dict";
  if (v.is_callable()) return "function";
  switch (v.as_list()->flavor) {
    case ListFlavor::kTuple: return "tuple";
    case ListFlavor::kGenerator: return "generator";
    case ListFlavor::kDictView: return "dict view";
    case ListFlavor::kRange: return "range";
    default: return "list";
  }
}

bool truthy(const Value& v) {
  if (v.is_undefined() || v.is_none()) return false;
  if (v.is_bool()) return v.as_bool();
  if (v.is_int()) return v.as_int() != 0;
  if (v.is_float()) return v.as_float() != 0.0;
  if (v.is_string()) return !v.as_string().empty();
  if (v.is_list()) {
    const auto& l = *v.as_list();
    if (l.flavor == ListFlavor::kGenerator) return true;  // a generator object is always true
    return !l.items.empty();
  }
  if (v.is_dict()) return v.as_dict()->is_namespace || !v.as_dict()->items.empty();
  return true;
}

std::string py_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t epos = sci.find('e');
  std::string mant = sci.substr(0, epos);
  int exp = std::atoi(sci.c_str() + epos + 1);
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits += c;
  }
  int decpt = exp + 1;
  if (decpt <= -4 || decpt > 16) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return out + ebuf;
  }
  if (decpt <= 0) return sign + "0." + std::string(-decpt, '0') + digits;
  if (decpt >= static_cast<int>(digits.size())) {
    return sign + digits + std::string(decpt - digits.size(), '0') + ".0";
  }
  return sign + digits.substr(0, decpt) + "." + digits.substr(decpt);
}

namespace {

// Python's str.isprintable() for the code points a chat is likely to hold; unassigned code points
// are treated as printable (we carry no Unicode database).
bool is_py_printable(char32_t c) {
  if (c < 0x20 || c == 0x7f) return false;
  if (c >= 0x80 && c <= 0xa0) return false;
  if (c == 0xad || c == 0x1680 || c == 0x3000 || c == 0xfeff) return false;
  if (c >= 0x2000 && c <= 0x200f) return false;
  if (c >= 0x2028 && c <= 0x202f) return false;
  if (c >= 0x205f && c <= 0x206f) return false;
  if (c >= 0xd800 && c <= 0xf8ff) return false;  // surrogates and private use
  if (c >= 0xfff9 && c <= 0xfffb) return false;
  if (c >= 0xf0000) return false;
  return true;
}

std::string repr_string(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  std::vector<char32_t> cps = utf8_decode(s);
  for (char32_t c : cps) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (!is_py_printable(c)) {
      char buf[16];
      if (c < 0x100) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(c));
      } else if (c < 0x10000) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      } else {
        std::snprintf(buf, sizeof(buf), "\\U%08x", static_cast<unsigned>(c));
      }
      out += buf;
    } else {
      utf8_append(&out, c);
    }
  }
  out += quote;
  return out;
}

void refuse_lazy(const List& l) {
  if (l.flavor == ListFlavor::kGenerator || l.flavor == ListFlavor::kDictView ||
      l.flavor == ListFlavor::kRange) {
    fail("printing a " + std::string(l.flavor == ListFlavor::kGenerator ? "generator"
                                      : l.flavor == ListFlavor::kRange   ? "range"
                                                                         : "dict view") +
         " object is not supported (jinja2 prints a Python object address); convert it with |list");
  }
}

}  // namespace

std::string repr(const Value& v) {
  if (v.is_string()) return repr_string(v.as_string());
  if (v.is_undefined()) return "Undefined";
  if (v.is_list()) {
    const List& l = *v.as_list();
    refuse_lazy(l);
    bool tuple = l.flavor == ListFlavor::kTuple;
    std::string out = tuple ? "(" : "[";
    for (size_t i = 0; i < l.items.size(); ++i) {
      if (i) out += ", ";
      out += repr(l.items[i]);
    }
    if (tuple && l.items.size() == 1) out += ",";
    return out + (tuple ? ")" : "]");
  }
  if (v.is_dict()) {
    const Dict& d = *v.as_dict();
    if (d.is_namespace) fail("printing a namespace object is not supported");
    std::string out = "{";
    for (size_t i = 0; i < d.items.size(); ++i) {
      if (i) out += ", ";
      out += repr_string(d.items[i].first) + ": " + repr(d.items[i].second);
    }
    return out + "}";
  }
  return to_str(v);
}

std::string to_str(const Value& v) {
  if (v.is_undefined()) return "";
  if (v.is_none()) return "None";
  if (v.is_bool()) return v.as_bool() ? "True" : "False";
  if (v.is_int()) return std::to_string(v.as_int());
  if (v.is_float()) return py_float_repr(v.as_float());
  if (v.is_string()) return v.as_string();
  if (v.is_callable()) fail("printing a function ('" + v.as_callable()->name + "') is not supported");
  return repr(v);
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.to_double() == b.to_double();
    auto ai = a.is_bool() ? static_cast<std::int64_t>(a.as_bool()) : a.as_int();
    auto bi = b.is_bool() ? static_cast<std::int64_t>(b.as_bool()) : b.as_int();
    return ai == bi;
  }
  if (a.is_undefined() || b.is_undefined()) return a.is_undefined() && b.is_undefined();
  if (a.is_none() || b.is_none()) return a.is_none() && b.is_none();
  if (a.is_string() && b.is_string()) return a.as_string() == b.as_string();
  if (a.is_list() && b.is_list()) {
    const List& x = *a.as_list();
    const List& y = *b.as_list();
    if (&x == &y) return true;
    bool xt = x.flavor == ListFlavor::kTuple, yt = y.flavor == ListFlavor::kTuple;
    if (x.flavor == ListFlavor::kGenerator || y.flavor == ListFlavor::kGenerator) return false;
    if (xt != yt || x.items.size() != y.items.size()) return false;
    for (size_t i = 0; i < x.items.size(); ++i) {
      if (!equals(x.items[i], y.items[i])) return false;
    }
    return true;
  }
  if (a.is_dict() && b.is_dict()) {
    const Dict& x = *a.as_dict();
    const Dict& y = *b.as_dict();
    if (&x == &y) return true;
    if (x.is_namespace || y.is_namespace || x.items.size() != y.items.size()) return false;
    for (const auto& [k, v] : x.items) {
      const Value* other = y.find(k);
      if (other == nullptr || !equals(v, *other)) return false;
    }
    return true;
  }
  if (a.is_callable() && b.is_callable()) return a.as_callable() == b.as_callable();
  return false;
}

bool less_than(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.to_double() < b.to_double();
    auto ai = a.is_bool() ? static_cast<std::int64_t>(a.as_bool()) : a.as_int();
    auto bi = b.is_bool() ? static_cast<std::int64_t>(b.as_bool()) : b.as_int();
    return ai < bi;
  }
  // UTF-8 byte order is code point order.
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list() && a.as_list()->flavor == b.as_list()->flavor &&
      (a.as_list()->flavor == ListFlavor::kList || a.as_list()->flavor == ListFlavor::kTuple)) {
    const auto& x = a.as_list()->items;
    const auto& y = b.as_list()->items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  if (a.is_undefined() || b.is_undefined()) fail("cannot compare an undefined value");
  fail("'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

std::vector<Value> iterate(const Value& v) {
  if (v.is_undefined()) return {};
  if (v.is_list()) {
    List& l = *v.as_list();
    if (!l.deferred_error.empty()) fail(l.deferred_error);
    if (l.flavor == ListFlavor::kGenerator) {
      std::vector<Value> rest(l.items.begin() + static_cast<std::ptrdiff_t>(l.consumed), l.items.end());
      l.consumed = l.items.size();
      return rest;
    }
    return l.items;
  }
  if (v.is_dict()) {
    if (v.as_dict()->is_namespace) fail("'Namespace' object is not iterable");
    std::vector<Value> keys;
    for (const auto& kv : v.as_dict()->items) keys.emplace_back(kv.first);
    return keys;
  }
  if (v.is_string()) {
    std::vector<Value> chars;
    for (char32_t c : utf8_decode(v.as_string())) {
      std::string s;
      utf8_append(&s, c);
      chars.emplace_back(std::move(s));
    }
    return chars;
  }
  fail("'" + type_name(v) + "' object is not iterable");
}

// ---- UTF-8 -----------------------------------------------------------------------------------

std::vector<char32_t> utf8_decode(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) {
      ok = false;
    }
    if (!ok) {
      out.push_back(0xdc00 + c);  // surrogateescape
      i += 1;
    } else {
      out.push_back(cp);
      i += len;
    }
  }
  return out;
}

void utf8_append(std::string* out, char32_t cp) {
  if (cp >= 0xdc80 && cp <= 0xdcff) {  // surrogateescape'd byte
    out->push_back(static_cast<char>(cp - 0xdc00));
  } else if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

std::string utf8_encode(const std::vector<char32_t>& cps, std::size_t begin, std::size_t end) {
  std::string out;
  end = std::min(end, cps.size());
  for (size_t i = begin; i < end; ++i) utf8_append(&out, cps[i]);
  return out;
}

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

std::size_t utf8_length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  return utf8_decode(s).size();
}

bool is_py_space(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) || c == 0x85 ||
         c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
         c == 0x202f || c == 0x205f || c == 0x3000;
}

bool is_py_linebreak(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

std::vector<std::string> py_splitlines(std::string_view s, bool keepends) {
  std::vector<char32_t> cps = utf8_decode(s);
  std::vector<std::string> lines;
  size_t start = 0, i = 0;
  while (i < cps.size()) {
    if (!is_py_linebreak(cps[i])) {
      ++i;
      continue;
    }
    const size_t eol = i;
    i += (cps[i] == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ? 2 : 1;
    lines.push_back(utf8_encode(cps, start, keepends ? i : eol));
    start = i;
  }
  if (start < cps.size()) lines.push_back(utf8_encode(cps, start));
  return lines;
}

// Simple (one-to-one) case mapping for the bicameral scripts a chat commonly holds: ASCII, Latin-1,
// Latin Extended-A, Latin Extended Additional (Vietnamese), Greek, Cyrillic and fullwidth Latin.
// Other code points map to themselves.
char32_t py_upper_simple(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (c >= 0xe0 && c <= 0xfe && c != 0xf7) return c - 32;
  if (c == 0xff) return 0x178;
  if (c == 0xb5) return 0x39c;
  if (c >= 0x100 && c <= 0x17f) {
    if (c == 0x131) return 'I';
    if (c == 0x17f) return 'S';
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c % 2 == 0) ? c - 1 : c;
    if (c == 0x138 || c == 0x149 || c == 0x130) return c;
    return (c % 2 == 1) ? c - 1 : c;
  }
  if (c >= 0x1e00 && c <= 0x1eff && !(c >= 0x1e96 && c <= 0x1e9f)) return (c % 2 == 1) ? c - 1 : c;
  if (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) return c - 32;
  if (c == 0x3c2) return 0x3a3;
  if (c == 0x3ac) return 0x386;
  if (c >= 0x3ad && c <= 0x3af) return c - 37;
  if (c == 0x3cc) return 0x38c;
  if (c == 0x3cd || c == 0x3ce) return c - 63;
  if (c >= 0x430 && c <= 0x44f) return c - 32;
  if (c >= 0x450 && c <= 0x45f) return c - 80;
  if (c >= 0x460 && c <= 0x4ff && c != 0x482 && !(c >= 0x483 && c <= 0x489)) {
    if (c >= 0x4c1 && c <= 0x4ce) return (c % 2 == 0) ? c - 1 : (c == 0x4cf ? 0x4c0 : c);
    return (c % 2 == 1) ? c - 1 : c;
  }
  if (c >= 0xff41 && c <= 0xff5a) return c - 32;
  return c;
}

char32_t py_lower_simple(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 32;
  if (c == 0x178) return 0xff;
  if (c >= 0x100 && c <= 0x17f) {
    if (c == 0x130) return 'i';  // Python gives "i̇"; handled in py_lower
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c % 2 == 1) ? c + 1 : c;
    if (c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17f) return c;
    return (c % 2 == 0) ? c + 1 : c;
  }
  if (c >= 0x1e00 && c <= 0x1eff && !(c >= 0x1e96 && c <= 0x1e9f)) return (c % 2 == 0) ? c + 1 : c;
  if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) return c + 32;
  if (c == 0x386) return 0x3ac;
  if (c >= 0x388 && c <= 0x38a) return c + 37;
  if (c == 0x38c) return 0x3cc;
  if (c == 0x38e || c == 0x38f) return c + 63;
  if (c >= 0x410 && c <= 0x42f) return c + 32;
  if (c >= 0x400 && c <= 0x40f) return c + 80;
  if (c >= 0x460 && c <= 0x4ff && c != 0x482 && !(c >= 0x483 && c <= 0x489)) {
    if (c == 0x4c0) return 0x4cf;
    if (c >= 0x4c1 && c <= 0x4ce) return (c % 2 == 1) ? c + 1 : c;
    return (c % 2 == 0) ? c + 1 : c;
  }
  if (c >= 0xff21 && c <= 0xff3a) return c + 32;
  return c;
}

bool is_upper_char(char32_t c) { return py_lower_simple(c) != c || c == 0x130; }
bool is_lower_char(char32_t c) { return py_upper_simple(c) != c || c == 0xdf; }
bool is_cased_letter(char32_t c) { return is_upper_char(c) || is_lower_char(c); }

std::string py_upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  if (is_ascii(s)) {
    for (char c : s) out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
    return out;
  }
  for (char32_t c : utf8_decode(s)) {
    if (c == 0xdf) {
      out += "SS";
    } else {
      utf8_append(&out, py_upper_simple(c));
    }
  }
  return out;
}

std::string py_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  if (is_ascii(s)) {
    for (char c : s) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    return out;
  }
  std::vector<char32_t> cps = utf8_decode(s);
  for (size_t i = 0; i < cps.size(); ++i) {
    char32_t c = cps[i];
    if (c == 0x130) {
      out += "i\xcc\x87";
    } else if (c == 0x3a3) {
      // Final sigma: preceded by a cased letter and not followed by one.
      bool before = i > 0 && is_cased_letter(cps[i - 1]);
      bool after = i + 1 < cps.size() && is_cased_letter(cps[i + 1]);
      utf8_append(&out, (before && !after) ? 0x3c2 : 0x3c3);
    } else {
      utf8_append(&out, py_lower_simple(c));
    }
  }
  return out;
}

// ---- JSON ------------------------------------------------------------------------------------

namespace {

void json_string(std::string* out, const std::string& s, bool ensure_ascii) {
  out->push_back('"');
  auto esc = [&](unsigned cp) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "\\u%04x", cp & 0xffffu);
    *out += buf;
  };
  if (!ensure_ascii || is_ascii(s)) {
    for (char ch : s) {
      unsigned char c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\n': *out += "\\n"; break;
        case '\r': *out += "\\r"; break;
        case '\t': *out += "\\t"; break;
        case '\b': *out += "\\b"; break;
        case '\f': *out += "\\f"; break;
        default:
          if (c < 0x20) {
            esc(c);
          } else {
            out->push_back(ch);
          }
      }
    }
  } else {
    for (char32_t c : utf8_decode(s)) {
      if (c < 0x80) {
        std::string one(1, static_cast<char>(c));
        std::string tmp;
        json_string(&tmp, one, false);
        *out += tmp.substr(1, tmp.size() - 2);
      } else if (c < 0x10000) {
        esc(c);
      } else {
        char32_t v = c - 0x10000;
        esc(0xd800 + (v >> 10));
        esc(0xdc00 + (v & 0x3ff));
      }
    }
  }
  out->push_back('"');
}

void json_value(std::string* out, const Value& v, const JsonDumpOptions& o, int level, int depth) {
  if (depth > 500) fail("tojson: value nested too deeply");
  auto newline = [&](int lvl) {
    out->push_back('\n');
    out->append(static_cast<size_t>(o.indent) * lvl, ' ');
  };
  if (v.is_none()) {
    *out += "null";
  } else if (v.is_bool()) {
    *out += v.as_bool() ? "true" : "false";
  } else if (v.is_int()) {
    *out += std::to_string(v.as_int());
  } else if (v.is_float()) {
    double d = v.as_float();
    *out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : py_float_repr(d);
  } else if (v.is_string()) {
    json_string(out, v.as_string(), o.ensure_ascii);
  } else if (v.is_list() && (v.as_list()->flavor == ListFlavor::kList ||
                             v.as_list()->flavor == ListFlavor::kTuple)) {
    const auto& items = v.as_list()->items;
    if (items.empty()) {
      *out += "[]";
      return;
    }
    out->push_back('[');
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) *out += o.item_separator;
      if (o.indent >= 0) newline(level + 1);
      json_value(out, items[i], o, level + 1, depth + 1);
    }
    if (o.indent >= 0) newline(level);
    out->push_back(']');
  } else if (v.is_dict() && !v.as_dict()->is_namespace) {
    std::vector<const std::pair<std::string, Value>*> items;
    for (const auto& kv : v.as_dict()->items) items.push_back(&kv);
    if (items.empty()) {
      *out += "{}";
      return;
    }
    if (o.sort_keys) {
      std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
    }
    out->push_back('{');
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) *out += o.item_separator;
      if (o.indent >= 0) newline(level + 1);
      json_string(out, items[i]->first, o.ensure_ascii);
      *out += o.key_separator;
      json_value(out, items[i]->second, o, level + 1, depth + 1);
    }
    if (o.indent >= 0) newline(level);
    out->push_back('}');
  } else {
    fail("Object of type " + type_name(v) + " is not JSON serializable");
  }
}

}  // namespace

std::string json_dumps(const Value& v, const JsonDumpOptions& options) {
  JsonDumpOptions o = options;
  if (!o.has_separators) {
    o.item_separator = o.indent >= 0 ? "," : ", ";
    o.key_separator = ": ";
  }
  std::string out;
  json_value(&out, v, o, 0, 0);
  return out;
}

}  // namespace tessera::jinja
