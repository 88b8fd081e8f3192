// src/tokenizer/decode.cpp — ids -> text through the decoder chain, and the streaming decoder.
//
// Each decoder step maps a list of token strings to a new list, as HF's decode_chain does; the
// final list is concatenated. With no decoder, tokens are joined by spaces (HF's behaviour).
#include <string>
#include <vector>

#include "src/tokenizer/tokenizer_impl.h"
#include "src/tokenizer/unicode.h"

namespace tessera {
namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (s.find(from) == std::string::npos) return;
  std::string out;
  size_t i = 0;
  for (size_t k; (k = s.find(from, i)) != std::string::npos; i = k + from.size()) out.append(s, i, k - i).append(to);
  out.append(s, i, std::string::npos);
  s.swap(out);
}

// The byte of a "<0xAB>" token, or -1.
int byte_token_value(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  int v = 0;
  for (int k = 3; k < 5; ++k) {
    const char c = t[static_cast<size_t>(k)];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return -1;
  }
  return v;
}

void apply(const DecoderStep& d, std::vector<std::string>& tokens) {
  switch (d.kind) {
    case DecoderStep::Kind::kByteLevel: {
      std::string bytes;
      for (const std::string& t : tokens) {
        // All characters in the byte alphabet: their bytes; otherwise the token as it is.
        const size_t mark = bytes.size();
        bool all = true;
        for (size_t i = 0; i < t.size();) {
          uint32_t cp;
          const size_t n = unicode::decode_utf8(t, i, &cp);
          const int b = n ? byte_from_unicode(cp) : -1;
          if (b < 0) {
            all = false;
            break;
          }
          bytes.push_back(static_cast<char>(b));
          i += n;
        }
        if (!all) bytes.resize(mark), bytes.append(t);
      }
      tokens.assign(1, unicode::utf8_lossy(bytes));
      break;
    }
    case DecoderStep::Kind::kMetaspace:
      for (size_t i = 0; i < tokens.size(); ++i)
        replace_all(tokens[i], d.a, i == 0 && d.prepend_scheme != PrependScheme::kNever ? "" : " ");
      break;
    case DecoderStep::Kind::kReplace:
      for (std::string& t : tokens) replace_all(t, d.a, d.b);
      break;
    case DecoderStep::Kind::kByteFallback: {
      std::vector<std::string> out;
      std::string pending;
      auto flush = [&] {
        if (pending.empty()) return;
        if (unicode::find_invalid_utf8(pending) == std::string::npos) {
          out.push_back(pending);
        } else {
          for (size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
        }
        pending.clear();
      };
      for (std::string& t : tokens) {
        const int b = byte_token_value(t);
        if (b >= 0) {
          pending.push_back(static_cast<char>(b));
          continue;
        }
        flush();
        out.push_back(std::move(t));
      }
      flush();
      tokens.swap(out);
      break;
    }
    case DecoderStep::Kind::kFuse: {
      std::string all;
      for (const std::string& t : tokens) all += t;
      tokens.assign(1, std::move(all));
      break;
    }
    case DecoderStep::Kind::kStrip:
      for (std::string& t : tokens) {
        size_t b = 0, e = t.size();
        for (int64_t k = 0; k < d.start && t.compare(b, d.a.size(), d.a) == 0 && b < e; ++k) b += d.a.size();
        for (int64_t k = 0; k < d.stop && e >= b + d.a.size() && t.compare(e - d.a.size(), d.a.size(), d.a) == 0; ++k)
          e -= d.a.size();
        t = t.substr(b, e - b);
      }
      break;
  }
}

}  // namespace

std::string TokenizerImpl::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= has_token.size() || !has_token[static_cast<size_t>(id)]) continue;
    if (skip_special_tokens && is_special[static_cast<size_t>(id)]) continue;
    tokens.push_back(id_to_token[static_cast<size_t>(id)]);
  }
  if (!has_decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  for (const DecoderStep& d : decoders) apply(d, tokens);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

// HF's DecodeStream: keep a window of ids whose text is already out (the prefix); decode the
// window plus the new id, and release what extends the prefix once it does not end in U+FFFD.
StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_(skip_special_tokens) {}

std::string StreamDecoder::step(int32_t id) {
  if (prefix_.empty() && !ids_.empty()) {
    std::string p = tokenizer_->decode(ids_, skip_special_);
    if (!unicode::ends_with_replacement_char(p)) {
      prefix_ = std::move(p);
      prefix_index_ = ids_.size();
    }
  }
  ids_.push_back(id);
  std::string text = tokenizer_->decode(ids_, skip_special_);
  if (text.size() > prefix_.size() && !unicode::ends_with_replacement_char(text)) {
    // The text normally extends the prefix. It may not when a byte-fallback group turns invalid
    // and HF renders every byte of it as U+FFFD (HF's DecodeStream errors then): what is out is
    // out, so release what lies past the prefix's length, from a character boundary.
    size_t from = prefix_.size();
    while (from < text.size() && (static_cast<uint8_t>(text[from]) & 0xC0) == 0x80) ++from;
    std::string new_text = text.substr(from);
    const size_t new_prefix_index = ids_.size() - prefix_index_;
    ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_));
    prefix_ = tokenizer_->decode(ids_, skip_special_);
    prefix_index_ = new_prefix_index;
    return new_text;
  }
  return {};
}

std::string StreamDecoder::flush() {
  std::string text = tokenizer_->decode(ids_, skip_special_);
  std::string rest = text.size() > prefix_.size() && text.compare(0, prefix_.size(), prefix_) == 0 ? text.substr(prefix_.size()) : "";
  ids_.clear();
  prefix_.clear();
  prefix_index_ = 0;
  return rest;
}

}  // namespace tessera
