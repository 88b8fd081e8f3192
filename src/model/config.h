// src/model/config.h — a Hugging Face config.json for the Llama family, parsed and validated.
//
// Supported `architectures`: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM,
// Phi3ForCausalLM (a Llama with q/k/v and gate/up stored fused, and a sliding window),
// Qwen3ForCausalLM (RMSNorm of each q and k head before RoPE, no q/k/v bias), Gemma2ForCausalLM
// (the Gemma fields below; CPU only), Gemma3ForCausalLM (text: Gemma 2's without soft-capping,
// plus q/k norms and a RoPE per layer type; CPU only). RoPE is read
// from either spelling found in the wild: transformers 4.x (`rope_theta` + `rope_scaling`) and
// transformers 5.x (`rope_parameters`), with rope types default, linear and llama3. Every
// derived quantity (head_dim, kv heads) is computed once here; the rest of tessera trusts it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "src/core/json_util.h"
#include "tessera/dtype.h"
#include "tessera/status.h"

namespace tessera {

enum class Architecture { kLlama, kMistral, kQwen2, kPhi3, kQwen3, kGemma2, kGemma3 };

const char* architecture_hf_name(Architecture a);  // "LlamaForCausalLM", ...

enum class RopeType { kDefault, kLinear, kLlama3 };

struct RopeConfig {
  RopeType type = RopeType::kDefault;
  double theta = 10000.0;
  double factor = 1.0;                            // linear and llama3
  double low_freq_factor = 1.0;                   // llama3
  double high_freq_factor = 4.0;                  // llama3
  int64_t original_max_position_embeddings = 0;   // llama3
  // Per-frequency divisors of inv_freq, head_dim / 2 of them, from a GGUF file's
  // rope_freqs.weight (llama.cpp stores Llama 3.1's scaling so). Empty: none.
  std::vector<float> freq_factors;

  bool operator==(const RopeConfig&) const = default;
};

struct ModelConfig {
  Architecture arch = Architecture::kLlama;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;       // == num_heads when the config omits it (MHA)
  int64_t head_dim = 0;           // given, or hidden_size / num_heads
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;          // Qwen2 always; Llama when attention_bias
  bool o_bias = false;            // Llama when attention_bias
  bool mlp_bias = false;          // Llama when mlp_bias
  bool qk_norm = false;           // Qwen3: RMSNorm over head_dim of each q and k head, before RoPE
  // Gemma 2: GeGLU (GELU tanh) instead of SwiGLU; norms that scale by (1 + weight); a norm after
  // attention and around the MLP too ("sandwich"); embeddings scaled by sqrt(hidden_size);
  // scores scaled by query_pre_attn_scalar^-0.5 and soft-capped, logits soft-capped; the sliding
  // window on the layers sliding_layers marks.
  bool gelu_tanh = false;
  bool norm_plus_one = false;
  bool sandwich_norms = false;
  bool scale_embeddings = false;
  double query_pre_attn_scalar = 0;     // 0: head_dim
  double attn_logit_softcapping = 0;    // 0: none
  double final_logit_softcapping = 0;   // 0: none
  std::vector<bool> sliding_layers;     // empty: the window (if any) on every layer
  std::optional<RopeConfig> local_rope; // Gemma 3: the RoPE of the sliding layers (`rope` the others')
  int64_t sliding_window = 0;     // 0: none (Mistral may set it)
  RopeConfig rope;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::optional<DType> dtype;     // `torch_dtype` (4.x) or `dtype` (5.x), when present

  int64_t q_size() const { return num_heads * head_dim; }
  int64_t kv_size() const { return num_kv_heads * head_dim; }
  // Number of parameters implied by the shapes (embeddings counted once when tied).
  int64_t num_parameters() const;

  bool operator==(const ModelConfig&) const = default;
};

// Parses config.json text. `source` names the file in messages ("DIR/config.json").
Expected<ModelConfig> parse_model_config(const std::string& json_text, const std::string& source);
// Reads DIR/config.json.
Expected<ModelConfig> load_model_config(const std::string& model_dir);
// The config as Hugging Face writes it (transformers 4.x spelling: rope_theta + rope_scaling),
// so a checkpoint tessera writes loads in transformers.
Json model_config_to_hf_json(const ModelConfig& config);

}  // namespace tessera
