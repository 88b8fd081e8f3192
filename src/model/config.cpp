// src/model/config.cpp — reads and writes Hugging Face config.json for LlamaForCausalLM,
// MistralForCausalLM and Qwen2ForCausalLM.
//
// Invariants of a ModelConfig returned from here: every size is positive, num_heads is a multiple
// of num_kv_heads, head_dim is even (RoPE rotates pairs), the RoPE parameters its type needs are
// present, and the activation is SiLU. Defaults are transformers' own, so a config.json that loads
// in transformers means the same model here. Both RoPE spellings are read (4.x rope_theta +
// rope_scaling, 5.x rope_parameters); the writer uses the 4.x spelling, which both versions load.
#include "src/model/config.h"

#include <cmath>
#include <cstdio>
#include <tuple>

#include "src/core/logging.h"
#include "src/core/mapped_file.h"

namespace tessera {
namespace {

constexpr const char* kSupportedArchitectures =
    "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Phi3ForCausalLM, Qwen3ForCausalLM, "
    "Gemma2ForCausalLM, Gemma3ForCausalLM";
constexpr Architecture kArchitectures[] = {Architecture::kLlama, Architecture::kMistral,
                                           Architecture::kQwen2, Architecture::kPhi3,
                                           Architecture::kQwen3, Architecture::kGemma2,
                                           Architecture::kGemma3};

const char* architecture_model_type(Architecture a) {
  switch (a) {
    case Architecture::kLlama: return "llama";
    case Architecture::kMistral: return "mistral";
    case Architecture::kQwen2: return "qwen2";
    case Architecture::kPhi3: return "phi3";
    case Architecture::kQwen3: return "qwen3";
    case Architecture::kGemma2: return "gemma2";
    case Architecture::kGemma3: return "gemma3_text";
  }
  return "llama";
}

std::optional<Architecture> architecture_from_hf_name(const std::string& name) {
  for (Architecture a : kArchitectures)
    if (name == architecture_hf_name(a)) return a;
  return std::nullopt;
}

std::optional<Architecture> architecture_from_model_type(const std::string& name) {
  for (Architecture a : kArchitectures)
    if (name == architecture_model_type(a)) return a;
  return std::nullopt;
}

// The spelling torch uses for dtypes in config.json ("torch_dtype": "bfloat16").
const char* torch_dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "float32";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
    case DType::kI8: return "int8";
    case DType::kI32: return "int32";
    case DType::kI64: return "int64";
  }
  return "float32";
}

// Typed access to the fields of a nested object (rope_scaling, rope_parameters) whose messages
// name the full path: "DIR/config.json: field 'rope_scaling.factor' is missing". It hands a
// one-field object with the dotted key to JsonObject, so the wording stays the shared one.
class NestedFields {
 public:
  NestedFields(const Json& obj, std::string prefix, std::string source)
      : obj_(obj), prefix_(std::move(prefix)), source_(std::move(source)) {}

  bool has(const std::string& key) const { return JsonObject(obj_, source_).has(key); }
  Expected<double> get_double(const std::string& key) const {
    const Json one = single(key);
    return JsonObject(one, source_).get_double(prefix_ + key);
  }
  Expected<double> get_double_or(const std::string& key, double fallback) const {
    const Json one = single(key);
    return JsonObject(one, source_).get_double_or(prefix_ + key, fallback);
  }
  Expected<int64_t> get_int(const std::string& key, int64_t min_value) const {
    const Json one = single(key);
    return JsonObject(one, source_).get_int(prefix_ + key, min_value);
  }
  Expected<std::string> get_string(const std::string& key) const {
    const Json one = single(key);
    return JsonObject(one, source_).get_string(prefix_ + key);
  }
  Status field_error(const std::string& key, const std::string& what) const {
    return JsonObject(obj_, source_).field_error(prefix_ + key, what);
  }

 private:
  Json single(const std::string& key) const {
    Json one = Json::object();
    auto it = obj_.find(key);
    if (it != obj_.end()) one[prefix_ + key] = *it;
    return one;
  }
  const Json& obj_;
  std::string prefix_;
  std::string source_;
};

// A number that must be finite and > 0 (eps, theta, factors): zero or negative would make the
// forward pass divide by zero or produce NaN far from the cause.
Status require_positive(double v, const std::string& field, const std::string& source) {
  if (!(std::isfinite(v) && v > 0.0))
    return invalid_argument(source + ": field '" + field + "' must be a positive number, got " +
                            json_excerpt(Json(v)));
  return Status::ok();
}

// Reads one RoPE description: `obj` is rope_scaling (4.x) or rope_parameters (5.x), `prefix` its
// name for messages. `theta` is already filled from the top level; rope_parameters may override.
Status parse_rope_object(const Json& obj, const std::string& prefix, const std::string& source,
                         RopeConfig& rope) {
  if (!obj.is_object())
    return invalid_argument(source + ": field '" + prefix + "' must be an object or null, got " +
                            json_excerpt(obj));
  const NestedFields f(obj, prefix + ".", source);
  // transformers 4.x before 4.43 spelled it `type`; `rope_type` wins when both are present.
  std::string type_key = f.has("rope_type") || !f.has("type") ? "rope_type" : "type";
  std::string type = "default";
  if (f.has(type_key)) {
    TESSERA_ASSIGN_OR_RETURN(type, f.get_string(type_key));
  }
  if (f.has("rope_theta")) {
    TESSERA_ASSIGN_OR_RETURN(rope.theta, f.get_double("rope_theta"));
    TESSERA_RETURN_IF_ERROR(require_positive(rope.theta, prefix + ".rope_theta", source));
  }
  if (type == "default") {
    rope.type = RopeType::kDefault;
    return Status::ok();
  }
  if (type == "linear" || type == "llama3") {
    TESSERA_ASSIGN_OR_RETURN(rope.factor, f.get_double("factor"));
    TESSERA_RETURN_IF_ERROR(require_positive(rope.factor, prefix + ".factor", source));
  }
  if (type == "linear") {
    rope.type = RopeType::kLinear;
    return Status::ok();
  }
  if (type == "llama3") {
    rope.type = RopeType::kLlama3;
    TESSERA_ASSIGN_OR_RETURN(rope.low_freq_factor, f.get_double("low_freq_factor"));
    TESSERA_ASSIGN_OR_RETURN(rope.high_freq_factor, f.get_double("high_freq_factor"));
    TESSERA_ASSIGN_OR_RETURN(rope.original_max_position_embeddings,
                             f.get_int("original_max_position_embeddings", 1));
    TESSERA_RETURN_IF_ERROR(
        require_positive(rope.low_freq_factor, prefix + ".low_freq_factor", source));
    TESSERA_RETURN_IF_ERROR(
        require_positive(rope.high_freq_factor, prefix + ".high_freq_factor", source));
    // The llama3 formula interpolates between the two wavelengths with 1 / (high - low).
    if (rope.high_freq_factor <= rope.low_freq_factor)
      return f.field_error("high_freq_factor", "must be larger than low_freq_factor (" +
                                                   json_excerpt(Json(rope.low_freq_factor)) +
                                                   "), got " +
                                                   json_excerpt(Json(rope.high_freq_factor)));
    return Status::ok();
  }
  return unimplemented(source + ": RoPE type '" + type + "' (field '" + prefix + "." + type_key +
                       "') is not supported (supported: default, linear, llama3)");
}

Status parse_rope(const JsonObject& root, RopeConfig& rope) {
  const std::string& source = root.source();
  TESSERA_ASSIGN_OR_RETURN(rope.theta, root.get_double_or("rope_theta", 10000.0));
  TESSERA_RETURN_IF_ERROR(require_positive(rope.theta, "rope_theta", source));
  // transformers 5.x moved everything into rope_parameters; a config that carries both (as
  // converted ones do) means rope_parameters.
  if (const Json* params = root.find("rope_parameters"))
    return parse_rope_object(*params, "rope_parameters", source, rope);
  if (const Json* scaling = root.find("rope_scaling"))
    return parse_rope_object(*scaling, "rope_scaling", source, rope);
  return Status::ok();
}

Expected<Architecture> parse_architecture(const JsonObject& root) {
  const std::string& source = root.source();
  if (const Json* archs = root.find("architectures")) {
    if (!archs->is_array() || archs->empty() || !(*archs)[0].is_string())
      return root.field_error("architectures", "must be a non-empty array of strings, got " +
                                                   json_excerpt(*archs));
    for (const Json& a : *archs)
      if (!a.is_string())
        return root.field_error("architectures", "must be a non-empty array of strings, got " +
                                                     json_excerpt(*archs));
    const std::string name = (*archs)[0].get<std::string>();
    if (auto a = architecture_from_hf_name(name)) return *a;
    return unimplemented(source + ": architecture '" + name + "' is not supported (supported: " +
                         kSupportedArchitectures + ")");
  }
  if (!root.has("model_type"))
    return root.field_error("architectures", "is missing (and there is no 'model_type')");
  TESSERA_ASSIGN_OR_RETURN(std::string model_type, root.get_string("model_type"));
  if (auto a = architecture_from_model_type(model_type)) return *a;
  return unimplemented(source + ": model_type '" + model_type +
                       "' is not supported (supported: llama, mistral, qwen2, phi3, qwen3, gemma2, gemma3_text)");
}

Status parse_token_ids(const JsonObject& root, ModelConfig& c) {
  if (root.has("bos_token_id")) {
    TESSERA_ASSIGN_OR_RETURN(int64_t bos, root.get_int("bos_token_id", 0));
    c.bos_token_id = bos;
  }
  // eos_token_id is an int in most configs and a list in Llama 3 instruct ones.
  if (const Json* eos = root.find("eos_token_id")) {
    if (eos->is_array()) {
      for (size_t i = 0; i < eos->size(); ++i) {
        // A one-field object keyed "eos_token_id[i]" so the message names the element.
        const std::string key = "eos_token_id[" + std::to_string(i) + "]";
        Json one = Json::object();
        one[key] = (*eos)[i];
        TESSERA_ASSIGN_OR_RETURN(int64_t id, JsonObject(one, root.source()).get_int(key, 0));
        c.eos_token_ids.push_back(id);
      }
    } else if (eos->is_number()) {
      TESSERA_ASSIGN_OR_RETURN(int64_t id, root.get_int("eos_token_id", 0));
      c.eos_token_ids.push_back(id);
    } else {
      return root.field_error("eos_token_id", "must be an integer or an array of integers, got " +
                                                  json_excerpt(*eos));
    }
  }
  return Status::ok();
}

// `dtype` (5.x) or `torch_dtype` (4.x). Only a hint for what to compute in, so an unknown value
// is a warning: the weights' own dtypes are what matters when loading.
void parse_dtype_hint(const JsonObject& root, ModelConfig& c) {
  for (const char* key : {"dtype", "torch_dtype"}) {
    const Json* v = root.find(key);
    if (!v) continue;
    std::optional<DType> t;
    if (v->is_string()) t = parse_dtype(v->get<std::string>());
    if (t) {
      c.dtype = t;
    } else {
      LOG_WARN(root.source() << ": ignoring field '" << key << "' = " << json_excerpt(*v)
                             << " (not a dtype tessera knows)");
    }
    return;
  }
}

Status parse_sizes(const JsonObject& root, ModelConfig& c) {
  const std::string& source = root.source();
  TESSERA_ASSIGN_OR_RETURN(c.hidden_size, root.get_int("hidden_size", 1));
  TESSERA_ASSIGN_OR_RETURN(c.num_layers, root.get_int("num_hidden_layers", 1));
  TESSERA_ASSIGN_OR_RETURN(c.num_heads, root.get_int("num_attention_heads", 1));
  TESSERA_ASSIGN_OR_RETURN(c.intermediate_size, root.get_int("intermediate_size", 1));
  TESSERA_ASSIGN_OR_RETURN(c.vocab_size, root.get_int("vocab_size", 1));
  TESSERA_ASSIGN_OR_RETURN(c.num_kv_heads,
                           root.get_int_or("num_key_value_heads", c.num_heads, 1));
  if (c.num_heads % c.num_kv_heads != 0)
    return invalid_argument(source + ": num_attention_heads (" + std::to_string(c.num_heads) +
                            ") must be divisible by num_key_value_heads (" +
                            std::to_string(c.num_kv_heads) + ")");
  if (root.has("head_dim")) {
    TESSERA_ASSIGN_OR_RETURN(c.head_dim, root.get_int("head_dim", 1));
  } else if (c.arch == Architecture::kQwen3) {
    c.head_dim = 128;  // Qwen3Config's default, not hidden_size / num_attention_heads
  } else if (c.arch == Architecture::kGemma2 || c.arch == Architecture::kGemma3) {
    c.head_dim = 256;  // Gemma2Config's and Gemma3TextConfig's default
  } else {
    if (c.hidden_size % c.num_heads != 0)
      return invalid_argument(source + ": hidden_size (" + std::to_string(c.hidden_size) +
                              ") must be divisible by num_attention_heads (" +
                              std::to_string(c.num_heads) + ") when 'head_dim' is absent");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.head_dim % 2 != 0)
    return invalid_argument(source + ": head_dim (" + std::to_string(c.head_dim) +
                            ") must be even: RoPE rotates pairs of dimensions");
  // Sizes far past any real model would overflow the int64 products in num_parameters(): each
  // size is bounded, and so is their product over the layers (each size alone passing its bound,
  // 65,536 layers of width 2^24 overflowed; found by fuzz/fuzz_model_json.cpp).
  constexpr int64_t kMaxDim = int64_t{1} << 24;
  for (auto [key, v] : {std::pair<const char*, int64_t>{"hidden_size", c.hidden_size},
                        {"intermediate_size", c.intermediate_size},
                        {"vocab_size", c.vocab_size},
                        {"num_hidden_layers", c.num_layers},
                        {"q_size (num_attention_heads * head_dim)", c.q_size()}})
    if (v > kMaxDim)
      return invalid_argument(source + ": " + key + " (" + std::to_string(v) +
                              ") is larger than tessera supports (" + std::to_string(kMaxDim) +
                              ")");
  // The count in floating point (exact enough to compare with a bound a thousand times past any
  // model): ~4 * hidden * (q + kv) + 3 * hidden * intermediate per layer, the embeddings twice.
  constexpr double kMaxParameters = static_cast<double>(int64_t{1} << 50);
  const double h = static_cast<double>(c.hidden_size), q = static_cast<double>(c.q_size()),
               kv = static_cast<double>(c.num_kv_heads) * static_cast<double>(c.head_dim);
  const double per_layer = 2 * h * q + 2 * h * kv + 3 * h * static_cast<double>(c.intermediate_size) + 2 * h + q +
                           2 * kv + 2 * static_cast<double>(c.intermediate_size) + h;
  const double total = 2 * static_cast<double>(c.vocab_size) * h + static_cast<double>(c.num_layers) * per_layer + h;
  if (!(total <= kMaxParameters)) {
    char count[32];
    std::snprintf(count, sizeof count, "%.3g", total);
    return invalid_argument(source + ": these sizes make a model of " + count +
                            " parameters, more than tessera supports (2^50): check hidden_size, "
                            "intermediate_size, num_hidden_layers and vocab_size");
  }
  return Status::ok();
}

// One RoPE as a 5.x rope_parameters entry (rope_type, rope_theta and the type's fields).
Json rope_json(const RopeConfig& r) {
  Json j = {{"rope_theta", r.theta}};
  switch (r.type) {
    case RopeType::kDefault: j["rope_type"] = "default"; break;
    case RopeType::kLinear:
      j["rope_type"] = "linear";
      j["factor"] = r.factor;
      break;
    case RopeType::kLlama3:
      j["rope_type"] = "llama3";
      j["factor"] = r.factor;
      j["low_freq_factor"] = r.low_freq_factor;
      j["high_freq_factor"] = r.high_freq_factor;
      j["original_max_position_embeddings"] = r.original_max_position_embeddings;
      break;
  }
  return j;
}

}  // namespace

const char* architecture_hf_name(Architecture a) {
  switch (a) {
    case Architecture::kLlama: return "LlamaForCausalLM";
    case Architecture::kMistral: return "MistralForCausalLM";
    case Architecture::kQwen2: return "Qwen2ForCausalLM";
    case Architecture::kPhi3: return "Phi3ForCausalLM";
    case Architecture::kQwen3: return "Qwen3ForCausalLM";
    case Architecture::kGemma2: return "Gemma2ForCausalLM";
    case Architecture::kGemma3: return "Gemma3ForCausalLM";
  }
  return "LlamaForCausalLM";
}

int64_t ModelConfig::num_parameters() const {
  const int64_t h = hidden_size;
  const int64_t i = intermediate_size;
  const int64_t q = q_size();
  const int64_t kv = kv_size();
  int64_t per_layer = h * q + 2 * h * kv + q * h  // q, k, v, o projections
                      + 3 * h * i                 // gate, up, down
                      + 2 * h;                    // input and post-attention norms
  if (qkv_bias) per_layer += q + 2 * kv;
  if (qk_norm) per_layer += 2 * head_dim;
  if (sandwich_norms) per_layer += 2 * h;
  if (o_bias) per_layer += h;
  if (mlp_bias) per_layer += 2 * i + h;
  const int64_t embed = vocab_size * h;
  return embed + (tie_word_embeddings ? 0 : embed) + num_layers * per_layer + h;
}

// Gemma 3's two RoPEs: transformers 5.x writes rope_parameters per layer type
// ({"full_attention": {...}, "sliding_attention": {...}}); 4.x wrote rope_theta and rope_scaling
// for the full layers and rope_local_base_freq for the sliding ones.
Status parse_gemma3_rope(const JsonObject& root, ModelConfig& c) {
  const std::string& source = root.source();
  RopeConfig local;
  if (const Json* params = root.find("rope_parameters");
      params && params->is_object() && params->contains("full_attention")) {
    TESSERA_RETURN_IF_ERROR(parse_rope_object(params->at("full_attention"), "rope_parameters.full_attention", source, c.rope));
    if (!params->contains("sliding_attention"))
      return root.field_error("rope_parameters", "has full_attention but no sliding_attention");
    TESSERA_RETURN_IF_ERROR(parse_rope_object(params->at("sliding_attention"), "rope_parameters.sliding_attention", source, local));
  } else {
    TESSERA_RETURN_IF_ERROR(parse_rope(root, c.rope));
    TESSERA_ASSIGN_OR_RETURN(local.theta, root.get_double_or("rope_local_base_freq", 10000.0));
    TESSERA_RETURN_IF_ERROR(require_positive(local.theta, "rope_local_base_freq", source));
  }
  c.local_rope = local;
  return Status::ok();
}

Expected<ModelConfig> parse_model_config(const std::string& json_text, const std::string& source) {
  Json json;
  try {
    TESSERA_ASSIGN_OR_RETURN(json, parse_json(json_text, source));
  } catch (const Json::exception& e) {
    // parse_json converts syntax errors; a number too large for a double still throws.
    return invalid_argument(source + ": invalid JSON: " + e.what());
  }
  if (!json.is_object())
    return invalid_argument(source + ": expected a JSON object at the top level, got " +
                            json_excerpt(json));
  const JsonObject root(json, source);
  ModelConfig c;
  TESSERA_ASSIGN_OR_RETURN(c.arch, parse_architecture(root));
  TESSERA_RETURN_IF_ERROR(parse_sizes(root, c));

  TESSERA_ASSIGN_OR_RETURN(c.rms_norm_eps, root.get_double_or("rms_norm_eps", 1e-6));
  TESSERA_RETURN_IF_ERROR(require_positive(c.rms_norm_eps, "rms_norm_eps", source));
  const int64_t default_max_positions = c.arch == Architecture::kLlama     ? 2048
                                        : c.arch == Architecture::kMistral ? 4096 * 32
                                        : c.arch == Architecture::kPhi3    ? 4096
                                        : c.arch == Architecture::kGemma2  ? 8192
                                        : c.arch == Architecture::kGemma3  ? 131072
                                                                           : 32768;
  TESSERA_ASSIGN_OR_RETURN(c.max_position_embeddings,
                           root.get_int_or("max_position_embeddings", default_max_positions, 1));

  const bool gemma = c.arch == Architecture::kGemma2 || c.arch == Architecture::kGemma3;
  // Gemma 2 reads hidden_activation (its config.json may carry a stale hidden_act beside it, which
  // transformers ignores); the others hidden_act.
  const char* act_key = gemma ? "hidden_activation" : "hidden_act";
  std::string act = gemma ? "gelu_pytorch_tanh" : "silu";
  if (root.has(act_key) && !root.find(act_key)->is_null()) {
    TESSERA_ASSIGN_OR_RETURN(act, root.get_string(act_key));
  }
  if (act != (gemma ? "gelu_pytorch_tanh" : "silu"))
    return unimplemented(source + ": " + act_key + " '" + act + "' is not supported for " +
                         architecture_hf_name(c.arch) + " (supported: " +
                         (gemma ? "gelu_pytorch_tanh" : "silu") + ")");
  c.gelu_tanh = gemma;
  TESSERA_ASSIGN_OR_RETURN(c.tie_word_embeddings, root.get_bool_or("tie_word_embeddings", gemma));

  switch (c.arch) {
    case Architecture::kLlama: {
      TESSERA_ASSIGN_OR_RETURN(bool attention_bias, root.get_bool_or("attention_bias", false));
      c.qkv_bias = c.o_bias = attention_bias;
      TESSERA_ASSIGN_OR_RETURN(c.mlp_bias, root.get_bool_or("mlp_bias", false));
      break;
    }
    case Architecture::kMistral: {
      TESSERA_ASSIGN_OR_RETURN(c.sliding_window, root.get_int_or("sliding_window", 0, 0));
      break;
    }
    case Architecture::kPhi3: {
      TESSERA_ASSIGN_OR_RETURN(c.sliding_window, root.get_int_or("sliding_window", 0, 0));
      // Phi-3 rotates only part of each head when partial_rotary_factor < 1 (Phi-4-mini does).
      TESSERA_ASSIGN_OR_RETURN(double partial, root.get_double_or("partial_rotary_factor", 1.0));
      if (partial != 1.0)
        return unimplemented(source + ": field 'partial_rotary_factor' is " + std::to_string(partial) +
                             "; only 1.0 (the whole head rotated) is supported");
      break;
    }
    case Architecture::kQwen3: {
      c.qk_norm = true;
      TESSERA_ASSIGN_OR_RETURN(bool attention_bias, root.get_bool_or("attention_bias", false));
      c.qkv_bias = c.o_bias = attention_bias;
      TESSERA_ASSIGN_OR_RETURN(bool use_sliding, root.get_bool_or("use_sliding_window", false));
      if (use_sliding)
        return unimplemented(source + ": field 'use_sliding_window' is true; Qwen3 sliding-window "
                                      "attention is not supported");
      break;
    }
    case Architecture::kGemma2:
    case Architecture::kGemma3: {
      const bool g3 = c.arch == Architecture::kGemma3;
      c.norm_plus_one = c.sandwich_norms = c.scale_embeddings = true;
      c.qk_norm = g3;
      TESSERA_ASSIGN_OR_RETURN(bool attention_bias, root.get_bool_or("attention_bias", false));
      c.qkv_bias = c.o_bias = attention_bias;
      TESSERA_ASSIGN_OR_RETURN(c.query_pre_attn_scalar, root.get_double_or("query_pre_attn_scalar", 256.0));
      TESSERA_RETURN_IF_ERROR(require_positive(c.query_pre_attn_scalar, "query_pre_attn_scalar", source));
      // Gemma 2 caps by default; Gemma 3 does not.
      for (auto [key, out, fallback] : {std::tuple{"attn_logit_softcapping", &c.attn_logit_softcapping, g3 ? 0.0 : 50.0},
                                        std::tuple{"final_logit_softcapping", &c.final_logit_softcapping, g3 ? 0.0 : 30.0}}) {
        if (json.contains(key) && json.at(key).is_null()) continue;  // null: no capping
        TESSERA_ASSIGN_OR_RETURN(*out, root.get_double_or(key, fallback));
        if (*out != 0.0) TESSERA_RETURN_IF_ERROR(require_positive(*out, key, source));
      }
      TESSERA_ASSIGN_OR_RETURN(c.sliding_window, root.get_int_or("sliding_window", 4096, 0));
      c.sliding_layers.assign(static_cast<size_t>(c.num_layers), false);
      if (const Json* types = root.find("layer_types"); types && !types->is_null()) {
        if (!types->is_array() || types->size() != static_cast<size_t>(c.num_layers))
          return root.field_error("layer_types", "must list one type per layer (" + std::to_string(c.num_layers) + ")");
        for (size_t i = 0; i < types->size(); ++i) {
          const Json& t = (*types)[i];
          if (!t.is_string() || (t != "sliding_attention" && t != "full_attention"))
            return root.field_error("layer_types", "entries must be \"sliding_attention\" or \"full_attention\", got " + json_excerpt(t));
          c.sliding_layers[i] = t == "sliding_attention";
        }
      } else {  // Gemma 2: every other layer; Gemma 3: five in six
        for (size_t i = 0; i < c.sliding_layers.size(); ++i) c.sliding_layers[i] = g3 ? (i + 1) % 6 != 0 : i % 2 == 0;
      }
      if (g3) TESSERA_RETURN_IF_ERROR(parse_gemma3_rope(root, c));
      break;
    }
    case Architecture::kQwen2: {
      c.qkv_bias = true;  // Qwen2 hard-codes bias=True on q/k/v and False elsewhere
      // Qwen2 configs always carry a sliding_window value; it only applies when enabled.
      TESSERA_ASSIGN_OR_RETURN(bool use_sliding, root.get_bool_or("use_sliding_window", false));
      if (use_sliding)
        return unimplemented(source +
                             ": field 'use_sliding_window' is true; Qwen2 sliding-window "
                             "attention is not supported");
      break;
    }
  }

  if (c.arch != Architecture::kGemma3) TESSERA_RETURN_IF_ERROR(parse_rope(root, c.rope));  // Gemma 3: above
  TESSERA_RETURN_IF_ERROR(parse_token_ids(root, c));
  parse_dtype_hint(root, c);
  return c;
}

Expected<ModelConfig> load_model_config(const std::string& model_dir) {
  std::string path = model_dir;
  if (!path.empty() && path.back() != '/') path += '/';
  path += "config.json";
  TESSERA_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return parse_model_config(text, path);
}

Json model_config_to_hf_json(const ModelConfig& c) {
  Json j = Json::object();
  j["architectures"] = Json::array({architecture_hf_name(c.arch)});
  j["model_type"] = architecture_model_type(c.arch);
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["num_key_value_heads"] = c.num_kv_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope.theta;
  switch (c.rope.type) {
    case RopeType::kDefault: j["rope_scaling"] = nullptr; break;
    case RopeType::kLinear:
      j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", c.rope.factor}};
      break;
    case RopeType::kLlama3:
      j["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", c.rope.factor},
                           {"low_freq_factor", c.rope.low_freq_factor},
                           {"high_freq_factor", c.rope.high_freq_factor},
                           {"original_max_position_embeddings",
                            c.rope.original_max_position_embeddings}};
      break;
  }
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  switch (c.arch) {
    case Architecture::kLlama:
      // One flag in transformers covers q/k/v and o; a config with only one of them set cannot
      // be expressed, and parse never produces one.
      j["attention_bias"] = c.qkv_bias;
      j["mlp_bias"] = c.mlp_bias;
      break;
    case Architecture::kMistral:
      j["sliding_window"] = c.sliding_window > 0 ? Json(c.sliding_window) : Json(nullptr);
      break;
    case Architecture::kPhi3:
      j["sliding_window"] = c.sliding_window > 0 ? Json(c.sliding_window) : Json(nullptr);
      j["pad_token_id"] = nullptr;  // Phi3Config's default (32000) would index past small vocabularies
      break;
    case Architecture::kQwen2:
      j["use_sliding_window"] = false;
      j["sliding_window"] = nullptr;
      break;
    case Architecture::kQwen3:
      j["attention_bias"] = c.qkv_bias;
      j["use_sliding_window"] = false;
      j["sliding_window"] = nullptr;
      break;
    case Architecture::kGemma2:
    case Architecture::kGemma3: {
      if (c.local_rope) {  // the 5.x spelling: one RoPE per layer type
        Json full = rope_json(c.rope), local = rope_json(*c.local_rope);
        j.erase("rope_theta");
        j.erase("rope_scaling");
        j["rope_parameters"] = {{"full_attention", full}, {"sliding_attention", local}};
      }
      j["attention_bias"] = c.qkv_bias;
      j["query_pre_attn_scalar"] = c.query_pre_attn_scalar;
      j["attn_logit_softcapping"] = c.attn_logit_softcapping > 0 ? Json(c.attn_logit_softcapping) : Json(nullptr);
      j["final_logit_softcapping"] = c.final_logit_softcapping > 0 ? Json(c.final_logit_softcapping) : Json(nullptr);
      j["sliding_window"] = c.sliding_window;
      Json types = Json::array();
      for (bool sliding : c.sliding_layers) types.push_back(sliding ? "sliding_attention" : "full_attention");
      j["layer_types"] = std::move(types);
      j["hidden_activation"] = "gelu_pytorch_tanh";
      break;
    }
  }
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_ids.size() == 1) {
    j["eos_token_id"] = c.eos_token_ids[0];
  } else if (!c.eos_token_ids.empty()) {
    j["eos_token_id"] = c.eos_token_ids;
  }
  if (c.dtype) j["torch_dtype"] = torch_dtype_name(*c.dtype);
  j["hidden_act"] = "silu";  // Gemma 2's activation is hidden_activation, set above
  j["vocab_size"] = c.vocab_size;
  j["initializer_range"] = 0.02;
  j["use_cache"] = true;
  return j;
}

}  // namespace tessera
