// src/tokenizer/bpe.h — the BPE model: a vocabulary (token bytes -> id), ranked merges, and the
// merge loop that turns one pre-tokenized word into ids.
//
// Byte-level models (GPT-2, Llama-3, Qwen2) are stored with their vocabulary converted from the
// printable byte alphabet back to raw bytes, so a word is merged from its raw bytes and never
// converted on the hot path. SentencePiece-style models (Llama-2, Mistral) merge from UTF-8
// characters, with `<0xAB>` byte tokens or the unk token for characters outside the vocabulary.
// Words already merged are remembered in a per-thread cache (the model itself is immutable and
// may be shared by threads).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/status.h"

namespace tessera {

// Open-addressing map from byte strings to int32 ids; keys live in one arena.
class StringIdMap {
 public:
  void reserve(size_t n);
  // False when the key is already present (the id is not changed).
  bool insert(std::string_view key, int32_t id);
  std::optional<int32_t> find(std::string_view key) const;
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0;
    uint32_t length = 0;
    int32_t id = -1;  // -1: empty
  };
  void grow();
  std::vector<Slot> slots_;
  std::string arena_;
  size_t size_ = 0;
};

uint64_t hash_bytes(std::string_view s);

struct BpeOptions {
  bool byte_level = false;    // units are bytes; vocabulary keys were converted to raw bytes
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
  std::optional<int32_t> unk_id;
};

class BpeModel {
 public:
  BpeModel();
  ~BpeModel();
  BpeModel(BpeModel&&) noexcept;
  BpeModel& operator=(BpeModel&&) noexcept;

  BpeOptions& options() { return options_; }
  const BpeOptions& options() const { return options_; }
  StringIdMap& vocab() { return vocab_; }
  const StringIdMap& vocab() const { return vocab_; }
  // Adds merge (a, b) -> merged; rank is the merge's line number (lower merges first).
  void add_merge(int32_t a, int32_t b, int32_t merged, int32_t rank);
  // Call once after the vocabulary is complete: finds the <0xAB> byte tokens.
  void finish();

  // Appends the ids of one word (non-empty, valid UTF-8 unless byte-level) to `out`.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

 private:
  struct MergeSlot {
    uint64_t key = UINT64_MAX;  // (a << 32) | b
    int32_t rank = 0;
    int32_t merged = 0;
  };
  const MergeSlot* find_merge(int32_t a, int32_t b) const;
  void merge_symbols(std::vector<int32_t>& ids) const;
  void initial_symbols(std::string_view word, std::vector<int32_t>& ids) const;

  BpeOptions options_;
  StringIdMap vocab_;
  std::vector<MergeSlot> merges_;
  size_t num_merges_ = 0;
  int32_t byte_ids_[256];  // id of the single-byte token (byte-level) or <0xAB> (byte_fallback), -1 if none
  uint64_t instance_id_;   // keys the per-thread word cache
};

}  // namespace tessera
