// src/engine/stop_strings.cpp — stop strings over streamed text, and per-token stop decisions
// (see stop_strings.h).
#include "src/engine/stop_strings.h"

#include <algorithm>
#include <utility>

namespace tessera::engine {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  // An empty stop string would match everywhere; SamplingParams::validate rejects it, and here it
  // simply never matches.
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

StopStringMatcher::Update StopStringMatcher::feed(std::string_view delta, bool check) {
  Update u;
  if (stopped_) return u;
  const size_t old = held_.size();
  held_.append(delta);
  if (check) {
    // The first end position in the new text where some stop string ends; the longest of those.
    // Every match lies inside held_: a stop string that began before it would have been held.
    for (size_t end = old + 1; end <= held_.size(); ++end) {
      std::optional<size_t> best;
      for (size_t i = 0; i < stops_.size(); ++i) {
        const std::string& s = stops_[i];
        if (s.size() > end || (best && s.size() <= stops_[*best].size())) continue;
        if (held_.compare(end - s.size(), s.size(), s) == 0) best = i;
      }
      if (best) {
        u.text = held_.substr(0, end - stops_[*best].size());
        u.matched = best;
        held_.clear();
        stopped_ = true;
        return u;
      }
    }
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const std::string& s : stops_) {
    for (size_t len = std::min(s.size() - 1, held_.size()); len > keep; --len) {
      if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
        keep = len;
        break;
      }
    }
  }
  u.text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return u;
}

std::string StopStringMatcher::flush() {
  std::string out;
  if (!stopped_) out.swap(held_);
  return out;
}

StopChecker::StopChecker(const SamplingParams& params, std::span<const int32_t> eos_token_ids,
                         int64_t max_output_tokens)
    : stop_ids_(params.stop_token_ids),
      min_tokens_(params.min_tokens),
      max_output_(max_output_tokens),
      matcher_(params.stop) {
  if (!params.ignore_eos) stop_ids_.insert(stop_ids_.end(), eos_token_ids.begin(), eos_token_ids.end());
}

bool StopChecker::is_stop_token(int32_t token) const {
  return std::find(stop_ids_.begin(), stop_ids_.end(), token) != stop_ids_.end();
}

StopDecision StopChecker::on_token(int32_t token, std::string_view text) {
  ++num_output_;
  const bool check = num_output_ > min_tokens_;
  StopDecision d;
  if (check && is_stop_token(token)) {
    d.text = matcher_.flush();  // the stop token's own text is dropped, as vLLM does
    d.finish = FinishReason::kStop;
    d.stop_token = token;
    return d;
  }
  StopStringMatcher::Update u = matcher_.feed(text, check);
  d.text = std::move(u.text);
  if (u.matched) {
    d.finish = FinishReason::kStop;
    d.stop_string = matcher_.stops()[*u.matched];
    return d;
  }
  if (num_output_ >= max_output_) {
    d.text.append(matcher_.flush());
    d.finish = FinishReason::kLength;
  }
  return d;
}

}  // namespace tessera::engine
