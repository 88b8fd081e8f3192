// src/engine/model_runner.h — the device side of a step: turns a SchedulerOutput into the paged-KV
// batch (kernels/attention/paged_kv.h) and runs the model over the KV cache it owns.
//
// ModelRunner is the seam a GPU runner slots into: it owns the KV cache (device memory) and gets
// the same host-side ForwardBatch; it returns one row of logits per scheduled request, in the
// scheduler's order, whether or not that request samples this step. build_forward_batch is plain
// bookkeeping and shared by every backend.
#pragma once

#include <memory>
#include <vector>

#include "src/engine/scheduler.h"
#include "src/model/llama.h"

namespace tessera::engine {

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual const ModelConfig& config() const = 0;
  virtual int32_t num_blocks() const = 0;
  virtual int32_t block_size() const = 0;
  // Runs one step. logits: [num_seqs, vocab] fp32, the last new token of each sequence.
  virtual Status execute(const ForwardBatch& batch, std::vector<float>& logits) = 0;
};

// The scheduled tokens packed back to back: token ids, absolute positions, the slot of each (its
// block from the request's block list, its offset in the block), cu_seqlens_q, seq_lens (computed
// + new) and the block table padded with block 0 to the longest list in the batch.
ForwardBatch build_forward_batch(const SchedulerOutput& output, int32_t block_size);

// Blocks of `block_size` tokens that fit in `bytes` of fp32 K and V for every layer.
int64_t kv_blocks_for_bytes(const ModelConfig& config, int32_t block_size, int64_t bytes, int64_t bytes_per_value = 4);

// LlamaModel::forward over a host CpuKvCache.
class CpuModelRunner : public ModelRunner {
 public:
  static Expected<std::unique_ptr<CpuModelRunner>> create(std::shared_ptr<const LlamaModel> model,
                                                          int32_t num_blocks, int32_t block_size);
  const ModelConfig& config() const override { return model_->config(); }
  int32_t num_blocks() const override { return cache_.layout.num_blocks; }
  int32_t block_size() const override { return cache_.layout.block_size; }
  Status execute(const ForwardBatch& batch, std::vector<float>& logits) override;

 private:
  CpuModelRunner(std::shared_ptr<const LlamaModel> model, CpuKvCache cache)
      : model_(std::move(model)), cache_(std::move(cache)) {}
  std::shared_ptr<const LlamaModel> model_;
  CpuKvCache cache_;
};

}  // namespace tessera::engine
