// src/tokenizer/jinja/lexer.cpp — jinja2-compatible tokenizer (see lexer.h for the whitespace rules).
#include "src/tokenizer/jinja/lexer.h"

#include <cctype>

#include "src/tokenizer/jinja/value.h"

namespace tessera::jinja {
namespace {

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Length in bytes of the Python-whitespace code point at s[i], or 0.
size_t space_at(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return is_py_space(c) ? 1 : 0;
  size_t len = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (i + len > s.size()) return 0;
  std::vector<char32_t> cp = utf8_decode(s.substr(i, len));
  return (cp.size() == 1 && is_py_space(cp[0])) ? len : 0;
}

// Python str.rstrip() on UTF-8.
std::string_view rstrip_py(std::string_view s) {
  std::vector<char32_t> cps = utf8_decode(s);
  size_t keep = cps.size();
  while (keep > 0 && is_py_space(cps[keep - 1])) --keep;
  size_t bytes = 0;
  for (size_t i = 0; i < keep; ++i) {
    std::string tmp;
    utf8_append(&tmp, cps[i]);
    bytes += tmp.size();
  }
  return s.substr(0, bytes);
}

bool all_space(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t n = space_at(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's unicode-escape decoding of a string literal body (what jinja2 does to literals).
std::string unescape(std::string_view body, int line) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    char e = body[++i];
    switch (e) {
      case '\n': break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x':
      case 'u':
      case 'U': {
        size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        char32_t cp = 0;
        for (size_t k = 0; k < n; ++k) {
          int h = i + 1 + k < body.size() ? hex_value(body[i + 1 + k]) : -1;
          if (h < 0) fail(std::string("truncated \\") + e + " escape in a string literal", line);
          cp = cp * 16 + static_cast<char32_t>(h);
        }
        if (cp > 0x10ffff) fail("illegal Unicode character in a string literal", line);
        i += n;
        utf8_append(&out, cp);
        break;
      }
      case 'N': fail("\\N{...} escapes are not supported in string literals", line);
      default:
        if (e >= '0' && e <= '7') {
          char32_t cp = static_cast<char32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k) {
            cp = cp * 8 + static_cast<char32_t>(body[++i] - '0');
          }
          utf8_append(&out, cp);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  Lexer(std::string src, const LexerOptions& o) : s_(std::move(src)), o_(o) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < s_.size()) {
      size_t start = find_tag(pos_);
      std::string_view text(s_.data() + pos_, (start == std::string::npos ? s_.size() : start) - pos_);
      if (start == std::string::npos) {
        emit_text(text);
        break;
      }
      char kind = s_[start + 1];  // '{', '%' or '#'
      char sign = start + 2 < s_.size() ? s_[start + 2] : '\0';
      if (sign == '-') {
        text = rstrip_py(text);
      } else if (sign != '+' && o_.lstrip_blocks && kind != '{') {
        size_t nl = text.rfind('\n');
        size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
        if ((l_pos > 0 || line_starting) && all_space(text.substr(l_pos))) text = text.substr(0, l_pos);
      }
      emit_text(text);
      advance_to(start + 2 + ((sign == '-' || sign == '+') ? 1 : 0));
      if (kind == '#') {
        line_starting = lex_comment();
      } else if (kind == '%' && try_raw()) {
        line_starting = last_end_newline_;
      } else {
        line_starting = lex_tag(kind == '%');
      }
    }
    tokens_.push_back({TokenKind::kEof, "", line_});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < s_.size(); ++i) {
      if (s_[i] == '{' && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  void advance_to(size_t p) {
    for (size_t i = pos_; i < p && i < s_.size(); ++i) {
      if (s_[i] == '\n') ++line_;
    }
    pos_ = p;
  }

  void emit_text(std::string_view text) {
    if (!text.empty()) tokens_.push_back({TokenKind::kText, std::string(text), line_});
    advance_to(pos_ + (text.data() - (s_.data() + pos_)) + text.size());
  }

  // After a closing delimiter at pos_: "-" strips all whitespace, else trim_blocks drops one "\n".
  // Returns whether what was consumed ends with a newline (jinja2's line_starting).
  bool after_end(bool stripped, bool trim) {
    bool ends_newline = false;
    if (stripped) {
      size_t p = pos_;
      while (p < s_.size()) {
        size_t n = space_at(s_, p);
        if (n == 0) break;
        ends_newline = s_[p] == '\n';
        p += n;
      }
      advance_to(p);
    } else if (trim && pos_ < s_.size() && s_[pos_] == '\n') {
      advance_to(pos_ + 1);
      ends_newline = true;
    }
    return ends_newline;
  }

  bool lex_comment() {
    int start_line = line_;
    size_t end = s_.find("#}", pos_);
    if (end == std::string::npos) fail("missing end of comment tag '#}'", start_line);
    bool minus = end > pos_ && s_[end - 1] == '-';
    bool plus = end > pos_ && s_[end - 1] == '+';
    advance_to(end + 2);
    return after_end(minus, o_.trim_blocks && !plus);
  }

  // {% raw %}...{% endraw %}: the body is text, untouched.
  bool try_raw() {
    size_t p = pos_;
    while (p < s_.size() && space_at(s_, p)) p += space_at(s_, p);
    if (s_.compare(p, 3, "raw") != 0 || (p + 3 < s_.size() && is_name_char(s_[p + 3]))) return false;
    p += 3;
    while (p < s_.size() && space_at(s_, p)) p += space_at(s_, p);
    bool minus = p < s_.size() && s_[p] == '-';
    bool plus = p < s_.size() && s_[p] == '+';
    if (minus || plus) ++p;
    if (s_.compare(p, 2, "%}") != 0) fail("expected '%}' after 'raw'", line_);
    int start_line = line_;
    advance_to(p + 2);
    after_end(minus, o_.trim_blocks && !plus);
    // Find {%[-+]? endraw [-+]?%}
    for (size_t i = pos_; i + 1 < s_.size(); ++i) {
      if (s_[i] != '{' || s_[i + 1] != '%') continue;
      size_t q = i + 2;
      char sign = q < s_.size() ? s_[q] : '\0';
      if (sign == '-' || sign == '+') ++q;
      while (q < s_.size() && space_at(s_, q)) q += space_at(s_, q);
      if (s_.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      while (q < s_.size() && space_at(s_, q)) q += space_at(s_, q);
      bool end_minus = q < s_.size() && s_[q] == '-';
      bool end_plus = q < s_.size() && s_[q] == '+';
      if (end_minus || end_plus) ++q;
      if (s_.compare(q, 2, "%}") != 0) continue;
      std::string_view body(s_.data() + pos_, i - pos_);
      if (sign == '-') {
        body = rstrip_py(body);
      } else if (sign != '+' && o_.lstrip_blocks) {
        size_t nl = body.rfind('\n');
        if (nl != std::string_view::npos && all_space(body.substr(nl + 1))) body = body.substr(0, nl + 1);
      }
      emit_text(body);
      advance_to(q + 2);
      last_end_newline_ = after_end(end_minus, o_.trim_blocks && !end_plus);
      return true;
    }
    fail("missing '{% endraw %}' for the raw block", start_line);
  }

  // Tokens of one {{ ... }} or {% ... %}; returns line_starting for the text after it.
  bool lex_tag(bool is_block) {
    int start_line = line_;
    tokens_.push_back({is_block ? TokenKind::kBlockBegin : TokenKind::kVarBegin, "", line_});
    int depth = 0;  // open brackets: an end delimiter inside them is not an end
    bool after_dot = false;
    const char close = is_block ? '%' : '}';
    while (true) {
      while (pos_ < s_.size() && space_at(s_, pos_)) advance_to(pos_ + space_at(s_, pos_));
      if (pos_ >= s_.size()) {
        fail(is_block ? "missing end of block tag '%}'" : "missing end of variable tag '}}'", start_line);
      }
      if (depth == 0) {
        bool minus = s_[pos_] == '-' && s_.compare(pos_ + 1, 2, std::string(1, close) + "}") == 0;
        bool plus = is_block && s_[pos_] == '+' && s_.compare(pos_ + 1, 2, "%}") == 0;
        if (minus || plus || s_.compare(pos_, 2, std::string(1, close) + "}") == 0) {
          tokens_.push_back({is_block ? TokenKind::kBlockEnd : TokenKind::kVarEnd, "", line_});
          advance_to(pos_ + 2 + ((minus || plus) ? 1 : 0));
          return after_end(minus, is_block && o_.trim_blocks && !plus);
        }
      }
      char c = s_[pos_];
      if (is_name_start(c)) {
        size_t e = pos_;
        while (e < s_.size() && is_name_char(s_[e])) ++e;
        tokens_.push_back({TokenKind::kName, s_.substr(pos_, e - pos_), line_});
        advance_to(e);
        after_dot = false;
        continue;
      }
      if (c == '\'' || c == '"') {
        size_t e = pos_ + 1;
        while (e < s_.size() && s_[e] != c) e += (s_[e] == '\\') ? 2 : 1;
        if (e >= s_.size()) fail("unterminated string literal", line_);
        int l = line_;
        tokens_.push_back({TokenKind::kString, unescape(std::string_view(s_).substr(pos_ + 1, e - pos_ - 1), l), l});
        advance_to(e + 1);
        after_dot = false;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number(after_dot);
        after_dot = false;
        continue;
      }
      static const char* kOps2[] = {"//", "**", "==", "!=", ">=", "<="};
      std::string op;
      for (const char* o2 : kOps2) {
        if (s_.compare(pos_, 2, o2) == 0) op = o2;
      }
      if (op.empty() && std::string_view("+-/*%~[](){}><=.:|,;").find(c) != std::string_view::npos) op = std::string(1, c);
      if (op.empty()) {
        fail(std::string("unexpected character '") + (static_cast<unsigned char>(c) < 0x80 && std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : "\\x" + std::to_string(static_cast<unsigned char>(c))) + "' in a tag", line_);
      }
      if (op == "(" || op == "[" || op == "{") ++depth;
      if ((op == ")" || op == "]" || op == "}") && depth > 0) --depth;
      tokens_.push_back({TokenKind::kOperator, op, line_});
      advance_to(pos_ + op.size());
      after_dot = op == ".";
    }
  }

  void lex_number(bool integer_only) {
    auto digits = [&](size_t p) {
      size_t e = p;
      while (e < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[e])) ||
                               (s_[e] == '_' && e + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[e + 1])) && e > p))) {
        ++e;
      }
      return e;
    };
    size_t e = digits(pos_);
    bool is_float = false;
    if (!integer_only) {
      if (e + 1 < s_.size() && s_[e] == '.' && std::isdigit(static_cast<unsigned char>(s_[e + 1]))) {
        e = digits(e + 1);
        is_float = true;
      }
      if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
        size_t q = e + 1;
        if (q < s_.size() && (s_[q] == '+' || s_[q] == '-')) ++q;
        if (q < s_.size() && std::isdigit(static_cast<unsigned char>(s_[q]))) {
          e = digits(q);
          is_float = true;
        }
      }
    }
    std::string text;
    for (size_t i = pos_; i < e; ++i) {
      if (s_[i] != '_') text += s_[i];
    }
    tokens_.push_back({is_float ? TokenKind::kFloat : TokenKind::kInteger, text, line_});
    advance_to(e);
  }

  std::string s_;
  LexerOptions o_;
  size_t pos_ = 0;
  int line_ = 1;
  bool last_end_newline_ = false;
  std::vector<Token> tokens_;
};

// "\r\n" and "\r" become "\n"; one trailing newline is dropped (keep_trailing_newline=False).
std::string normalize_newlines(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out += src[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexerOptions& options) {
  return Lexer(normalize_newlines(source), options).run();
}

const char* token_kind_name(TokenKind kind) {
  switch (kind) {
    case TokenKind::kText: return "text";
    case TokenKind::kVarBegin: return "'{{'";
    case TokenKind::kVarEnd: return "'}}'";
    case TokenKind::kBlockBegin: return "'{%'";
    case TokenKind::kBlockEnd: return "'%}'";
    case TokenKind::kName: return "name";
    case TokenKind::kString: return "string";
    case TokenKind::kInteger: return "integer";
    case TokenKind::kFloat: return "float";
    case TokenKind::kOperator: return "operator";
    case TokenKind::kEof: return "end of template";
  }
  return "?";
}

}  // namespace tessera::jinja
