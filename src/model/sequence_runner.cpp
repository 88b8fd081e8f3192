// src/model/sequence_runner.cpp — single-sequence driver of LlamaModel::forward.
#include "src/model/sequence_runner.h"

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace tessera {

Expected<SequenceRunner> SequenceRunner::create(const LlamaModel& model, int64_t capacity,
                                                int32_t block_size, int64_t prefill_chunk) {
  if (capacity <= 0) return invalid_argument("sequence capacity must be positive");
  SequenceRunner r;
  r.model_ = &model;
  r.capacity_ = capacity;
  r.prefill_chunk_ = std::max<int64_t>(1, prefill_chunk);
  const int64_t blocks = (capacity + block_size - 1) / block_size;
  if (blocks > INT32_MAX) return invalid_argument("sequence capacity is too large");
  TESSERA_ASSIGN_OR_RETURN(r.cache_, CpuKvCache::create(model.config(), static_cast<int32_t>(blocks), block_size));
  r.block_table_.resize(static_cast<size_t>(blocks));
  std::iota(r.block_table_.begin(), r.block_table_.end(), 0);
  return r;
}

Expected<std::vector<float>> SequenceRunner::append(const std::vector<int32_t>& tokens, bool all_logits) {
  if (tokens.empty()) return invalid_argument("append: no tokens");
  if (length_ + static_cast<int64_t>(tokens.size()) > capacity_)
    return invalid_argument("sequence of " + std::to_string(length_ + static_cast<int64_t>(tokens.size())) +
                            " tokens exceeds the capacity of " + std::to_string(capacity_));
  const int64_t vocab = model_->config().vocab_size;
  std::vector<float> out;
  std::vector<float> chunk_logits;
  for (size_t begin = 0; begin < tokens.size(); begin += static_cast<size_t>(prefill_chunk_)) {
    const size_t end = std::min(tokens.size(), begin + static_cast<size_t>(prefill_chunk_));
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
    TESSERA_RETURN_IF_ERROR(model_->forward(b, cache_, chunk_logits));
    length_ += n;
    if (all_logits) {
      out.insert(out.end(), chunk_logits.begin(), chunk_logits.end());
    } else if (end == tokens.size()) {
      out.assign(chunk_logits.begin(), chunk_logits.begin() + vocab);
    }
  }
  return out;
}

}  // namespace tessera
