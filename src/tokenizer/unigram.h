// src/tokenizer/unigram.h — the Unigram model (SentencePiece's, as HF `tokenizers` runs it): a
// vocabulary of pieces with log-probability scores; a word is split into the pieces whose scores
// sum highest (Viterbi over every piece that starts at each character).
//
// Ties and unknowns follow tokenizers' encode_optimized exactly: candidates ending at a position
// are visited shortest first and replace the best one only when strictly better; a character no
// single piece covers is the unk piece with score min_score - 10; runs of unk pieces are fused
// into one; a piece outside the vocabulary becomes its `<0xAB>` byte pieces with byte_fallback
// (when all of them exist), else unk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/tokenizer/bpe.h"

namespace tessera {

class UnigramModel {
 public:
  // Adds piece `id` (ids dense from 0, in order) with its score.
  void add_piece(std::string piece, double score);
  void set_unk_id(std::optional<int32_t> id) { unk_id_ = id; }
  void set_byte_fallback(bool on) { byte_fallback_ = on; }
  size_t size() const { return pieces_.size(); }

  // Appends the ids of one word (non-empty, valid UTF-8) to `out`.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

 private:
  std::vector<std::string> pieces_;
  std::vector<double> scores_;
  StringIdMap ids_;  // piece -> first id with it
  double min_score_ = 0.0;
  size_t max_piece_bytes_ = 0;
  std::optional<int32_t> unk_id_;
  bool byte_fallback_ = false;
};

}  // namespace tessera
