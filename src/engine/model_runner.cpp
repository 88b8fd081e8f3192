// src/engine/model_runner.cpp — SchedulerOutput → ForwardBatch (model_runner.h).
#include "src/engine/model_runner.h"

#include <algorithm>

namespace tessera::engine {

ForwardBatch build_forward_batch(const SchedulerOutput& output, int32_t block_size) {
  ForwardBatch b;
  size_t max_blocks = 1;
  for (const ScheduledRequest& s : output.scheduled) max_blocks = std::max(max_blocks, s.block_ids.size());
  b.max_blocks_per_seq = static_cast<int32_t>(max_blocks);
  b.block_table.assign(output.scheduled.size() * max_blocks, 0);
  b.cu_seqlens_q.push_back(0);
  const size_t num_tokens = static_cast<size_t>(output.num_scheduled_tokens);
  b.token_ids.reserve(num_tokens);
  b.positions.reserve(num_tokens);
  b.slot_mapping.reserve(num_tokens);
  for (size_t i = 0; i < output.scheduled.size(); ++i) {
    const ScheduledRequest& s = output.scheduled[i];
    const std::vector<int32_t>& tokens = s.request->token_ids;
    for (int64_t pos = s.num_computed_tokens; pos < s.num_computed_tokens + s.num_new_tokens; ++pos) {
      b.token_ids.push_back(tokens[static_cast<size_t>(pos)]);
      b.positions.push_back(static_cast<int32_t>(pos));
      const int64_t block = s.block_ids[static_cast<size_t>(pos / block_size)];
      b.slot_mapping.push_back(block * block_size + pos % block_size);
    }
    b.cu_seqlens_q.push_back(static_cast<int32_t>(b.token_ids.size()));
    b.seq_lens.push_back(static_cast<int32_t>(s.num_computed_tokens + s.num_new_tokens));
    std::copy(s.block_ids.begin(), s.block_ids.end(), b.block_table.begin() + static_cast<std::ptrdiff_t>(i * max_blocks));
  }
  b.all_logits = false;
  return b;
}

}  // namespace tessera::engine
