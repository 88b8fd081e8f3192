// src/tokenizer/tokenizer_load.cpp — tokenizer.json -> TokenizerImpl.
//
// Every field is type- and range-checked; an error names the file and the JSON path of the field
// ("tokenizer.json: model.merges[17]: token \"ab\" is not in the vocabulary"). Ids must lie in
// [0, kMaxTokenId) so that a hostile file cannot make us allocate gigabytes. Component types that
// tessera does not implement are kUnimplemented errors naming the type.
#include <algorithm>
#include <cmath>
#include <exception>

#include "src/core/json_util.h"
#include "src/tokenizer/tokenizer_impl.h"
#include "src/tokenizer/unicode.h"

namespace tessera {
namespace {

constexpr int64_t kMaxTokenId = 1 << 22;  // 4M: 16x the largest real vocabulary
constexpr int kMaxNesting = 32;            // Sequence inside Sequence ...

// A short rendering of a value for messages. Containers are named, not dumped: dumping recurses,
// and a hostile file can nest a million levels deep.
std::string excerpt(const Json& v) {
  if (v.is_array()) return "an array of " + std::to_string(v.size());
  if (v.is_object()) return "an object";
  return json_excerpt(v);
}

struct Loader {
  std::string source;  // the file name, for messages
  TokenizerImpl& t;
  int depth = 0;       // Sequence nesting

  // Counts one level of Sequence nesting for the scope it lives in.
  struct Nest {
    Loader& l;
    explicit Nest(Loader& loader) : l(loader) { ++l.depth; }
    ~Nest() { --l.depth; }
    bool too_deep() const { return l.depth > kMaxNesting; }
  };

  Status error(const std::string& path, const std::string& what) const {
    return invalid_argument(source + ": " + path + ": " + what);
  }
  Status unsupported(const std::string& path, const std::string& what) const {
    return unimplemented(source + ": " + path + ": " + what);
  }

  Expected<std::string> get_string(const Json& obj, const std::string& path, const std::string& key) const {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) return error(path + "." + key, "must be a string");
    return it->get<std::string>();
  }
  Expected<std::string> get_string_or(const Json& obj, const std::string& path, const std::string& key,
                                      std::string fallback) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_string()) return error(path + "." + key, "must be a string, got " + excerpt(*it));
    return it->get<std::string>();
  }
  Expected<bool> get_bool_or(const Json& obj, const std::string& path, const std::string& key, bool fallback) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) return error(path + "." + key, "must be true or false, got " + excerpt(*it));
    return it->get<bool>();
  }
  Expected<int64_t> get_int_or(const Json& obj, const std::string& path, const std::string& key, int64_t fallback,
                               int64_t lo, int64_t hi) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_number_integer()) return error(path + "." + key, "must be an integer, got " + excerpt(*it));
    const int64_t v = it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX ? INT64_MAX : it->get<int64_t>();
    if (v < lo || v > hi)
      return error(path + "." + key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + excerpt(*it));
    return v;
  }
  Expected<int32_t> token_id(const Json& v, const std::string& path) const {
    if (!v.is_number_integer()) return error(path, "must be a token id (an integer), got " + excerpt(v));
    if (v.is_number_unsigned() ? v.get<uint64_t>() >= static_cast<uint64_t>(kMaxTokenId)
                               : (v.get<int64_t>() < 0 || v.get<int64_t>() >= kMaxTokenId))
      return error(path, "token id " + excerpt(v) + " is outside [0, " + std::to_string(kMaxTokenId) + ")");
    return static_cast<int32_t>(v.get<int64_t>());
  }
  Expected<std::string> type_of(const Json& obj, const std::string& path) const {
    if (!obj.is_object()) return error(path, "must be an object or null, got " + excerpt(obj));
    return get_string(obj, path, "type");
  }
  Expected<PrependScheme> prepend_scheme(const Json& obj, const std::string& path) const {
    if (obj.contains("prepend_scheme") && !obj["prepend_scheme"].is_null()) {
      TESSERA_ASSIGN_OR_RETURN(std::string s, get_string(obj, path, "prepend_scheme"));
      if (s == "always") return PrependScheme::kAlways;
      if (s == "first") return PrependScheme::kFirst;
      if (s == "never") return PrependScheme::kNever;
      return error(path + ".prepend_scheme", "must be always, first or never, got \"" + s + "\"");
    }
    TESSERA_ASSIGN_OR_RETURN(bool add, get_bool_or(obj, path, "add_prefix_space", true));
    return add ? PrependScheme::kAlways : PrependScheme::kNever;
  }
  Expected<std::string> string_pattern(const Json& obj, const std::string& path) const {
    auto it = obj.find("pattern");
    if (it == obj.end() || !it->is_object()) return error(path + ".pattern", "must be {\"String\": ...} or {\"Regex\": ...}");
    if (it->contains("String") && (*it)["String"].is_string()) return (*it)["String"].get<std::string>();
    return unsupported(path + ".pattern", "only String patterns are supported here, got " + excerpt(*it));
  }
  Expected<std::string> one_char(const Json& obj, const std::string& path, const std::string& key) const {
    TESSERA_ASSIGN_OR_RETURN(std::string s, get_string(obj, path, key));
    uint32_t cp;
    if (s.empty() || unicode::decode_utf8(s, 0, &cp) != s.size())
      return error(path + "." + key, "must be a single character, got " + excerpt(obj[key]));
    return s;
  }

  Status normalizer(const Json& obj, const std::string& path);
  Status pre_tokenizer(const Json& obj, const std::string& path);
  Status decoder(const Json& obj, const std::string& path);
  Status post_processor(const Json& obj, const std::string& path, std::vector<int32_t>& prefix,
                        std::vector<int32_t>& suffix);
  Status model(const Json& obj);
  Status unigram_model(const Json& obj);
  Status added_tokens(const Json& arr);
  void set_token(int32_t id, const std::string& text) {
    if (static_cast<size_t>(id) >= t.id_to_token.size()) {
      t.id_to_token.resize(static_cast<size_t>(id) + 1);
      t.has_token.resize(static_cast<size_t>(id) + 1, 0);
      t.is_special.resize(static_cast<size_t>(id) + 1, 0);
    }
    t.id_to_token[static_cast<size_t>(id)] = text;
    t.has_token[static_cast<size_t>(id)] = 1;
  }
};

Status Loader::normalizer(const Json& obj, const std::string& path) {
  if (obj.is_null()) return Status::ok();
  TESSERA_ASSIGN_OR_RETURN(std::string type, type_of(obj, path));
  if (type == "Sequence") {
    Nest nest(*this);
    if (nest.too_deep()) return error(path, "Sequences nest more than " + std::to_string(kMaxNesting) + " deep");
    auto it = obj.find("normalizers");
    if (it == obj.end() || !it->is_array()) return error(path + ".normalizers", "must be an array");
    for (size_t i = 0; i < it->size(); ++i)
      TESSERA_RETURN_IF_ERROR(normalizer((*it)[i], path + ".normalizers[" + std::to_string(i) + "]"));
    return Status::ok();
  }
  NormalizerStep step;
  if (type == "NFC") {
  } else if (type == "Prepend") {
    step.kind = NormalizerStep::Kind::kPrepend;
    TESSERA_ASSIGN_OR_RETURN(step.a, get_string(obj, path, "prepend"));
  } else if (type == "Replace") {
    step.kind = NormalizerStep::Kind::kReplace;
    TESSERA_ASSIGN_OR_RETURN(step.a, string_pattern(obj, path));
    TESSERA_ASSIGN_OR_RETURN(step.b, get_string(obj, path, "content"));
    if (step.a.empty()) return error(path + ".pattern", "must not be empty");
  } else if (type == "Strip") {
    step.kind = NormalizerStep::Kind::kStrip;
    TESSERA_ASSIGN_OR_RETURN(step.left, get_bool_or(obj, path, "strip_left", true));
    TESSERA_ASSIGN_OR_RETURN(step.right, get_bool_or(obj, path, "strip_right", true));
  } else {
    return unsupported(path + ".type", "normalizer \"" + type + "\" is not supported (NFC, Prepend, Replace, Strip, Sequence)");
  }
  t.normalizers.push_back(std::move(step));
  return Status::ok();
}

Status Loader::pre_tokenizer(const Json& obj, const std::string& path) {
  if (obj.is_null()) return Status::ok();
  TESSERA_ASSIGN_OR_RETURN(std::string type, type_of(obj, path));
  if (type == "Sequence") {
    Nest nest(*this);
    if (nest.too_deep()) return error(path, "Sequences nest more than " + std::to_string(kMaxNesting) + " deep");
    auto it = obj.find("pretokenizers");
    if (it == obj.end() || !it->is_array()) return error(path + ".pretokenizers", "must be an array");
    for (size_t i = 0; i < it->size(); ++i)
      TESSERA_RETURN_IF_ERROR(pre_tokenizer((*it)[i], path + ".pretokenizers[" + std::to_string(i) + "]"));
    return Status::ok();
  }
  PreTokenizerStep step;
  if (type == "ByteLevel") {
    TESSERA_ASSIGN_OR_RETURN(step.add_prefix_space, get_bool_or(obj, path, "add_prefix_space", true));
    TESSERA_ASSIGN_OR_RETURN(step.use_regex, get_bool_or(obj, path, "use_regex", true));
    step.pattern = SplitPattern::kGpt2;
  } else if (type == "Split") {
    step.kind = PreTokenizerStep::Kind::kSplit;
    auto it = obj.find("pattern");
    if (it == obj.end() || !it->is_object() || !it->contains("Regex") || !(*it)["Regex"].is_string())
      return unsupported(path + ".pattern", "only {\"Regex\": ...} split patterns are supported");
    TESSERA_ASSIGN_OR_RETURN(step.pattern, split_pattern_from_regex((*it)["Regex"].get<std::string>(), source + ": " + path + ".pattern"));
    TESSERA_ASSIGN_OR_RETURN(std::string behavior, get_string_or(obj, path, "behavior", "Isolated"));
    TESSERA_ASSIGN_OR_RETURN(bool invert, get_bool_or(obj, path, "invert", false));
    if (behavior != "Isolated" || invert)
      return unsupported(path + ".behavior", "only behavior Isolated without invert is supported, got " + behavior);
  } else if (type == "Metaspace") {
    step.kind = PreTokenizerStep::Kind::kMetaspace;
    TESSERA_ASSIGN_OR_RETURN(step.replacement, one_char(obj, path, "replacement"));
    TESSERA_ASSIGN_OR_RETURN(step.prepend_scheme, prepend_scheme(obj, path));
    TESSERA_ASSIGN_OR_RETURN(step.split, get_bool_or(obj, path, "split", true));
  } else if (type == "Digits") {
    step.kind = PreTokenizerStep::Kind::kChars;
    step.char_class = unicode::kNumeric;
    TESSERA_ASSIGN_OR_RETURN(bool individual, get_bool_or(obj, path, "individual_digits", false));
    step.behavior = individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous;
  } else if (type == "WhitespaceSplit") {
    step.kind = PreTokenizerStep::Kind::kChars;
    step.char_class = unicode::kWhiteSpace;
    step.behavior = SplitBehavior::kRemoved;
  } else if (type == "Punctuation") {
    step.kind = PreTokenizerStep::Kind::kChars;
    step.char_class = unicode::kPunct;
    TESSERA_ASSIGN_OR_RETURN(std::string behavior, get_string_or(obj, path, "behavior", "Isolated"));
    static const std::pair<const char*, SplitBehavior> kBehaviors[] = {
        {"Removed", SplitBehavior::kRemoved}, {"Isolated", SplitBehavior::kIsolated},
        {"MergedWithPrevious", SplitBehavior::kMergedWithPrevious},
        {"MergedWithNext", SplitBehavior::kMergedWithNext}, {"Contiguous", SplitBehavior::kContiguous}};
    bool known = false;
    for (const auto& [name, b] : kBehaviors)
      if (behavior == name) step.behavior = b, known = true;
    if (!known)
      return error(path + ".behavior", "must be Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous, got " + behavior);
  } else {
    return unsupported(path + ".type", "pre-tokenizer \"" + type + "\" is not supported (ByteLevel, Split, Metaspace, Digits, Punctuation, WhitespaceSplit, Sequence)");
  }
  t.pre_tokenizers.push_back(std::move(step));
  return Status::ok();
}

Status Loader::decoder(const Json& obj, const std::string& path) {
  if (obj.is_null()) return Status::ok();
  t.has_decoder = true;
  TESSERA_ASSIGN_OR_RETURN(std::string type, type_of(obj, path));
  if (type == "Sequence") {
    Nest nest(*this);
    if (nest.too_deep()) return error(path, "Sequences nest more than " + std::to_string(kMaxNesting) + " deep");
    auto it = obj.find("decoders");
    if (it == obj.end() || !it->is_array()) return error(path + ".decoders", "must be an array");
    for (size_t i = 0; i < it->size(); ++i)
      TESSERA_RETURN_IF_ERROR(decoder((*it)[i], path + ".decoders[" + std::to_string(i) + "]"));
    return Status::ok();
  }
  DecoderStep step;
  if (type == "ByteLevel") {
  } else if (type == "Metaspace") {
    step.kind = DecoderStep::Kind::kMetaspace;
    TESSERA_ASSIGN_OR_RETURN(step.a, one_char(obj, path, "replacement"));
    TESSERA_ASSIGN_OR_RETURN(step.prepend_scheme, prepend_scheme(obj, path));
  } else if (type == "Replace") {
    step.kind = DecoderStep::Kind::kReplace;
    TESSERA_ASSIGN_OR_RETURN(step.a, string_pattern(obj, path));
    TESSERA_ASSIGN_OR_RETURN(step.b, get_string(obj, path, "content"));
    if (step.a.empty()) return error(path + ".pattern", "must not be empty");
  } else if (type == "ByteFallback") {
    step.kind = DecoderStep::Kind::kByteFallback;
  } else if (type == "Fuse") {
    step.kind = DecoderStep::Kind::kFuse;
  } else if (type == "Strip") {
    step.kind = DecoderStep::Kind::kStrip;
    TESSERA_ASSIGN_OR_RETURN(step.a, one_char(obj, path, "content"));
    TESSERA_ASSIGN_OR_RETURN(step.start, get_int_or(obj, path, "start", 0, 0, 1 << 20));
    TESSERA_ASSIGN_OR_RETURN(step.stop, get_int_or(obj, path, "stop", 0, 0, 1 << 20));
  } else {
    return unsupported(path + ".type", "decoder \"" + type + "\" is not supported (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence)");
  }
  t.decoders.push_back(std::move(step));
  return Status::ok();
}

Status Loader::post_processor(const Json& obj, const std::string& path, std::vector<int32_t>& prefix,
                              std::vector<int32_t>& suffix) {
  if (obj.is_null()) return Status::ok();
  TESSERA_ASSIGN_OR_RETURN(std::string type, type_of(obj, path));
  if (type == "Sequence") {
    Nest nest(*this);
    if (nest.too_deep()) return error(path, "Sequences nest more than " + std::to_string(kMaxNesting) + " deep");
    auto it = obj.find("processors");
    if (it == obj.end() || !it->is_array()) return error(path + ".processors", "must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      // Each processor wraps the result of the ones before it.
      std::vector<int32_t> p, s;
      TESSERA_RETURN_IF_ERROR(post_processor((*it)[i], path + ".processors[" + std::to_string(i) + "]", p, s));
      prefix.insert(prefix.begin(), p.begin(), p.end());
      suffix.insert(suffix.end(), s.begin(), s.end());
    }
    return Status::ok();
  }
  if (type == "ByteLevel") return Status::ok();  // offsets only
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    for (const char* key : {"cls", "sep"}) {
      auto it = obj.find(key);
      if (it == obj.end() || !it->is_array() || it->size() != 2)
        return error(path + "." + key, "must be [token, id]");
      TESSERA_ASSIGN_OR_RETURN(int32_t id, token_id((*it)[1], path + "." + key + "[1]"));
      (std::string(key) == "cls" ? prefix : suffix).push_back(id);
    }
    return Status::ok();
  }
  if (type != "TemplateProcessing")
    return unsupported(path + ".type", "post-processor \"" + type + "\" is not supported (TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)");
  auto single = obj.find("single");
  if (single == obj.end() || !single->is_array()) return error(path + ".single", "must be an array");
  auto specials = obj.find("special_tokens");
  bool seen_a = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const Json& item = (*single)[i];
    const std::string ipath = path + ".single[" + std::to_string(i) + "]";
    if (item.is_object() && item.contains("Sequence")) {
      if (seen_a) return error(ipath, "the template names a sequence twice");
      seen_a = true;
      continue;
    }
    if (!item.is_object() || !item.contains("SpecialToken") || !item["SpecialToken"].is_object())
      return error(ipath, "must be {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    TESSERA_ASSIGN_OR_RETURN(std::string name, get_string(item["SpecialToken"], ipath + ".SpecialToken", "id"));
    if (specials == obj.end() || !specials->is_object() || !specials->contains(name))
      return error(ipath, "special token \"" + name + "\" is not in " + path + ".special_tokens");
    const Json& entry = (*specials)[name];
    auto ids = entry.find("ids");
    if (!entry.is_object() || ids == entry.end() || !ids->is_array())
      return error(path + ".special_tokens." + name + ".ids", "must be an array of token ids");
    for (size_t k = 0; k < ids->size(); ++k) {
      TESSERA_ASSIGN_OR_RETURN(int32_t id, token_id((*ids)[k], path + ".special_tokens." + name + ".ids[" + std::to_string(k) + "]"));
      (seen_a ? suffix : prefix).push_back(id);
    }
  }
  if (!seen_a) return error(path + ".single", "has no {\"Sequence\": ...} item");
  return Status::ok();
}

bool pre_tokenizers_are_byte_level(const TokenizerImpl& t) {
  return std::any_of(t.pre_tokenizers.begin(), t.pre_tokenizers.end(),
                     [](const PreTokenizerStep& s) { return s.kind == PreTokenizerStep::Kind::kByteLevel; });
}

// The raw bytes a byte-level vocabulary entry stands for; false if it has a character outside
// the byte alphabet (such a token can never come out of byte-level pieces).
bool byte_level_bytes(const std::string& token, std::string& out) {
  out.clear();
  size_t i = 0;
  while (i < token.size()) {
    uint32_t cp;
    const size_t n = unicode::decode_utf8(token, i, &cp);
    if (n == 0) return false;
    const int b = byte_from_unicode(cp);
    if (b < 0) return false;
    out.push_back(static_cast<char>(b));
    i += n;
  }
  return true;
}

Status Loader::model(const Json& m) {
  if (!m.is_object()) return error("model", "must be an object");
  // Old files (GPT-2's) have no "type": they are BPE when they carry merges.
  TESSERA_ASSIGN_OR_RETURN(std::string type, get_string_or(m, "model", "type", "BPE"));
  if (type == "Unigram") return unigram_model(m);
  if (type != "BPE") return unsupported("model.type", "model \"" + type + "\" is not supported (BPE, Unigram)");
  auto vocab = m.find("vocab");
  if (vocab == m.end() || !vocab->is_object()) return error("model.vocab", "must be an object {token: id}");
  BpeOptions& o = t.model.options();
  o.byte_level = pre_tokenizers_are_byte_level(t);
  TESSERA_ASSIGN_OR_RETURN(o.byte_fallback, get_bool_or(m, "model", "byte_fallback", false));
  TESSERA_ASSIGN_OR_RETURN(o.fuse_unk, get_bool_or(m, "model", "fuse_unk", false));
  TESSERA_ASSIGN_OR_RETURN(o.ignore_merges, get_bool_or(m, "model", "ignore_merges", false));
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    TESSERA_ASSIGN_OR_RETURN(std::string v, get_string_or(m, "model", key, ""));
    if (!v.empty()) return unsupported(std::string("model.") + key, "must be empty or null, got \"" + v + "\"");
  }
  if (auto d = m.find("dropout"); d != m.end() && !d->is_null() && !(d->is_number() && d->get<double>() == 0.0))
    return unsupported("model.dropout", "BPE dropout is not supported (it makes encoding random), got " + excerpt(*d));

  t.model.vocab().reserve(vocab->size());
  t.token_ids.reserve(vocab->size());
  std::string bytes;
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    TESSERA_ASSIGN_OR_RETURN(int32_t id, token_id(it.value(), "model.vocab[\"" + it.key() + "\"]"));
    if (!t.token_ids.insert(it.key(), id)) return error("model.vocab", "token \"" + it.key() + "\" appears twice");
    set_token(id, it.key());
    if (!o.byte_level) {
      t.model.vocab().insert(it.key(), id);
    } else if (byte_level_bytes(it.key(), bytes)) {
      t.model.vocab().insert(bytes, id);
    }
  }
  if (auto unk = m.find("unk_token"); unk != m.end() && !unk->is_null()) {
    if (!unk->is_string()) return error("model.unk_token", "must be a string or null");
    auto id = t.token_ids.find(unk->get<std::string>());
    if (!id) return error("model.unk_token", "\"" + unk->get<std::string>() + "\" is not in the vocabulary");
    o.unk_id = *id;
  }

  auto merges = m.find("merges");
  if (merges == m.end() || merges->is_null()) return error("model.merges", "is missing");
  if (!merges->is_array()) return error("model.merges", "must be an array");
  std::string a, b;
  for (size_t i = 0; i < merges->size(); ++i) {
    const Json& e = (*merges)[i];
    const std::string path = "model.merges[" + std::to_string(i) + "]";
    if (e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        return error(path, "must be two tokens separated by one space, got " + excerpt(e));
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    } else {
      return error(path, "must be \"a b\" or [\"a\", \"b\"], got " + excerpt(e));
    }
    auto ia = t.token_ids.find(a);
    auto ib = t.token_ids.find(b);
    auto im = t.token_ids.find(a + b);
    if (!ia) return error(path, "token \"" + a + "\" is not in the vocabulary");
    if (!ib) return error(path, "token \"" + b + "\" is not in the vocabulary");
    // A merge whose result is not a token can never apply (GPT-2's file has one: "ĠCla ude").
    if (!im) continue;
    t.model.add_merge(*ia, *ib, *im, static_cast<int32_t>(i));
  }
  t.model.finish();
  return Status::ok();
}

// Unigram: "vocab" is [[piece, score], ...], the piece's id its position; "unk_id" an index or
// null; "byte_fallback" a flag.
Status Loader::unigram_model(const Json& m) {
  auto vocab = m.find("vocab");
  if (vocab == m.end() || !vocab->is_array() || vocab->empty())
    return error("model.vocab", "must be a non-empty array of [piece, score]");
  if (vocab->size() > static_cast<size_t>(kMaxTokenId)) return error("model.vocab", "holds more pieces than token ids can name");
  auto model = std::make_unique<UnigramModel>();
  t.token_ids.reserve(vocab->size());
  for (size_t i = 0; i < vocab->size(); ++i) {
    const Json& e = (*vocab)[i];
    const std::string path = "model.vocab[" + std::to_string(i) + "]";
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
      return error(path, "must be [piece, score], got " + excerpt(e));
    const std::string& piece = e[0].get_ref<const std::string&>();
    const double score = e[1].get<double>();
    if (!std::isfinite(score)) return error(path, "score must be finite");
    if (piece.empty()) return error(path, "piece must not be empty");
    if (unicode::find_invalid_utf8(piece) != std::string::npos) return error(path, "piece is not valid UTF-8");
    const int32_t id = static_cast<int32_t>(i);
    if (!t.token_ids.insert(piece, id)) return error("model.vocab", "piece \"" + piece + "\" appears twice");
    set_token(id, piece);
    model->add_piece(piece, score);
  }
  auto unk = m.find("unk_id");
  if (unk == m.end() || unk->is_null())
    return unsupported("model.unk_id", "a Unigram model without unk_id is not supported (text it cannot cover would have no id)");
  TESSERA_ASSIGN_OR_RETURN(int32_t unk_id, token_id(*unk, "model.unk_id"));
  if (static_cast<size_t>(unk_id) >= vocab->size()) return error("model.unk_id", "is past the vocabulary");
  model->set_unk_id(unk_id);
  TESSERA_ASSIGN_OR_RETURN(bool byte_fallback, get_bool_or(m, "model", "byte_fallback", false));
  model->set_byte_fallback(byte_fallback);
  t.unigram = std::move(model);
  return Status::ok();
}

Status Loader::added_tokens(const Json& arr) {
  if (arr.is_null()) return Status::ok();
  if (!arr.is_array()) return error("added_tokens", "must be an array");
  for (size_t i = 0; i < arr.size(); ++i) {
    const Json& e = arr[i];
    const std::string path = "added_tokens[" + std::to_string(i) + "]";
    if (!e.is_object()) return error(path, "must be an object");
    AddedToken tok;
    auto id = e.find("id");
    if (id == e.end()) return error(path + ".id", "is missing");
    TESSERA_ASSIGN_OR_RETURN(tok.id, token_id(*id, path + ".id"));
    TESSERA_ASSIGN_OR_RETURN(tok.content, get_string(e, path, "content"));
    if (tok.content.empty()) return error(path + ".content", "must not be empty");
    TESSERA_ASSIGN_OR_RETURN(tok.special, get_bool_or(e, path, "special", false));
    TESSERA_ASSIGN_OR_RETURN(tok.single_word, get_bool_or(e, path, "single_word", false));
    TESSERA_ASSIGN_OR_RETURN(tok.lstrip, get_bool_or(e, path, "lstrip", false));
    TESSERA_ASSIGN_OR_RETURN(tok.rstrip, get_bool_or(e, path, "rstrip", false));
    TESSERA_ASSIGN_OR_RETURN(tok.normalized, get_bool_or(e, path, "normalized", !tok.special));
    t.added.push_back(std::move(tok));
  }
  return Status::ok();
}

}  // namespace

uint32_t byte_to_unicode(uint8_t b) {
  static const auto table = [] {
    std::array<uint32_t, 256> m{};
    uint32_t n = 0;
    for (int c = 0; c < 256; ++c) {
      const bool printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255);
      m[static_cast<size_t>(c)] = printable ? static_cast<uint32_t>(c) : 256 + n++;
    }
    return m;
  }();
  return table[b];
}

int byte_from_unicode(uint32_t cp) {
  static const auto table = [] {
    std::array<int16_t, 324> m;
    m.fill(-1);
    for (int b = 0; b < 256; ++b) m[byte_to_unicode(static_cast<uint8_t>(b))] = static_cast<int16_t>(b);
    return m;
  }();
  return cp < table.size() ? table[cp] : -1;
}

void AddedTokenMatcher::build() {
  for (auto& v : by_first_byte) v.clear();
  for (const Entry& e : entries) by_first_byte[static_cast<uint8_t>(e.text[0])].push_back(&e);
  for (auto& v : by_first_byte)
    std::stable_sort(v.begin(), v.end(), [](const Entry* x, const Entry* y) { return x->text.size() > y->text.size(); });
}

Expected<std::shared_ptr<TokenizerImpl>> load_tokenizer_json(const std::string& json_text, const std::string& source) {
  auto t = std::make_shared<TokenizerImpl>();
  t->source = source;
  Loader l{source, *t};
  try {
    TESSERA_ASSIGN_OR_RETURN(Json root, parse_json(json_text, source));
    if (!root.is_object()) return invalid_argument(source + ": must be a JSON object (a tokenizer.json)");
    auto field = [&](const char* key) -> const Json& {
      static const Json kNull;
      auto it = root.find(key);
      return it == root.end() ? kNull : *it;
    };
    if (!root.contains("model")) return invalid_argument(source + ": field 'model' is missing");
    TESSERA_RETURN_IF_ERROR(l.normalizer(field("normalizer"), "normalizer"));
    TESSERA_RETURN_IF_ERROR(l.pre_tokenizer(field("pre_tokenizer"), "pre_tokenizer"));
    TESSERA_RETURN_IF_ERROR(l.model(field("model")));
    TESSERA_RETURN_IF_ERROR(l.added_tokens(field("added_tokens")));
    TESSERA_RETURN_IF_ERROR(l.decoder(field("decoder"), "decoder"));
    TESSERA_RETURN_IF_ERROR(l.post_processor(field("post_processor"), "post_processor", t->post_prefix, t->post_suffix));
  } catch (const std::exception& e) {  // nlohmann type errors on shapes we did not check
    return invalid_argument(source + ": malformed tokenizer.json: " + e.what());
  }
  // Ids of added tokens as HF assigns them (it ignores the file's id when they differ, with a
  // warning): the id of the same content in the vocabulary, else the next id after the model's
  // vocabulary and the added tokens so far.
  const int64_t model_size = static_cast<int64_t>(t->token_ids.size());
  int64_t max_added = -1;
  for (AddedToken& tok : t->added) {
    if (auto id = t->token_ids.find(tok.content)) {
      tok.id = *id;
    } else {
      const int64_t next = max_added < 0 ? model_size : (max_added >= model_size ? max_added + 1 : model_size);
      if (next >= kMaxTokenId) return invalid_argument(source + ": added_tokens: too many tokens");
      tok.id = static_cast<int32_t>(next);
      t->token_ids.insert(tok.content, tok.id);
    }
    max_added = std::max<int64_t>(max_added, tok.id);
  }
  for (const AddedToken& tok : t->added) {
    // A normalized added token reads back (id_to_token, decode) in its normalized form, as in HF.
    std::string text = tok.content;
    if (tok.normalized) normalize_text(*t, text);
    l.set_token(tok.id, text.empty() ? tok.content : text);
    if (tok.special) t->is_special[static_cast<size_t>(tok.id)] = 1;
    t->token_ids.insert(tok.content, tok.id);
  }
  for (const AddedToken& tok : t->added) {
    std::string text = tok.content;
    if (tok.normalized) normalize_text(*t, text);
    if (!text.empty()) (tok.normalized ? t->normalized_matcher : t->raw_matcher).entries.push_back({text, &tok});
  }
  t->raw_matcher.build();
  t->normalized_matcher.build();
  for (int32_t id : t->post_prefix)
    if (static_cast<size_t>(id) >= t->has_token.size() || !t->has_token[static_cast<size_t>(id)])
      return invalid_argument(source + ": post_processor: token id " + std::to_string(id) + " is not in the vocabulary");
  for (int32_t id : t->post_suffix)
    if (static_cast<size_t>(id) >= t->has_token.size() || !t->has_token[static_cast<size_t>(id)])
      return invalid_argument(source + ": post_processor: token id " + std::to_string(id) + " is not in the vocabulary");
  return t;
}

}  // namespace tessera
