// tests/cpp/tokenizer/test_tokenizer_real.cpp — the real tokenizer.json files in
// ../shared/data/tokenizers against llama.cpp's HF-generated vectors (ids of
// encode(text, add_special_tokens=False)), plus decode and streaming on them. Skips, saying why,
// when the shared data folder is absent. The 10,000-string comparison with HF itself is
// tests/python/compare_tokenizers_hf.py (the tokenizer_hf_compare test).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/tokenizer/tokenizer.h"
#include "src/tokenizer/unicode.h"

namespace tessera {
namespace {

const std::string kData = TESSERA_SHARED_DATA;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct VectorCase {
  const char* tokenizer;
  const char* vectors;
};

class RealTokenizer : public ::testing::TestWithParam<VectorCase> {};

TEST_P(RealTokenizer, MatchesLlamaCppVectors) {
  const std::string dir = kData + "/tokenizers/" + GetParam().tokenizer;
  const std::string vec = kData + "/tokenizer_vectors/ggml-vocab-" + GetParam().vectors + ".gguf";
  if (!std::filesystem::exists(dir + "/tokenizer.json") || !std::filesystem::exists(vec + ".inp"))
    GTEST_SKIP() << "shared tokenizer data not found at " << dir << " (see ../shared/data/SOURCES.md)";
  auto tok = Tokenizer::load(dir);
  ASSERT_TRUE(tok.has_value()) << tok.status().message();
  const std::string inp = slurp(vec + ".inp");
  std::istringstream out(slurp(vec + ".out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  size_t pos = 0, n = 0;
  for (size_t next; (next = inp.find(sep, pos)) != std::string::npos; pos = next + sep.size(), ++n) {
    const std::string text = inp.substr(pos, next - pos);
    std::string line;
    std::getline(out, line);
    std::vector<int32_t> want;
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) want.push_back(id);
    auto got = tok->encode(text, false);
    ASSERT_TRUE(got.has_value()) << got.status().message();
    EXPECT_EQ(*got, want) << "text #" << n << ": \"" << text << "\"";
    // Streaming gives the same text as decode, in whole characters.
    StreamDecoder stream(*tok, false);
    std::string streamed;
    for (int32_t id : *got) {
      std::string piece = stream.step(id);
      EXPECT_EQ(unicode::find_invalid_utf8(piece), std::string::npos);
      streamed += piece;
    }
    streamed += stream.flush();
    EXPECT_EQ(streamed, tok->decode(*got)) << "text #" << n;
  }
  EXPECT_GE(n, 40u);
}

INSTANTIATE_TEST_SUITE_P(Vectors, RealTokenizer,
                         ::testing::Values(VectorCase{"gpt2", "gpt-2"}, VectorCase{"llama-3.1-instruct", "llama-bpe"},
                                           VectorCase{"qwen2", "qwen2"}, VectorCase{"qwen3", "qwen2"},
                                           VectorCase{"phi-3-mini", "phi-3"}),
                         [](const auto& info) {
                           std::string s = info.param.tokenizer;
                           for (char& c : s)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

TEST(RealTokenizerSpot, MistralAndSpecials) {
  const std::string dir = kData + "/tokenizers/mistral-7b-v0.1";
  if (!std::filesystem::exists(dir + "/tokenizer.json")) GTEST_SKIP() << "shared tokenizer data not found at " << dir;
  auto tok = Tokenizer::load(dir);
  ASSERT_TRUE(tok.has_value()) << tok.status().message();
  EXPECT_EQ(*tok->encode("Hello world"), (std::vector<int32_t>{22557, 1526}));
  EXPECT_EQ(*tok->encode("[INST]"), (std::vector<int32_t>{733, 16289, 28793}));
  EXPECT_EQ(*tok->encode("Hello world", true), (std::vector<int32_t>{1, 22557, 1526}));
  EXPECT_EQ(tok->decode({1, 22557, 1526}, true), "Hello world");

  const std::string llama = kData + "/tokenizers/llama-3.1-instruct";
  auto l3 = Tokenizer::load(llama);
  ASSERT_TRUE(l3.has_value()) << l3.status().message();
  auto ids = *l3->encode("<|start_header_id|>user<|end_header_id|>\n\nHi", true);
  EXPECT_EQ(ids.front(), 128000);
  EXPECT_EQ(ids[1], 128006);
  EXPECT_EQ(l3->decode(ids, true), "user\n\nHi");
}

}  // namespace
}  // namespace tessera
