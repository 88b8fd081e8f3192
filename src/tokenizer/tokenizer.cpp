// src/tokenizer/tokenizer.cpp — encoding: added tokens, normalizers, pre-tokenizers, BPE and the
// post-processor, in HF's order:
//   1. added tokens with normalized=false are cut out of the raw text (leftmost-longest, with
//      their lstrip/rstrip/single_word rules);
//   2. each remaining segment is normalized, then added tokens with normalized=true are cut out;
//   3. each remaining segment is pre-tokenized into pieces, and each piece is merged by the model.
// Empty segments vanish at every step, as HF drops empty splits.
#include <cstring>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <filesystem>

#include "src/tokenizer/scratch.h"
#include "src/tokenizer/tokenizer_impl.h"
#include "src/tokenizer/unicode.h"

namespace tessera {
namespace {

// A piece of text with whether it begins at offset 0 of the input (Metaspace's "first" scheme).
struct Segment {
  std::string text;
  bool at_origin;
};

bool is_ws_at(std::string_view s, size_t i, size_t* len) {
  uint32_t cp;
  const size_t n = unicode::decode_utf8(s, i, &cp);
  *len = n ? n : 1;
  return n && (unicode::char_class(cp) & unicode::kWhiteSpace);
}

bool is_word_cp(uint32_t cp) { return unicode::char_class(cp) & unicode::kWord; }

bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) --i;
  uint32_t cp;
  return unicode::decode_utf8(s, i, &cp) && is_word_cp(cp);
}

bool starts_with_word(std::string_view s) {
  uint32_t cp;
  return !s.empty() && unicode::decode_utf8(s, 0, &cp) && is_word_cp(cp);
}

// Splits `text` at added tokens. `emit_text(begin, end)` gets the text between them (possibly
// empty), `emit_token(id)` each token.
template <typename TextFn, typename TokenFn>
void split_added(const AddedTokenMatcher& m, std::string_view text, TextFn&& emit_text, TokenFn&& emit_token) {
  size_t start_offset = 0;  // end of the last emitted match
  size_t pos = 0;           // where the search continues
  while (pos < text.size() && !m.empty()) {
    const auto& cands = m.by_first_byte[static_cast<uint8_t>(text[pos])];
    const AddedTokenMatcher::Entry* entry = nullptr;
    for (const AddedTokenMatcher::Entry* e : cands)
      if (e->text.size() <= text.size() - pos && std::memcmp(text.data() + pos, e->text.data(), e->text.size()) == 0) {
        entry = e;
        break;
      }
    if (!entry) {
      ++pos;
      continue;
    }
    const AddedToken* hit = entry->token;
    size_t start = pos, stop = pos + entry->text.size();
    pos = stop;
    if (hit->single_word) {
      const bool start_ok = start == 0 || !ends_with_word(text.substr(0, start));
      const bool stop_ok = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_ok || !stop_ok) continue;
    }
    if (hit->lstrip) {
      size_t s = start;
      while (s > 0) {
        size_t k = s - 1;
        while (k > 0 && (static_cast<uint8_t>(text[k]) & 0xC0) == 0x80) --k;
        size_t len;
        if (!is_ws_at(text, k, &len)) break;
        s = k;
      }
      start = std::max(s, start_offset);
    }
    if (hit->rstrip) {
      size_t len;
      while (stop < text.size() && is_ws_at(text, stop, &len)) stop += len;
      pos = stop;
    }
    if (start_offset < start) emit_text(start_offset, start);
    emit_token(hit->id);
    start_offset = stop;
  }
  if (start_offset < text.size() || (start_offset == 0 && text.empty())) emit_text(start_offset, text.size());
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (s.find(from) == std::string::npos) return;
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  for (size_t k; (k = s.find(from, i)) != std::string::npos; i = k + from.size()) out.append(s, i, k - i).append(to);
  out.append(s, i, std::string::npos);
  s.swap(out);
}

}  // namespace

void normalize_text(const TokenizerImpl& t, std::string& s) {
  for (const NormalizerStep& n : t.normalizers) {
    switch (n.kind) {
      case NormalizerStep::Kind::kNfc: s = unicode::nfc(s); break;
      case NormalizerStep::Kind::kPrepend:
        if (!s.empty()) s.insert(0, n.a);
        break;
      case NormalizerStep::Kind::kReplace: replace_all(s, n.a, n.b); break;
      case NormalizerStep::Kind::kStrip: {
        size_t b = 0, e = s.size(), len;
        if (n.left)
          while (b < e && is_ws_at(s, b, &len)) b += len;
        if (n.right)
          while (e > b) {
            size_t k = e - 1;
            while (k > b && (static_cast<uint8_t>(s[k]) & 0xC0) == 0x80) --k;
            if (!is_ws_at(s, k, &len)) break;
            e = k;
          }
        s = s.substr(b, e - b);
        break;
      }
    }
  }
}

namespace {

// HF's split on a character class: every character of the class is one match, the text between
// matches one non-match; `behavior` then drops, isolates or merges the matches (the folds of
// tokenizers' SplitDelimiterBehavior, step for step). Empty pieces are dropped, as HF does.
void split_chars(const std::string& s, uint8_t cls, SplitBehavior behavior, bool first,
                 std::vector<std::string>& out, std::vector<bool>& out_origin) {
  struct Span {
    size_t b, e;
    bool match;
  };
  thread_local std::vector<Span> m, acc;
  m.clear();
  acc.clear();
  size_t last = 0;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    size_t len = unicode::decode_utf8(s, i, &cp);
    if (len == 0) len = 1;  // the encoder only sees valid UTF-8
    if (unicode::char_class(cp) & cls) {
      if (last < i) m.push_back({last, i, false});
      m.push_back({i, i + len, true});
      last = i + len;
    }
    i += len;
  }
  if (last < s.size()) m.push_back({last, s.size(), false});
  bool previous = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Span& x : m)
        if (!x.match) acc.push_back(x);
      break;
    case SplitBehavior::kIsolated: acc = m; break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Span& x : m) {
        if (x.match && !previous && !acc.empty()) acc.back().e = x.e;
        else acc.push_back(x);
        previous = x.match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (size_t k = m.size(); k-- > 0;) {
        if (m[k].match && !previous && !acc.empty()) acc.back().b = m[k].b;
        else acc.push_back(m[k]);
        previous = m[k].match;
      }
      std::reverse(acc.begin(), acc.end());
      break;
    case SplitBehavior::kContiguous:
      for (const Span& x : m) {
        if (x.match == previous && !acc.empty()) acc.back().e = x.e;
        else acc.push_back(x);
        previous = x.match;
      }
      break;
  }
  for (const Span& x : acc) {
    if (x.e == x.b) continue;
    out.push_back(s.substr(x.b, x.e - x.b));
    out_origin.push_back(first && x.b == 0);
  }
}

// Pre-tokenizes one segment and runs the model on each piece.
void encode_segment(const TokenizerImpl& t, const Segment& seg, std::vector<int32_t>& out) {
  if (seg.text.empty()) return;
  thread_local std::vector<std::string> pieces, next;
  thread_local std::vector<bool> origin, next_origin;
  thread_local std::vector<ByteRange> ranges;
  const ScratchTrim trim(pieces, next, origin, next_origin, ranges);
  // Fast path: one Split (or ByteLevel with its regex) and nothing that rewrites text.
  const auto& steps = t.pre_tokenizers;
  const bool simple_split =
      (steps.size() == 1 && (steps[0].kind == PreTokenizerStep::Kind::kSplit ||
                             (steps[0].kind == PreTokenizerStep::Kind::kByteLevel && !steps[0].add_prefix_space))) ||
      (steps.size() == 2 && steps[0].kind == PreTokenizerStep::Kind::kSplit &&
       steps[1].kind == PreTokenizerStep::Kind::kByteLevel && !steps[1].add_prefix_space && !steps[1].use_regex);
  if (simple_split && (steps[0].kind == PreTokenizerStep::Kind::kSplit || steps[0].use_regex)) {
    ranges.clear();
    split_pieces(steps[0].pattern, seg.text, 0, static_cast<uint32_t>(seg.text.size()), ranges);
    for (const ByteRange& r : ranges) t.encode_piece(std::string_view(seg.text).substr(r.first, r.second - r.first), out);
    return;
  }
  pieces.assign(1, seg.text);
  origin.assign(1, seg.at_origin);
  for (const PreTokenizerStep& step : steps) {
    next.clear();
    next_origin.clear();
    for (size_t p = 0; p < pieces.size(); ++p) {
      std::string& s = pieces[p];
      const bool first = origin[p];
      switch (step.kind) {
        case PreTokenizerStep::Kind::kByteLevel:
          if (step.add_prefix_space && (s.empty() || s[0] != ' ')) s.insert(s.begin(), ' ');
          [[fallthrough]];
        case PreTokenizerStep::Kind::kSplit: {
          if (step.kind == PreTokenizerStep::Kind::kByteLevel && !step.use_regex) {
            next.push_back(std::move(s));
            next_origin.push_back(first);
            break;
          }
          ranges.clear();
          split_pieces(step.pattern, s, 0, static_cast<uint32_t>(s.size()), ranges);
          for (const ByteRange& r : ranges) {
            next.push_back(s.substr(r.first, r.second - r.first));
            next_origin.push_back(first && r.first == 0);
          }
          break;
        }
        case PreTokenizerStep::Kind::kChars:
          split_chars(s, step.char_class, step.behavior, first, next, next_origin);
          break;
        case PreTokenizerStep::Kind::kMetaspace: {
          replace_all(s, " ", step.replacement);
          const bool starts = s.compare(0, step.replacement.size(), step.replacement) == 0;
          if (!starts && (step.prepend_scheme == PrependScheme::kAlways ||
                          (step.prepend_scheme == PrependScheme::kFirst && first)))
            s.insert(0, step.replacement);
          if (!step.split) {
            next.push_back(std::move(s));
            next_origin.push_back(first);
            break;
          }
          // Each replacement character starts a new piece (merged with the text after it).
          size_t b = 0;
          for (size_t k = s.find(step.replacement, 1); k != std::string::npos; k = s.find(step.replacement, k + 1)) {
            if (k > b) {
              next.push_back(s.substr(b, k - b));
              next_origin.push_back(first && b == 0);
            }
            b = k;
          }
          next.push_back(s.substr(b));
          next_origin.push_back(first && b == 0);
          break;
        }
      }
    }
    pieces.swap(next);
    origin.swap(next_origin);
  }
  for (const std::string& piece : pieces) t.encode_piece(piece, out);
}

}  // namespace

Expected<Tokenizer> Tokenizer::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) file = (fs::path(path) / "tokenizer.json").string();
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    if (!fs::exists(file, ec)) return not_found(file + ": no such file (a Hugging Face tokenizer.json)");
    return io_error(file + ": cannot be read");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error(file + ": read failed");
  return from_json(ss.str(), file);
}

Expected<Tokenizer> Tokenizer::from_json(const std::string& json_text, const std::string& source) {
  TESSERA_ASSIGN_OR_RETURN(auto impl, load_tokenizer_json(json_text, source));
  Tokenizer t;
  t.impl_ = std::move(impl);
  return t;
}

Expected<std::vector<int32_t>> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (const size_t bad = unicode::find_invalid_utf8(text); bad != std::string_view::npos)
    return invalid_argument("text is not valid UTF-8 (byte " + std::to_string(bad) + " of " + std::to_string(text.size()) + ")");
  if (text.size() > UINT32_MAX / 2) return invalid_argument("text is too long to tokenize (" + std::to_string(text.size()) + " bytes)");
  const TokenizerImpl& t = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special_tokens) out.insert(out.end(), t.post_prefix.begin(), t.post_prefix.end());
  const bool no_normalizers = t.normalizers.empty();
  split_added(
      t.raw_matcher, text,
      [&](size_t b, size_t e) {
        Segment seg{std::string(text.substr(b, e - b)), b == 0};
        if (seg.text.empty()) return;
        if (!no_normalizers) normalize_text(t, seg.text);
        if (t.normalized_matcher.empty()) {
          encode_segment(t, seg, out);
          return;
        }
        const std::string normalized = std::move(seg.text);
        split_added(
            t.normalized_matcher, normalized,
            [&](size_t nb, size_t ne) { encode_segment(t, Segment{normalized.substr(nb, ne - nb), seg.at_origin && nb == 0}, out); },
            [&](int32_t id) { out.push_back(id); });
      },
      [&](int32_t id) { out.push_back(id); });
  if (add_special_tokens) out.insert(out.end(), t.post_suffix.begin(), t.post_suffix.end());
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const { return impl_->token_ids.find(token); }

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->has_token.size() || !impl_->has_token[static_cast<size_t>(id)])
    return std::nullopt;
  return impl_->id_to_token[static_cast<size_t>(id)];
}

int64_t Tokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_to_token.size()); }

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->is_special.size() && impl_->is_special[static_cast<size_t>(id)];
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }

}  // namespace tessera
