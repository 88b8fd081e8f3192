// src/tokenizer/tokenizer.h — a Hugging Face tokenizer.json, loaded once and then shared: encode
// text to ids, decode ids to text, and stream text out one token at a time.
//
// Supported (and checked against HF `tokenizers` on every real file we carry): BPE models, byte-
// level (GPT-2, Llama-3, Qwen2) and SentencePiece-style with byte_fallback (Llama-2, Mistral,
// Phi-3); normalizers NFC, Prepend, Replace; pre-tokenizers Split (known patterns), ByteLevel,
// Metaspace; decoders ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip; post-processors
// TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing. Anything else is a load-time
// error that names the field, never a wrong encoding. A Tokenizer is immutable and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/status.h"

namespace tessera {

struct TokenizerImpl;

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

class Tokenizer {
 public:
  // `path` is a tokenizer.json file or a folder that holds one.
  static Expected<Tokenizer> load(const std::string& path);
  // Parses tokenizer.json text; `source` names it in errors.
  static Expected<Tokenizer> from_json(const std::string& json_text, const std::string& source);

  // Text must be valid UTF-8 (an error names the byte offset otherwise). add_special_tokens
  // applies the post-processor (e.g. a leading <|begin_of_text|>), as HF's encode() does.
  Expected<std::vector<int32_t>> encode(std::string_view text, bool add_special_tokens = false) const;
  // Ids outside the vocabulary are skipped, as HF does. Invalid UTF-8 from byte tokens becomes U+FFFD.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  // One more than the largest id (model or added token).
  int64_t vocab_size() const;
  bool is_special(int32_t id) const;
  const std::vector<AddedToken>& added_tokens() const;

 private:
  std::shared_ptr<const TokenizerImpl> impl_;
};

// Turns a stream of ids into text pieces. Text is released only when it is final: never half a
// UTF-8 character, and never a character that a later token could still change (a byte-fallback
// sequence in progress, a leading space the decoder strips). Same result as HF's DecodeStream.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = true);
  // The new text this id completes (often empty while a character is incomplete).
  std::string step(int32_t id);
  // Whatever is still held back (an incomplete character at the end of generation), as decode()
  // would render it.
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::vector<int32_t> ids_;
  std::string prefix_;
  size_t prefix_index_ = 0;
};

}  // namespace tessera
