// src/model/weights.cpp — HF tensor names/shapes for the Llama family, checkpoint validation and
// fp32 loading with fused projections.
#include "src/model/weights.h"

#include <algorithm>
#include <cstring>

#include "src/core/logging.h"
#include "src/core/progress.h"
#include "src/core/thread_pool.h"

namespace tessera {
namespace {

std::string layer_prefix(int64_t i) { return "model.layers." + std::to_string(i) + "."; }

bool is_float_dtype(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

// Converts `src` (any float dtype, contiguous) to `dst_dtype` at `dst`, in parallel chunks.
void convert_into(const Tensor& src, DType dst_dtype, char* dst, ProgressBar& bar) {
  const int64_t n = src.numel();
  const size_t src_size = dtype_size(src.dtype());
  const size_t dst_size = dtype_size(dst_dtype);
  const char* base = static_cast<const char*>(src.data_ptr());
  constexpr int64_t kChunk = 1 << 16;
  parallel_for((n + kChunk - 1) / kChunk, 1, [&](int64_t b, int64_t e) {
    std::vector<float> tmp;
    for (int64_t c = b; c < e; ++c) {
      const int64_t begin = c * kChunk;
      const size_t len = static_cast<size_t>(std::min(kChunk, n - begin));
      const char* from = base + static_cast<size_t>(begin) * src_size;
      char* to = dst + static_cast<size_t>(begin) * dst_size;
      if (src.dtype() == dst_dtype) {
        std::memcpy(to, from, len * src_size);
      } else if (dst_dtype == DType::kF32) {
        convert_to_f32(src.dtype(), from, reinterpret_cast<float*>(to), len);
      } else {
        tmp.resize(len);
        convert_to_f32(src.dtype(), from, tmp.data(), len);
        convert_from_f32(tmp.data(), dst_dtype, to, len);
      }
    }
  });
  bar.advance(src.nbytes());
}

// Loads checkpoint tensors into one host tensor of `dtype`, stacked along dim 0, and hands it to
// `place`.
class Loader {
 public:
  Loader(const Checkpoint& ckpt, DType dtype, const PlaceTensor& place)
      : ckpt_(ckpt), dtype_(dtype), place_(place), bar_("loading weights", ckpt.total_tensor_bytes()) {}

  Expected<Tensor> stacked(const std::vector<std::string>& names) {
    std::vector<Tensor> parts;
    int64_t rows = 0;
    for (const auto& name : names) {
      TESSERA_ASSIGN_OR_RETURN(Tensor t, ckpt_.get(name));
      rows += t.size(0);
      parts.push_back(std::move(t));
    }
    Shape shape = parts[0].shape();
    shape[0] = rows;
    TESSERA_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(shape, dtype_));
    char* dst = static_cast<char*>(out.data_ptr());
    for (const Tensor& t : parts) {
      convert_into(t, dtype_, dst, bar_);
      dst += static_cast<size_t>(t.numel()) * dtype_size(dtype_);
    }
    if (!place_) return out;
    return place_(std::move(out));
  }
  Expected<Tensor> one(const std::string& name) { return stacked({name}); }
  void finish() { bar_.finish(); }

 private:
  const Checkpoint& ckpt_;
  DType dtype_;
  const PlaceTensor& place_;
  ProgressBar bar_;
};

}  // namespace

std::vector<TensorSpec> hf_weight_specs(const ModelConfig& c, DType dtype) {
  std::vector<TensorSpec> specs;
  auto add = [&](std::string name, Shape shape) { specs.push_back({std::move(name), dtype, std::move(shape)}); };
  const int64_t h = c.hidden_size, q = c.q_size(), kv = c.kv_size(), inter = c.intermediate_size;
  add("model.embed_tokens.weight", {c.vocab_size, h});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = layer_prefix(i);
    if (c.arch == Architecture::kPhi3) {  // q/k/v and gate/up stored fused, in our order
      add(p + "input_layernorm.weight", {h});
      add(p + "self_attn.qkv_proj.weight", {q + 2 * kv, h});
      add(p + "self_attn.o_proj.weight", {h, q});
      add(p + "post_attention_layernorm.weight", {h});
      add(p + "mlp.gate_up_proj.weight", {2 * inter, h});
      add(p + "mlp.down_proj.weight", {h, inter});
      continue;
    }
    add(p + "input_layernorm.weight", {h});
    add(p + "self_attn.q_proj.weight", {q, h});
    if (c.qkv_bias) add(p + "self_attn.q_proj.bias", {q});
    add(p + "self_attn.k_proj.weight", {kv, h});
    if (c.qkv_bias) add(p + "self_attn.k_proj.bias", {kv});
    add(p + "self_attn.v_proj.weight", {kv, h});
    if (c.qkv_bias) add(p + "self_attn.v_proj.bias", {kv});
    if (c.qk_norm) {
      add(p + "self_attn.q_norm.weight", {c.head_dim});
      add(p + "self_attn.k_norm.weight", {c.head_dim});
    }
    add(p + "self_attn.o_proj.weight", {h, q});
    if (c.o_bias) add(p + "self_attn.o_proj.bias", {h});
    add(p + "post_attention_layernorm.weight", {h});
    if (c.sandwich_norms) {
      add(p + "pre_feedforward_layernorm.weight", {h});
      add(p + "post_feedforward_layernorm.weight", {h});
    }
    add(p + "mlp.gate_proj.weight", {inter, h});
    if (c.mlp_bias) add(p + "mlp.gate_proj.bias", {inter});
    add(p + "mlp.up_proj.weight", {inter, h});
    if (c.mlp_bias) add(p + "mlp.up_proj.bias", {inter});
    add(p + "mlp.down_proj.weight", {h, inter});
    if (c.mlp_bias) add(p + "mlp.down_proj.bias", {h});
  }
  add("model.norm.weight", {h});
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, h});
  return specs;
}

Status validate_checkpoint(const Checkpoint& ckpt) {
  const auto specs = hf_weight_specs(ckpt.config(), DType::kF32);
  const std::string cfg = ckpt.config_source();
  for (const auto& spec : specs) {
    if (!ckpt.contains(spec.name))
      return not_found(ckpt.dir() + ": tensor '" + spec.name + "' is missing (" + cfg +
                       " implies shape " + shape_to_string(spec.shape) + ")");
    if (const GgufModel* g = ckpt.gguf()) {  // shapes from the directory: get() would dequantize
      const GgufTensorInfo* info = g->info(spec.name);
      const Shape shape(info->extent.rbegin(), info->extent.rend());
      if (shape != spec.shape)
        return invalid_argument(ckpt.file_of(spec.name) + ": tensor '" + spec.name + "' has shape " +
                                shape_to_string(shape) + " but " + cfg + " implies " +
                                shape_to_string(spec.shape));
      continue;  // every ggml type tessera parses dequantizes to fp32
    }
    TESSERA_ASSIGN_OR_RETURN(Tensor t, ckpt.get(spec.name));
    if (t.shape() != spec.shape)
      return invalid_argument(ckpt.file_of(spec.name) + ": tensor '" + spec.name + "' has shape " +
                              t.shape_string() + " but " + cfg + " implies " +
                              shape_to_string(spec.shape));
    if (!is_float_dtype(t.dtype()))
      return unimplemented(ckpt.file_of(spec.name) + ": tensor '" + spec.name + "' has dtype " +
                           std::string(dtype_name(t.dtype())) + "; expected F32, F16 or BF16");
  }
  size_t known = specs.size();
  if (ckpt.config().tie_word_embeddings && ckpt.contains("lm_head.weight")) ++known;
  if (ckpt.tensor_names().size() > known)
    LOG_WARN(ckpt.dir() << ": " << ckpt.tensor_names().size() - known
                        << " tensor(s) in the checkpoint are not used by " << architecture_hf_name(ckpt.config().arch));
  return Status::ok();
}

Expected<ModelWeights> load_weights(const Checkpoint& ckpt, DType dtype, const PlaceTensor& place) {
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16)
    return invalid_argument("weights can be loaded as f32, f16 or bf16, not " + std::string(dtype_name(dtype)));
  TESSERA_RETURN_IF_ERROR(validate_checkpoint(ckpt));
  const ModelConfig& c = ckpt.config();
  if (c.norm_plus_one && (dtype != DType::kF32 || place))
    return unimplemented(std::string(architecture_hf_name(c.arch)) + " loads into the CPU model only (f32 on the host)");
  Loader load(ckpt, dtype, place);
  // Gemma's RMSNorm scales by (1 + weight), computed in fp32: folded into the weight once.
  auto norm = [&](const std::string& name) -> Expected<Tensor> {
    TESSERA_ASSIGN_OR_RETURN(Tensor t, load.one(name));
    if (c.norm_plus_one) {
      float* v = static_cast<float*>(t.data_ptr());
      for (int64_t i = 0; i < t.numel(); ++i) v[i] = 1.0f + v[i];
    }
    return t;
  };
  ModelWeights w;
  TESSERA_ASSIGN_OR_RETURN(w.embed, load.one("model.embed_tokens.weight"));
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = layer_prefix(i);
    LayerWeights l;
    TESSERA_ASSIGN_OR_RETURN(l.input_norm, norm(p + "input_layernorm.weight"));
    const bool fused = c.arch == Architecture::kPhi3;  // Phi-3 stores them as we run them
    if (fused) {
      TESSERA_ASSIGN_OR_RETURN(l.qkv.weight, load.one(p + "self_attn.qkv_proj.weight"));
    } else {
      TESSERA_ASSIGN_OR_RETURN(l.qkv.weight, load.stacked({p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"}));
    }
    if (c.qkv_bias) {
      TESSERA_ASSIGN_OR_RETURN(l.qkv.bias, load.stacked({p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"}));
    }
    if (c.qk_norm) {
      TESSERA_ASSIGN_OR_RETURN(l.q_norm, norm(p + "self_attn.q_norm.weight"));
      TESSERA_ASSIGN_OR_RETURN(l.k_norm, norm(p + "self_attn.k_norm.weight"));
    }
    TESSERA_ASSIGN_OR_RETURN(l.o.weight, load.one(p + "self_attn.o_proj.weight"));
    if (c.o_bias) {
      TESSERA_ASSIGN_OR_RETURN(l.o.bias, load.one(p + "self_attn.o_proj.bias"));
    }
    TESSERA_ASSIGN_OR_RETURN(l.post_norm, norm(p + "post_attention_layernorm.weight"));
    if (c.sandwich_norms) {
      TESSERA_ASSIGN_OR_RETURN(l.pre_ff_norm, norm(p + "pre_feedforward_layernorm.weight"));
      TESSERA_ASSIGN_OR_RETURN(l.post_ff_norm, norm(p + "post_feedforward_layernorm.weight"));
    }
    if (fused) {
      TESSERA_ASSIGN_OR_RETURN(l.gate_up.weight, load.one(p + "mlp.gate_up_proj.weight"));
    } else {
      TESSERA_ASSIGN_OR_RETURN(l.gate_up.weight, load.stacked({p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"}));
    }
    TESSERA_ASSIGN_OR_RETURN(l.down.weight, load.one(p + "mlp.down_proj.weight"));
    if (c.mlp_bias) {
      TESSERA_ASSIGN_OR_RETURN(l.gate_up.bias, load.stacked({p + "mlp.gate_proj.bias", p + "mlp.up_proj.bias"}));
      TESSERA_ASSIGN_OR_RETURN(l.down.bias, load.one(p + "mlp.down_proj.bias"));
    }
    w.layers.push_back(std::move(l));
  }
  TESSERA_ASSIGN_OR_RETURN(w.final_norm, norm("model.norm.weight"));
  if (c.tie_word_embeddings) {
    w.lm_head.weight = w.embed;
  } else {
    TESSERA_ASSIGN_OR_RETURN(w.lm_head.weight, load.one("lm_head.weight"));
  }
  load.finish();
  return w;
}

Expected<ModelWeights> load_weights_f32(const Checkpoint& ckpt) { return load_weights(ckpt, DType::kF32, nullptr); }

}  // namespace tessera
