// src/model/model_runner.h — a model bound to its paged KV cache on one backend: the seam every
// driver of a forward pass goes through (the engine, SequenceRunner, the CLI), so each of them runs
// on the CPU and on the GPU alike.
//
// A runner owns the model's weights (shared) and the K/V cache of every layer, in the layout of
// kernels/attention/paged_kv.h. It takes the same host-side ForwardBatch on every backend and
// returns fp32 logits on the host: one row per sequence (its last new token) or, with
// batch.all_logits, one per token.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/sampling/params.h"
#include "src/model/llama.h"

namespace tessera {

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual const ModelConfig& config() const = 0;
  virtual int32_t num_blocks() const = 0;
  virtual int32_t block_size() const = 0;
  // The most new tokens one execute() takes (activation buffers are sized for it).
  virtual int64_t max_tokens_per_step() const = 0;
  // Runs one step. logits: [rows, vocab] fp32, rows as described above, in the batch's order.
  virtual Status execute(const ForwardBatch& batch, std::vector<float>& logits) = 0;
  // Greedy next tokens: the argmax (lowest index on ties) of each sequence's last-token logits.
  // A GPU runner picks them on the device and copies back only the ids; the default runs
  // execute() and takes the argmax on the host.
  virtual Status execute_greedy(const ForwardBatch& batch, std::vector<int32_t>& tokens);
  // Last-token logits left on the device, for a sampler that runs there (sample_device below,
  // through engine::Sampler::sample_device). Valid until the next execute*.
  struct DeviceLogits {
    const float* data = nullptr;  // [rows, vocab] fp32, device memory
    int64_t row_stride = 0;       // elements
    int64_t rows = 0;             // one per sequence, in the batch's order
    void* stream = nullptr;       // the cudaStream_t the step was queued on
  };
  // Whether execute_device() works (a GPU runner); the default, a host runner, says no.
  virtual bool has_device_logits() const { return false; }
  // Queues one step (not all_logits) and returns where its logits will be, without copying them
  // back or waiting for the step. The default is an unimplemented error.
  virtual Expected<DeviceLogits> execute_device(const ForwardBatch& batch);
  // After execute_device(): samples on the device, after the step's work. `host_batch` is a
  // kernels::SamplingBatch over the step's device logits whose other arrays (parameters, lists,
  // outputs) are in host memory; the outputs are filled when this returns. Default: unimplemented.
  virtual Status sample_device(const kernels::SamplingBatch& host_batch);
  // After execute_device(): waits until the step's work is done, for a step that samples nothing
  // (its errors still belong to it). Default: nothing to wait for.
  virtual Status wait_for_step() { return Status::ok(); }
  // Bytes of device (or host) memory the weights and the KV cache take.
  virtual int64_t weights_bytes() const = 0;
  virtual int64_t kv_cache_bytes() const = 0;
  // "cpu" or "cuda:0 (NVIDIA H200)": for messages.
  virtual std::string device_name() const = 0;
};

// LlamaModel::forward over a host CpuKvCache.
class CpuModelRunner : public ModelRunner {
 public:
  static Expected<std::unique_ptr<CpuModelRunner>> create(std::shared_ptr<const LlamaModel> model,
                                                          int32_t num_blocks, int32_t block_size);
  const ModelConfig& config() const override { return model_->config(); }
  int32_t num_blocks() const override { return cache_.layout.num_blocks; }
  int32_t block_size() const override { return cache_.layout.block_size; }
  int64_t max_tokens_per_step() const override { return INT32_MAX; }
  Status execute(const ForwardBatch& batch, std::vector<float>& logits) override;
  int64_t weights_bytes() const override;
  int64_t kv_cache_bytes() const override;
  std::string device_name() const override { return "cpu"; }

 private:
  CpuModelRunner(std::shared_ptr<const LlamaModel> model, CpuKvCache cache)
      : model_(std::move(model)), cache_(std::move(cache)) {}
  std::shared_ptr<const LlamaModel> model_;
  CpuKvCache cache_;
};

// Blocks of `block_size` tokens that fit in `bytes` of K and V for every layer.
int64_t kv_blocks_for_bytes(const ModelConfig& config, int32_t block_size, int64_t bytes, int64_t bytes_per_value = 4);

// How to build a runner for a checkpoint folder.
struct RunnerOptions {
  std::string device = "cpu";         // "cpu", "cuda" or "cuda:N"
  DType dtype = DType::kBF16;         // weights and activations on the GPU: bf16 or f16 (the CPU is fp32)
  int32_t block_size = 16;            // tokens per KV block
  int64_t num_blocks = 0;             // KV blocks; 0: sized from the memory below
  int64_t kv_cache_bytes = 512ll << 20;  // cpu, when num_blocks is 0
  double gpu_memory_fraction = 0.90;  // cuda, when num_blocks is 0: the share of the card's memory
                                      // tessera may hold in all (weights, activations, KV cache)
  int64_t max_model_len = 0;          // longest sequence; 0: the config's max_position_embeddings
  int32_t max_num_seqs = 256;         // sequences per step at most (decode graphs are captured up to it)
  int64_t max_num_batched_tokens = 8192;  // new tokens per step at most
  bool cuda_graphs = true;            // capture decode steps as CUDA graphs
  bool varlen_prefill = true;         // cuda: steps of fresh prompts through the varlen prefill
                                      // attention kernel (else the paged kernel, as other steps)
  bool batch_invariant = false;       // cpu: LlamaModel::set_batch_invariant
};

// Loads DIR (config.json + safetensors) onto options.device. On a build without CUDA, "cuda" is an
// error that says so.
Expected<std::unique_ptr<ModelRunner>> create_model_runner(const std::string& model_dir, const RunnerOptions& options);

}  // namespace tessera
