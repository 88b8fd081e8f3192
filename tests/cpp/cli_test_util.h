// tests/cpp/cli_test_util.h — running the `tessera` binary from GoogleTest: its exit code and
// output, a small model to break, and the check that a bad input gives exactly one error line
// naming the file and the problem (test_cli.cpp, test_cli_files.cpp).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "src/core/json_util.h"
#include "src/core/mapped_file.h"
#include "src/model/make_model.h"

namespace tessera::cli_test {

namespace fs = std::filesystem;

struct CmdResult {
  int exit_code;
  std::string out, err;
};

inline const fs::path kTmp = fs::temp_directory_path() / "tessera_cli";

// Runs the binary with `args` (shell words) and the demo model under kTmp/home.
inline CmdResult run(const std::string& args) {
  fs::create_directories(kTmp);
  // Per process: two test binaries may run at once.
  const std::string tag = std::to_string(getpid());
  const std::string out = (kTmp / ("stdout-" + tag)).string(),
                    err = (kTmp / ("stderr-" + tag)).string();
  const std::string cmd = "TESSERA_HOME='" + (kTmp / "home").string() + "' '" + TESSERA_BINARY +
                          "' " + args + " > '" + out + "' 2> '" + err + "'";
  const int rc = std::system(cmd.c_str());
  CmdResult r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  r.out = read_text_file(out).value();
  r.err = read_text_file(err).value();
  return r;
}

inline int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// A valid small model to break in various ways.
inline std::string make_model_dir(const std::string& name, uint64_t max_shard = 5'000'000'000ull) {
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
inline void expect_one_error(const CmdResult& r, const std::string& file, const std::string& what) {
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

inline void set_config_field(const std::string& dir, const std::string& key, const Json& value) {
  auto j = parse_json(read_text_file(dir + "/config.json").value(), "config.json").value();
  if (value.is_null() && key.rfind("-", 0) == 0) {
    j.erase(key.substr(1));
  } else {
    j[key] = value;
  }
  ASSERT_TRUE(write_text_file(dir + "/config.json", j.dump()).is_ok());
}

}  // namespace tessera::cli_test
