// kernels/cpu/ops.h — the CPU backend: one function per op of the Llama-family forward pass, in
// fp32, multithreaded (tessera's thread pool for elementwise and attention work, OpenBLAS for
// matmuls). It is the reference the CUDA kernels are tested against, so each op is written for
// clarity first; shapes are in the comments and the paged layout is kernels/attention/paged_kv.h.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/attention/paged_kv.h"

namespace tessera::kernels::cpu {

// y[m, n] = x[m, k] · w[n, k]ᵀ (+ bias[n]). w is a PyTorch Linear weight, row-major.
void linear(const float* x, int64_t m, int64_t k, const float* w, const float* bias, int64_t n,
            float* y);

// out[t, :] = table[ids[t], :] for t < num_tokens; table: [vocab, hidden]. ids are checked by the
// caller (model code), not here.
void embedding(const int32_t* ids, int64_t num_tokens, const float* table, int64_t hidden,
               float* out);

// out[t] = x[t] / rms(x[t]) * weight, rms over `hidden` elements in fp32. x and out may alias.
void rms_norm(const float* x, const float* weight, int64_t num_tokens, int64_t hidden, float eps,
              float* out);

// residual[t] += x[t]; out[t] = rms_norm(residual[t]). The fused pre-norm residual step.
void add_rms_norm(float* residual, const float* x, const float* weight, int64_t num_tokens,
                  int64_t hidden, float eps, float* out);

// out[t, i] = silu(gate_up[t, i]) * gate_up[t, inter + i]; gate_up: [tokens, 2*inter].
void silu_mul(const float* gate_up, int64_t num_tokens, int64_t inter, float* out);

// ---- RoPE -----------------------------------------------------------------------------------
enum class RopeKind { kDefault, kLinear, kLlama3 };

struct RopeSpec {
  RopeKind kind = RopeKind::kDefault;
  double theta = 10000.0;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192.0;
  int32_t rotary_dim = 0;  // == head_dim
};

// inv_freq[rotary_dim / 2], fp32, as transformers computes it for each rope type.
std::vector<float> rope_inv_freq(const RopeSpec& spec);

// Rotates x in place, rotate-half layout (HF Llama): for i < d/2 the pair is (x[i], x[i + d/2]).
// x: [num_tokens, num_heads, head_dim] with the given token stride (elements); positions[t] is the
// absolute position of token t; inv_freq from rope_inv_freq.
void apply_rope(float* x, int64_t num_tokens, int64_t token_stride, int32_t num_heads,
                int32_t head_dim, const int32_t* positions, const float* inv_freq);

// ---- paged KV cache -------------------------------------------------------------------------
// Writes k/v of each new token into its slot. k, v: [num_tokens, num_kv_heads, head_dim] with the
// given token strides. Slots < 0 are skipped.
void reshape_and_cache(const float* k, int64_t k_token_stride, const float* v,
                       int64_t v_token_stride, const int64_t* slot_mapping, int64_t num_tokens,
                       const PagedKvLayout& layout, float* k_cache, float* v_cache);

struct PagedAttentionParams {
  const float* q = nullptr;   // [num_tokens, num_heads, head_dim], row stride q_token_stride
  int64_t q_token_stride = 0;
  float* out = nullptr;       // [num_tokens, num_heads, head_dim], row stride out_token_stride
  int64_t out_token_stride = 0;
  float* lse = nullptr;       // optional [num_tokens, num_heads] log-sum-exp (natural log)
  const float* k_cache = nullptr;
  const float* v_cache = nullptr;
  PagedKvLayout layout;
  PagedBatch batch;
  int32_t num_heads = 0;      // query heads; a multiple of layout.num_kv_heads (GQA/MQA)
  float softmax_scale = 1.0f;
  bool causal = true;
  int32_t sliding_window = 0; // > 0: a query sees keys with q_pos - k_pos < sliding_window
};

// Attention of every new token over its sequence's cached keys (which must already include this
// step's tokens). Rows with no visible key get zeros and lse = -inf.
void paged_attention(const PagedAttentionParams& p);

}  // namespace tessera::kernels::cpu
