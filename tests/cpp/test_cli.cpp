// The `tessera` binary end to end: each command on a small model, and every bad-input case of the
// [foundation] issue giving exactly one stderr line that names the file and the problem, with a
// non-zero exit and no crash.
#include <algorithm>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/core/mapped_file.h"
#include "src/core/npy.h"
#include "src/model/make_model.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

struct CmdResult {
  int exit_code;
  std::string out, err;
};

const fs::path kTmp = fs::temp_directory_path() / "tessera_cli";

CmdResult run(const std::string& args) {
  fs::create_directories(kTmp);
  const std::string out = (kTmp / "stdout").string(), err = (kTmp / "stderr").string();
  const std::string cmd = "TESSERA_HOME='" + (kTmp / "home").string() + "' '" + TESSERA_BINARY + "' " + args +
                          " > '" + out + "' 2> '" + err + "'";
  const int rc = std::system(cmd.c_str());
  CmdResult r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  r.out = read_text_file(out).value();
  r.err = read_text_file(err).value();
  return r;
}

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// A valid small model to break in various ways.
std::string make_model_dir(const std::string& name, uint64_t max_shard = 5'000'000'000ull) {
  const std::string dir = (kTmp / name).string();
  fs::remove_all(dir);
  ModelConfig c = *model_preset("tiny");
  c.hidden_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 128;
  c.vocab_size = 256;
  EXPECT_TRUE(make_random_model(c, dir, 3, DType::kBF16, max_shard, "cli-test").is_ok());
  return dir;
}

// One line on stderr (after any "note:" lines about random weights), naming `file` and `what`.
void expect_one_error(const CmdResult& r, const std::string& file, const std::string& what) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << "crashed: " << r.err;
  std::istringstream lines(r.err);
  std::string line, error_line;
  int errors = 0;
  while (std::getline(lines, line))
    if (line.find("error:") != std::string::npos) {
      ++errors;
      error_line = line;
    }
  EXPECT_EQ(errors, 1) << r.err;
  EXPECT_NE(error_line.find(file), std::string::npos) << error_line;
  EXPECT_NE(error_line.find(what), std::string::npos) << error_line;
}

void set_config_field(const std::string& dir, const std::string& key, const Json& value) {
  auto j = parse_json(read_text_file(dir + "/config.json").value(), "config.json").value();
  if (value.is_null() && key.rfind("-", 0) == 0) {
    j.erase(key.substr(1));
  } else {
    j[key] = value;
  }
  ASSERT_TRUE(write_text_file(dir + "/config.json", j.dump()).is_ok());
}

TEST(Cli, GenerateStreamsTokensFromTheDemoModel) {
  CmdResult r = run("generate -n 5 --seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 1);
  std::istringstream ids(r.out);
  int n = 0, id;
  while (ids >> id) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 4096);
    ++n;
  }
  EXPECT_EQ(n, 5);
  EXPECT_NE(r.err.find("RANDOM weights"), std::string::npos);
  EXPECT_NE(r.err.find("tok/s"), std::string::npos);
  // Same seed, same tokens; greedy is independent of the seed.
  EXPECT_EQ(run("generate -n 5 --seed 1").out, r.out);
  EXPECT_EQ(run("generate -n 4 --temperature 0 --seed 1").out, run("generate -n 4 --temperature 0 --seed 2").out);
}

TEST(Cli, LogitsPerplexityInfoAndMakeModel) {
  const std::string dir = make_model_dir("good");
  const std::string npy = (kTmp / "logits.npy").string();
  CmdResult r = run("logits --model " + dir + " --prompt-ids 1,2,3,250 --out " + npy);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto a = read_npy(npy);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->shape, (Shape{4, 256}));
  EXPECT_EQ(a->descr, "<f4");

  const std::string ids = (kTmp / "ids.txt").string();
  std::ofstream(ids) << "1 2 3 4 5\n6,7,8\n9 10\n";
  r = run("perplexity --model " + dir + " --file " + ids + " --ctx 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("perplexity: "), std::string::npos);
  EXPECT_NE(r.out.find("over 7 predicted tokens"), std::string::npos) << r.out;  // windows of 4,4,2

  r = run("info --model " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("LlamaForCausalLM (random weights)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4 heads, 2 kv heads, head_dim 16"), std::string::npos) << r.out;

  const std::string made = (kTmp / "made").string();
  fs::remove_all(made);
  r = run("make-model --preset tiny --seed 4 --dtype f16 --out " + made);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(made + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(made + "/README.md"));
}

TEST(CliErrors, UsageErrors) {
  CmdResult r = run("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  expect_one_error(run("generate --temprature 0.5"), "--temprature", "unknown flag");
  expect_one_error(run("generate -n abc"), "--n", "must be an integer");
  expect_one_error(run("generate --n 3 -n 4"), "--n", "given twice");
  expect_one_error(run("generate stray"), "stray", "unexpected argument");
  expect_one_error(run("generate --top-p 2"), "--top-p", "must be in");
  expect_one_error(run("generate --prompt-ids 1,x"), "--prompt-ids", "expected token ids");
  expect_one_error(run("generate --prompt-ids 99999"), "99999", "outside the vocabulary");
  expect_one_error(run("make-model --preset gpt-9 --out /tmp/x"), "gpt-9", "unknown preset");
  expect_one_error(run("generate --model /nonexistent/model"), "/nonexistent/model", "no such model folder");
  expect_one_error(run("perplexity --file /nonexistent/ids.txt"), "/nonexistent/ids.txt", "no such file");
}

// `serve` rejects bad flags before it binds a port or loads anything (so none of these hangs).
TEST(CliErrors, ServeFlags) {
  expect_one_error(run("serve --port abc"), "--port", "must be an integer");
  expect_one_error(run("serve --port 70000"), "--port", "must be in [0, 65535]");
  expect_one_error(run("serve --max-num-seqs 0"), "--max-num-seqs", "must be in");
  expect_one_error(run("serve --max-queue x"), "--max-queue", "must be an integer");
  expect_one_error(run("serve --bogus"), "--bogus", "unknown flag");
  expect_one_error(run("serve --model /nonexistent/model"), "/nonexistent/model", "no such model folder");
}

TEST(CliErrors, ConfigProblems) {
  const std::string dir = make_model_dir("cfg");
  set_config_field(dir, "-hidden_size", nullptr);
  expect_one_error(run("generate -n 1 --model " + dir), "config.json", "'hidden_size' is missing");
  set_config_field(dir, "hidden_size", "abc");
  expect_one_error(run("generate -n 1 --model " + dir), "config.json", "'hidden_size' must be an integer");
  set_config_field(dir, "hidden_size", 64);
  set_config_field(dir, "architectures", Json::array({"GPT2LMHeadModel"}));
  expect_one_error(run("info --model " + dir), "config.json", "'GPT2LMHeadModel' is not supported");
  set_config_field(dir, "architectures", Json::array({"LlamaForCausalLM"}));
  set_config_field(dir, "intermediate_size", 100);
  expect_one_error(run("generate -n 1 --model " + dir), "model.safetensors", "config.json implies [100, 64]");
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
  expect_one_error(run("generate -n 1 --model " + dir), "model.safetensors", "outside the data section");

  write_raw_safetensors(st, "{}", 0, /*claimed_len=*/1 << 20);
  expect_one_error(run("info --model " + dir), "model.safetensors", "larger than the file");

  const std::string t = R"("dtype":"F32","shape":[4])";
  write_raw_safetensors(st, R"({"a":{)" + t + R"(,"data_offsets":[0,16]},"b":{)" + t + R"(,"data_offsets":[8,24]}})", 24);
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
    if (e.path().filename().string().rfind("model-00002-of-", 0) == 0) victim = e.path().filename().string();
  ASSERT_FALSE(victim.empty());
  fs::remove(dir + "/" + victim);
  expect_one_error(run("generate -n 1 --model " + dir), victim, "no such file");
}

}  // namespace
}  // namespace tessera
