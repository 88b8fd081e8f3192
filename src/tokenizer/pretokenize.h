// src/tokenizer/pretokenize.h — the split regexes of byte-level BPE tokenizers, hand-written over
// the Unicode class table (no regex engine). Each known pattern string maps to one splitter that
// reproduces Oniguruma's leftmost-first backtracking result for that pattern exactly; an unknown
// pattern is an error at load time, never a silently different split.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/status.h"

namespace tessera {

enum class SplitPattern {
  kGpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kLlama3,  // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kQwen2,   // the Llama-3 pattern with \p{N} (one digit per piece) instead of \p{N}{1,3}
};

// The pattern of a Split pre-tokenizer's regex string; `source` names the field for the error.
Expected<SplitPattern> split_pattern_from_regex(const std::string& regex, const std::string& source);

using ByteRange = std::pair<uint32_t, uint32_t>;  // [begin, end) byte offsets

// Appends the pieces of text[begin, end) to `out` as absolute byte ranges. Every byte belongs to
// exactly one piece (these patterns match every character). `text` must be valid UTF-8.
void split_pieces(SplitPattern pattern, std::string_view text, uint32_t begin, uint32_t end,
                  std::vector<ByteRange>& out);

}  // namespace tessera
