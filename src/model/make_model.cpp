// src/model/make_model.cpp — random-weight checkpoints of real model shapes.
#include "src/model/make_model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "kernels/cpu/sampling.h"
#include "src/core/mapped_file.h"
#include "src/core/thread_pool.h"
#include "src/model/checkpoint.h"
#include "src/model/demo.h"
#include "src/model/weights.h"

namespace tessera {
namespace {

constexpr float kInitStd = 0.02f;  // transformers' initializer_range

// Standard normal from a counter (Box-Muller on two 32-bit halves): element i of tensor `stream`.
float normal_at(uint64_t stream, uint64_t i) {
  const uint64_t r = kernels::cpu::splitmix64(stream ^ kernels::cpu::splitmix64(i));
  const double u1 = (static_cast<double>(r >> 32) + 1.0) * 0x1.0p-32;  // (0, 1]
  const double u2 = static_cast<double>(r & 0xffffffffu) * 0x1.0p-32;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

bool is_norm(const std::string& name) { return name.find("norm") != std::string::npos; }

ModelConfig base_llama() {
  ModelConfig c;
  c.arch = Architecture::kLlama;
  c.rms_norm_eps = 1e-5;
  c.rope.theta = 500000.0;
  c.bos_token_id = 128000;
  c.eos_token_ids = {128001};
  c.dtype = DType::kBF16;
  return c;
}

}  // namespace

std::vector<std::string> model_preset_names() {
  return {"tiny", "llama-3.2-1b", "llama-3-8b", "qwen2.5-0.5b", "phi-3-mini", "qwen3-0.6b", "gemma-2-2b"};
}

Expected<ModelConfig> model_preset(const std::string& name) {
  if (name == "tiny") {  // the demo model: Llama-3 shapes scaled down
    ModelConfig c = base_llama();
    c.hidden_size = 256;
    c.num_layers = 4;
    c.num_heads = 8;
    c.num_kv_heads = 2;
    c.head_dim = 32;
    c.intermediate_size = 768;
    c.vocab_size = 4096;
    c.max_position_embeddings = 2048;
    c.rope.theta = 10000.0;
    c.tie_word_embeddings = true;
    c.bos_token_id = 1;
    c.eos_token_ids = {2};
    return c;
  }
  if (name == "llama-3.2-1b") {
    ModelConfig c = base_llama();
    c.hidden_size = 2048;
    c.num_layers = 16;
    c.num_heads = 32;
    c.num_kv_heads = 8;
    c.head_dim = 64;
    c.intermediate_size = 8192;
    c.vocab_size = 128256;
    c.max_position_embeddings = 131072;
    c.tie_word_embeddings = true;
    c.rope = {RopeType::kLlama3, 500000.0, 32.0, 1.0, 4.0, 8192, {}};
    c.eos_token_ids = {128001, 128008, 128009};
    return c;
  }
  if (name == "llama-3-8b") {
    ModelConfig c = base_llama();
    c.hidden_size = 4096;
    c.num_layers = 32;
    c.num_heads = 32;
    c.num_kv_heads = 8;
    c.head_dim = 128;
    c.intermediate_size = 14336;
    c.vocab_size = 128256;
    c.max_position_embeddings = 8192;
    return c;
  }
  if (name == "phi-3-mini") {  // Phi-3-mini-4k-instruct
    ModelConfig c;
    c.arch = Architecture::kPhi3;
    c.hidden_size = 3072;
    c.num_layers = 32;
    c.num_heads = 32;
    c.num_kv_heads = 32;
    c.head_dim = 96;
    c.intermediate_size = 8192;
    c.vocab_size = 32064;
    c.max_position_embeddings = 4096;
    c.rms_norm_eps = 1e-5;
    c.rope.theta = 10000.0;
    c.sliding_window = 2047;
    c.bos_token_id = 1;
    c.eos_token_ids = {32000};
    c.dtype = DType::kBF16;
    return c;
  }
  if (name == "gemma-2-2b") {
    ModelConfig c;
    c.arch = Architecture::kGemma2;
    c.gelu_tanh = c.norm_plus_one = c.sandwich_norms = c.scale_embeddings = true;
    c.hidden_size = 2304;
    c.num_layers = 26;
    c.num_heads = 8;
    c.num_kv_heads = 4;
    c.head_dim = 256;
    c.intermediate_size = 9216;
    c.vocab_size = 256000;
    c.max_position_embeddings = 8192;
    c.rms_norm_eps = 1e-6;
    c.rope.theta = 10000.0;
    c.tie_word_embeddings = true;
    c.query_pre_attn_scalar = 256;
    c.attn_logit_softcapping = 50.0;
    c.final_logit_softcapping = 30.0;
    c.sliding_window = 4096;
    c.sliding_layers.resize(26);
    for (size_t i = 0; i < c.sliding_layers.size(); ++i) c.sliding_layers[i] = i % 2 == 0;
    c.bos_token_id = 2;
    c.eos_token_ids = {1, 107};
    c.dtype = DType::kBF16;
    return c;
  }
  if (name == "qwen3-0.6b") {
    ModelConfig c;
    c.arch = Architecture::kQwen3;
    c.qk_norm = true;
    c.hidden_size = 1024;
    c.num_layers = 28;
    c.num_heads = 16;
    c.num_kv_heads = 8;
    c.head_dim = 128;
    c.intermediate_size = 3072;
    c.vocab_size = 151936;
    c.max_position_embeddings = 40960;
    c.rms_norm_eps = 1e-6;
    c.rope.theta = 1000000.0;
    c.tie_word_embeddings = true;
    c.bos_token_id = 151643;
    c.eos_token_ids = {151645};
    c.dtype = DType::kBF16;
    return c;
  }
  if (name == "qwen2.5-0.5b") {
    ModelConfig c;
    c.arch = Architecture::kQwen2;
    c.hidden_size = 896;
    c.num_layers = 24;
    c.num_heads = 14;
    c.num_kv_heads = 2;
    c.head_dim = 64;
    c.intermediate_size = 4864;
    c.vocab_size = 151936;
    c.max_position_embeddings = 32768;
    c.rms_norm_eps = 1e-6;
    c.rope.theta = 1000000.0;
    c.tie_word_embeddings = true;
    c.qkv_bias = true;
    c.bos_token_id = 151643;
    c.eos_token_ids = {151643};
    c.dtype = DType::kBF16;
    return c;
  }
  std::string names;
  for (const auto& n : model_preset_names()) names += (names.empty() ? "" : ", ") + n;
  return invalid_argument("unknown preset '" + name + "' (presets: " + names + ")");
}

Status make_random_model(const ModelConfig& config, const std::string& out_dir, uint64_t seed,
                         DType dtype, uint64_t max_shard_bytes, const std::string& label) {
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16)
    return invalid_argument("make-model: dtype must be f32, f16 or bf16");
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return io_error(out_dir + ": cannot create directory: " + ec.message());

  ModelConfig c = config;
  c.dtype = dtype;
  Json cfg = model_config_to_hf_json(c);
  cfg["tessera_random_weights"] = true;
  TESSERA_RETURN_IF_ERROR(write_text_file(out_dir + "/config.json", cfg.dump(2) + "\n"));
  TESSERA_RETURN_IF_ERROR(write_text_file(
      out_dir + "/README.md",
      "# " + label + " — RANDOM WEIGHTS\n\nWritten by `tessera make-model` (seed " + std::to_string(seed) +
          "). The shapes are those of the real model; the weights are random, so the text it generates is "
          "meaningless. Use it for demos, tests and benchmarks only.\n"));

  // A small tokenizer (not the real model's) so that the checkpoint takes and prints text.
  TESSERA_RETURN_IF_ERROR(write_text_file(out_dir + "/tokenizer.json", demo_tokenizer_json(c)));
  TESSERA_RETURN_IF_ERROR(write_text_file(out_dir + "/tokenizer_config.json", demo_tokenizer_config_json(c)));

  const std::vector<TensorSpec> specs = hf_weight_specs(c, dtype);
  const TensorFill fill = [&](size_t index, void* dst, size_t nbytes) -> Status {
    const TensorSpec& spec = specs[index];
    const uint64_t stream = kernels::cpu::splitmix64(seed * 0x100000001b3ull + index);
    const bool norm = is_norm(spec.name);
    const bool bias = spec.name.size() > 5 && spec.name.ends_with(".bias");
    const int64_t n = static_cast<int64_t>(nbytes / dtype_size(dtype));
    constexpr int64_t kChunk = 1 << 16;
    parallel_for((n + kChunk - 1) / kChunk, 1, [&](int64_t cb, int64_t ce) {
      float buf[1024];
      for (int64_t chunk = cb; chunk < ce; ++chunk) {
        const int64_t end = std::min(n, (chunk + 1) * kChunk);
        for (int64_t i = chunk * kChunk; i < end; i += 1024) {
          const int64_t m = std::min<int64_t>(1024, end - i);
          for (int64_t j = 0; j < m; ++j) {
            // Norm weights start at 1 (as transformers initializes them); biases are small.
            buf[j] = norm ? 1.0f : (bias ? 0.5f : 1.0f) * kInitStd * normal_at(stream, static_cast<uint64_t>(i + j));
          }
          convert_from_f32(buf, dtype, static_cast<char*>(dst) + static_cast<size_t>(i) * dtype_size(dtype), static_cast<size_t>(m));
        }
      }
    });
    return Status::ok();
  };
  return write_checkpoint_weights(out_dir, specs, fill, max_shard_bytes);
}

Status make_random_model(const MakeModelOptions& o) {
  TESSERA_ASSIGN_OR_RETURN(ModelConfig c, model_preset(o.preset));
  if (o.out_dir.empty()) return invalid_argument("make-model: --out is required");
  return make_random_model(c, o.out_dir, o.seed, o.dtype, o.max_shard_bytes, o.preset);
}

bool is_random_weights_checkpoint(const std::string& model_dir) {
  auto text = read_text_file(model_dir + "/config.json");
  if (!text) return false;
  auto j = parse_json(*text, "config.json");
  return j && j->is_object() && j->value("tessera_random_weights", false) == true;
}

}  // namespace tessera
