// tests/cpp/tokenizer/test_tokenizer_config.cpp — tokenizer_config.json and chat_template.jinja:
// token forms, template forms, precedence of the .jinja file, and errors naming file and field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "src/tokenizer/tokenizer_config.h"

namespace tessera {
namespace {

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("tessera_tokcfg_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(TokenizerConfig, StringAndAddedTokenForms) {
  auto cfg = parse_tokenizer_config(
      R"({"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false}, "eos_token": "</s>",
          "pad_token": null, "add_bos_token": true, "add_eos_token": false,
          "additional_special_tokens": ["<a>", {"content": "<b>"}], "tokenizer_class": "LlamaTokenizer",
          "model_max_length": 1000000000000000019884624838656})",
      "tokenizer_config.json");
  ASSERT_TRUE(cfg.has_value()) << cfg.status().message();
  EXPECT_EQ(cfg->bos_token, "<s>");
  EXPECT_EQ(cfg->eos_token, "</s>");
  EXPECT_FALSE(cfg->pad_token.has_value());
  EXPECT_FALSE(cfg->unk_token.has_value());
  EXPECT_EQ(cfg->add_bos_token, true);
  EXPECT_EQ(cfg->add_eos_token, false);
  EXPECT_EQ(cfg->additional_special_tokens, (std::vector<std::string>{"<a>", "<b>"}));
  EXPECT_EQ(cfg->tokenizer_class, "LlamaTokenizer");
  EXPECT_TRUE(cfg->chat_templates.empty());
  EXPECT_EQ(cfg->chat_template().status().code(), StatusCode::kNotFound);
  ChatContext ctx = cfg->chat_context();
  EXPECT_EQ(ctx.bos_token, "<s>");
  EXPECT_EQ(ctx.variables["additional_special_tokens"].size(), 2u);
}

TEST(TokenizerConfig, ChatTemplateStringOrNamedList) {
  auto one = parse_tokenizer_config(R"({"chat_template": "{{ bos_token }}x"})", "c.json");
  ASSERT_TRUE(one.has_value());
  ASSERT_EQ(one->chat_templates.size(), 1u);
  EXPECT_EQ(one->chat_templates[0].name, "default");
  auto t = one->chat_template();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t->render({}, false, {}), "x");

  auto many = parse_tokenizer_config(
      R"({"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]})", "c.json");
  ASSERT_TRUE(many.has_value());
  EXPECT_EQ(*many->chat_template("tool_use")->render({}, false), "T");
  EXPECT_EQ(*many->chat_template()->render({}, false), "D");
  auto missing = many->chat_template("rag");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.status().message().find("default, tool_use"), std::string::npos);
}

TEST(TokenizerConfig, ErrorsNameFileAndField) {
  auto e1 = parse_tokenizer_config(R"({"bos_token": 5})", "tokenizer_config.json");
  ASSERT_FALSE(e1.has_value());
  EXPECT_NE(e1.status().message().find("tokenizer_config.json: field 'bos_token'"), std::string::npos);
  auto e2 = parse_tokenizer_config(R"({"add_bos_token": "yes"})", "tokenizer_config.json");
  ASSERT_FALSE(e2.has_value());
  EXPECT_NE(e2.status().message().find("'add_bos_token'"), std::string::npos);
  auto e3 = parse_tokenizer_config(R"({"chat_template": [{"name": "x"}]})", "tokenizer_config.json");
  ASSERT_FALSE(e3.has_value());
  EXPECT_NE(e3.status().message().find("chat_template[0]: field 'template'"), std::string::npos);
  EXPECT_FALSE(parse_tokenizer_config("{not json", "tokenizer_config.json").has_value());
  EXPECT_FALSE(parse_tokenizer_config("[1]", "tokenizer_config.json").has_value());
  auto bad_template = parse_tokenizer_config(R"({"chat_template": "line1\n{% if %}"})", "tokenizer_config.json");
  ASSERT_TRUE(bad_template.has_value());
  auto t = bad_template->chat_template();
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.status().message().find("tokenizer_config.json: chat_template, line 2"), std::string::npos)
      << t.status().message();
}

TEST(TokenizerConfig, LoadsFolderAndJinjaFileWins) {
  TempDir dir;
  dir.write("tokenizer_config.json", R"({"eos_token": "<|eot|>", "chat_template": "from config"})");
  auto cfg = load_tokenizer_config(dir.path());
  ASSERT_TRUE(cfg.has_value()) << cfg.status().message();
  EXPECT_EQ(*cfg->chat_template()->render({}, false), "from config");
  dir.write("chat_template.jinja", "from file {{ eos_token }}\n");
  cfg = load_tokenizer_config(dir.path());
  ASSERT_TRUE(cfg.has_value());
  ASSERT_EQ(cfg->chat_templates.size(), 1u);
  EXPECT_EQ(*cfg->chat_template()->render({}, false, cfg->chat_context()), "from file <|eot|>");
  EXPECT_NE(cfg->chat_templates[0].origin.find("chat_template.jinja"), std::string::npos);
}

TEST(TokenizerConfig, MissingFolderAndFiles) {
  EXPECT_EQ(load_tokenizer_config("/nonexistent/tessera").status().code(), StatusCode::kNotFound);
  TempDir dir;
  auto cfg = load_tokenizer_config(dir.path());
  ASSERT_TRUE(cfg.has_value());
  EXPECT_TRUE(cfg->chat_templates.empty());
  dir.write("tokenizer_config.json", "{");
  auto bad = load_tokenizer_config(dir.path());
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.status().message().find("tokenizer_config.json"), std::string::npos);
}

TEST(TokenizerConfig, RealCheckpointConfigs) {
  const std::filesystem::path shared = std::filesystem::path(TESSERA_SHARED_DATA) / "tokenizers";
  if (!std::filesystem::exists(shared)) GTEST_SKIP() << "shared data folder " << shared << " is absent";
  auto llama = load_tokenizer_config(shared / "llama-3.1-instruct");
  ASSERT_TRUE(llama.has_value()) << llama.status().message();
  EXPECT_EQ(llama->bos_token, "<|begin_of_text|>");
  EXPECT_EQ(llama->eos_token, "<|eot_id|>");
  ASSERT_TRUE(llama->chat_template().has_value());
  auto mistral = load_tokenizer_config(shared / "mistral-7b-v0.1");
  ASSERT_TRUE(mistral.has_value()) << mistral.status().message();
  EXPECT_EQ(mistral->add_bos_token, true);
  EXPECT_EQ(mistral->unk_token, "<unk>");
  EXPECT_TRUE(mistral->chat_templates.empty());
  auto qwen3 = load_tokenizer_config(shared / "qwen3");
  ASSERT_TRUE(qwen3.has_value());
  EXPECT_FALSE(qwen3->bos_token.has_value());
  auto t = qwen3->chat_template();
  ASSERT_TRUE(t.has_value()) << t.status().message();
  auto out = t->render({{"user", "hi"}}, true, qwen3->chat_context());
  ASSERT_TRUE(out.has_value()) << out.status().message();
  EXPECT_EQ(*out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  for (const char* name : {"gpt2", "phi-3-mini", "qwen2", "qwen2.5"}) {
    auto cfg = load_tokenizer_config(shared / name);
    EXPECT_TRUE(cfg.has_value()) << name << ": " << cfg.status().message();
  }
}

}  // namespace
}  // namespace tessera
