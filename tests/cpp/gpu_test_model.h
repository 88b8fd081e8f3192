// tests/cpp/gpu_test_model.h — a small random Llama checkpoint that the GPU kernels run (head_dim
// 64 unless asked for another, 4 query heads over 2 KV heads, 2 layers, vocab 1000, context 512),
// written once per test process and head dim into the temp folder. The CUDA model tests and the
// GPU engine tests share it.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "src/model/make_model.h"

namespace tessera::test {

inline ModelConfig gpu_test_model_config(int64_t head_dim = 64) {
  ModelConfig c = *model_preset("tiny");
  c.hidden_size = 256;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = head_dim;
  c.intermediate_size = 512;
  c.vocab_size = 1000;
  c.max_position_embeddings = 512;
  c.tie_word_embeddings = false;
  return c;
}

// The folder of the checkpoint (made on the first call; empty when it could not be written).
inline std::string gpu_test_model_dir(int64_t head_dim = 64) {
  static std::map<int64_t, std::string> dirs;
  auto it = dirs.find(head_dim);
  if (it != dirs.end()) return it->second;
  std::string d = (std::filesystem::temp_directory_path() /
                   ("tessera_gpu_test_model_" + std::to_string(getpid()) + "_d" + std::to_string(head_dim)))
                      .string();
  if (!make_random_model(gpu_test_model_config(head_dim), d, 3, DType::kF32, 1ull << 30, "test").is_ok()) d.clear();
  return dirs.emplace(head_dim, d).first->second;
}

}  // namespace tessera::test
