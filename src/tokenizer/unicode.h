// src/tokenizer/unicode.h — the Unicode the tokenizer needs: UTF-8 decoding that reports invalid
// input, the character classes of the split regexes (\p{L}, \p{N}, \s) and of the per-character
// pre-tokenizers (Digits, Punctuation), and NFC. The tables are
// generated (tools/gen_unicode_tables.py) to match what HF `tokenizers` uses: Unicode 16.0 classes
// (Oniguruma) and its older NFC tables, so that ids agree on text from every plane.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::unicode {

// Class bits of a code point (generated table).
inline constexpr uint8_t kLetter = 1;        // \p{L}
inline constexpr uint8_t kNumber = 2;        // \p{N}
inline constexpr uint8_t kWhiteSpace = 4;    // \s (the White_Space property)
inline constexpr uint8_t kNfcUnstable = 8;   // may change under NFC (mark, composite, excluded)
inline constexpr uint8_t kWord = 16;         // \w of Rust's regex (single_word added tokens)
inline constexpr uint8_t kNumeric = 32;      // Rust's char::is_numeric (the Digits pre-tokenizer)
inline constexpr uint8_t kPunct = 64;        // ASCII or Unicode punctuation (Punctuation)

uint8_t char_class(uint32_t cp);
uint8_t combining_class(uint32_t cp);

// Decodes one code point at s[i] (i < s.size()); returns its byte length. Never reads past the
// end; for invalid UTF-8 returns 0. Valid means: shortest form, no surrogates, <= U+10FFFF.
size_t decode_utf8(std::string_view s, size_t i, uint32_t* cp);
void append_utf8(std::string& out, uint32_t cp);
// Byte offset of the first invalid sequence, or npos when s is valid UTF-8.
size_t find_invalid_utf8(std::string_view s);
// Replaces each maximal invalid subsequence by U+FFFD, as Rust's String::from_utf8_lossy does.
std::string utf8_lossy(std::string_view s);
// True when s ends with U+FFFD (streaming holds such text back: it may be half a character).
bool ends_with_replacement_char(std::string_view s);

// NFC of valid UTF-8 text (HF's tables). Returns s itself quickly when nothing can change.
std::string nfc(std::string_view s);

}  // namespace tessera::unicode
