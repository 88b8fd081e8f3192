// src/model/make_model.h — checkpoints with random weights in the exact Hugging Face layout, for
// the demo model, tests and benchmarks (`tessera make-model`). The shapes of each preset are those
// of the real model; the weights are N(0, 0.02) as transformers initializes them, norms are 1.
// Output is deterministic in the seed (independent of thread count). The folder is marked as
// random weights twice: `"tessera_random_weights": true` in config.json and a README.md. It also
// gets a small demo tokenizer.json and tokenizer_config.json (see demo.h), not the real model's.
#pragma once

#include <string>
#include <vector>

#include "src/model/config.h"

namespace tessera {

// "tiny", "llama-3.2-1b", "llama-3-8b", "qwen2.5-0.5b".
std::vector<std::string> model_preset_names();
Expected<ModelConfig> model_preset(const std::string& name);

struct MakeModelOptions {
  std::string preset = "tiny";
  std::string out_dir;
  uint64_t seed = 0;
  DType dtype = DType::kBF16;
  uint64_t max_shard_bytes = 5'000'000'000ull;  // transformers' default "5GB"
};

Status make_random_model(const MakeModelOptions& options);
// Same, for any config (tests build odd shapes this way).
Status make_random_model(const ModelConfig& config, const std::string& out_dir, uint64_t seed,
                         DType dtype, uint64_t max_shard_bytes, const std::string& label);

// True when DIR was written by make_random_model (its config.json says so).
bool is_random_weights_checkpoint(const std::string& model_dir);

}  // namespace tessera
