// src/tokenizer/tokenizer_impl.h — the loaded pipeline of a tokenizer.json, shared by the loader
// (tokenizer_load.cpp), the encoder (tokenizer.cpp) and the decoders (decode.cpp). Internal.
#pragma once

#include <array>
#include <string>
#include <vector>

#include <memory>

#include "src/tokenizer/bpe.h"
#include "src/tokenizer/unigram.h"
#include "src/tokenizer/pretokenize.h"
#include "src/tokenizer/tokenizer.h"

namespace tessera {

struct NormalizerStep {
  enum class Kind { kNfc, kPrepend, kReplace, kStrip } kind = Kind::kNfc;
  std::string a;  // Prepend: the prefix; Replace: the pattern
  std::string b;  // Replace: the content
  bool left = false, right = false;  // Strip
};

enum class PrependScheme { kAlways, kFirst, kNever };

// What a split does with the characters it matches (HF's SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTokenizerStep {
  // kChars: a split on a character class (Digits: kNumeric, Punctuation: kPunct, WhitespaceSplit:
  // kWhiteSpace removed), with `behavior`.
  enum class Kind { kSplit, kByteLevel, kMetaspace, kChars } kind = Kind::kByteLevel;
  uint8_t char_class = 0;                      // kChars: unicode::k* bits
  SplitBehavior behavior = SplitBehavior::kIsolated;  // kChars
  SplitPattern pattern = SplitPattern::kGpt2;  // Split, ByteLevel(use_regex)
  bool use_regex = false;                      // ByteLevel
  bool add_prefix_space = false;               // ByteLevel
  std::string replacement;                     // Metaspace (UTF-8 of one char)
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  bool split = false;                          // Metaspace
};

struct DecoderStep {
  enum class Kind { kByteLevel, kMetaspace, kReplace, kByteFallback, kFuse, kStrip } kind = Kind::kByteLevel;
  std::string a;  // Replace: pattern; Metaspace: replacement; Strip: content char
  std::string b;  // Replace: content
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  int64_t start = 0, stop = 0;  // Strip
};

// Added tokens, matched leftmost-longest; candidates are indexed by first byte. `text` is what is
// matched: the content, or for normalized=true tokens the content normalized (as HF does).
struct AddedTokenMatcher {
  struct Entry {
    std::string text;
    const AddedToken* token;
  };
  std::vector<Entry> entries;
  std::array<std::vector<const Entry*>, 256> by_first_byte;  // longest first
  bool empty() const { return entries.empty(); }
  void build();
};

struct TokenizerImpl {
  std::string source;
  BpeModel model;                          // the model, unless `unigram` is set
  std::unique_ptr<UnigramModel> unigram;   // a Unigram model.type instead of BPE
  std::vector<std::string> id_to_token;  // model vocabulary and added tokens; "" where no token
  std::vector<uint8_t> has_token;         // 1 where id_to_token is set
  StringIdMap token_ids;                  // the vocabulary as written in the file (not raw bytes)
  std::vector<AddedToken> added;
  std::vector<uint8_t> is_special;        // by id
  AddedTokenMatcher raw_matcher;          // added tokens with normalized=false
  AddedTokenMatcher normalized_matcher;   // normalized=true, matched after normalization
  std::vector<NormalizerStep> normalizers;
  std::vector<PreTokenizerStep> pre_tokenizers;
  bool has_decoder = false;
  std::vector<DecoderStep> decoders;
  std::vector<int32_t> post_prefix, post_suffix;  // ids added around a single sequence

  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const;
  // The model's ids for one pre-tokenized piece.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
    if (unigram) {
      unigram->encode_word(piece, out);
    } else {
      model.encode_word(piece, out);
    }
  }
};

// Applies the normalizers to s in place.
void normalize_text(const TokenizerImpl& t, std::string& s);

Expected<std::shared_ptr<TokenizerImpl>> load_tokenizer_json(const std::string& json_text, const std::string& source);

// GPT-2's printable alphabet for bytes: byte -> code point, and back (-1 when not in it).
uint32_t byte_to_unicode(uint8_t b);
int byte_from_unicode(uint32_t cp);

}  // namespace tessera
