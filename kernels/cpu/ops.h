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
// The same with GELU's tanh approximation (torch's gelu(approximate="tanh"), Gemma's GeGLU):
// gelu(g) = 0.5 g (1 + tanh(sqrt(2 / pi) (g + 0.044715 g^3))), in fp32.
void gelu_tanh_mul(const float* gate_up, int64_t num_tokens, int64_t inter, float* out);
// x = cap * tanh(x / cap), elementwise (Gemma 2's logit soft-capping).
void softcap(float* x, int64_t n, float cap);

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
  // llama.cpp's per-frequency divisors (a GGUF file's rope_freqs.weight): inv_freq[i] is divided by
  // freq_factors[i] after the kind's own scaling. Empty: none; else rotary_dim / 2 of them.
  std::vector<float> freq_factors;
};

// inv_freq[rotary_dim / 2], fp32, as transformers computes it for each rope type.
std::vector<float> rope_inv_freq(const RopeSpec& spec);

// Rotates one head vector (layout: RopeLayout, kernels/attention/paged_kv.h): pair i of
// rotary_dim / 2 by the angle whose cos/sin are cos[i], sin[i], as x' = x * cos - y * sin and
// y' = y * cos + x * sin with each product rounded to fp32 (never fused into an FMA), the contract
// the CUDA append kernel keeps. Elements at or past rotary_dim are copied. in, out: [head_dim]; out
// may be in itself. rotary_dim even and <= head_dim, 0 means head_dim; kNone copies.
void rope_rotate_row(const float* in, float* out, int32_t head_dim, int32_t rotary_dim,
                     RopeLayout layout, const float* cos, const float* sin);

// The cos/sin table of every position: cos, sin: [max_position, spec.rotary_dim / 2] fp32, row p
// for position p, angle = float(p) * inv_freq[i] (the fp32 product HF forms), from rope_inv_freq.
// This is the table the CUDA append reads (the GPU runtime uploads it) and the CPU append uses.
void rope_cos_sin_table(const RopeSpec& spec, int32_t max_position, float* cos, float* sin);

// Rotates x in place: x: [num_tokens, num_heads, head_dim] with the given token stride (elements),
// heads contiguous; positions[t] is the absolute position of token t; inv_freq from rope_inv_freq
// ([rotary_dim / 2]). The defaults are HF Llama's rotate-half over the whole head; rotary_dim 0
// means head_dim, elements at or past it are left as they are. cos/sin are std::cos/std::sin in fp32
// of the fp32 angle (not the table above: this is the model's original path, kept bit for bit).
void apply_rope(float* x, int64_t num_tokens, int64_t token_stride, int32_t num_heads,
                int32_t head_dim, const int32_t* positions, const float* inv_freq,
                RopeLayout layout = RopeLayout::kRotateHalf, int32_t rotary_dim = 0);

// ---- paged KV cache -------------------------------------------------------------------------
// Writes k/v of each new token into its slot (the caches laid out as `layout` says). k, v:
// [num_tokens, num_kv_heads, head_dim] with the given token strides. Slots < 0 are skipped.
void reshape_and_cache(const float* k, int64_t k_token_stride, const float* v,
                       int64_t v_token_stride, const int64_t* slot_mapping, int64_t num_tokens,
                       const PagedKvLayout& layout, float* k_cache, float* v_cache);

// ---- append with fused RoPE (the CPU twin of kernels::paged_kv_append, decode.h) -----------------
// Every field means what it does in kernels::KvAppendParams; tensors are fp32 and strides are in
// elements. k, v: [num_tokens, num_kv_heads, head_dim]; q, q_out: [num_q_tokens, num_heads,
// head_dim]; caches: layout.
struct KvAppendCpuParams {
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t k_token_stride = 0, k_head_stride = 0;
  int64_t v_token_stride = 0, v_head_stride = 0;
  const int64_t* slot_mapping = nullptr;  // [num_tokens]; negative: padding, not written
  int64_t num_tokens = 0;
  float* k_cache = nullptr;
  float* v_cache = nullptr;
  PagedKvLayout layout;

  const float* q = nullptr;  // null: no query rotation
  float* q_out = nullptr;    // may be q itself (then with q's strides)
  int64_t q_token_stride = 0, q_head_stride = 0;
  int64_t q_out_token_stride = 0, q_out_head_stride = 0;
  int64_t num_q_tokens = 0;
  int32_t num_heads = 0;

  RopeLayout rope = RopeLayout::kNone;    // kNone ignores the fields below
  int32_t rotary_dim = 0;                 // even, <= head_dim; 0 means head_dim
  const float* cos = nullptr;             // [max_position, rotary_dim / 2], rope_cos_sin_table
  const float* sin = nullptr;
  int32_t max_position = 0;               // positions are clamped into [0, max_position - 1]
  const int32_t* k_positions = nullptr;   // [num_tokens]
  const int32_t* q_positions = nullptr;   // [num_q_tokens]; null: k_positions
};

// nullptr if p can be run, else a one-line reason naming the field, e.g. "rotary_dim 7 must be even
// and <= head_dim 64" or "slot 1234 >= num_slots 1024 at token 3". The text lives in a thread-local
// buffer, valid until the next call on this thread. Reads slot_mapping (host memory here).
const char* paged_kv_append_check(const KvAppendCpuParams& p);

// k_cache/v_cache at slot_mapping[t] = rope(k[t], k_positions[t]) and v[t]; q_out[t] = rope(q[t],
// q_positions[t]) for t < num_q_tokens. Returns nullptr, or paged_kv_append_check's reason and
// writes nothing. Nothing but those slots and q_out rows is written. Slots are distinct (the
// engine's are); if two tokens share one, which write lands is unspecified, as on the GPU.
const char* paged_kv_append(const KvAppendCpuParams& p);

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
  float logit_softcap = 0.0f; // > 0: each scaled score s becomes logit_softcap * tanh(s / logit_softcap)
};

// Attention of every new token over its sequence's cached keys (which must already include this
// step's tokens). Rows with no visible key get zeros and lse = -inf.
void paged_attention(const PagedAttentionParams& p);

}  // namespace tessera::kernels::cpu
