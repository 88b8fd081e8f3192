// tests/cpp/tokenizer/test_tokenize_cli.cpp — `tessera tokenize`, `detokenize` and
// `generate --prompt/--chat` through the real binary, on a make-model checkpoint (which carries
// the demo tokenizer), plus their errors.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace {

struct Result {
  int code;
  std::string out;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(TESSERA_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, ""};
  if (!p) return r;
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class TokenizeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (std::filesystem::temp_directory_path() / ("tessera_tokcli_" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(dir_);
    ASSERT_EQ(run("make-model --preset tiny --out " + dir_).code, 0);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  static std::string dir_;
};
std::string TokenizeCli::dir_;

TEST_F(TokenizeCli, TokenizeDetokenizeRoundTrip) {
  Result t = run("tokenize --model " + dir_ + " --text 'Hello, world!'");
  ASSERT_EQ(t.code, 0) << t.out;
  ASSERT_EQ(t.out.rfind("[1, ", 0), 0u) << t.out;  // BOS first (the post-processor)
  const std::string ids = t.out.substr(0, t.out.find('\n'));
  Result d = run("detokenize --skip-special --model " + dir_ + " --ids '" + ids + "'");
  ASSERT_EQ(d.code, 0) << d.out;
  EXPECT_EQ(d.out, "Hello, world!\n");
  Result n = run("tokenize --no-special --model " + dir_ + " --text 'Hello'");
  EXPECT_EQ(n.out.rfind("[1,", 0), std::string::npos) << n.out;
}

TEST_F(TokenizeCli, GenerateFromTextStreamsText) {
  Result g = run("generate --model " + dir_ + " --prompt 'The engine' -n 8 --seed 1");
  ASSERT_EQ(g.code, 0) << g.out;
  EXPECT_NE(g.out.find("prompt ("), std::string::npos);
  Result c = run("generate --model " + dir_ + " --chat 'hi there' -n 4 --seed 1");
  ASSERT_EQ(c.code, 0) << c.out;
  EXPECT_NE(c.out.find("user: hi there\nassistant:"), std::string::npos) << c.out;
}

TEST_F(TokenizeCli, ErrorsAreOneLine) {
  Result r = run("tokenize --model " + dir_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("exactly one of --text, --file, --batch"), std::string::npos) << r.out;
  r = run("detokenize --model " + dir_ + " --ids '[1, x]'");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--ids"), std::string::npos) << r.out;
  r = run("detokenize --model " + dir_ + " --ids '[999999]'");
  EXPECT_NE(r.out.find("outside the vocabulary"), std::string::npos) << r.out;
  const std::string empty = dir_ + "_empty";
  std::filesystem::create_directories(empty);
  r = run("tokenize --model " + empty + " --text hi");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("has no tokenizer.json"), std::string::npos) << r.out;
  std::filesystem::remove_all(empty);
  r = run("generate --model " + dir_ + " --prompt hi --prompt-ids 1,2");
  EXPECT_NE(r.out.find("at most one of"), std::string::npos) << r.out;
}

}  // namespace
