// The `tessera` binary on bad model files: every bad-input case of the [foundation] issue giving
// exactly one stderr line that names the file and the problem, with a non-zero exit and no crash;
// and ([serve-hardening]) JSON nested 100,000 deep in each JSON file a model folder has, which
// crashed `info`, `generate` and `serve` (nlohmann's recursive dump overflowed the stack while the
// error message was written): one error naming the file, exit status 1.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/cpp/cli_test_util.h"

namespace tessera {
namespace {

using namespace cli_test;  // NOLINT: the helpers are this file's vocabulary

TEST(CliErrors, ConfigProblems) {
  const std::string dir = make_model_dir("cfg");
  set_config_field(dir, "-hidden_size", nullptr);
  expect_one_error(run("generate -n 1 --model " + dir), "config.json", "'hidden_size' is missing");
  set_config_field(dir, "hidden_size", "abc");
  expect_one_error(run("generate -n 1 --model " + dir), "config.json",
                   "'hidden_size' must be an integer");
  set_config_field(dir, "hidden_size", 64);
  set_config_field(dir, "architectures", Json::array({"GPT2LMHeadModel"}));
  expect_one_error(run("info --model " + dir), "config.json", "'GPT2LMHeadModel' is not supported");
  set_config_field(dir, "architectures", Json::array({"LlamaForCausalLM"}));
  set_config_field(dir, "intermediate_size", 100);
  expect_one_error(run("generate -n 1 --model " + dir), "model.safetensors",
                   "config.json implies [100, 64]");
  ASSERT_TRUE(write_text_file(dir + "/config.json", "{\"hidden_size\": 64,").is_ok());
  expect_one_error(run("info --model " + dir), "config.json", "invalid JSON");
}

// Writes a safetensors file with a hand-made header and `data_bytes` bytes of data.
void write_raw_safetensors(const std::string& path, const std::string& header, size_t data_bytes,
                           int64_t claimed_len = -1) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  const uint64_t n = claimed_len >= 0 ? static_cast<uint64_t>(claimed_len) : header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header << std::string(data_bytes, '\0');
}

TEST(CliErrors, SafetensorsProblems) {
  const std::string dir = make_model_dir("st");
  const std::string st = dir + "/model.safetensors";
  const auto size = fs::file_size(st);

  fs::resize_file(st, size - 1000);  // truncated
  expect_one_error(run("generate -n 1 --model " + dir), "model.safetensors",
                   "outside the data section");

  write_raw_safetensors(st, "{}", 0, /*claimed_len=*/1 << 20);
  expect_one_error(run("info --model " + dir), "model.safetensors", "larger than the file");

  const std::string t = R"("dtype":"F32","shape":[4])";
  write_raw_safetensors(
      st, R"({"a":{)" + t + R"(,"data_offsets":[0,16]},"b":{)" + t + R"(,"data_offsets":[8,24]}})",
      24);
  expect_one_error(run("info --model " + dir), "model.safetensors", "overlap");

  write_raw_safetensors(st, R"({"a":{)" + t + R"(,"data_offsets":[16,32]}})", 16);
  expect_one_error(run("info --model " + dir), "model.safetensors", "outside the data section");

  std::ofstream(st, std::ios::trunc) << "abc";
  expect_one_error(run("info --model " + dir), "model.safetensors", "too small");
}

TEST(CliErrors, MissingShard) {
  const std::string dir = make_model_dir("shards", 50'000);
  std::string victim;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("model-00002-of-", 0) == 0)
      victim = e.path().filename().string();
  ASSERT_FALSE(victim.empty());
  fs::remove(dir + "/" + victim);
  expect_one_error(run("generate -n 1 --model " + dir), victim, "no such file");
}

// 100,000 levels of arrays: what overflowed the stack (50,000 did not).
std::string deep_array() {
  return std::string(100'000, '[') + std::string(100'000, ']');
}

void replace_in_file(const std::string& path, const std::string& pattern,
                     const std::string& replacement) {
  std::string text = read_text_file(path).value();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex(pattern))) << path << " has no " << pattern;
  text.replace(static_cast<size_t>(m.position(0)), static_cast<size_t>(m.length(0)), replacement);
  ASSERT_TRUE(write_text_file(path, text).is_ok());
}

void expect_deep_json_error(const std::string& command, const std::string& file) {
  const CmdResult r = run(command);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  expect_one_error(r, file, "nested deeper than 512 levels");
}

TEST(CliErrors, DeepJsonInConfig) {
  const std::string dir = make_model_dir("deep-config");
  replace_in_file(dir + "/config.json", R"("vocab_size": *[0-9]+)",
                  "\"vocab_size\": " + deep_array());
  for (const char* cmd : {"info --model ", "generate -n 1 --model ", "serve --port 0 --model "})
    expect_deep_json_error(cmd + dir, "config.json");
}

TEST(CliErrors, DeepJsonInSafetensorsHeader) {
  const std::string dir = make_model_dir("deep-header");
  const std::string header = R"({"a": )" + deep_array() + "}";
  std::ofstream f(dir + "/model.safetensors", std::ios::binary | std::ios::trunc);
  const uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header;
  f.close();
  expect_deep_json_error("info --model " + dir, "model.safetensors");
}

TEST(CliErrors, DeepJsonInShardIndex) {
  const std::string dir = make_model_dir("deep-index", 50'000);
  const std::string index = dir + "/model.safetensors.index.json";
  replace_in_file(index, R"("model-00001-of-[0-9]+\.safetensors")", deep_array());
  expect_deep_json_error("info --model " + dir, "model.safetensors.index.json");
}

TEST(CliErrors, DeepJsonInTokenizerConfig) {
  // The demo model has a tokenizer and a chat template; --chat reads tokenizer_config.json.
  const CmdResult made = run("make-model --preset tiny --out " + (kTmp / "deep-tok").string());
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string dir = (kTmp / "deep-tok").string();
  const std::string config = dir + "/tokenizer_config.json";
  ASSERT_TRUE(fs::exists(config));
  auto j = parse_json(read_text_file(config).value(), config).value();
  j["chat_template"] = "PLACEHOLDER";
  ASSERT_TRUE(write_text_file(config, j.dump()).is_ok());
  replace_in_file(config, R"("PLACEHOLDER")", deep_array());
  expect_deep_json_error("generate -n 1 --chat hi --model " + dir, "tokenizer_config.json");
  expect_deep_json_error("serve --port 0 --model " + dir, "tokenizer_config.json");
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

using namespace cli_test;  // NOLINT

// [real-models]: a GGUF file is a model path, given as the file or as the folder holding it; a
// file that is not one, a truncated one and a folder of two are one error each.
TEST(CliGguf, FilesAndFolders) {
  const std::string golden = std::string(TESSERA_TEST_DATA) + "/golden/gguf_q4_k";
  CmdResult info = run("info " + golden + "/model.gguf");
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("Q4_K"), std::string::npos) << info.out;
  CmdResult gen = run("generate --model " + golden + " --prompt-ids 1,2,3 -n 4 --temperature 0");
  EXPECT_EQ(gen.exit_code, 0) << gen.err;

  const fs::path dir = kTmp / "gguf_files";
  fs::remove_all(dir);
  fs::create_directories(dir);
  ASSERT_TRUE(write_text_file((dir / "notes.txt").string(), "not a model").is_ok());
  expect_one_error(run("info " + (dir / "notes.txt").string()), "notes.txt", "not a GGUF file");
  // Truncated in the middle of its tensor data.
  const std::string bytes = read_text_file(golden + "/model.gguf").value();
  ASSERT_TRUE(write_text_file((dir / "cut.gguf").string(), bytes.substr(0, bytes.size() / 2)).is_ok());
  expect_one_error(run("generate -n 1 --prompt-ids 1 " + (dir / "cut.gguf").string()), "cut.gguf",
                   "runs past the end");
  ASSERT_TRUE(write_text_file((dir / "also.gguf").string(), bytes).is_ok());
  expect_one_error(run("info " + dir.string()), "gguf_files", "holds 2 GGUF files");
}

}  // namespace
}  // namespace tessera
