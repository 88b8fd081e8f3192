// src/model/llama.h — the Llama-family decoder (Llama 2/3, Mistral, Qwen2) on the CPU backend.
//
// One forward() call runs a batch of sequences whose new tokens are packed back to back (any mix of
// prompt chunks and single decode tokens): it appends their K/V to the paged cache through
// slot_mapping and attends over each sequence's cached keys. There is no prefill or decode mode.
//
//   x = embed(ids)                                   x: [T, hidden]
//   for each layer:
//     h = rms_norm(x)                                (fused with the residual add after layer 0)
//     qkv = h · Wqkvᵀ (+b)                           [T, (Hq + 2 Hkv) · D]
//     rope(q, k); cache ← k, v; a = attention(q, cache)   [T, Hq · D]
//     x += a · Woᵀ;  h = rms_norm(x)
//     x += down(silu(gate(h)) · up(h))
//   logits = lm_head(rms_norm(x))                    [rows, vocab], rows = T or one per sequence
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/attention/paged_kv.h"
#include "kernels/cpu/ops.h"
#include "src/model/weights.h"

namespace tessera {

// The K/V cache of every layer on the host: [num_blocks, block_size, num_kv_heads, head_dim] f32.
struct CpuKvCache {
  kernels::PagedKvLayout layout;
  std::vector<Tensor> k;  // one per layer
  std::vector<Tensor> v;
  static Expected<CpuKvCache> create(const ModelConfig& config, int32_t num_blocks,
                                     int32_t block_size);
};

// A batch of new tokens (layout: kernels/attention/paged_kv.h).
struct ForwardBatch {
  std::vector<int32_t> token_ids;     // [T]
  std::vector<int32_t> positions;     // [T] absolute positions
  std::vector<int64_t> slot_mapping;  // [T]
  std::vector<int32_t> cu_seqlens_q;  // [num_seqs + 1]
  std::vector<int32_t> seq_lens;      // [num_seqs], including this step's tokens
  std::vector<int32_t> block_table;   // [num_seqs, max_blocks_per_seq]
  int32_t max_blocks_per_seq = 0;
  bool all_logits = false;            // logits for every token, or the last of each sequence
  int32_t num_seqs() const { return static_cast<int32_t>(seq_lens.size()); }
};

// Checks a batch against the config and a cache layout: ids in the vocabulary, slots and blocks in
// range, lengths consistent. Every backend runs it before touching memory.
Status validate_forward_batch(const ForwardBatch& batch, const ModelConfig& config, const kernels::PagedKvLayout& layout);

// The RoPE of a config, in the CPU kernels' terms (rope_inv_freq, rope_cos_sin_table).
kernels::cpu::RopeSpec rope_spec(const ModelConfig& config);
// The same for another RoPE of the model (Gemma 3's local one).
kernels::cpu::RopeSpec rope_spec(const ModelConfig& config, const RopeConfig& rope);

class LlamaModel {
 public:
  // Opens DIR (config.json + safetensors), validates and loads the weights as fp32.
  static Expected<std::unique_ptr<LlamaModel>> load(const std::string& model_dir);
  LlamaModel(ModelConfig config, ModelWeights weights);

  const ModelConfig& config() const { return config_; }

  // Batch-invariant mode: every linear layer runs one token row at a time (the same BLAS call
  // whatever the batch), so a token's logits are bit-identical whether it is computed alone, in a
  // prompt chunk of any size, or next to other sequences. BLAS results otherwise depend on the
  // number of rows (gemv vs gemm, blocking). Slower for long prompts; the engine's equality tests
  // use it. Attention, norms and RoPE are row-independent already.
  void set_batch_invariant(bool on) { batch_invariant_ = on; }
  bool batch_invariant() const { return batch_invariant_; }

  // Checks the batch against the config and the cache (ids in the vocabulary, slots and blocks in
  // range, lengths consistent), runs it, and fills `logits` with [rows, vocab] fp32.
  Status forward(const ForwardBatch& batch, CpuKvCache& cache, std::vector<float>& logits) const;

 private:
  // y[m, n] = x[m, k] · w[n, k]ᵀ (+ bias), one row at a time in batch-invariant mode.
  void linear(const float* x, int64_t m, int64_t k, const float* w, const float* bias, int64_t n, float* y) const;
  // y[rows, out] = x[rows, in] through `l`, by its format (fp32 dense on the CPU).
  void linear(const Linear& l, const float* x, int64_t rows, float* y) const;

  ModelConfig config_;
  ModelWeights weights_;
  std::vector<float> inv_freq_;        // [head_dim / 2]
  std::vector<float> inv_freq_local_;  // Gemma 3's sliding layers (config.local_rope); else empty
  bool batch_invariant_ = false;
};

}  // namespace tessera
