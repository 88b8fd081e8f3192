// src/model/sequence_runner.h — runs one sequence through a LlamaModel over a private paged cache
// (identity block table). It is what `generate`, `logits` and `perplexity` use on the CLI; the
// engine (continuous batching) drives LlamaModel::forward directly with many sequences.
#pragma once

#include <vector>

#include "src/model/llama.h"

namespace tessera {

class SequenceRunner {
 public:
  // capacity: the most tokens this sequence will hold; prefill_chunk: tokens per forward() call
  // when feeding a long prompt (bounds activation memory).
  static Expected<SequenceRunner> create(const LlamaModel& model, int64_t capacity,
                                         int32_t block_size = 16, int64_t prefill_chunk = 512);

  // Appends tokens; returns the logits of the last one [vocab], or of each one [n, vocab] with
  // all_logits.
  Expected<std::vector<float>> append(const std::vector<int32_t>& tokens, bool all_logits = false);
  int64_t length() const { return length_; }
  void reset() { length_ = 0; }

 private:
  const LlamaModel* model_ = nullptr;
  CpuKvCache cache_;
  std::vector<int32_t> block_table_;
  int64_t capacity_ = 0;
  int64_t prefill_chunk_ = 0;
  int64_t length_ = 0;
};

}  // namespace tessera
