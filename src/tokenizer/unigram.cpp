// src/tokenizer/unigram.cpp — the Unigram model (unigram.h).
#include "src/tokenizer/unigram.h"

#include <algorithm>
#include <cstdio>

#include "src/tokenizer/unicode.h"

namespace tessera {

namespace {
constexpr double kUnkPenalty = 10.0;  // tokenizers' K_UNK_PENALTY
}

void UnigramModel::add_piece(std::string piece, double score) {
  const int32_t id = static_cast<int32_t>(pieces_.size());
  min_score_ = pieces_.empty() ? score : std::min(min_score_, score);
  max_piece_bytes_ = std::max(max_piece_bytes_, piece.size());
  ids_.insert(piece, id);  // a repeated piece keeps its first id
  pieces_.push_back(std::move(piece));
  scores_.push_back(score);
}

void UnigramModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Node {
    int32_t id = -1;
    double score = 0.0;
    int64_t starts_at = -1;  // -1: no path ends here yet
  };
  const size_t n = word.size();
  thread_local std::vector<Node> best;
  best.assign(n + 1, Node{});
  best[0].starts_at = 0;
  const double unk_score = min_score_ - kUnkPenalty;
  for (size_t start = 0; start < n;) {
    uint32_t cp = 0;
    size_t char_len = unicode::decode_utf8(word, start, &cp);
    if (char_len == 0) char_len = 1;  // the encoder only passes valid UTF-8
    const double here = best[start].score;
    bool single = false;
    const size_t longest = std::min(max_piece_bytes_, n - start);
    for (size_t len = 1; len <= longest; ++len) {  // shortest first, as the trie search yields
      const auto id = ids_.find(word.substr(start, len));
      if (!id) continue;
      Node& target = best[start + len];
      const double candidate = scores_[static_cast<size_t>(*id)] + here;
      if (target.starts_at < 0 || candidate > target.score) {
        target = {*id, candidate, static_cast<int64_t>(start)};
      }
      if (len == char_len) single = true;
    }
    if (!single) {
      Node& target = best[start + char_len];
      const double candidate = unk_score + here;
      if (target.starts_at < 0 || candidate > target.score)
        target = {unk_id_.value_or(-1), candidate, static_cast<int64_t>(start)};
    }
    start += char_len;
  }
  // Back from the end: pieces in reverse, consecutive unk pieces fused into one string.
  thread_local std::vector<std::pair<size_t, size_t>> spans;  // [begin, end) of each result piece
  spans.clear();
  size_t end = n, fused_end = 0;
  bool fusing = false;
  while (end > 0) {
    const Node& node = best[end];
    const size_t begin = static_cast<size_t>(node.starts_at);
    const bool is_unk = unk_id_ && node.id == *unk_id_;
    if (is_unk) {
      if (!fusing) fused_end = end;
      fusing = true;
    } else {
      if (fusing) spans.emplace_back(end, fused_end);
      fusing = false;
      spans.emplace_back(begin, end);
    }
    end = begin;
  }
  if (fusing) spans.emplace_back(0, fused_end);
  for (size_t k = spans.size(); k-- > 0;) {
    const std::string_view piece = word.substr(spans[k].first, spans[k].second - spans[k].first);
    if (const auto id = ids_.find(piece)) {
      out.push_back(*id);
      continue;
    }
    if (byte_fallback_) {
      const size_t mark = out.size();
      bool all = true;
      for (unsigned char b : piece) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        const auto id = ids_.find(name);
        if (!id) {
          all = false;
          break;
        }
        out.push_back(*id);
      }
      if (all) continue;
      out.resize(mark);
    }
    if (unk_id_) out.push_back(*unk_id_);  // the loader refuses a model that would need it without one
  }
}

}  // namespace tessera
