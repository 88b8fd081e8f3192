// src/engine/stop_strings.h — when a generation stops, and what text it streams on the way.
//
// StopStringMatcher watches streamed text deltas for stop strings that may straddle any number of
// token boundaries. It holds back only the longest tail of the text that could still be the start
// of a stop string and releases everything before it at once. On a match it truncates the output
// where the stop string begins (OpenAI: the stop string is not part of the output). Which match
// wins is the one that ends first, and of those the longest: the same answer whether the text
// comes in one delta or one byte at a time. Matching is on bytes; UTF-8 text and stop strings
// match only at character boundaries, and text split inside a character is held like any other.
//
// StopChecker applies a request's stop conditions to each sampled token, as vLLM does: nothing
// stops before min_tokens tokens are out; then an EOS token (unless ignore_eos) or a stop token id
// ends the generation and its text is dropped, a stop string ends it where it begins, and the
// max_tokens-th token ends it with "length" (a stop on that same token wins, as "stop").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/engine/sampler.h"
#include "tessera/engine.h"  // FinishReason

namespace tessera::engine {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);

  struct Update {
    std::string text;               // safe to stream now
    std::optional<size_t> matched;  // index in the stop list of the string that ended the output
  };
  // Appends `delta` to the output. With check false (before min_tokens) no match may end in it,
  // but its tail is still held back, since a stop string may begin there and end later.
  Update feed(std::string_view delta, bool check = true);
  // The held-back tail, released when the generation ends for another reason.
  std::string flush();

  bool stopped() const { return stopped_; }
  const std::vector<std::string>& stops() const { return stops_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;  // never contains a whole stop string that ends after a checked position
  bool stopped_ = false;
};

struct StopDecision {
  std::string text;                     // text to stream for this token (possibly empty)
  std::optional<FinishReason> finish;   // kStop or kLength when the generation ends here
  std::optional<int32_t> stop_token;    // the EOS or stop token id that ended it
  std::optional<std::string> stop_string;  // the stop string that ended it
};

class StopChecker {
 public:
  // max_output_tokens: the request's max_tokens, capped by what the context has room for.
  StopChecker(const SamplingParams& params, std::span<const int32_t> eos_token_ids, int64_t max_output_tokens);

  // The token just sampled and the text it added (the incremental detokenizer's delta). Call once
  // per token, in order; after a decision with `finish`, do not call again.
  StopDecision on_token(int32_t token, std::string_view text);
  int64_t num_output_tokens() const { return num_output_; }

 private:
  bool is_stop_token(int32_t token) const;

  std::vector<int32_t> stop_ids_;  // stop_token_ids, then EOS unless ignore_eos
  int64_t min_tokens_;
  int64_t max_output_;
  int64_t num_output_ = 0;
  StopStringMatcher matcher_;
};

}  // namespace tessera::engine
