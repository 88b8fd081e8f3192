// src/model/gguf_model.cpp — a GGUF file as a model (gguf_model.h).
#include "src/model/gguf_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "src/core/logging.h"
#include "src/core/thread_pool.h"
#include "src/model/gguf_dequant.h"

namespace tessera {
namespace {

// Metadata value as a number / string, or an error naming the key. Absent: nullopt.
Expected<std::optional<double>> meta_number(const GgufFile& f, const std::string& key,
                                            const std::string& source) {
  const Json* v = f.meta(key);
  if (!v) return std::optional<double>();
  if (!v->is_number())
    return data_loss(source + ": metadata '" + key + "' must be a number, got " + json_excerpt(*v));
  return std::optional<double>(v->get<double>());
}

// A size or id: an integer in [0, 2^40] (parse_model_config bounds the sizes further).
Expected<std::optional<int64_t>> meta_int(const GgufFile& f, const std::string& key,
                                          const std::string& source) {
  const Json* v = f.meta(key);
  if (!v) return std::optional<int64_t>();
  const bool in_range = v->is_number_unsigned() ? v->get<uint64_t>() <= (uint64_t{1} << 40)
                        : v->is_number_integer() ? v->get<int64_t>() >= 0 && v->get<int64_t>() <= (int64_t{1} << 40)
                                                 : false;
  if (!in_range)
    return data_loss(source + ": metadata '" + key + "' must be an integer from 0 to 2^40, got " +
                     json_excerpt(*v));
  return std::optional<int64_t>(v->get<int64_t>());
}

Expected<std::optional<std::string>> meta_string(const GgufFile& f, const std::string& key,
                                                 const std::string& source) {
  const Json* v = f.meta(key);
  if (!v) return std::optional<std::string>();
  if (!v->is_string())
    return data_loss(source + ": metadata '" + key + "' must be a string, got " + json_excerpt(*v));
  return std::optional<std::string>(v->get<std::string>());
}

// Layer tensors whose HF name depends on the architecture: Phi-3 keeps q/k/v and gate/up fused
// (attn_qkv, ffn_up) as its HF checkpoints do; Gemma 2 has a norm after attention and around the
// MLP, and its ffn_norm is the one before the MLP.
const std::map<std::string, std::string>& layer_overrides(Architecture arch) {
  static const std::map<std::string, std::string> kNone, kPhi3 = {
      {"attn_qkv", "self_attn.qkv_proj"}, {"ffn_up", "mlp.gate_up_proj"}};
  static const std::map<std::string, std::string> kGemma2 = {
      {"post_attention_norm", "post_attention_layernorm"}, {"ffn_norm", "pre_feedforward_layernorm"},
      {"post_ffw_norm", "post_feedforward_layernorm"}};
  return arch == Architecture::kPhi3 ? kPhi3 : arch == Architecture::kGemma2 ? kGemma2 : kNone;
}

// The HF name of a GGUF tensor name, or "" for one tessera does not map.
std::string hf_name_of(const std::string& g, Architecture arch) {
  static const std::map<std::string, std::string> kTop = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  if (auto it = kTop.find(g); it != kTop.end()) return it->second;
  static const std::map<std::string, std::string> kLayer = {
      {"attn_norm", "input_layernorm"},   {"attn_q", "self_attn.q_proj"},
      {"attn_k", "self_attn.k_proj"},     {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"}, {"ffn_norm", "post_attention_layernorm"},
      {"ffn_gate", "mlp.gate_proj"},      {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},      {"attn_q_norm", "self_attn.q_norm"},
      {"attn_k_norm", "self_attn.k_norm"},
  };
  if (g.rfind("blk.", 0) != 0) return "";
  const size_t dot = g.find('.', 4);
  if (dot == std::string::npos || dot == 4) return "";
  const std::string layer = g.substr(4, dot - 4);
  // Digits only, no leading zero: "blk.01" and "blk.1" must not both name layer 1.
  if (layer.size() > 6 || (layer.size() > 1 && layer[0] == '0') ||
      !std::all_of(layer.begin(), layer.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return "";
  const size_t last = g.rfind('.');
  if (last <= dot) return "";
  const std::string part = g.substr(dot + 1, last - dot - 1), kind = g.substr(last + 1);
  if (kind != "weight" && kind != "bias") return "";
  const std::string prefix = "model.layers." + layer + ".";  // digits, no leading zero: as HF writes it
  const auto& overrides = layer_overrides(arch);
  if (auto o = overrides.find(part); o != overrides.end()) return prefix + o->second + "." + kind;
  auto it = kLayer.find(part);
  if (it == kLayer.end()) return "";
  return prefix + it->second + "." + kind;
}

// Rows of one q or k projection in llama.cpp's order ([heads, d/2, 2] per head) back to HF's
// ([heads, 2, d/2]); `cols` floats a row (1 for a bias).
void unpermute_rows(const float* src, float* dst, int64_t rows, int64_t cols, int64_t heads) {
  const int64_t half = rows / heads / 2;
  parallel_for(rows, 64, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {  // r: the HF row [h, which, i]
      const int64_t h = r / (2 * half), which = (r / half) % 2, i = r % half;
      const int64_t from = h * 2 * half + i * 2 + which;
      std::memcpy(dst + r * cols, src + from * cols, static_cast<size_t>(cols) * sizeof(float));
    }
  });
}

}  // namespace

Expected<std::string> find_gguf_model(const std::string& model_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(model_path, ec)) {
    TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> f, MappedFile::open(model_path));
    if (!looks_like_gguf(static_cast<const uint8_t*>(f->data()), f->size_bytes()))
      return invalid_argument(model_path + ": not a GGUF file (no 'GGUF' magic) and not a model "
                              "folder; give a Hugging Face model folder or a .gguf file");
    return model_path;
  }
  if (!fs::is_directory(model_path, ec) || fs::exists(fs::path(model_path) / "config.json", ec))
    return std::string();
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(model_path, ec))
    if (entry.is_regular_file(ec) && entry.path().extension() == ".gguf")
      found.push_back(entry.path().string());
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    return invalid_argument(model_path + ": holds " + std::to_string(found.size()) +
                            " GGUF files and no config.json; name one (" + found[0] + ", " +
                            found[1] + (found.size() > 2 ? ", ..." : "") + ")");
  }
  return found.empty() ? std::string() : found[0];
}

Expected<Json> gguf_hf_config_json(const GgufFile& f, const std::string& source) {
  TESSERA_ASSIGN_OR_RETURN(auto arch, meta_string(f, "general.architecture", source));
  if (!arch) return data_loss(source + ": metadata 'general.architecture' is missing");
  Json j = Json::object();
  if (*arch == "llama") {
    j["architectures"] = Json::array({"LlamaForCausalLM"});
    j["model_type"] = "llama";
  } else if (*arch == "qwen2") {
    j["architectures"] = Json::array({"Qwen2ForCausalLM"});
    j["model_type"] = "qwen2";
  } else if (*arch == "qwen3") {
    j["architectures"] = Json::array({"Qwen3ForCausalLM"});
    j["model_type"] = "qwen3";
  } else if (*arch == "phi3") {
    j["architectures"] = Json::array({"Phi3ForCausalLM"});
    j["model_type"] = "phi3";
  } else if (*arch == "gemma2") {
    j["architectures"] = Json::array({"Gemma2ForCausalLM"});
    j["model_type"] = "gemma2";
  } else {
    return unimplemented(source + ": GGUF architecture '" + *arch +
                         "' is not supported (supported: llama, qwen2, qwen3, phi3, gemma2)");
  }
  const std::string a = *arch + ".";
  // (GGUF key, config.json key, required)
  const struct { const char* key; const char* hf; bool required; } kSizes[] = {
      {"embedding_length", "hidden_size", true},
      {"block_count", "num_hidden_layers", true},
      {"feed_forward_length", "intermediate_size", true},
      {"attention.head_count", "num_attention_heads", true},
      {"attention.head_count_kv", "num_key_value_heads", false},
      {"context_length", "max_position_embeddings", false},
  };
  for (const auto& s : kSizes) {
    TESSERA_ASSIGN_OR_RETURN(auto v, meta_int(f, a + s.key, source));
    if (!v) {
      if (s.required) return data_loss(source + ": metadata '" + a + s.key + "' is missing");
      continue;
    }
    j[s.hf] = *v;
  }
  // Qwen3: head_dim is its own (key_length) and q/k RMS-normed; the converter writes no bias.
  // head_dim: the attention's key length when stated; else, as transformers reads llama files,
  // the rotary dimension (llama.cpp writes head_dim there).
  TESSERA_ASSIGN_OR_RETURN(auto key_length, meta_int(f, a + "attention.key_length", source));
  TESSERA_ASSIGN_OR_RETURN(auto rope_dims, meta_int(f, a + "rope.dimension_count", source));
  if (key_length) {
    j["head_dim"] = *key_length;
  } else if (rope_dims && *arch == "llama") {
    j["head_dim"] = *rope_dims;
  }
  // Phi-3's and Gemma 2's window, when the converter wrote one; Gemma 2's soft-caps.
  TESSERA_ASSIGN_OR_RETURN(auto window, meta_int(f, a + "attention.sliding_window", source));
  if (window && (*arch == "phi3" || *arch == "gemma2")) j["sliding_window"] = *window;
  if (*arch == "gemma2")
    for (const char* cap : {"attn_logit_softcapping", "final_logit_softcapping"}) {
      TESSERA_ASSIGN_OR_RETURN(auto v, meta_number(f, a + cap, source));
      if (v) j[cap] = *v;
    }
  TESSERA_ASSIGN_OR_RETURN(auto eps, meta_number(f, a + "attention.layer_norm_rms_epsilon", source));
  if (eps) j["rms_norm_eps"] = *eps;
  TESSERA_ASSIGN_OR_RETURN(auto theta, meta_number(f, a + "rope.freq_base", source));
  if (theta) j["rope_theta"] = *theta;
  TESSERA_ASSIGN_OR_RETURN(auto scaling, meta_string(f, a + "rope.scaling.type", source));
  if (scaling && *scaling != "none") {
    TESSERA_ASSIGN_OR_RETURN(auto factor, meta_number(f, a + "rope.scaling.factor", source));
    if (*scaling != "linear" || !factor)
      return unimplemented(source + ": rope scaling '" + *scaling +
                           "' in a GGUF file is not supported (supported: none, linear)");
    j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", *factor}};
  }
  TESSERA_ASSIGN_OR_RETURN(auto vocab, meta_int(f, a + "vocab_size", source));
  if (vocab) {
    j["vocab_size"] = *vocab;
  } else if (const Json* tokens = f.meta("tokenizer.ggml.tokens"); tokens && tokens->is_array()) {
    j["vocab_size"] = static_cast<int64_t>(tokens->size());
  } else if (const GgufTensorInfo* embd = f.find("token_embd.weight"); embd && embd->extent.size() == 2) {
    j["vocab_size"] = embd->extent[1];
  }
  j["tie_word_embeddings"] = f.find("output.weight") == nullptr;
  if (*arch == "llama" && f.find("blk.0.attn_q.bias")) j["attention_bias"] = true;
  for (const char* id : {"bos_token_id", "eos_token_id"}) {
    TESSERA_ASSIGN_OR_RETURN(auto v, meta_int(f, std::string("tokenizer.ggml.") + id, source));
    if (v) j[id] = *v;
  }
  return j;
}

Expected<ModelConfig> gguf_model_config(const GgufFile& f, const std::string& source) {
  TESSERA_ASSIGN_OR_RETURN(Json cfg, gguf_hf_config_json(f, source));
  // Every string in it is one of ours; `replace` keeps dump() from throwing on a future field.
  return parse_model_config(cfg.dump(-1, ' ', false, Json::error_handler_t::replace),
                            source + " (its metadata as config.json)");
}

Expected<std::shared_ptr<const GgufModel>> GgufModel::open(const std::string& path) {
  auto m = std::make_shared<GgufModel>();
  TESSERA_ASSIGN_OR_RETURN(m->file_, MappedFile::open(path));
  TESSERA_ASSIGN_OR_RETURN(m->gguf_, parse_gguf(static_cast<const uint8_t*>(m->file_->data()),
                                                m->file_->size_bytes(), path));
  TESSERA_ASSIGN_OR_RETURN(m->config_, gguf_model_config(m->gguf_, path));
  // llama.cpp keeps Llama 3.1's RoPE scaling as divisors of each frequency (rope_freqs.weight).
  if (const GgufTensorInfo* t = m->gguf_.find("rope_freqs.weight")) {
    const int64_t half = m->config_.head_dim / 2;
    if (t->type != GgmlType::kF32 || t->extent.size() != 1 || t->extent[0] != half)
      return data_loss(path + ": tensor 'rope_freqs.weight' must be F32 [" + std::to_string(half) +
                       "] (one divisor per frequency of head_dim " + std::to_string(m->config_.head_dim) + ")");
    std::vector<float> factors(static_cast<size_t>(half));
    std::memcpy(factors.data(), static_cast<const uint8_t*>(m->file_->data()) + t->offset, factors.size() * 4);
    for (float x : factors)
      if (!(x > 0.f && std::isfinite(x)))
        return data_loss(path + ": tensor 'rope_freqs.weight' holds " + std::to_string(x) +
                         "; its divisors must be finite and positive");
    if (m->config_.rope.type != RopeType::kDefault)
      return data_loss(path + ": both rope_freqs.weight and a rope scaling type; one scaling only");
    m->config_.rope.freq_factors = std::move(factors);
  }
  // llama.cpp interleaves the rotary halves for the llama architecture only (its NEOX-style
  // families, qwen2 and qwen3, are stored as in HF).
  m->permute_qk_ = m->config_.arch == Architecture::kLlama;
  std::vector<std::string> unused;
  for (size_t i = 0; i < m->gguf_.tensors.size(); ++i) {
    const std::string hf = hf_name_of(m->gguf_.tensors[i].name, m->config_.arch);
    if (hf.empty()) {
      if (m->gguf_.tensors[i].name != "rope_freqs.weight") unused.push_back(m->gguf_.tensors[i].name);
    } else {
      m->by_hf_name_[hf] = i;
    }
  }
  if (!unused.empty())
    LOG_WARN(path << ": " << unused.size() << " tensor(s) tessera does not use (e.g. '" << unused[0]
                  << "') are ignored");
  return std::shared_ptr<const GgufModel>(std::move(m));
}

std::vector<std::string> GgufModel::tensor_names() const {
  std::vector<std::string> out;
  for (const auto& [name, i] : by_hf_name_) out.push_back(name);
  return out;
}

const GgufTensorInfo* GgufModel::info(const std::string& hf_name) const {
  auto it = by_hf_name_.find(hf_name);
  return it == by_hf_name_.end() ? nullptr : &gguf_.tensors[it->second];
}

// How get() serves a tensor: q/k rows to un-interleave (llama), a Gemma norm to take the 1 off
// (llama.cpp stores 1 + w; served as w in fp32, as transformers' reader does, so the loader's own
// (1 + w) gives the same numbers), and the dtype of a zero-copy view when neither applies and the
// file holds plain floats (nullopt: a new fp32 tensor).
GgufModel::Serving GgufModel::serving(const std::string& hf_name, const GgufTensorInfo& t) const {
  Serving s;
  s.q_rows = permute_qk_ && hf_name.find(".self_attn.q_proj.") != std::string::npos;
  s.k_rows = permute_qk_ && hf_name.find(".self_attn.k_proj.") != std::string::npos;
  s.minus_one = config_.norm_plus_one && hf_name.find("norm.weight") != std::string::npos;
  if (s.q_rows || s.k_rows || s.minus_one) return s;
  if (t.type == GgmlType::kF32) s.view = DType::kF32;
  if (t.type == GgmlType::kF16) s.view = DType::kF16;
  if (t.type == GgmlType::kBF16) s.view = DType::kBF16;
  return s;
}

Expected<Tensor> GgufModel::get(const std::string& hf_name) const {
  const GgufTensorInfo* t = info(hf_name);
  if (!t) return not_found(path() + ": no tensor for '" + hf_name + "'");
  Shape shape(t->extent.rbegin(), t->extent.rend());
  const Serving how = serving(hf_name, *t);
  if (how.view) return Tensor(file_, static_cast<size_t>(t->offset), *how.view, shape, contiguous_strides(shape));
  TESSERA_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(shape, DType::kF32));
  const auto* src = static_cast<const uint8_t*>(file_->data()) + t->offset;
  float* dst = static_cast<float*>(out.data_ptr());
  if (!how.q_rows && !how.k_rows) {
    TESSERA_RETURN_IF_ERROR(dequantize_tensor(*t, src, dst));
    if (how.minus_one)
      for (int64_t i = 0; i < out.numel(); ++i) dst[i] -= 1.0f;
    return out;
  }
  const int64_t heads = how.q_rows ? config_.num_heads : config_.num_kv_heads;
  const int64_t rows = shape[0], cols = shape.size() > 1 ? shape[1] : 1;
  if (heads <= 0 || rows % (2 * heads) != 0)
    return data_loss(path() + ": tensor '" + t->name + "' has " + std::to_string(rows) +
                     " rows, which do not split into " + std::to_string(heads) + " heads of two rotary halves");
  TESSERA_ASSIGN_OR_RETURN(Tensor tmp, Tensor::empty(shape, DType::kF32));
  TESSERA_RETURN_IF_ERROR(dequantize_tensor(*t, src, static_cast<float*>(tmp.data_ptr())));
  unpermute_rows(static_cast<const float*>(tmp.data_ptr()), dst, rows, cols, heads);
  return out;
}

uint64_t GgufModel::served_bytes() const {
  uint64_t total = 0;
  for (const auto& [name, i] : by_hf_name_) {
    const GgufTensorInfo& t = gguf_.tensors[i];
    total += serving(name, t).view ? t.bytes : static_cast<uint64_t>(t.num_elements()) * 4;
  }
  return total;
}

std::map<std::string, int64_t> GgufModel::params_by_type() const {
  std::map<std::string, int64_t> out;
  for (const GgufTensorInfo& t : gguf_.tensors) {
    const auto info = ggml_type_info(static_cast<uint32_t>(t.type));
    out[info ? info->name : "?"] += t.num_elements();
  }
  return out;
}

}  // namespace tessera
