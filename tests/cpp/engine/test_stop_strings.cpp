// Stop strings over streamed text: every way of splitting the text into deltas gives the same
// output; only a possible stop-string start is ever held back; overlapping and multiple stop
// strings; UTF-8 split inside characters; and StopChecker's per-token decisions.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/engine/stop_strings.h"

namespace tessera::engine {
namespace {

struct Run {
  std::string out;
  bool stopped = false;
  std::optional<size_t> matched;
};

// Feeds `pieces` in order and concatenates what is released (plus the flush if no stop).
Run feed_all(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopStringMatcher m(stops);
  Run r;
  for (const std::string& p : pieces) {
    StopStringMatcher::Update u = m.feed(p);
    r.out += u.text;
    if (u.matched) {
      r.stopped = true;
      r.matched = u.matched;
      break;
    }
  }
  if (!r.stopped) r.out += m.flush();
  return r;
}

// Every split of `text` into contiguous deltas (2^(n-1) of them; text short).
std::vector<std::vector<std::string>> all_splits(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  const size_t n = text.size();
  for (uint64_t mask = 0; mask < (uint64_t{1} << (n - 1)); ++mask) {
    std::vector<std::string> pieces;
    size_t start = 0;
    for (size_t i = 1; i < n; ++i) {
      if (mask >> (i - 1) & 1) {
        pieces.push_back(text.substr(start, i - start));
        start = i;
      }
    }
    pieces.push_back(text.substr(start));
    out.push_back(std::move(pieces));
  }
  return out;
}

void expect_every_split(const std::vector<std::string>& stops, const std::string& text, const std::string& want,
                        std::optional<size_t> want_match) {
  for (const auto& pieces : all_splits(text)) {
    const Run r = feed_all(stops, pieces);
    std::string joined;
    for (const auto& p : pieces) joined += p + "|";
    ASSERT_EQ(r.out, want) << "deltas " << joined;
    ASSERT_EQ(r.matched, want_match) << "deltas " << joined;
  }
}

TEST(StopStrings, TruncatesAtTheStopStringAcrossAnySplit) {
  expect_every_split({"END"}, "hello END world", "hello ", 0);
  expect_every_split({"\n\n"}, "a\nb\n\nc", "a\nb", 0);
  expect_every_split({"xyz"}, "no stop here", "no stop here", std::nullopt);
  expect_every_split({"stop"}, "stostostop", "stosto", 0);  // a false start, then the match
}

TEST(StopStrings, OverlappingPrefixes) {
  expect_every_split({"aab"}, "aaab", "a", 0);       // "aa" held, then "aaa": one "a" is safe
  expect_every_split({"abab"}, "abababx", "", 0);    // the first full occurrence
  expect_every_split({"abcd", "bc"}, "xabce", "xa", 1);  // "bc" ends first
  expect_every_split({"abcd", "bcd"}, "xabcd", "x", 0);  // same end: the longest wins
  expect_every_split({"bcd", "abcd"}, "xabcd", "x", 1);
}

TEST(StopStrings, MultipleStopStrings) {
  expect_every_split({"</s>", "User:", "###"}, "answer###User:", "answer", 2);
  expect_every_split({"</s>", "User:", "###"}, "answerUser:###", "answer", 1);
  expect_every_split({"cat", "at"}, "a cat", "a ", 0);  // both end together: the longer wins
  expect_every_split({"cat", "at"}, "a hat cat", "a h", 1);
}

TEST(StopStrings, Utf8SplitInsideCharacters) {
  // Deltas split at every byte, so inside the 3- and 4-byte characters too.
  expect_every_split({"世界"}, "你好世界!", "你好", 0);
  expect_every_split({"🙂"}, "ok 🙂 done", "ok ", 0);
  expect_every_split({"é"}, "café au lait", "caf", 0);
  expect_every_split({"界", "!"}, "世界!", "世", 0);
}

TEST(StopStrings, HoldsBackOnlyAPossibleStart) {
  StopStringMatcher m({"###", "<|end|>"});
  EXPECT_EQ(m.feed("abc").text, "abc");  // nothing could start a stop string
  EXPECT_EQ(m.feed("de#").text, "de");   // "#" could
  EXPECT_EQ(m.feed("#x").text, "##x");   // "##x" cannot any more
  EXPECT_EQ(m.feed("<|e").text, "");
  EXPECT_EQ(m.feed("nd").text, "");      // "<|end" still a prefix of "<|end|>"
  EXPECT_EQ(m.feed("?").text, "<|end?");
  EXPECT_EQ(m.feed("<").text, "");
  EXPECT_EQ(m.flush(), "<");
  // The invariant on a long random-ish stream: released + held == everything fed; held is short.
  StopStringMatcher n({"abcab"});
  std::string fed, released;
  const std::string text = "abcadabcaxabcbcaabcab";
  for (char c : text) {
    fed += c;
    StopStringMatcher::Update u = n.feed(std::string(1, c));
    released += u.text;
    if (u.matched) break;
    EXPECT_LE(fed.size() - released.size(), 4u);
    EXPECT_EQ(fed.compare(0, released.size(), released), 0);
  }
  EXPECT_TRUE(n.stopped());
  EXPECT_EQ(released, text.substr(0, text.find("abcab")));
}

TEST(StopStrings, UncheckedTextDoesNotMatchButIsHeld) {
  StopStringMatcher m({"ab", "b"});
  StopStringMatcher::Update u = m.feed("xb", /*check=*/false);  // "b" ends in unchecked text
  EXPECT_FALSE(u.matched);
  EXPECT_EQ(u.text, "xb");
  u = m.feed("a", false);
  EXPECT_EQ(u.text, "");  // "a" may start "ab"
  u = m.feed("b", true);  // "ab" ends in checked text: stop where it began
  EXPECT_EQ(u.matched, std::optional<size_t>(0));
  EXPECT_EQ(u.text, "");
  EXPECT_EQ(m.feed("more").text, "");  // nothing after a stop
}

TEST(StopChecker, EosStopTokensAndLength) {
  const std::vector<int32_t> eos = {2};
  SamplingParams p;
  p.stop_token_ids = {7};
  StopChecker c(p, eos, 4);
  StopDecision d = c.on_token(10, "Hi");
  EXPECT_EQ(d.text, "Hi");
  EXPECT_FALSE(d.finish);
  d = c.on_token(2, "</s>");
  EXPECT_EQ(d.finish, FinishReason::kStop);
  EXPECT_EQ(d.stop_token, std::optional<int32_t>(2));
  EXPECT_EQ(d.text, "");  // the stop token's text is dropped

  StopChecker c2(p, eos, 3);
  EXPECT_FALSE(c2.on_token(10, "a").finish);
  EXPECT_EQ(c2.on_token(7, "x").stop_token, std::optional<int32_t>(7));

  StopChecker len(p, eos, 2);
  EXPECT_FALSE(len.on_token(10, "a").finish);
  d = len.on_token(11, "b");
  EXPECT_EQ(d.finish, FinishReason::kLength);
  EXPECT_EQ(d.text, "b");

  StopChecker last(p, eos, 2);  // a stop on the last allowed token is a stop, not length
  last.on_token(10, "a");
  EXPECT_EQ(last.on_token(2, "").finish, FinishReason::kStop);
}

TEST(StopChecker, IgnoreEosAndMinTokens) {
  const std::vector<int32_t> eos = {2};
  SamplingParams p;
  p.ignore_eos = true;
  p.stop_token_ids = {7};
  StopChecker c(p, eos, 10);
  EXPECT_FALSE(c.on_token(2, "").finish);  // EOS is just a token
  EXPECT_EQ(c.on_token(7, "").finish, FinishReason::kStop);

  SamplingParams q;
  q.min_tokens = 2;
  q.stop = {"!"};
  StopChecker m(q, eos, 10);
  EXPECT_FALSE(m.on_token(2, "").finish);   // token 1 < min_tokens: no stop
  StopDecision d = m.on_token(5, "a!");      // token 2: the stop string is not checked yet
  EXPECT_FALSE(d.finish);
  EXPECT_EQ(d.text, "a!");
  d = m.on_token(6, "b!c");
  EXPECT_EQ(d.finish, FinishReason::kStop);
  EXPECT_EQ(d.stop_string, std::optional<std::string>("!"));
  EXPECT_EQ(d.text, "b");
}

TEST(StopChecker, LengthReleasesHeldText) {
  SamplingParams p;
  p.stop = {"###"};
  StopChecker c(p, {}, 2);
  EXPECT_EQ(c.on_token(1, "x#").text, "x");
  const StopDecision d = c.on_token(1, "#");
  EXPECT_EQ(d.finish, FinishReason::kLength);
  EXPECT_EQ(d.text, "##");  // the held "##" was not a stop string after all
}

}  // namespace
}  // namespace tessera::engine
