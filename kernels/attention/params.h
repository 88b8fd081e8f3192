// kernels/attention/params.h — the contract of the FlashAttention-style prefill kernels (forward and
// backward). Plain pointers, int64 element strides, sizes and a stream: no torch or engine type
// crosses this line (docs/architecture.md, seam 1). Every kernel generation (mma.sync today, wgmma next) takes
// these same structs; the tile configuration is chosen in one place (tile_config.h).
//
// Layouts (element strides, so any view with a unit last-dim stride works):
//   fixed length:  q: [batch, seqlen_q, num_heads, head_dim]      k, v: [batch, seqlen_k, num_kv_heads, head_dim]
//                  o: like q;  lse: [batch, num_heads, seqlen_q] fp32, contiguous
//   varlen:        cu_seqlens_q/k != nullptr ([batch + 1] int32, prefix sums of the lengths);
//                  q: [total_q, num_heads, head_dim], k/v: [total_k, num_kv_heads, head_dim] (batch
//                  strides are ignored); lse: [num_heads, total_q] fp32, contiguous
//   q/k/v/o/do/dq/dk/dv: fp16 or bf16 (all the same), last dim contiguous, head_dim in {64, 96, 128, 256}.
//
// Semantics (as FlashAttention 2):
//   S = softmax_scale * Q K^T; query head h reads KV head h / (num_heads / num_kv_heads) (GQA/MQA).
//   causal: query row i sees keys j <= i + seqlen_k - seqlen_q (aligned bottom-right, per sequence).
//   lse[row] = log(sum_j exp(S[row, j])) over visible keys, in natural-log units of the scaled
//   scores. A row with no visible key writes O = 0 and lse = +inf (so the backward's
//   exp(S - lse) is 0 there, never NaN).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/float_type.h"

namespace tessera::kernels {

struct AttentionShape {
  int32_t batch = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  // Fixed length: the lengths. Varlen: the maxima over the batch (used for the grid).
  int32_t seqlen_q = 0;
  int32_t seqlen_k = 0;
  // Varlen when non-null: [batch + 1] int32 on the device.
  const int32_t* cu_seqlens_q = nullptr;
  const int32_t* cu_seqlens_k = nullptr;
  // Varlen only: total rows of q and k (sizes of the packed tensors), for the lse layout.
  int64_t total_q = 0;
  float softmax_scale = 0.f;
  bool is_causal = false;
  FloatType dtype = FloatType::kBF16;  // kF16 or kBF16
};

// Element strides of one [batch, seq, heads, head_dim] tensor (batch stride unused when varlen).
struct AttentionStrides {
  int64_t batch = 0;
  int64_t row = 0;
  int64_t head = 0;
};

struct AttentionFwdParams {
  AttentionShape shape;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* o = nullptr;
  float* lse = nullptr;  // required
  AttentionStrides q_strides, k_strides, v_strides, o_strides;
};

// Backward by recomputation from the saved lse. Workspaces are the caller's (no allocation inside,
// so it can be captured in a CUDA graph); their sizes come from attention_bwd_workspace().
struct AttentionBwdParams {
  AttentionShape shape;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* o = nullptr;
  const void* dout = nullptr;  // like o
  const float* lse = nullptr;  // from the forward
  void* dq = nullptr;          // like q
  void* dk = nullptr;          // like k
  void* dv = nullptr;          // like v
  AttentionStrides q_strides, k_strides, v_strides, o_strides, dout_strides;
  AttentionStrides dq_strides, dk_strides, dv_strides;
  // fp32 workspace, attention_bwd_workspace() bytes, 256-byte aligned; contents on entry don't matter.
  void* workspace = nullptr;
  // Bitwise reproducible gradients: dQ from its own row-parallel pass instead of atomics.
  bool deterministic = false;
};

// True when the kernels support this head dim for the direction (forward: 64, 96, 128, 256;
// backward: 64, 96, 128, 256 likewise unless noted in tile_config.h).
bool attention_fwd_supports_head_dim(int head_dim);
bool attention_bwd_supports_head_dim(int head_dim);

// Bytes of fp32 workspace the backward needs for this shape.
int64_t attention_bwd_workspace(const AttentionShape& shape);

// Launch on `stream`. Returns cudaErrorInvalidValue for a shape the kernels don't support (bad head
// dim or dtype, num_heads not a multiple of num_kv_heads, null pointers), else the launch status.
cudaError_t attention_fwd(const AttentionFwdParams& params, cudaStream_t stream);
cudaError_t attention_bwd(const AttentionBwdParams& params, cudaStream_t stream);

// A one-line reason for the last cudaErrorInvalidValue returned by attention_fwd/bwd on this
// thread ("head_dim 80 is not supported (64, 96, 128, 256)"), for error messages in the bindings.
const char* attention_last_error();

}  // namespace tessera::kernels
