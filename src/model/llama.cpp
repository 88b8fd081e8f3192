// src/model/llama.cpp — the Llama-family forward pass on the CPU backend (see llama.h).
#include "src/model/llama.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/ops.h"
#include "src/core/thread_pool.h"

namespace tessera {

namespace cpu = kernels::cpu;

Expected<CpuKvCache> CpuKvCache::create(const ModelConfig& config, int32_t num_blocks,
                                        int32_t block_size) {
  if (num_blocks <= 0 || block_size <= 0)
    return invalid_argument("KV cache needs a positive number of blocks and block size");
  CpuKvCache cache;
  cache.layout = {num_blocks, block_size, static_cast<int32_t>(config.num_kv_heads),
                  static_cast<int32_t>(config.head_dim)};
  const Shape shape = {num_blocks, block_size, config.num_kv_heads, config.head_dim};
  for (int64_t i = 0; i < config.num_layers; ++i) {
    TESSERA_ASSIGN_OR_RETURN(Tensor k, Tensor::zeros(shape, DType::kF32));
    TESSERA_ASSIGN_OR_RETURN(Tensor v, Tensor::zeros(shape, DType::kF32));
    cache.k.push_back(std::move(k));
    cache.v.push_back(std::move(v));
  }
  return cache;
}

cpu::RopeSpec rope_spec(const ModelConfig& c, const RopeConfig& rope) {
  cpu::RopeSpec s;
  s.kind = rope.type == RopeType::kLinear  ? cpu::RopeKind::kLinear
           : rope.type == RopeType::kLlama3 ? cpu::RopeKind::kLlama3
                                            : cpu::RopeKind::kDefault;
  s.theta = rope.theta;
  s.factor = rope.factor;
  s.low_freq_factor = rope.low_freq_factor;
  s.high_freq_factor = rope.high_freq_factor;
  s.original_max_position_embeddings = static_cast<double>(rope.original_max_position_embeddings);
  s.rotary_dim = static_cast<int32_t>(c.head_dim);
  s.freq_factors = rope.freq_factors;
  return s;
}

cpu::RopeSpec rope_spec(const ModelConfig& c) { return rope_spec(c, c.rope); }

LlamaModel::LlamaModel(ModelConfig config, ModelWeights weights)
    : config_(std::move(config)), weights_(std::move(weights)), inv_freq_(cpu::rope_inv_freq(rope_spec(config_))) {
  if (config_.local_rope) inv_freq_local_ = cpu::rope_inv_freq(rope_spec(config_, *config_.local_rope));
}

Expected<std::unique_ptr<LlamaModel>> LlamaModel::load(const std::string& model_dir) {
  TESSERA_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::open(model_dir));
  TESSERA_ASSIGN_OR_RETURN(ModelWeights w, load_weights_f32(ckpt));
  return std::make_unique<LlamaModel>(ckpt.config(), std::move(w));
}

Status validate_forward_batch(const ForwardBatch& b, const ModelConfig& config, const kernels::PagedKvLayout& layout) {
  const size_t t = b.token_ids.size();
  const int32_t n = b.num_seqs();
  if (n <= 0) return invalid_argument("forward: empty batch");
  if (b.positions.size() != t || b.slot_mapping.size() != t)
    return invalid_argument("forward: token_ids, positions and slot_mapping differ in length");
  if (b.cu_seqlens_q.size() != static_cast<size_t>(n) + 1 || b.cu_seqlens_q[0] != 0 ||
      static_cast<size_t>(b.cu_seqlens_q[static_cast<size_t>(n)]) != t)
    return invalid_argument("forward: cu_seqlens_q must run from 0 to the number of tokens");
  if (b.block_table.size() != static_cast<size_t>(n) * static_cast<size_t>(b.max_blocks_per_seq))
    return invalid_argument("forward: block_table is not [num_seqs, max_blocks_per_seq]");
  for (size_t i = 0; i < t; ++i) {
    if (b.token_ids[i] < 0 || b.token_ids[i] >= config.vocab_size)
      return invalid_argument("token id " + std::to_string(b.token_ids[i]) +
                              " is outside the vocabulary [0, " + std::to_string(config.vocab_size) + ")");
    if (b.slot_mapping[i] >= layout.num_slots())
      return invalid_argument("forward: slot " + std::to_string(b.slot_mapping[i]) + " is outside the cache");
    if (b.positions[i] < 0) return invalid_argument("forward: negative position");
  }
  for (int32_t s = 0; s < n; ++s) {
    const int32_t q_len = b.cu_seqlens_q[s + 1] - b.cu_seqlens_q[s];
    const int32_t len = b.seq_lens[static_cast<size_t>(s)];
    if (q_len < 0 || len < q_len) return invalid_argument("forward: seq_lens shorter than the new tokens");
    const int64_t blocks_needed = (len + layout.block_size - 1) / layout.block_size;
    if (blocks_needed > b.max_blocks_per_seq)
      return invalid_argument("forward: sequence " + std::to_string(s) + " needs more blocks than its block table has");
    for (int64_t j = 0; j < blocks_needed; ++j) {
      const int32_t blk = b.block_table[static_cast<size_t>(s * b.max_blocks_per_seq + j)];
      if (blk < 0 || blk >= layout.num_blocks)
        return invalid_argument("forward: block " + std::to_string(blk) + " is outside the cache");
    }
  }
  return Status::ok();
}

void LlamaModel::linear(const float* x, int64_t m, int64_t k, const float* w, const float* bias, int64_t n,
                        float* y) const {
  if (!batch_invariant_) {
    cpu::linear(x, m, k, w, bias, n, y);
    return;
  }
  for (int64_t i = 0; i < m; ++i) cpu::linear(x + i * k, 1, k, w, bias, n, y + i * n);
}

void LlamaModel::linear(const Linear& l, const float* x, int64_t rows, float* y) const {
  switch (l.format) {
    case WeightFormat::kDense:
      linear(x, rows, l.in_features(), l.weight.data<float>(), l.bias.defined() ? l.bias.data<float>() : nullptr,
             l.out_features(), y);
      return;
  }
}

Status LlamaModel::forward(const ForwardBatch& b, CpuKvCache& cache, std::vector<float>& logits) const {
  TESSERA_RETURN_IF_ERROR(validate_forward_batch(b, config_, cache.layout));
  const ModelConfig& c = config_;
  const int64_t T = static_cast<int64_t>(b.token_ids.size());
  const int64_t H = c.hidden_size, D = c.head_dim, I = c.intermediate_size, V = c.vocab_size;
  const int64_t q_size = c.q_size(), kv_size = c.kv_size(), qkv_size = q_size + 2 * kv_size;
  const float eps = static_cast<float>(c.rms_norm_eps);

  std::vector<float> x(static_cast<size_t>(T * H));          // residual stream [T, H]
  std::vector<float> h(static_cast<size_t>(T * H));          // normed input    [T, H]
  std::vector<float> qkv(static_cast<size_t>(T * qkv_size)); // [T, q | k | v]
  std::vector<float> attn(static_cast<size_t>(T * q_size));  // [T, Hq * D]
  std::vector<float> proj(static_cast<size_t>(T * H));       // a layer's output [T, H]
  std::vector<float> gate_up(static_cast<size_t>(T * 2 * I));
  std::vector<float> act(static_cast<size_t>(T * I));

  cpu::embedding(b.token_ids.data(), T, weights_.embed.data<float>(), H, x.data());
  if (c.scale_embeddings) {  // Gemma: times sqrt(hidden_size), rounded to fp32 first as HF does
    const float scale = static_cast<float>(std::sqrt(static_cast<double>(H)));
    for (float& v : x) v *= scale;
  }

  cpu::PagedAttentionParams ap;
  ap.q = qkv.data();
  ap.q_token_stride = qkv_size;
  ap.out = attn.data();
  ap.out_token_stride = q_size;
  ap.layout = cache.layout;
  ap.batch = {b.cu_seqlens_q.data(), b.seq_lens.data(), b.block_table.data(), b.num_seqs(),
              b.max_blocks_per_seq};
  ap.num_heads = static_cast<int32_t>(c.num_heads);
  ap.softmax_scale = c.query_pre_attn_scalar > 0
                         ? static_cast<float>(std::pow(c.query_pre_attn_scalar, -0.5))
                         : 1.0f / std::sqrt(static_cast<float>(D));
  ap.logit_softcap = static_cast<float>(c.attn_logit_softcapping);
  ap.causal = true;
  ap.sliding_window = static_cast<int32_t>(c.sliding_window);

  for (size_t li = 0; li < weights_.layers.size(); ++li) {
    const LayerWeights& L = weights_.layers[li];
    if (!c.sliding_layers.empty())
      ap.sliding_window = c.sliding_layers[li] ? static_cast<int32_t>(c.sliding_window) : 0;
    if (c.sandwich_norms) {
      cpu::rms_norm(x.data(), L.input_norm.data<float>(), T, H, eps, h.data());
    } else if (li == 0) {
      cpu::rms_norm(x.data(), L.input_norm.data<float>(), T, H, eps, h.data());
    } else {
      cpu::add_rms_norm(x.data(), proj.data(), L.input_norm.data<float>(), T, H, eps, h.data());
    }
    linear(L.qkv, h.data(), T, qkv.data());
    float* q = qkv.data();
    float* k = q + q_size;
    float* v = k + kv_size;
    if (c.qk_norm) {  // Qwen3: each head of q and k RMS-normed over head_dim, before RoPE
      parallel_for(T, 4, [&](int64_t tb, int64_t te) {
        for (int64_t t = tb; t < te; ++t) {
          cpu::rms_norm(q + t * qkv_size, L.q_norm.data<float>(), c.num_heads, D, eps, q + t * qkv_size);
          cpu::rms_norm(k + t * qkv_size, L.k_norm.data<float>(), c.num_kv_heads, D, eps, k + t * qkv_size);
        }
      });
    }
    const bool local = !inv_freq_local_.empty() && c.sliding_layers[li];  // Gemma 3's sliding layers
    const float* inv_freq = local ? inv_freq_local_.data() : inv_freq_.data();
    cpu::apply_rope(q, T, qkv_size, static_cast<int32_t>(c.num_heads), static_cast<int32_t>(D), b.positions.data(), inv_freq);
    cpu::apply_rope(k, T, qkv_size, static_cast<int32_t>(c.num_kv_heads), static_cast<int32_t>(D), b.positions.data(), inv_freq);
    float* k_cache = cache.k[li].data<float>();
    float* v_cache = cache.v[li].data<float>();
    cpu::reshape_and_cache(k, qkv_size, v, qkv_size, b.slot_mapping.data(), T, cache.layout, k_cache, v_cache);
    ap.k_cache = k_cache;
    ap.v_cache = v_cache;
    cpu::paged_attention(ap);
    linear(L.o, attn.data(), T, proj.data());

    if (c.sandwich_norms) {  // Gemma 2: norm the attention's output before the residual add
      cpu::rms_norm(proj.data(), L.post_norm.data<float>(), T, H, eps, h.data());
      for (int64_t i = 0; i < T * H; ++i) x[static_cast<size_t>(i)] += h[static_cast<size_t>(i)];
      cpu::rms_norm(x.data(), L.pre_ff_norm.data<float>(), T, H, eps, h.data());
    } else {
      cpu::add_rms_norm(x.data(), proj.data(), L.post_norm.data<float>(), T, H, eps, h.data());
    }
    linear(L.gate_up, h.data(), T, gate_up.data());
    if (c.gelu_tanh) {
      cpu::gelu_tanh_mul(gate_up.data(), T, I, act.data());
    } else {
      cpu::silu_mul(gate_up.data(), T, I, act.data());
    }
    linear(L.down, act.data(), T, proj.data());
    if (c.sandwich_norms) {  // and the MLP's output: the residual stream is complete after each layer
      cpu::rms_norm(proj.data(), L.post_ff_norm.data<float>(), T, H, eps, h.data());
      for (int64_t i = 0; i < T * H; ++i) x[static_cast<size_t>(i)] += h[static_cast<size_t>(i)];
      std::fill(proj.begin(), proj.end(), 0.0f);
    }
  }
  // Final residual add, then norm only the rows whose logits are wanted.
  for (int64_t i = 0; i < T * H; ++i) x[static_cast<size_t>(i)] += proj[static_cast<size_t>(i)];
  std::vector<float> rows;
  int64_t num_rows = T;
  const float* final_in = x.data();
  if (!b.all_logits) {
    num_rows = b.num_seqs();
    rows.resize(static_cast<size_t>(num_rows * H));
    for (int32_t s = 0; s < b.num_seqs(); ++s) {
      const int64_t last = b.cu_seqlens_q[s + 1] - 1;
      if (last < b.cu_seqlens_q[s]) return invalid_argument("forward: a sequence with no new tokens has no last-token logits");
      std::copy_n(x.begin() + last * H, H, rows.begin() + s * H);
    }
    final_in = rows.data();
  }
  std::vector<float> normed(static_cast<size_t>(num_rows * H));
  cpu::rms_norm(final_in, weights_.final_norm.data<float>(), num_rows, H, eps, normed.data());
  logits.resize(static_cast<size_t>(num_rows * V));
  linear(weights_.lm_head, normed.data(), num_rows, logits.data());
  if (c.final_logit_softcapping > 0)
    cpu::softcap(logits.data(), static_cast<int64_t>(logits.size()), static_cast<float>(c.final_logit_softcapping));
  return Status::ok();
}

}  // namespace tessera
