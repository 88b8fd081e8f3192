// src/model/sequence_runner.cpp — single-sequence driver of a ModelRunner.
#include "src/model/sequence_runner.h"

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace tessera {

Expected<SequenceRunner> SequenceRunner::create(const LlamaModel& model, int64_t capacity, int32_t block_size,
                                                int64_t prefill_chunk) {
  if (capacity <= 0) return invalid_argument("sequence capacity must be positive");
  if (block_size <= 0) return invalid_argument("block size must be positive");
  const int64_t blocks = (capacity + block_size - 1) / block_size;
  if (blocks > INT32_MAX) return invalid_argument("sequence capacity is too large");
  // The runner shares the model without owning it (the caller keeps it alive).
  std::shared_ptr<const LlamaModel> borrowed(&model, [](const LlamaModel*) {});
  TESSERA_ASSIGN_OR_RETURN(auto cpu, CpuModelRunner::create(std::move(borrowed), static_cast<int32_t>(blocks), block_size));
  std::unique_ptr<ModelRunner> owned(std::move(cpu));
  TESSERA_ASSIGN_OR_RETURN(SequenceRunner r, create(*owned, capacity, prefill_chunk));
  r.owned_ = std::move(owned);
  return r;
}

Expected<SequenceRunner> SequenceRunner::create(ModelRunner& runner, int64_t capacity, int64_t prefill_chunk) {
  if (capacity <= 0) return invalid_argument("sequence capacity must be positive");
  const int64_t bs = runner.block_size();
  const int64_t blocks = (capacity + bs - 1) / bs;
  if (blocks > runner.num_blocks())
    return invalid_argument("a sequence of " + std::to_string(capacity) + " tokens needs " + std::to_string(blocks) +
                            " KV blocks of " + std::to_string(bs) + " tokens; the cache has " +
                            std::to_string(runner.num_blocks()));
  SequenceRunner r;
  r.runner_ = &runner;
  r.capacity_ = capacity;
  r.prefill_chunk_ = std::max<int64_t>(1, std::min(prefill_chunk, runner.max_tokens_per_step()));
  r.block_table_.resize(static_cast<size_t>(blocks));
  std::iota(r.block_table_.begin(), r.block_table_.end(), 0);
  return r;
}

Status SequenceRunner::check_fits(size_t n) const {
  if (n == 0) return invalid_argument("append: no tokens");
  if (length_ + static_cast<int64_t>(n) > capacity_)
    return invalid_argument("sequence of " + std::to_string(length_ + static_cast<int64_t>(n)) +
                            " tokens exceeds the capacity of " + std::to_string(capacity_));
  return Status::ok();
}

ForwardBatch SequenceRunner::chunk_batch(const std::vector<int32_t>& tokens, size_t begin, size_t end,
                                         bool all_logits) const {
  ForwardBatch b;
  b.token_ids.assign(tokens.begin() + static_cast<std::ptrdiff_t>(begin), tokens.begin() + static_cast<std::ptrdiff_t>(end));
  const int32_t n = static_cast<int32_t>(end - begin);
  for (int32_t i = 0; i < n; ++i) {
    b.positions.push_back(static_cast<int32_t>(length_ + i));
    b.slot_mapping.push_back(length_ + i);  // identity block table: slot == position
  }
  b.cu_seqlens_q = {0, n};
  b.seq_lens = {static_cast<int32_t>(length_ + n)};
  b.block_table = block_table_;
  b.max_blocks_per_seq = static_cast<int32_t>(block_table_.size());
  b.all_logits = all_logits;
  return b;
}

Expected<std::vector<float>> SequenceRunner::append(const std::vector<int32_t>& tokens, bool all_logits) {
  TESSERA_RETURN_IF_ERROR(check_fits(tokens.size()));
  const int64_t vocab = runner_->config().vocab_size;
  std::vector<float> out;
  std::vector<float> chunk_logits;
  for (size_t begin = 0; begin < tokens.size(); begin += static_cast<size_t>(prefill_chunk_)) {
    const size_t end = std::min(tokens.size(), begin + static_cast<size_t>(prefill_chunk_));
    TESSERA_RETURN_IF_ERROR(runner_->execute(chunk_batch(tokens, begin, end, all_logits), chunk_logits));
    length_ += static_cast<int64_t>(end - begin);
    if (all_logits) {
      out.insert(out.end(), chunk_logits.begin(), chunk_logits.end());
    } else if (end == tokens.size()) {
      out.assign(chunk_logits.begin(), chunk_logits.begin() + vocab);
    }
  }
  return out;
}

Expected<int32_t> SequenceRunner::append_greedy(const std::vector<int32_t>& tokens) {
  TESSERA_RETURN_IF_ERROR(check_fits(tokens.size()));
  std::vector<int32_t> next;
  for (size_t begin = 0; begin < tokens.size(); begin += static_cast<size_t>(prefill_chunk_)) {
    const size_t end = std::min(tokens.size(), begin + static_cast<size_t>(prefill_chunk_));
    TESSERA_RETURN_IF_ERROR(runner_->execute_greedy(chunk_batch(tokens, begin, end, false), next));
    length_ += static_cast<int64_t>(end - begin);
  }
  return next.at(0);
}

}  // namespace tessera
