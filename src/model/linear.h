// src/model/linear.h — what a runner needs to know about one decoder layer: its linear layers and
// its shape on this rank (docs/architecture.md, seam 8).
//
// A Linear is y[rows, out] = x[rows, in] · weightᵀ (+ bias), with the weight in some storage
// format. Every runner applies it through one call of its own (LlamaModel: fp32 BLAS; the CUDA
// runner: linear(), cuBLASLt for dense weights) that dispatches on the format, so a quantized
// format (INT8 / FP8 per channel with `scales`, INT4 in groups) is a new case of that call and its
// kernel, never a branch in the model's data flow. A tensor-parallel rank holds one shard of each
// Linear (`shard`) and the LayerShape of its own heads and intermediate width, so tensor
// parallelism is a change of shape and an all-reduce after o and down, not an edit of every line.
#pragma once

#include <cstdint>

#include "src/model/config.h"
#include "tessera/tensor.h"

namespace tessera {

// How a Linear's weight is stored. kDense: [out_features, in_features] in the model's float dtype
// (f32 on the CPU, bf16 / f16 on the GPU), the only format loaded today.
enum class WeightFormat { kDense };

// Which part of the full layer a rank holds: a column shard has out_features / world rows of the
// weight (q/k/v, gate/up: each rank computes its own heads); a row shard in_features / world
// columns (o, down: partial sums, added over the ranks).
struct LinearShard {
  enum class Split { kWhole, kColumns, kRows };
  Split split = Split::kWhole;
  int32_t rank = 0;
  int32_t world = 1;
};

struct Linear {
  Tensor weight;  // kDense: [out_features, in_features]
  Tensor bias;    // [out_features], or undefined
  Tensor scales;  // a quantized format's scales; undefined for kDense
  WeightFormat format = WeightFormat::kDense;
  LinearShard shard;

  int64_t out_features() const { return weight.shape()[0]; }
  int64_t in_features() const { return weight.shape()[1]; }
};

// One decoder layer's sizes on this rank. Whole model today (world 1): heads and intermediate are
// the config's.
struct LayerShape {
  int64_t hidden = 0;
  int64_t num_heads = 0;     // query heads on this rank
  int64_t num_kv_heads = 0;  // KV heads on this rank
  int64_t head_dim = 0;
  int64_t intermediate = 0;  // MLP width on this rank

  int64_t q_size() const { return num_heads * head_dim; }
  int64_t kv_size() const { return num_kv_heads * head_dim; }
  int64_t qkv_size() const { return q_size() + 2 * kv_size(); }

  static LayerShape of(const ModelConfig& c) {
    return {c.hidden_size, c.num_heads, c.num_kv_heads, c.head_dim, c.intermediate_size};
  }
};

}  // namespace tessera
