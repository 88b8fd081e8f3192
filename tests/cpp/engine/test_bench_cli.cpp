// `tessera bench --offline` end to end on the tiny test model: it runs every request to its full
// output length, prints the table and writes JSON; bad flags are one error line and exit code 2.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "engine_test_util.h"
#include "src/core/json_util.h"
#include "src/core/mapped_file.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

struct CmdResult {
  int exit_code = -1;
  std::string out, err;
};

CmdResult run_cli(const std::string& args) {
  std::ostringstream dir;
  dir << "tessera_bench_cli_" << ::getpid();
  const fs::path tmp = fs::temp_directory_path() / dir.str();
  fs::create_directories(tmp);
  const std::string out = (tmp / "stdout").string(), err = (tmp / "stderr").string();
  std::ostringstream cmd;
  cmd << "'" << TESSERA_BINARY << "' " << args << " > '" << out << "' 2> '" << err << "'";
  const int rc = std::system(cmd.str().c_str());
  CmdResult r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  r.out = read_text_file(out).value();
  r.err = read_text_file(err).value();
  return r;
}

TEST(BenchCli, OfflineRunsEveryRequestAndWritesJson) {
  const std::string model = engine::testing::tiny_model_dir();
  ASSERT_FALSE(model.empty());
  const std::string json_path = (fs::path(model) / "bench.json").string();
  std::ostringstream args;
  args << "bench --offline --model '" << model << "' --num-prompts 12 --input-len 20 --output-len 7"
       << " --shared-prefix-len 16 --max-num-seqs 4 --block-size 4 --kv-cache-mb 1 --json '" << json_path << "'";
  const CmdResult r = run_cli(args.str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("output tokens/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("TTFT"), std::string::npos);
  auto text = read_text_file(json_path);
  ASSERT_TRUE(text.has_value());
  auto j = parse_json(*text, "bench.json");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ((*j)["output_tokens"], 12 * 7);
  EXPECT_EQ((*j)["input_tokens"], 12 * 20);
  EXPECT_GT((*j)["cached_prompt_tokens"].get<int64_t>(), 0);  // the shared 16-token prefix
  EXPECT_EQ((*j)["ttft_ms"]["n"], 12);
  EXPECT_EQ((*j)["itl_ms"]["n"], 12 * 6);
  EXPECT_GT((*j)["output_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GE((*j)["ttft_ms"]["p99"].get<double>(), (*j)["ttft_ms"]["p50"].get<double>());
}

TEST(BenchCli, OfflineWithSampleStreams) {
  const std::string model = engine::testing::tiny_model_dir();
  ASSERT_FALSE(model.empty());
  const std::string json_path = (fs::path(model) / "bench_n.json").string();
  std::ostringstream args;
  args << "bench --offline --model '" << model << "' --num-prompts 5 --input-len 18 --output-len 4 --n 3"
       << " --max-num-seqs 8 --block-size 4 --kv-cache-mb 1 --no-prefix-caching --json '" << json_path << "'";
  const CmdResult r = run_cli(args.str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto text = read_text_file(json_path);
  ASSERT_TRUE(text.has_value());
  auto j = parse_json(*text, "bench_n.json");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ((*j)["config"]["n"], 3);
  EXPECT_EQ((*j)["output_tokens"], 5 * 3 * 4);  // every stream
  EXPECT_EQ((*j)["input_tokens"], 5 * 18);      // the prompt once per request
  EXPECT_EQ((*j)["ttft_ms"]["n"], 5 * 3);
  EXPECT_EQ((*j)["itl_ms"]["n"], 5 * 3 * 3);
}

TEST(BenchCli, BadFlagsAreOneErrorLine) {
  const std::string model = engine::testing::tiny_model_dir();
  CmdResult r = run_cli("bench --model '" + model + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--offline"), std::string::npos) << r.err;
  r = run_cli("bench --offline --model '" + model + "' --num-prompts 0");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("num-prompts"), std::string::npos) << r.err;
  r = run_cli("bench --offline --model '" + model + "' --input-len 5000");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("max_model_len"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tessera
