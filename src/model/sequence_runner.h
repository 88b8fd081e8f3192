// src/model/sequence_runner.h — runs one sequence through a ModelRunner (any backend) with an
// identity block table over the runner's first blocks. It is what `generate`, `logits` and
// `perplexity` use on the CLI; the engine (continuous batching) drives runners with many sequences.
#pragma once

#include <memory>
#include <vector>

#include "src/model/model_runner.h"

namespace tessera {

class SequenceRunner {
 public:
  // Over a CPU runner of its own on `model` (which must outlive it), with a cache of `capacity`
  // tokens. prefill_chunk: tokens per forward() call when feeding a long prompt (bounds activation
  // memory).
  static Expected<SequenceRunner> create(const LlamaModel& model, int64_t capacity,
                                         int32_t block_size = 16, int64_t prefill_chunk = 512);
  // Over `runner` (which must outlive it), using its blocks 0, 1, ...: capacity must fit in them.
  // Prompts are fed in chunks of at most min(prefill_chunk, runner.max_tokens_per_step()).
  static Expected<SequenceRunner> create(ModelRunner& runner, int64_t capacity, int64_t prefill_chunk = 8192);

  // Appends tokens; returns the logits of the last one [vocab], or of each one [n, vocab] with
  // all_logits.
  Expected<std::vector<float>> append(const std::vector<int32_t>& tokens, bool all_logits = false);
  // Appends tokens and returns the greedy next token (the runner's execute_greedy).
  Expected<int32_t> append_greedy(const std::vector<int32_t>& tokens);
  int64_t length() const { return length_; }
  void reset() { length_ = 0; }

 private:
  // The batch of tokens [begin, end) of `tokens`, placed after the current length.
  ForwardBatch chunk_batch(const std::vector<int32_t>& tokens, size_t begin, size_t end, bool all_logits) const;
  Status check_fits(size_t n) const;

  std::unique_ptr<ModelRunner> owned_;  // the CPU runner of the LlamaModel overload
  ModelRunner* runner_ = nullptr;
  std::vector<int32_t> block_table_;
  int64_t capacity_ = 0;
  int64_t prefill_chunk_ = 0;
  int64_t length_ = 0;
};

}  // namespace tessera
