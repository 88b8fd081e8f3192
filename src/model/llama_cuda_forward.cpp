// src/model/llama_cuda_forward.cpp — the CUDA runner's forward (llama_cuda_runner.h): embedding,
// the decoder layers as nine calls each, the last rows' norm, LM head and greedy argmax, all
// enqueued on the runner's stream with no host synchronization. Every pointer is fixed at creation
// or a function of the step's shape, so a captured graph replays it.
#include "src/model/llama_cuda_runner.h"

namespace tessera::cuda_runner {

Status CudaModelRunner::kernel_status(cudaError_t e, const char* what, const char* (*reason)()) const {
  if (e == cudaSuccess) return Status::ok();
  if (e == cudaErrorInvalidValue) {
    const char* why = reason ? reason() : nullptr;
    return internal_error(std::string(what) + ": invalid launch" + (why && *why ? std::string(" (") + why + ")" : ""));
  }
  return cuda_status(e, what);
}

Status CudaModelRunner::norm(const void* x, void* residual, void* y, const Tensor& weight, int64_t rows,
                             const char* what) {
  k::RmsNormParams np;
  np.x = x;
  np.residual = residual;
  np.y = y;
  np.weight = weight.data_ptr();
  np.num_tokens = rows;
  np.hidden = config_.hidden_size;
  np.x_row_stride = np.residual_row_stride = np.y_row_stride = config_.hidden_size;
  np.eps = static_cast<float>(config_.rms_norm_eps);
  np.dtype = ftype_;
  return kernel_status(k::rms_norm(np, stream_), what);
}

Status CudaModelRunner::linear(const Linear& l, const void* x, void* y, int64_t rows, k::FloatType out_dtype) {
  switch (l.format) {
    case WeightFormat::kDense: {
      k::GemmParams g;
      g.x = x;
      g.w = l.weight.data_ptr();
      g.bias = l.bias.defined() ? l.bias.data_ptr() : nullptr;
      g.y = y;
      g.m = rows;
      g.n = l.out_features();
      g.k = l.in_features();
      g.ldx = g.k;
      g.ldw = g.k;
      g.ldy = g.n;
      g.dtype = ftype_;
      g.out_dtype = out_dtype;
      if (gemm_->run(g, stream_) != cudaSuccess) return internal_error(gemm_->last_error());
      return Status::ok();
    }
  }
  return internal_error("linear: unknown weight format");
}

StepArrays CudaModelRunner::step_arrays(const StepShape& shape) const {
  const BatchLayout L(shape.tokens, shape.seqs, table_width_);
  const char* bd = batch_dev_.get();
  return {reinterpret_cast<const int32_t*>(bd + L.ids),        reinterpret_cast<const int32_t*>(bd + L.positions),
          reinterpret_cast<const int64_t*>(bd + L.slots),      reinterpret_cast<const int32_t*>(bd + L.cu_seqlens),
          reinterpret_cast<const int32_t*>(bd + L.seq_lens),   reinterpret_cast<const int32_t*>(bd + L.block_table)};
}

std::pair<char*, char*> CudaModelRunner::layer_cache(size_t layer) const {
  const int64_t es = static_cast<int64_t>(dtype_size(dtype_));
  const int64_t layer_kv = static_cast<int64_t>(layout_.num_blocks) * layout_.block_stride() * es;  // K and V
  char* k_cache = kv_.get() + static_cast<int64_t>(layer) * layer_kv;
  return {k_cache, k_cache + layout_.block_extent() * es};
}

Status CudaModelRunner::rope_append(size_t layer, const StepShape& shape, const StepArrays& in) {
  const int64_t es = static_cast<int64_t>(dtype_size(dtype_));
  const int64_t q_size = shape_.q_size(), kv_size = shape_.kv_size(), qkv_size = shape_.qkv_size(), D = shape_.head_dim;
  const auto [k_cache, v_cache] = layer_cache(layer);
  const auto* cos = reinterpret_cast<const float*>(rope_.get());
  k::KvAppendParams ap;
  ap.k = qkv_ + q_size * es;
  ap.v = qkv_ + (q_size + kv_size) * es;
  ap.k_token_stride = ap.v_token_stride = qkv_size;
  ap.k_head_stride = ap.v_head_stride = D;
  ap.slot_mapping = in.slots;
  ap.num_tokens = shape.tokens;
  ap.k_cache = k_cache;
  ap.v_cache = v_cache;
  ap.layout = layout_;
  ap.q = qkv_;
  ap.q_out = qkv_;
  ap.q_token_stride = ap.q_out_token_stride = qkv_size;
  ap.q_head_stride = ap.q_out_head_stride = D;
  ap.num_q_tokens = shape.tokens;
  ap.num_heads = static_cast<int32_t>(shape_.num_heads);
  ap.rope = k::RopeLayout::kRotateHalf;
  ap.rotary_dim = static_cast<int32_t>(D);
  ap.cos = cos;
  ap.sin = cos + max_model_len_ * (D / 2);
  ap.max_position = static_cast<int32_t>(max_model_len_);
  ap.k_positions = in.positions;
  ap.dtype = ftype_;
  if (shape.fresh_prefill) {
    // The rotated keys also overwrite this step's k in qkv, so q, k and v sit side by side in each
    // token's row: the varlen prefill kernel reads them there.
    ap.k_out = qkv_ + q_size * es;
    ap.k_out_token_stride = qkv_size;
    ap.k_out_head_stride = D;
  }
  return kernel_status(k::paged_kv_append(ap, stream_), "paged_kv_append", k::paged_attention_last_error);
}

Status CudaModelRunner::attention(size_t layer, const StepShape& shape, const StepArrays& in) {
  const int64_t es = static_cast<int64_t>(dtype_size(dtype_));
  const int64_t q_size = shape_.q_size(), kv_size = shape_.kv_size(), qkv_size = shape_.qkv_size(), D = shape_.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  if (shape.fresh_prefill) {  // every sequence starts here: the varlen prefill over this step's q, k, v
    k::AttentionFwdParams fa;
    fa.shape.batch = shape.seqs;
    fa.shape.num_heads = static_cast<int32_t>(shape_.num_heads);
    fa.shape.num_kv_heads = static_cast<int32_t>(shape_.num_kv_heads);
    fa.shape.head_dim = static_cast<int32_t>(D);
    fa.shape.seqlen_q = fa.shape.seqlen_k = shape.max_q_len;
    fa.shape.cu_seqlens_q = fa.shape.cu_seqlens_k = in.cu;
    fa.shape.total_q = shape.tokens;
    fa.shape.softmax_scale = scale;
    fa.shape.is_causal = true;
    fa.shape.dtype = ftype_;
    fa.q = qkv_;
    fa.k = qkv_ + q_size * es;
    fa.v = qkv_ + (q_size + kv_size) * es;
    fa.o = attn_;
    fa.lse = lse_;
    fa.q_strides = fa.k_strides = fa.v_strides = {0, qkv_size, D};
    fa.o_strides = {0, q_size, D};
    return kernel_status(k::attention_fwd(fa, stream_), "prefill attention", k::attention_last_error);
  }
  const auto [k_cache, v_cache] = layer_cache(layer);
  k::PagedAttentionParams pa;
  pa.q = qkv_;
  pa.q_token_stride = qkv_size;
  pa.q_head_stride = D;
  pa.out = attn_;
  pa.out_token_stride = q_size;
  pa.out_head_stride = D;
  pa.k_cache = k_cache;
  pa.v_cache = v_cache;
  pa.layout = layout_;
  pa.batch = {in.cu, in.lens, in.table, shape.seqs, table_width_};
  pa.num_heads = static_cast<int32_t>(shape_.num_heads);
  pa.softmax_scale = scale;
  pa.causal = true;
  pa.dtype = ftype_;
  pa.workspace = shape.plan.workspace_bytes > 0 ? attn_ws_.get() : nullptr;
  return kernel_status(k::paged_attention(pa, shape.plan, stream_), "paged_attention", k::paged_attention_last_error);
}

Status CudaModelRunner::silu_mul(int64_t rows) {
  k::SiluMulParams sp;
  sp.gate_up = gate_up_;
  sp.out = mlp_;
  sp.num_tokens = rows;
  sp.inter = shape_.intermediate;
  sp.in_row_stride = 2 * shape_.intermediate;
  sp.out_row_stride = shape_.intermediate;
  sp.dtype = ftype_;
  return kernel_status(k::silu_mul(sp, stream_), "silu_mul");
}

// One decoder layer. Buffers: x_ the residual stream, h_ the normed input, qkv_ [T, q | k | v],
// attn_ [T, q_size], proj_ the last sub-layer's output (added to x_ by the next norm), gate_up_,
// mlp_. Layer 0 normalizes the embeddings; later layers first add the previous layer's output.
Status CudaModelRunner::enqueue_layer(size_t li, const StepShape& shape, const StepArrays& in) {
  const LayerWeights& W = weights_.layers[li];
  const int64_t T = shape.tokens;
  TESSERA_RETURN_IF_ERROR(li == 0 ? norm(x_, nullptr, h_, W.input_norm, T, "input rms_norm")
                                  : norm(proj_, x_, h_, W.input_norm, T, "input rms_norm"));
  TESSERA_RETURN_IF_ERROR(linear(W.qkv, h_, qkv_, T));
  TESSERA_RETURN_IF_ERROR(rope_append(li, shape, in));  // RoPE on q and k, k and v into the cache
  TESSERA_RETURN_IF_ERROR(attention(li, shape, in));
  TESSERA_RETURN_IF_ERROR(linear(W.o, attn_, proj_, T));
  TESSERA_RETURN_IF_ERROR(norm(proj_, x_, h_, W.post_norm, T, "post-attention rms_norm"));
  TESSERA_RETURN_IF_ERROR(linear(W.gate_up, h_, gate_up_, T));
  TESSERA_RETURN_IF_ERROR(silu_mul(T));
  return linear(W.down, mlp_, proj_, T);
}

Status CudaModelRunner::enqueue(const StepShape& shape) {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size;
  const StepArrays in = step_arrays(shape);
  k::EmbeddingParams ep;
  ep.ids = in.ids;
  ep.table = weights_.embed.data_ptr();
  ep.out = x_;
  ep.num_tokens = shape.tokens;
  ep.hidden = H;
  ep.out_row_stride = H;
  ep.dtype = ftype_;
  TESSERA_RETURN_IF_ERROR(kernel_status(k::embedding(ep, stream_), "embedding"));
  for (size_t li = 0; li < weights_.layers.size(); ++li) TESSERA_RETURN_IF_ERROR(enqueue_layer(li, shape, in));
  if (shape.logit_rows == 0) return Status::ok();

  // The last token of each sequence: gather the residual and the last sub-layer's output, then the
  // final norm (with its residual add) on those rows only.
  for (auto [src, dst] : {std::pair<char*, char*>{x_, last_x_}, std::pair<char*, char*>{proj_, last_p_}}) {
    k::GatherRowsParams gp;
    gp.src = src;
    gp.src_row_stride = H;
    gp.dst = dst;
    gp.dst_row_stride = H;
    gp.cu_seqlens = in.cu;
    gp.num_rows = shape.logit_rows;
    gp.width = H;
    gp.dtype = ftype_;
    TESSERA_RETURN_IF_ERROR(kernel_status(k::gather_rows(gp, stream_), "gather_rows"));
  }
  TESSERA_RETURN_IF_ERROR(norm(last_p_, last_x_, last_h_, weights_.final_norm, shape.logit_rows, "final rms_norm"));
  TESSERA_RETURN_IF_ERROR(linear(weights_.lm_head, last_h_, logits_, shape.logit_rows, k::FloatType::kF32));
  k::GreedyParams gp;
  gp.logits = logits_;
  gp.logits_row_stride = c.vocab_size;
  gp.num_rows = shape.logit_rows;
  gp.vocab = c.vocab_size;
  gp.scratch = argmax_scratch_;
  gp.out_tokens = tokens_;
  return kernel_status(k::greedy_argmax(gp, stream_), "greedy argmax");
}

}  // namespace tessera::cuda_runner
