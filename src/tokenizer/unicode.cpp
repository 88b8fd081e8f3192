// src/tokenizer/unicode.cpp — UTF-8 and NFC over the generated tables in unicode_data.inc.
#include "src/tokenizer/unicode.h"

#include <algorithm>
#include <vector>

namespace tessera::unicode {
namespace {

#include "src/tokenizer/unicode_data.inc"

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;
constexpr uint32_t kSCount = kLCount * kNCount;

const uint32_t* find_decomp(uint32_t cp) {
  const auto* begin = std::begin(kDecomp);
  const auto* end = std::end(kDecomp);
  const auto* it = std::lower_bound(begin, end, cp, [](const uint32_t(&row)[3], uint32_t c) { return row[0] < c; });
  return (it != end && (*it)[0] == cp) ? *it : nullptr;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (const uint32_t* d = find_decomp(cp)) {
    decompose(d[1], out);
    if (d[2]) decompose(d[2], out);
    return;
  }
  out.push_back(cp);
}

// 0 when the pair does not compose.
uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto* begin = std::begin(kCompose);
  const auto* end = std::end(kCompose);
  const auto* it = std::lower_bound(begin, end, std::pair{a, b}, [](const uint32_t(&row)[3], std::pair<uint32_t, uint32_t> k) {
    return row[0] < k.first || (row[0] == k.first && row[1] < k.second);
  });
  return (it != end && (*it)[0] == a && (*it)[1] == b) ? (*it)[2] : 0;
}

}  // namespace

uint8_t char_class(uint32_t cp) {
  if (cp >= 0x110000) return 0;
  return kClass_blocks[kClass_index[cp >> 8]][cp & 255];
}

uint8_t combining_class(uint32_t cp) {
  if (cp >= 0x110000) return 0;
  return kCcc_blocks[kCcc_index[cp >> 8]][cp & 255];
}

size_t decode_utf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len;
  uint32_t c;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, c = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, c = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
    c = (c << 6) | (b & 0x3F);
  }
  *cp = c;
  return len;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t find_invalid_utf8(std::string_view s) {
  size_t i = 0;
  uint32_t cp;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = decode_utf8(s, i, &cp);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  uint32_t cp;
  while (i < s.size()) {
    const size_t n = decode_utf8(s, i, &cp);
    if (n) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    // A maximal subpart: the longest prefix of a well-formed sequence, or one byte.
    const auto b0 = static_cast<uint8_t>(s[i]);
    size_t len = 1;
    size_t need = (b0 >= 0xC2 && b0 <= 0xDF) ? 2 : (b0 >= 0xE0 && b0 <= 0xEF) ? 3 : (b0 >= 0xF0 && b0 <= 0xF4) ? 4 : 1;
    if (need > 1) {
      uint8_t lo = 0x80, hi = 0xBF;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
      while (len < need && i + len < s.size()) {
        const auto b = static_cast<uint8_t>(s[i + len]);
        if (len == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
        ++len;
      }
    }
    out.append("\xEF\xBF\xBD");
    i += len;
  }
  return out;
}

bool ends_with_replacement_char(std::string_view s) {
  return s.size() >= 3 && s.substr(s.size() - 3) == "\xEF\xBF\xBD";
}

std::string nfc(std::string_view s) {
  // Fast path: nothing in the text can change under NFC.
  bool stable = true;
  size_t i = 0;
  uint32_t cp;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = decode_utf8(s, i, &cp);
    if (n == 0) {  // callers validate first; keep bytes as they are
      ++i;
      continue;
    }
    if (char_class(cp) & kNfcUnstable) {
      stable = false;
      break;
    }
    i += n;
  }
  if (stable) return std::string(s);

  // Decompose fully, order marks canonically, then compose.
  std::vector<uint32_t> cps;
  cps.reserve(s.size());
  for (i = 0; i < s.size();) {
    size_t n = decode_utf8(s, i, &cp);
    if (n == 0) n = 1, cp = 0xFFFD;
    decompose(cp, cps);
    i += n;
  }
  for (size_t a = 0; a < cps.size();) {  // stable sort of each run of non-starters by class
    if (combining_class(cps[a]) == 0) {
      ++a;
      continue;
    }
    size_t b = a;
    while (b < cps.size() && combining_class(cps[b]) != 0) ++b;
    std::stable_sort(cps.begin() + static_cast<std::ptrdiff_t>(a), cps.begin() + static_cast<std::ptrdiff_t>(b),
                     [](uint32_t x, uint32_t y) { return combining_class(x) < combining_class(y); });
    a = b;
  }
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  size_t starter = SIZE_MAX;  // index in out of the last starter
  int last_ccc = -1;          // class of the last character appended after the starter
  for (uint32_t c : cps) {
    const int k = combining_class(c);
    if (starter != SIZE_MAX && (last_ccc == -1 || (last_ccc != 0 && last_ccc < k) )) {
      // not blocked: either adjacent to the starter, or every mark between has a lower class
      if (const uint32_t composite = compose_pair(out[starter], c)) {
        out[starter] = composite;
        continue;
      }
    }
    if (k == 0) {
      starter = out.size();
      last_ccc = -1;
    } else {
      last_ccc = k;
    }
    out.push_back(c);
  }
  std::string result;
  result.reserve(s.size());
  for (uint32_t c : out) append_utf8(result, c);
  return result;
}

}  // namespace tessera::unicode
