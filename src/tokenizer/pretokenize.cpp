// src/tokenizer/pretokenize.cpp — splitters for the GPT-2, Llama-3 and Qwen2 split patterns.
//
// Each function walks the text once, character by character, and at each position tries the
// alternatives of its pattern in order, as Oniguruma's leftmost-first search does. The patterns
// match every character, so pieces are contiguous. Backtracking of the whitespace alternatives is
// resolved in closed form:
//   \s*[\r\n]+   over a whitespace run [i, j): matches up to and including its last \r or \n;
//   \s+(?!\S)    matches [i, j) at the end of text, else [i, j-1) when that is non-empty;
//   \s+          the rest: a single whitespace character before a non-space.
#include "src/tokenizer/pretokenize.h"
#include "src/tokenizer/scratch.h"

#include "src/tokenizer/unicode.h"

namespace tessera {
namespace {

using unicode::kLetter;
using unicode::kNumber;
using unicode::kWhiteSpace;

struct Char {
  uint32_t cp;
  uint32_t offset;  // byte offset in the text
  uint8_t cls;
};

// ASCII classes, so that most text never touches the big table.
struct AsciiClasses {
  uint8_t cls[128];
  constexpr AsciiClasses() : cls() {
    for (int c = 0; c < 128; ++c) {
      uint8_t v = 0;
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) v = kLetter;
      if (c >= '0' && c <= '9') v = kNumber;
      if (c == ' ' || (c >= 9 && c <= 13)) v = kWhiteSpace;
      cls[c] = v;
    }
  }
};
constexpr AsciiClasses kAscii;

void decode_chars(std::string_view text, uint32_t begin, uint32_t end, std::vector<Char>& chars) {
  chars.clear();
  uint32_t i = begin;
  while (i < end) {
    const auto b = static_cast<uint8_t>(text[i]);
    if (b < 0x80) {
      chars.push_back({b, i, kAscii.cls[b]});
      ++i;
      continue;
    }
    uint32_t cp = 0xFFFD;
    size_t n = unicode::decode_utf8(text.substr(0, end), i, &cp);
    if (n == 0) n = 1;  // callers pass valid UTF-8; be safe anyway
    chars.push_back({cp, i, unicode::char_class(cp)});
    i += static_cast<uint32_t>(n);
  }
  chars.push_back({0, end, 0});  // sentinel: offset of the end
}

// Lower-cases ASCII letters and folds U+017F (long s) to 's', as (?i:...) does for these letters.
uint32_t fold(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp == 0x17F) return 's';
  return cp;
}

// Length in characters of a contraction at i ('s 't 're 've 'm 'll 'd), 0 if none.
size_t contraction(const std::vector<Char>& c, size_t i, size_t n, bool ignore_case) {
  if (c[i].cp != '\'' || i + 1 >= n) return 0;
  const uint32_t a = ignore_case ? fold(c[i + 1].cp) : c[i + 1].cp;
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= n) return 0;
  const uint32_t b = ignore_case ? fold(c[i + 2].cp) : c[i + 2].cp;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

bool is_newline(uint32_t cp) { return cp == '\r' || cp == '\n'; }
bool is_other(uint8_t cls) { return (cls & (kLetter | kNumber | kWhiteSpace)) == 0; }

// End (char index) of the whitespace alternatives starting at whitespace char i.
size_t whitespace_end(const std::vector<Char>& c, size_t i, size_t n, bool newline_rule) {
  size_t j = i;
  size_t last_newline = SIZE_MAX;
  while (j < n && (c[j].cls & kWhiteSpace)) {
    if (is_newline(c[j].cp)) last_newline = j;
    ++j;
  }
  if (newline_rule && last_newline != SIZE_MAX) return last_newline + 1;
  if (j == n) return j;
  if (j - i >= 2) return j - 1;
  return j;
}

size_t next_llama3(const std::vector<Char>& c, size_t i, size_t n, size_t max_digits) {
  if (size_t k = contraction(c, i, n, /*ignore_case=*/true)) return i + k;
  const uint8_t cls = c[i].cls;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  size_t j = i;
  if (!(cls & (kLetter | kNumber)) && !is_newline(c[i].cp) && i + 1 < n && (c[i + 1].cls & kLetter)) j = i + 1;
  if (c[j].cls & kLetter && j < n) {
    while (j < n && (c[j].cls & kLetter)) ++j;
    return j;
  }
  // \p{N}{1,max}
  if (cls & kNumber) {
    j = i;
    while (j < n && (c[j].cls & kNumber) && j - i < max_digits) ++j;
    return j;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  j = i;
  if (c[i].cp == ' ' && i + 1 < n && is_other(c[i + 1].cls)) j = i + 1;
  if (j < n && is_other(c[j].cls)) {
    while (j < n && is_other(c[j].cls)) ++j;
    while (j < n && is_newline(c[j].cp)) ++j;
    return j;
  }
  return whitespace_end(c, i, n, /*newline_rule=*/true);
}

size_t next_gpt2(const std::vector<Char>& c, size_t i, size_t n) {
  if (size_t k = contraction(c, i, n, /*ignore_case=*/false)) return i + k;
  // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': the optional space binds to the run after it.
  size_t j = (c[i].cp == ' ' && i + 1 < n) ? i + 1 : i;
  for (int pass = 0; pass < 2; ++pass) {
    const uint8_t cls = c[j].cls;
    if (cls & kLetter) {
      while (j < n && (c[j].cls & kLetter)) ++j;
      return j;
    }
    if (cls & kNumber) {
      while (j < n && (c[j].cls & kNumber)) ++j;
      return j;
    }
    if (is_other(cls)) {
      while (j < n && is_other(c[j].cls)) ++j;
      return j;
    }
    if (j == i) break;
    j = i;  // the space did not start a run: c[j] is whitespace, fall through
  }
  return whitespace_end(c, i, n, /*newline_rule=*/false);
}

}  // namespace

Expected<SplitPattern> split_pattern_from_regex(const std::string& regex, const std::string& source) {
  static const std::string kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  static const std::string kLlama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const std::string kQwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  if (regex == kGpt2) return SplitPattern::kGpt2;
  if (regex == kLlama3) return SplitPattern::kLlama3;
  if (regex == kQwen2) return SplitPattern::kQwen2;
  std::string shown = regex.size() > 80 ? regex.substr(0, 80) + "..." : regex;
  return unimplemented(source + ": split regex \"" + shown +
                       "\" is not supported (tessera knows the GPT-2, Llama-3 and Qwen2 patterns)");
}

void split_pieces(SplitPattern pattern, std::string_view text, uint32_t begin, uint32_t end,
                  std::vector<ByteRange>& out) {
  thread_local std::vector<Char> chars;
  const ScratchTrim trim(chars);
  decode_chars(text, begin, end, chars);
  const size_t n = chars.size() - 1;
  size_t i = 0;
  while (i < n) {
    size_t j;
    switch (pattern) {
      case SplitPattern::kGpt2: j = next_gpt2(chars, i, n); break;
      case SplitPattern::kLlama3: j = next_llama3(chars, i, n, 3); break;
      default: j = next_llama3(chars, i, n, 1); break;
    }
    out.emplace_back(chars[i].offset, chars[j].offset);
    i = j;
  }
}

}  // namespace tessera
