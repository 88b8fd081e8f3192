// src/model/gguf_tokenizer.cpp — tokenizer.json / tokenizer_config.json from GGUF metadata
// (gguf_tokenizer.h).
#include "src/model/gguf_tokenizer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

namespace tessera {
namespace {

constexpr int kControl = 3;      // llama.cpp's LLAMA_TOKEN_TYPE_CONTROL
constexpr int kUserDefined = 4;  // LLAMA_TOKEN_TYPE_USER_DEFINED

// GPT-2's byte -> code point table: printable Latin-1 maps to itself, the other bytes to 256+.
const std::array<uint32_t, 256>& byte_to_code_point() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The code points of UTF-8 text, or nullopt when it is not valid UTF-8.
std::optional<std::vector<uint32_t>> code_points(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return std::nullopt;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (int k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 2) return std::nullopt;
      cp = (cp << 6) | (d & 0x3F);
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

// True when every character of `token` is in GPT-2's byte alphabet (the token is already spelled
// byte-level, as llama.cpp writes gpt2 vocabularies).
bool byte_level_spelled(const std::string& token) {
  static const std::set<uint32_t> alphabet = [] {
    const auto& t = byte_to_code_point();
    return std::set<uint32_t>(t.begin(), t.end());
  }();
  auto cps = code_points(token);
  if (!cps) return false;
  return std::all_of(cps->begin(), cps->end(), [](uint32_t c) { return alphabet.count(c) != 0; });
}

std::string byte_level_respell(const std::string& token) {
  std::string out;
  for (unsigned char b : token) append_utf8(byte_to_code_point()[b], out);
  return out;
}

struct Vocab {
  std::string model;  // tokenizer.ggml.model
  std::string pre;    // tokenizer.ggml.pre ("" when absent)
  std::vector<std::string> tokens;
  std::vector<int> types;  // empty when the file has none
  std::vector<float> scores;
  std::optional<std::vector<std::string>> merges;
  std::optional<int64_t> bos, eos, unk, pad;
  std::optional<bool> add_bos, add_eos;
};

Status meta_error(const std::string& source, const std::string& key, const std::string& what) {
  return data_loss(source + ": metadata '" + key + "' " + what);
}

Expected<Vocab> read_vocab(const GgufFile& f, const std::string& source) {
  Vocab v;
  const Json* model = f.meta("tokenizer.ggml.model");
  if (!model) return data_loss(source + ": has no tokenizer (metadata 'tokenizer.ggml.model' is missing)");
  if (!model->is_string()) return meta_error(source, "tokenizer.ggml.model", "must be a string");
  v.model = model->get<std::string>();
  if (const Json* pre = f.meta("tokenizer.ggml.pre")) {
    if (!pre->is_string()) return meta_error(source, "tokenizer.ggml.pre", "must be a string");
    v.pre = pre->get<std::string>();
  }
  const Json* tokens = f.meta("tokenizer.ggml.tokens");
  if (!tokens || !tokens->is_array() || tokens->empty())
    return meta_error(source, "tokenizer.ggml.tokens", "must be a non-empty array of strings");
  if (tokens->size() > (1u << 24)) return meta_error(source, "tokenizer.ggml.tokens", "holds more than 2^24 tokens");
  for (const Json& t : *tokens) {
    if (!t.is_string()) return meta_error(source, "tokenizer.ggml.tokens", "must hold only strings");
    v.tokens.push_back(t.get<std::string>());
    if (!code_points(v.tokens.back()))
      return meta_error(source, "tokenizer.ggml.tokens",
                        "holds token " + std::to_string(v.tokens.size() - 1) + ", which is not valid UTF-8");
  }
  auto array_of = [&](const char* key) -> Expected<const Json*> {
    const Json* a = f.meta(key);
    if (a && (!a->is_array() || a->size() != v.tokens.size()))
      return meta_error(source, key, "must be an array of one number per token (" +
                                         std::to_string(v.tokens.size()) + ")");
    return a;
  };
  TESSERA_ASSIGN_OR_RETURN(const Json* types, array_of("tokenizer.ggml.token_type"));
  if (types)
    for (const Json& x : *types) {
      if (!x.is_number_integer() || x.get<int64_t>() < -1000 || x.get<int64_t>() > 1000)
        return meta_error(source, "tokenizer.ggml.token_type", "must hold small integers");
      v.types.push_back(static_cast<int>(x.get<int64_t>()));
    }
  TESSERA_ASSIGN_OR_RETURN(const Json* scores, array_of("tokenizer.ggml.scores"));
  if (scores)
    for (const Json& x : *scores) {
      const double d = x.is_number() ? x.get<double>() : NAN;
      if (!(std::fabs(d) <= 3.4e38))  // finite and within float's range (NaN fails too)
        return meta_error(source, "tokenizer.ggml.scores", "must hold finite numbers");
      v.scores.push_back(static_cast<float>(d));
    }
  if (const Json* m = f.meta("tokenizer.ggml.merges")) {
    if (!m->is_array()) return meta_error(source, "tokenizer.ggml.merges", "must be an array of strings");
    v.merges.emplace();
    for (const Json& x : *m) {
      if (!x.is_string()) return meta_error(source, "tokenizer.ggml.merges", "must hold only strings");
      v.merges->push_back(x.get<std::string>());
      if (!code_points(v.merges->back()))
        return meta_error(source, "tokenizer.ggml.merges",
                          "holds merge " + std::to_string(v.merges->size() - 1) + ", which is not valid UTF-8");
    }
  }
  auto id = [&](const char* key, std::optional<int64_t>& out) -> Status {
    const Json* x = f.meta(std::string("tokenizer.ggml.") + key);
    if (!x) return Status::ok();
    if (!x->is_number_integer() || x->get<int64_t>() < 0 ||
        x->get<int64_t>() >= static_cast<int64_t>(v.tokens.size()))
      return meta_error(source, std::string("tokenizer.ggml.") + key,
                        "must be a token id below " + std::to_string(v.tokens.size()));
    out = x->get<int64_t>();
    return Status::ok();
  };
  TESSERA_RETURN_IF_ERROR(id("bos_token_id", v.bos));
  TESSERA_RETURN_IF_ERROR(id("eos_token_id", v.eos));
  TESSERA_RETURN_IF_ERROR(id("unknown_token_id", v.unk));
  TESSERA_RETURN_IF_ERROR(id("padding_token_id", v.pad));
  auto flag = [&](const char* key, std::optional<bool>& out) -> Status {
    const Json* x = f.meta(std::string("tokenizer.ggml.") + key);
    if (!x) return Status::ok();
    if (!x->is_boolean()) return meta_error(source, std::string("tokenizer.ggml.") + key, "must be a boolean");
    out = x->get<bool>();
    return Status::ok();
  };
  TESSERA_RETURN_IF_ERROR(flag("add_bos_token", v.add_bos));
  TESSERA_RETURN_IF_ERROR(flag("add_eos_token", v.add_eos));
  if (v.model == "llama" && !v.add_bos) v.add_bos = true;  // llama.cpp's and transformers' default
  return v;
}

// transformers' generate_merges(vocab, scores): every split of a token into two tokens of the
// vocabulary is a merge, ranked by the merged token's score (best first), then by the lengths of
// the two pieces; ties keep vocabulary order, the pieces of one token ordered by their ids.
Json merges_from_scores(const Vocab& v) {
  std::unordered_map<std::string, int64_t> id;
  for (size_t i = 0; i < v.tokens.size(); ++i) id[v.tokens[i]] = static_cast<int64_t>(i);
  struct Merge {
    std::string left, right;
    float score;
    size_t left_chars, right_chars;  // Python's len(): code points
  };
  std::vector<Merge> merges;
  // A dict in Python keeps the last index of a repeated token, and its first position.
  std::set<std::string> seen;
  for (size_t t = 0; t < v.tokens.size(); ++t) {
    const std::string& token = v.tokens[t];
    if (!seen.insert(token).second) continue;
    const float score = v.scores[static_cast<size_t>(id[token])];
    std::vector<Merge> local;
    const auto cps = code_points(token);
    if (!cps) continue;
    size_t byte = 0;
    for (size_t k = 0; k + 1 < cps->size(); ++k) {
      std::string ch;
      append_utf8((*cps)[k], ch);
      byte += ch.size();
      const std::string l = token.substr(0, byte), r = token.substr(byte);
      if (id.count(l) && id.count(r)) local.push_back({l, r, score, k + 1, cps->size() - k - 1});
    }
    std::stable_sort(local.begin(), local.end(), [&](const Merge& a, const Merge& b) {
      return std::make_pair(id[a.left], id[a.right]) < std::make_pair(id[b.left], id[b.right]);
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left_chars != b.left_chars) return a.left_chars > b.left_chars;
    return a.right_chars > b.right_chars;
  });
  // As [left, right] pairs: SentencePiece pieces may hold spaces, which "a b" strings cannot.
  Json out = Json::array();
  for (const Merge& m : merges) out.push_back(Json::array({m.left, m.right}));
  return out;
}

// The split regex transformers uses for a gpt2 vocabulary's pre type (null: GPT-2's own, through
// ByteLevel's use_regex).
Expected<const char*> split_regex(const std::string& pre, const std::string& source) {
  static const char* kLlama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const char* kQwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const std::map<std::string, const char*> kSplits = {
      {"llama3", kLlama3}, {"llama-v3", kLlama3}, {"llama-bpe", kLlama3}, {"falcon3", kLlama3},
      {"falcon-h1", kLlama3}, {"pixtral", kLlama3}, {"midm-2.0", kLlama3}, {"lfm2", kLlama3},
      {"jina-v5-nano", kLlama3}, {"dbrx", kLlama3}, {"smaug-bpe", kLlama3},
      {"qwen2", kQwen2}, {"deepseek-r1-qwen", kQwen2}, {"kormo", kQwen2}, {"f2llmv2", kQwen2},
      {"megrez", kQwen2},
  };
  if (auto it = kSplits.find(pre); it != kSplits.end()) return it->second;
  for (const char* other : {"tekken", "qwen35", "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"})
    if (pre == other)
      return unimplemented(source + ": tokenizer pre-type '" + pre +
                           "' splits with a pattern tessera does not implement yet");
  return static_cast<const char*>(nullptr);
}

Json added_token(int64_t id, const std::string& content, bool special) {
  return Json{{"id", id},          {"content", content}, {"single_word", false}, {"lstrip", false},
              {"rstrip", false},   {"normalized", false}, {"special", special}};
}

Json post_processor(const Vocab& v) {
  Json single = Json::array(), specials = Json::object();
  auto special = [&](int64_t id) {
    const std::string& t = v.tokens[static_cast<size_t>(id)];
    single.push_back({{"SpecialToken", {{"id", t}, {"type_id", 0}}}});
    specials[t] = {{"id", t}, {"ids", Json::array({id})}, {"tokens", Json::array({t})}};
  };
  if (v.add_bos.value_or(false) && v.bos) special(*v.bos);
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  if (v.add_eos.value_or(false) && v.eos) special(*v.eos);
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", Json::array()},
          {"special_tokens", specials}};
}

}  // namespace

Expected<std::string> gguf_tokenizer_json(const GgufFile& f, const std::string& source) {
  TESSERA_ASSIGN_OR_RETURN(Vocab v, read_vocab(f, source));
  Json j = Json::object();
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["normalizer"] = nullptr;
  Json added = Json::array();
  Json vocab = Json::object();
  Json bpe = {{"type", "BPE"}, {"dropout", nullptr}, {"continuing_subword_prefix", ""},
              {"end_of_word_suffix", ""}, {"ignore_merges", false}};
  if (v.model == "gpt2") {
    if (!v.merges) return data_loss(source + ": a gpt2 tokenizer needs 'tokenizer.ggml.merges'");
    for (size_t i = 0; i < v.tokens.size(); ++i) {
      const std::string& t = v.tokens[i];
      vocab[byte_level_spelled(t) ? t : byte_level_respell(t)] = static_cast<int64_t>(i);
    }
    // A control token spelled outside the byte alphabet is a llama.cpp mislabel: not added.
    for (size_t i = 0; i < v.types.size(); ++i)
      if (v.types[i] == kControl && byte_level_spelled(v.tokens[i]))
        added.push_back(added_token(static_cast<int64_t>(i), v.tokens[i], true));
    TESSERA_ASSIGN_OR_RETURN(const char* split, split_regex(v.pre, source));
    if (split) {
      j["pre_tokenizer"] = {{"type", "Sequence"},
                            {"pretokenizers",
                             Json::array({{{"type", "Split"}, {"pattern", {{"Regex", split}}},
                                           {"behavior", "Isolated"}, {"invert", false}},
                                          {{"type", "ByteLevel"}, {"add_prefix_space", false},
                                           {"trim_offsets", true}, {"use_regex", false}}})}};
    } else {
      j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                            {"use_regex", true}};
    }
    j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true},
                    {"use_regex", true}};
    bpe["fuse_unk"] = false;
    bpe["byte_fallback"] = false;
    bpe["unk_token"] = nullptr;
    bpe["merges"] = *v.merges;
  } else if (v.model == "llama") {
    if (!v.merges && v.scores.empty())
      return data_loss(source + ": a llama (SentencePiece) tokenizer needs 'tokenizer.ggml.scores' or merges");
    for (size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = static_cast<int64_t>(i);
    for (size_t i = 0; i < v.types.size(); ++i)
      if (v.types[i] == kControl) added.push_back(added_token(static_cast<int64_t>(i), v.tokens[i], true));
    j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"},
                          {"prepend_scheme", "first"}, {"split", false}};
    j["decoder"] = {{"type", "Sequence"},
                    {"decoders", Json::array({{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                              {{"type", "ByteFallback"}},
                                              {{"type", "Fuse"}},
                                              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
    bpe["fuse_unk"] = true;
    bpe["byte_fallback"] = true;
    bpe["unk_token"] = v.unk ? Json(v.tokens[static_cast<size_t>(*v.unk)]) : Json("<unk>");
    bpe["merges"] = v.merges ? Json(*v.merges) : merges_from_scores(v);
  } else {
    return unimplemented(source + ": tokenizer model '" + v.model +
                         "' is not supported (supported: gpt2, llama)");
  }
  // User-defined tokens (llama.cpp matches them whole in text) are plain added tokens.
  for (size_t i = 0; i < v.types.size(); ++i)
    if (v.types[i] == kUserDefined && vocab.contains(v.tokens[i]))
      added.push_back(added_token(static_cast<int64_t>(i), v.tokens[i], false));
  bpe["vocab"] = std::move(vocab);
  j["added_tokens"] = std::move(added);
  j["post_processor"] = post_processor(v);
  j["model"] = std::move(bpe);
  // Every string was checked as UTF-8 above; `replace` only guards what a future field forgets.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Expected<std::string> gguf_tokenizer_config_json(const GgufFile& f, const std::string& source) {
  TESSERA_ASSIGN_OR_RETURN(Vocab v, read_vocab(f, source));
  Json j = Json::object();
  const std::pair<const char*, std::optional<int64_t>> specials[] = {
      {"bos_token", v.bos}, {"eos_token", v.eos}, {"unk_token", v.unk}, {"pad_token", v.pad}};
  for (const auto& [key, id] : specials)
    if (id) j[key] = v.tokens[static_cast<size_t>(*id)];
  if (v.add_bos) j["add_bos_token"] = *v.add_bos;
  if (v.add_eos) j["add_eos_token"] = *v.add_eos;
  if (const Json* t = f.meta("tokenizer.chat_template")) {
    if (!t->is_string() || !code_points(t->get<std::string>()))
      return meta_error(source, "tokenizer.chat_template", "must be a UTF-8 string");
    j["chat_template"] = *t;
  }
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace tessera
