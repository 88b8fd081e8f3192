// src/model/weights.h — the tensors of a Llama-family model: their Hugging Face names and shapes
// (derived from the config alone), validation of a checkpoint against them, and loading (fp32 on the
// host for the CPU backend, bf16/f16 for the GPU) with q/k/v and gate/up fused into one matrix each.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "src/model/checkpoint.h"
#include "src/model/config.h"
#include "src/model/linear.h"

namespace tessera {

// Every tensor a checkpoint of this config holds, in the order transformers writes them, with
// their shapes. `lm_head.weight` is absent when embeddings are tied.
std::vector<TensorSpec> hf_weight_specs(const ModelConfig& config, DType dtype);

// Checks that `ckpt` has every tensor of hf_weight_specs with the right shape and a float dtype.
// The first problem is returned, naming the file, the tensor, and the expected shape.
Status validate_checkpoint(const Checkpoint& ckpt);

struct LayerWeights {
  Tensor input_norm;  // [hidden]
  Linear qkv;         // [q_size + 2 * kv_size, hidden]: q_proj, k_proj, v_proj stacked (bias likewise)
  Tensor q_norm;      // [head_dim], Qwen3 (config.qk_norm): RMSNorm weight of each q head
  Tensor k_norm;      // [head_dim], likewise for k
  Linear o;           // [hidden, q_size]
  Tensor post_norm;   // [hidden]: post_attention_layernorm (before the MLP; Gemma 2: after attention)
  Tensor pre_ff_norm;   // [hidden], Gemma 2 (sandwich_norms): before the MLP
  Tensor post_ff_norm;  // [hidden], Gemma 2: after the MLP
  Linear gate_up;     // [2 * intermediate, hidden]: gate_proj then up_proj
  Linear down;        // [hidden, intermediate]
};

struct ModelWeights {
  Tensor embed;          // [vocab, hidden]
  std::vector<LayerWeights> layers;
  Tensor final_norm;     // [hidden]
  Linear lm_head;        // [vocab, hidden], no bias; the same buffer as embed when tied
};

// Where a loaded weight goes: it gets the host tensor (contiguous, of the requested dtype, fused
// where LayerWeights says so) and returns the tensor to keep, e.g. a device copy. Weights are
// placed one at a time, so at most one of them is on the host at once when `place` moves them away.
using PlaceTensor = std::function<Expected<Tensor>(Tensor host)>;

// Validates the checkpoint and converts every weight to contiguous `dtype` (f32, f16 or bf16; the
// conversion rounds to nearest even, as torch's .to() does; a norm_plus_one model's norm weights
// get their 1 added here, in fp32 as Gemma does, so only f32 is offered), in parallel, with a progress bar over
// the bytes read, and hands each to `place` (null: keep it on the host). Tied embeddings are placed
// once and shared by embed and lm_head.
Expected<ModelWeights> load_weights(const Checkpoint& ckpt, DType dtype, const PlaceTensor& place);

// load_weights into fp32 host memory (the CPU backend).
Expected<ModelWeights> load_weights_f32(const Checkpoint& ckpt);

}  // namespace tessera
