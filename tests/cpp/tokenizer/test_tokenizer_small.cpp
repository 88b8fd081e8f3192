// tests/cpp/tokenizer/test_tokenizer_small.cpp — the tokenizer on small tokenizer.json files the
// test writes itself: byte-level and SentencePiece-style BPE, both merge forms, ignore_merges,
// added tokens, post-processors, decoders, streaming; the Unicode layer; and malformed files,
// each of which must be one clear error naming the field (never a crash).
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>

#include <nlohmann/json.hpp>

#include "src/tokenizer/pretokenize.h"
#include "src/tokenizer/tokenizer.h"
#include "src/tokenizer/unicode.h"

namespace tessera {
namespace {

using Json = nlohmann::json;

std::string byte_char(unsigned b) {  // GPT-2's printable alphabet
  unsigned cp = b;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    unsigned n = 0;
    for (unsigned c = 0; c < b; ++c)
      if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) ++n;
    cp = 256 + n;
  }
  std::string s;
  unicode::append_utf8(s, cp);
  return s;
}

// A byte-level BPE: the 256 bytes, then merges for "he", "hel", "hell", "hello", " w", " wo"
// (ids 256..261), optionally the token "hlo" (262) that no merge makes; then the added tokens
// <|bos|> and <tool>, numbered after the vocabulary as HF numbers them.
constexpr int32_t kBos = 262, kTool = 263;
Json byte_level_json(bool pair_merges, bool with_hlo = false) {
  Json vocab = Json::object();
  for (unsigned b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"he", "l"}, {"hel", "l"}, {"hell", "o"}, {"Ġ", "w"}, {"Ġw", "o"}};
  int id = 256;
  Json m = Json::array();
  for (const auto& [a, b] : merges) {
    vocab[a + b] = id++;
    m.push_back(pair_merges ? Json::array({a, b}) : Json(a + " " + b));
  }
  if (with_hlo) vocab["hlo"] = id++;
  Json j;
  j["version"] = "1.0";
  j["added_tokens"] = Json::array({{{"id", id}, {"content", "<|bos|>"}, {"special", true}, {"normalized", false}},
                                   {{"id", id + 1}, {"content", "<tool>"}, {"special", false}, {"lstrip", true},
                                    {"rstrip", true}, {"normalized", false}}});
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", Json::array({{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}},
                                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                         {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {id}}, {"tokens", {"<|bos|>"}}}}}}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}, {"ignore_merges", false}};
  return j;
}

// SentencePiece style: characters, ▁, byte fallback, an unk token.
Json spm_json() {
  Json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (unsigned b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  int id = 259;
  for (const char* t : {"▁", "h", "i", "▁h", "▁hi", "a", "b"}) vocab[t] = id++;
  Json j;
  j["added_tokens"] = Json::array({{{"id", 1}, {"content", "<s>"}, {"special", true}}});
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", Json::array({{{"type", "Prepend"}, {"prepend", "▁"}},
                                                  {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}})}};
  j["pre_tokenizer"] = nullptr;
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", Json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                         {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders", Json::array({{{"type", "Replace"}, {"pattern", {{"String", "▁"}}}, {"content", " "}},
                                            {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                                            {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", Json::array({"▁ h", "▁h i"})},
                {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true}};
  return j;
}

Tokenizer must_load(const Json& j) {
  auto t = Tokenizer::from_json(j.dump(), "test.json");
  EXPECT_TRUE(t.has_value()) << t.status().message();
  return std::move(t).value();
}

std::vector<int32_t> enc(const Tokenizer& t, const std::string& s, bool special = false) {
  auto ids = t.encode(s, special);
  EXPECT_TRUE(ids.has_value()) << ids.status().message();
  return ids.has_value() ? *ids : std::vector<int32_t>{};
}

TEST(TokenizerSmall, ByteLevelMergesBothForms) {
  for (bool pairs : {false, true}) {
    Tokenizer t = must_load(byte_level_json(pairs));
    EXPECT_EQ(enc(t, "hello world"), (std::vector<int32_t>{259, 261, 'r', 'l', 'd'}));
    EXPECT_EQ(enc(t, "hello", true), (std::vector<int32_t>{kBos, 259}));
    EXPECT_EQ(t.decode(enc(t, "hello world")), "hello world");
    EXPECT_EQ(enc(t, ""), std::vector<int32_t>{});
  }
}

TEST(TokenizerSmall, IgnoreMergesTakesWholeWords) {
  Json j = byte_level_json(false, /*with_hlo=*/true);
  // "hlo" is a token but no merge makes it: only ignore_merges finds it.
  EXPECT_EQ(enc(must_load(j), "hlo"), (std::vector<int32_t>{'h', 'l', 'o'}));
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(enc(must_load(j), "hlo"), (std::vector<int32_t>{262}));
}

TEST(TokenizerSmall, AddedTokensStripAndSpecials) {
  Tokenizer t = must_load(byte_level_json(false));
  // <tool> has lstrip and rstrip: it swallows the spaces around it.
  EXPECT_EQ(enc(t, "hello  <tool>  hello"), (std::vector<int32_t>{259, kTool, 259}));
  EXPECT_EQ(enc(t, "<|bos|>hello"), (std::vector<int32_t>{kBos, 259}));
  EXPECT_EQ(t.decode({kBos, 259}), "<|bos|>hello");
  EXPECT_EQ(t.decode({kBos, 259}, /*skip_special_tokens=*/true), "hello");
  EXPECT_EQ(t.token_to_id("<tool>"), kTool);
  EXPECT_TRUE(t.is_special(kBos));
  EXPECT_FALSE(t.is_special(kTool));
  // HF numbers an added token after the vocabulary whatever id the file gives it.
  Json j = byte_level_json(false);
  j["added_tokens"][1]["id"] = 5000;
  EXPECT_EQ(must_load(j).token_to_id("<tool>"), kTool);
}

TEST(TokenizerSmall, SentencePieceByteFallbackAndUnk) {
  Tokenizer t = must_load(spm_json());
  EXPECT_EQ(enc(t, "hi"), (std::vector<int32_t>{263}));         // "▁hi"
  EXPECT_EQ(enc(t, "hi", true), (std::vector<int32_t>{1, 263}));
  // "é" is not a token: its two UTF-8 bytes come out as <0xC3> <0xA9>.
  EXPECT_EQ(enc(t, "é"), (std::vector<int32_t>{259, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(t.decode(enc(t, "hi é ab")), "hi é ab");
  EXPECT_EQ(t.decode({3 + 0xC3}), "\xEF\xBF\xBD");  // half a character: one U+FFFD per byte
}

TEST(TokenizerSmall, StreamNeverSplitsACharacter) {
  Tokenizer t = must_load(spm_json());
  const std::string text = "hi é 日本 🦙 ab";
  auto ids = enc(t, text);
  StreamDecoder stream(t, false);
  std::string out;
  for (int32_t id : ids) {
    std::string piece = stream.step(id);
    EXPECT_EQ(unicode::find_invalid_utf8(piece), std::string::npos);
    EXPECT_FALSE(unicode::ends_with_replacement_char(piece));
    out += piece;
  }
  out += stream.flush();
  EXPECT_EQ(out, t.decode(ids));
  EXPECT_EQ(out, text);
}

TEST(Unicode, Utf8AndLossy) {
  EXPECT_EQ(unicode::find_invalid_utf8("abc é 日 🦙"), std::string::npos);
  EXPECT_EQ(unicode::find_invalid_utf8("ab\xC0\xAF"), 2u);        // overlong
  EXPECT_EQ(unicode::find_invalid_utf8("\xED\xA0\x80"), 0u);      // surrogate
  EXPECT_EQ(unicode::find_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // > U+10FFFF
  EXPECT_EQ(unicode::find_invalid_utf8("\xE2\x82"), 0u);          // truncated
  // Maximal subparts, as Rust's from_utf8_lossy: "\xE2\x82" is one U+FFFD, "\xC0\xAF" two.
  EXPECT_EQ(unicode::utf8_lossy("a\xE2\x82z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(unicode::utf8_lossy("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Unicode, Nfc) {
  EXPECT_EQ(unicode::nfc("e\xCC\x81"), "\xC3\xA9");                        // e + acute -> é
  EXPECT_EQ(unicode::nfc("\xE2\x84\xAB"), "\xC3\x85");                     // Angstrom sign -> Å
  EXPECT_EQ(unicode::nfc("a\xCC\x81\xCC\xA3"), "\xE1\xBA\xA1\xCC\x81");     // marks reordered, then composed
  EXPECT_EQ(unicode::nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");     // Hangul L+V -> 가
  EXPECT_EQ(unicode::nfc("plain ascii"), "plain ascii");
}

TEST(Pretokenize, Llama3Pieces) {
  auto split = [](SplitPattern p, const std::string& s) {
    std::vector<ByteRange> r;
    split_pieces(p, s, 0, static_cast<uint32_t>(s.size()), r);
    std::vector<std::string> out;
    for (auto [b, e] : r) out.push_back(s.substr(b, e - b));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split(SplitPattern::kLlama3, "Hello  world's 12345\r\n\n x"),
            (V{"Hello", " ", " world", "'s", " ", "123", "45", "\r\n\n", " x"}));
  EXPECT_EQ(split(SplitPattern::kQwen2, "ab 12"), (V{"ab", " ", "1", "2"}));
  EXPECT_EQ(split(SplitPattern::kGpt2, "Hello  world's 12  "), (V{"Hello", " ", " world", "'s", " 12", "  "}));
  EXPECT_EQ(split(SplitPattern::kLlama3, "I'M"), (V{"I", "'M"}));
  EXPECT_EQ(split(SplitPattern::kGpt2, "I'M"), (V{"I", "'", "M"}));
}

// Each malformed document must give an error that names the file and the offending field.
TEST(TokenizerSmall, MalformedFilesGiveOneClearError) {
  struct Case {
    std::function<void(Json&)> edit;
    std::string expect;  // a substring of the message
  };
  const std::vector<Case> cases = {
      {[](Json& j) { j["model"]["vocab"]["x"] = -1; }, "model.vocab[\"x\"]"},
      {[](Json& j) { j["model"]["vocab"]["x"] = 1ll << 40; }, "outside"},
      {[](Json& j) { j["model"]["vocab"]["x"] = "seven"; }, "model.vocab[\"x\"]"},
      {[](Json& j) { j["model"]["merges"].push_back("nospace"); }, "model.merges[6]"},
      {[](Json& j) { j["model"]["merges"].push_back("zz q"); }, "model.merges[6]"},
      {[](Json& j) { j["model"]["merges"].push_back(Json::array({1, 2})); }, "model.merges[6]"},
      {[](Json& j) { j["model"]["merges"] = 5; }, "model.merges"},
      {[](Json& j) { j["model"].erase("vocab"); }, "model.vocab"},
      {[](Json& j) { j["model"]["type"] = "WordPiece"; }, "model.type"},
      {[](Json& j) { j["added_tokens"][0]["id"] = -4; }, "added_tokens[0].id"},
      {[](Json& j) { j["added_tokens"][0]["content"] = ""; }, "added_tokens[0].content"},
      {[](Json& j) { j["added_tokens"][1]["lstrip"] = "yes"; }, "added_tokens[1].lstrip"},
      {[](Json& j) { j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}}; }, "pre_tokenizer.pattern"},
      {[](Json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }, "pre_tokenizer.type"},
      {[](Json& j) { j["normalizer"] = {{"type", "Lowercase"}}; }, "normalizer.type"},
      {[](Json& j) { j["decoder"] = {{"type", "Strip"}, {"content", "ab"}}; }, "decoder.content"},
      {[](Json& j) { j["post_processor"]["special_tokens"]["<|bos|>"]["ids"] = {1ll << 33}; }, "post_processor.special_tokens"},
      {[](Json& j) { j["post_processor"]["single"] = Json::array({{{"SpecialToken", {{"id", "<nope>"}}}}}); }, "<nope>"},
      {[](Json& j) { j["model"]["dropout"] = 0.1; }, "model.dropout"},
      {[](Json& j) { j["model"]["unk_token"] = "<missing>"; }, "model.unk_token"},
      {[](Json& j) { j = Json::array(); }, "JSON object"},
      {[](Json& j) {
         Json p = {{"type", "ByteLevel"}};
         for (int k = 0; k < 100; ++k) p = {{"type", "Sequence"}, {"pretokenizers", Json::array({p})}};
         j["pre_tokenizer"] = p;
       }, "nest"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    Json j = byte_level_json(false);
    cases[i].edit(j);
    auto t = Tokenizer::from_json(j.dump(), "bad.json");
    ASSERT_FALSE(t.has_value()) << "case " << i << " loaded";
    EXPECT_NE(t.status().message().find("bad.json"), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find(cases[i].expect), std::string::npos) << "case " << i << ": " << t.status().message();
  }
  // A value nested a hundred thousand deep is an error, not a stack overflow.
  std::string deep = "{\"model\": {\"vocab\": {\"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}}}";
  EXPECT_FALSE(Tokenizer::from_json(deep, "deep.json").has_value());
  auto t = Tokenizer::from_json("{\"model\": ", "trunc.json");
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.status().message().find("trunc.json"), std::string::npos);
  EXPECT_EQ(Tokenizer::load("/nonexistent/dir").status().code(), StatusCode::kNotFound);
}

TEST(TokenizerSmall, InvalidUtf8IsAnError) {
  Tokenizer t = must_load(byte_level_json(false));
  auto ids = t.encode("ok \xF0\x9F\x98");
  ASSERT_FALSE(ids.has_value());
  EXPECT_NE(ids.status().message().find("not valid UTF-8"), std::string::npos);
}

// Unigram by hand: Viterbi picks the best-scoring split, an uncovered character is <unk> (runs of
// them fused into one), byte fallback spells a piece out of <0xAB> pieces when it can. The wide
// comparisons against HF are tests/python/compare_tokenizers_hf.py's unigram-* tokenizers.
TEST(TokenizerSmall, UnigramViterbiUnkAndByteFallback) {
  auto make = [](bool byte_fallback, const Json& unk_id) {
    Json j = {{"version", "1.0"}, {"added_tokens", Json::array()}, {"normalizer", nullptr},
              {"pre_tokenizer", nullptr}, {"post_processor", nullptr}, {"decoder", nullptr}};
    j["model"] = {{"type", "Unigram"}, {"unk_id", unk_id}, {"byte_fallback", byte_fallback},
                  {"vocab", Json::array({Json::array({"<unk>", 0.0}), Json::array({"a", -1.0}),
                                         Json::array({"b", -1.0}), Json::array({"ab", -1.5}),
                                         Json::array({"abc", -4.0}), Json::array({"c", -1.0}),
                                         Json::array({"<0x78>", -20.0})})}};
    return Tokenizer::from_json(j.dump(), "unigram.json");
  };
  auto t = make(false, 0);
  ASSERT_TRUE(t.has_value()) << t.status().message();
  EXPECT_EQ(*t->encode("ab"), (std::vector<int32_t>{3}));        // -1.5 beats a + b (-2)
  EXPECT_EQ(*t->encode("abc"), (std::vector<int32_t>{3, 5}));    // ab + c (-2.5) beats abc (-4)
  EXPECT_EQ(*t->encode("xyab"), (std::vector<int32_t>{0, 3}));   // x, y: one fused <unk>
  auto fb = make(true, 0);
  ASSERT_TRUE(fb.has_value()) << fb.status().message();
  EXPECT_EQ(*fb->encode("xa"), (std::vector<int32_t>{6, 1}));    // x -> <0x78>
  EXPECT_EQ(*fb->encode("ya"), (std::vector<int32_t>{0, 1}));    // no <0x79>: <unk>
  auto no_unk = make(false, nullptr);
  ASSERT_FALSE(no_unk.has_value());
  EXPECT_NE(no_unk.status().message().find("unk_id"), std::string::npos) << no_unk.status().message();
}

}  // namespace
}  // namespace tessera
