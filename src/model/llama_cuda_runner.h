// src/model/llama_cuda_runner.h — the CUDA ModelRunner's class, shared by the two files that
// implement it (a private header of src/model): llama_cuda.cpp owns memory, the batch upload, the
// CUDA graphs and the execute* entry points; llama_cuda_forward.cpp is the model's forward, one
// kernel launch or GEMM per call (llama_cuda.h draws the step).
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "kernels/attention/decode/decode.h"
#include "kernels/attention/params.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/gemm/gemm.h"
#include "kernels/norm/rmsnorm.h"
#include "kernels/sampling/sampling.h"
#include "src/core/logging.h"
#include "src/model/cuda_memory.h"
#include "src/model/device_sampler.h"
#include "src/model/llama_cuda.h"

namespace tessera::cuda_runner {

namespace k = kernels;
using cuda_runtime::cuda_status;
using cuda_runtime::DeviceMemory;
using cuda_runtime::gib;
using cuda_runtime::PinnedMemory;
using cuda_runtime::round_up;

constexpr size_t kGemmWorkspace = 32ull << 20;
constexpr int64_t kMinAttentionWorkspace = 64ll << 20;
// Left free for what the CUDA runtime, cuBLASLt and the graphs allocate on their own.
constexpr int64_t kRuntimeReserve = 512ll << 20;

// Where the arrays of a batch of `tokens` new tokens over `seqs` sequences sit in the batch buffer
// (the same offsets on the host staging copy and on the device). A function of the shape alone.
struct BatchLayout {
  int64_t ids = 0, positions = 0, slots = 0, cu_seqlens = 0, seq_lens = 0, block_table = 0;
  int64_t scalars_end = 0;  // the 1-D arrays end here; the block table starts after
  int64_t end = 0;
  BatchLayout(int64_t tokens, int64_t seqs, int64_t table_width) {
    ids = 0;
    positions = round_up(ids + tokens * 4, 16);
    slots = round_up(positions + tokens * 4, 16);
    cu_seqlens = round_up(slots + tokens * 8, 16);
    seq_lens = round_up(cu_seqlens + (seqs + 1) * 4, 16);
    scalars_end = seq_lens + seqs * 4;
    block_table = round_up(scalars_end, 16);
    end = block_table + seqs * table_width * 4;
  }
};

// What one step runs: sizes on the host, and its attention plan.
// The device arrays of an uploaded batch (BatchLayout offsets into the batch buffer).
struct StepArrays {
  const int32_t* ids;
  const int32_t* positions;
  const int64_t* slots;
  const int32_t* cu;
  const int32_t* lens;
  const int32_t* table;
};

struct StepShape {
  int64_t tokens = 0;      // T, including padding rows of a graph bucket
  int32_t seqs = 0;        // S, including padding
  int32_t logit_rows = 0;  // rows of logits the step computes in its graph-able part (0 with all_logits)
  k::PagedAttentionPlan plan;
  // Every sequence is a fresh prompt (nothing cached before this step): attention runs through the
  // varlen prefill kernel over this step's contiguous q/k/v instead of the paged kernel.
  bool fresh_prefill = false;
  int32_t max_q_len = 0;
};

class CudaModelRunner final : public ModelRunner {
 public:
  CudaModelRunner() = default;
  ~CudaModelRunner() override;

  Status init(const std::string& model_dir, int device, const RunnerOptions& options);

  const ModelConfig& config() const override { return config_; }
  int32_t num_blocks() const override { return layout_.num_blocks; }
  int32_t block_size() const override { return layout_.block_size; }
  int64_t max_tokens_per_step() const override { return max_tokens_; }
  Status execute(const ForwardBatch& batch, std::vector<float>& logits) override;
  Status execute_greedy(const ForwardBatch& batch, std::vector<int32_t>& tokens) override;
  bool has_device_logits() const override { return true; }
  Expected<DeviceLogits> execute_device(const ForwardBatch& batch) override;
  Status sample_device(const k::SamplingBatch& host_batch) override { return sampler_.sample(host_batch, stream_); }
  Status wait_for_step() override { return kernel_status(cudaStreamSynchronize(stream_), "forward step"); }
  int64_t weights_bytes() const override { return weights_bytes_; }
  int64_t kv_cache_bytes() const override { return kv_.bytes(); }
  std::string device_name() const override { return device_name_; }

 private:
  // Runs the batch up to the device-side logits (and greedy tokens unless all_logits); the caller
  // copies what it needs back. `host_logits` receives every token's logits when all_logits.
  Status run(const ForwardBatch& batch, std::vector<float>* host_logits);
  Status validate(const ForwardBatch& batch) const;
  // Packs the batch into the host staging buffer, padded to `shape`, and copies it to the device.
  Status upload(const ForwardBatch& batch, const StepShape& shape);
  // Enqueues the whole step on stream_ (no host sync): embedding → layers → (last rows → logits →
  // greedy tokens) when shape.logit_rows > 0.
  Status enqueue(const StepShape& shape);
  // The model's forward, one operation each: a decoder layer is norm, linear (qkv), rope_append,
  // attention, linear (o), norm, linear (gate_up), silu_mul, linear (down).
  Status enqueue_layer(size_t layer, const StepShape& shape, const StepArrays& in);
  // y[rows, out] = x · l.weightᵀ (+ bias) by l.format (dense: cuBLASLt), out in `out_dtype`.
  Status linear(const Linear& l, const void* x, void* y, int64_t rows, k::FloatType out_dtype);
  Status linear(const Linear& l, const void* x, void* y, int64_t rows) { return linear(l, x, y, rows, ftype_); }
  Status rope_append(size_t layer, const StepShape& shape, const StepArrays& in);
  // The varlen prefill kernel for a step of fresh prompts, else paged attention over the cache.
  Status attention(size_t layer, const StepShape& shape, const StepArrays& in);
  Status silu_mul(int64_t rows);
  StepArrays step_arrays(const StepShape& shape) const;
  std::pair<char*, char*> layer_cache(size_t layer) const;  // K and V of `layer`
  // A launcher's status as a Status; `reason` (the attention launchers' last-error functions) names
  // what an invalid launch got wrong.
  Status kernel_status(cudaError_t e, const char* what, const char* (*reason)() = nullptr) const;
  // rms_norm over `rows` rows of hidden width: y = norm(x), or with a residual, residual += x and
  // y = norm(residual).
  Status norm(const void* x, void* residual, void* y, const Tensor& weight, int64_t rows, const char* what);
  k::PagedAttentionPlan plan_for(int32_t seqs, int32_t max_q_len, int64_t total_q, int64_t max_seq_len) const;
  int32_t bucket_for(int32_t seqs) const;
  // Runs and captures the decode step of every bucket (init, with CUDA graphs on).
  Status capture_graphs();

  ModelConfig config_;
  LayerShape shape_;  // every layer's, on this device
  DType dtype_ = DType::kBF16;
  k::FloatType ftype_ = k::FloatType::kBF16;
  int device_ = 0;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  DeviceSampler sampler_;  // the engine's sampling of execute_device() steps, on stream_
  ModelWeights weights_;
  int64_t weights_bytes_ = 0;
  k::PagedKvLayout layout_;
  int64_t max_tokens_ = 0;
  int32_t max_seqs_ = 0;
  int64_t max_model_len_ = 0;
  int32_t table_width_ = 0;  // block-table columns on the device: ceil(max_model_len / block_size)
  bool use_graphs_ = true;
  bool varlen_prefill_ = true;
  std::vector<int32_t> buckets_;

  std::unique_ptr<k::Gemm> gemm_;
  DeviceMemory kv_;        // [layer][num_blocks][k|v][block_size, kv_heads, head_dim]
  DeviceMemory rope_;      // cos then sin: [max_model_len, head_dim / 2] fp32 each
  DeviceMemory act_;       // activations (see init for the carve-up)
  DeviceMemory attn_ws_;   // paged attention split workspace
  DeviceMemory batch_dev_;
  PinnedMemory batch_host_;
  PinnedMemory tokens_host_;
  int64_t batch_bytes_ = 0;

  // Activation views into act_.
  char* x_ = nullptr;        // [T, hidden] residual stream
  char* h_ = nullptr;        // [T, hidden] normed
  char* proj_ = nullptr;     // [T, hidden] a sub-layer's output
  char* qkv_ = nullptr;      // [T, q + 2 kv]
  char* attn_ = nullptr;     // [T, q]
  char* gate_up_ = nullptr;  // [T, 2 inter]
  char* mlp_ = nullptr;      // [T, inter]
  char* last_x_ = nullptr;   // [R, hidden] the gathered rows
  char* last_p_ = nullptr;   // [R, hidden]
  char* last_h_ = nullptr;   // [R, hidden]
  float* logits_ = nullptr;  // [R, vocab] fp32
  int32_t* tokens_ = nullptr;                 // [R] greedy tokens
  unsigned long long* argmax_scratch_ = nullptr;  // [R]
  float* lse_ = nullptr;     // [num_heads, T] fp32: the varlen prefill kernel's log-sum-exp (unused)
  int64_t logit_rows_cap_ = 0;  // R

  std::map<int32_t, cudaGraphExec_t> graphs_;  // bucket → replayable decode step
  // Recorded after each batch upload: the next upload waits for it before it rewrites the pinned
  // staging buffer, since execute_device() returns without waiting for the step.
  cudaEvent_t uploaded_ = nullptr;
  bool upload_pending_ = false;
};

}  // namespace tessera::cuda_runner
