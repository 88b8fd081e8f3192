// src/model/demo.cpp — the demo model, made on first use, and the small tokenizer that random-weight
// checkpoints carry so that they take and print text.
#include "src/model/demo.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/core/logging.h"
#include "src/core/mapped_file.h"
#include "src/model/make_model.h"

namespace tessera {

std::string tessera_home() {
  if (const char* h = std::getenv("TESSERA_HOME"); h && *h) return h;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/tessera";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/tessera";
  return "/tmp/tessera";
}

Expected<std::string> ensure_demo_model() {
  namespace fs = std::filesystem;
  const std::string dir = tessera_home() + "/demo-tiny";
  if (fs::exists(dir + "/config.json") && fs::exists(dir + "/model.safetensors")) {
    if (!fs::exists(dir + "/tokenizer.json")) {  // made by a tessera without tokenizers
      TESSERA_ASSIGN_OR_RETURN(ModelConfig c, model_preset("tiny"));
      TESSERA_RETURN_IF_ERROR(write_text_file(dir + "/tokenizer.json", demo_tokenizer_json(c)));
      TESSERA_RETURN_IF_ERROR(write_text_file(dir + "/tokenizer_config.json", demo_tokenizer_config_json(c)));
    }
    return dir;
  }
  LOG_INFO("creating the demo model (preset 'tiny', RANDOM weights) in " << dir);
  const std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  MakeModelOptions o;
  o.preset = "tiny";
  o.out_dir = tmp;
  o.seed = 0;
  TESSERA_RETURN_IF_ERROR(make_random_model(o));
  fs::remove_all(dir, ec);
  fs::rename(tmp, dir, ec);
  if (ec) return io_error(dir + ": cannot move the demo model into place: " + ec.message());
  return dir;
}


namespace {

// The text the demo tokenizer learns its merges from.
constexpr const char* kDemoCorpus =
    "tessera is an inference engine for large language models. It reads a checkpoint in the Hugging Face "
    "layout, turns text into tokens, runs the transformer forward pass on the GPU or the CPU, and streams the "
    "generated text back one token at a time. The attention kernels are written by hand for the Hopper "
    "architecture: the prefill kernel tiles the query and key sequences, keeps the running maximum and the "
    "running sum of the softmax in registers, and writes the output once. The decode kernel reads the key and "
    "value cache from pages, so that many requests of different lengths share one pool of memory. A scheduler "
    "on the CPU decides which requests run in each step; it has no prefill or decode mode, only a number of "
    "computed tokens and a number of tokens for each request. The server speaks the OpenAI protocol over HTTP "
    "and sends tokens as server-sent events. There is also a small web page with a chat playground and a live "
    "view of the engine. This demo model has random weights, so what it writes is noise: the point of the demo "
    "is that every part of the path from the prompt to the printed text works, and how fast it is. Hello, "
    "world! The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 10 100 1000.";

std::string byte_symbol(unsigned char b) {  // GPT-2's printable alphabet for bytes
  auto printable = [](unsigned c) { return (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255); };
  unsigned cp = b;
  if (!printable(b)) {
    cp = 256;
    for (unsigned c = 0; c < b; ++c) cp += !printable(c);
  }
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

}  // namespace

std::string demo_tokenizer_json(const ModelConfig& config) {
  using Json = nlohmann::json;
  // Special tokens at the config's ids; everything else fills the free ids from 0 up.
  std::vector<std::pair<int64_t, std::string>> specials;
  if (config.bos_token_id) specials.emplace_back(*config.bos_token_id, "<|begin_of_text|>");
  for (size_t i = 0; i < config.eos_token_ids.size(); ++i)
    specials.emplace_back(config.eos_token_ids[i], i == 0 ? "<|end_of_text|>" : "<|eot_" + std::to_string(i) + "|>");
  std::set<int64_t> taken;
  for (const auto& s : specials) taken.insert(s.first);
  int64_t next_id = 0;
  auto fresh_id = [&]() -> int64_t {
    while (taken.count(next_id)) ++next_id;
    return next_id++;
  };
  Json vocab = Json::object();
  // The special tokens are in the vocabulary too (as Llama-2's <s> is): HF takes an added
  // token's id from there, where it would otherwise number it after the vocabulary.
  for (const auto& [id, content] : specials) vocab[content] = id;
  for (int b = 0; b < 256; ++b) vocab[byte_symbol(static_cast<unsigned char>(b))] = fresh_id();

  // Words: an optional space followed by a run of letters, of digits, or one other byte.
  std::map<std::vector<std::string>, int> words;
  const std::string text = kDemoCorpus;
  for (size_t i = 0; i < text.size();) {
    size_t j = i + (text[i] == ' ' && i + 1 < text.size() ? 1 : 0);
    auto alpha = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
    auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    if (alpha(text[j])) {
      while (j < text.size() && alpha(text[j])) ++j;
    } else if (digit(text[j])) {
      while (j < text.size() && digit(text[j])) ++j;
    } else {
      ++j;
    }
    std::vector<std::string> w;
    for (size_t k = i; k < j; ++k) w.push_back(byte_symbol(static_cast<unsigned char>(text[k])));
    ++words[w];
    i = j;
  }
  // Learn merges: the most frequent adjacent pair (ties: the smallest pair), until pairs are rare
  // or the vocabulary is full.
  Json merges = Json::array();
  while (next_id + 1 < config.vocab_size && merges.size() < 2000) {
    std::map<std::pair<std::string, std::string>, int> counts;
    for (const auto& [w, n] : words)
      for (size_t k = 0; k + 1 < w.size(); ++k) counts[{w[k], w[k + 1]}] += n;
    const std::pair<std::string, std::string>* best = nullptr;
    int best_n = 1;
    for (const auto& [pair, n] : counts)
      if (n > best_n) best = &pair, best_n = n;
    if (!best) break;
    const auto [a, b] = *best;
    merges.push_back(a + " " + b);
    vocab[a + b] = fresh_id();
    std::map<std::vector<std::string>, int> merged;
    for (const auto& [w, n] : words) {
      std::vector<std::string> out;
      for (size_t k = 0; k < w.size(); ++k) {
        if (k + 1 < w.size() && w[k] == a && w[k + 1] == b) {
          out.push_back(a + b);
          ++k;
        } else {
          out.push_back(w[k]);
        }
      }
      merged[out] += n;
    }
    words.swap(merged);
  }

  // Fill the rest of the ids with whole words of the corpus, then with made-up words, so that a
  // random model's every id prints something.
  static const char* kSyllables[] = {"ka", "to", "ri", "ne", "su", "mo", "la", "pe", "di", "vo", "an", "el",
                                     "or", "us", "in", "ta", "be", "go", "ser", "tra", "lin", "dor", "mes", "qua"};
  constexpr size_t kNumSyllables = sizeof(kSyllables) / sizeof(kSyllables[0]);
  std::vector<std::string> fill;
  for (const auto& [w, n] : words) {
    std::string joined;
    for (const auto& sym : w) joined += sym;
    fill.push_back(joined);
  }
  for (uint64_t k = 0; fill.size() < static_cast<size_t>(config.vocab_size) + 64; ++k) {
    std::string w = byte_symbol(' ');
    for (uint64_t x = k + kNumSyllables; x > 0; x /= kNumSyllables) w += kSyllables[x % kNumSyllables];
    fill.push_back(w);
  }
  for (const std::string& w : fill) {
    while (taken.count(next_id)) ++next_id;
    if (next_id >= config.vocab_size) break;
    if (!vocab.contains(w)) vocab[w] = fresh_id();
  }

  Json added = Json::array();
  for (const auto& [id, content] : specials)
    added.push_back({{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
  const std::string split =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  Json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", Json::array({{{"type", "Split"}, {"pattern", {{"Regex", split}}}, {"behavior", "Isolated"}, {"invert", false}},
                                                       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}})}};
  if (config.bos_token_id) {
    const Json bos = {{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}};
    const Json seq = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
    j["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", Json::array({bos, seq})},
                           {"pair", Json::array({bos, seq})},
                           {"special_tokens", {{"<|begin_of_text|>", {{"id", "<|begin_of_text|>"}, {"ids", {*config.bos_token_id}}, {"tokens", {"<|begin_of_text|>"}}}}}}};
  } else {
    j["post_processor"] = nullptr;
  }
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
                {"vocab", vocab}, {"merges", merges}};
  return j.dump() + "\n";
}

std::string demo_tokenizer_config_json(const ModelConfig& config) {
  nlohmann::json j;
  if (config.bos_token_id) j["bos_token"] = "<|begin_of_text|>";
  if (!config.eos_token_ids.empty()) j["eos_token"] = "<|end_of_text|>";
  j["tokenizer_class"] = "PreTrainedTokenizerFast";
  j["model_max_length"] = config.max_position_embeddings;
  j["chat_template"] =
      std::string(config.bos_token_id ? "{{ bos_token }}" : "") +
      "{% for message in messages %}{{ message['role'] }}: {{ message['content'] | trim }}\n{% endfor %}"
      "{% if add_generation_prompt %}assistant:{% endif %}";
  return j.dump(2) + "\n";
}

}  // namespace tessera
