// src/model/checkpoint.h — a Hugging Face checkpoint folder: config.json plus weights in one
// `model.safetensors` or shards listed by `model.safetensors.index.json` (weight_map: tensor name
// -> shard file). Every shard named by the index must exist and hold the tensors the index says
// it holds; a missing shard is an error naming it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "src/model/config.h"
#include "src/model/safetensors.h"

namespace tessera {

class Checkpoint {
 public:
  static Expected<Checkpoint> open(const std::string& model_dir);

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return config_; }
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  // Zero-copy view; error names the tensor and the file when absent.
  Expected<Tensor> get(const std::string& name) const;
  // The file a tensor lives in (for messages).
  std::string file_of(const std::string& name) const;
  std::vector<std::string> tensor_names() const;
  uint64_t total_tensor_bytes() const;
  // dtype name -> number of parameters stored with it ("BF16" -> 1.2e9)
  std::map<std::string, int64_t> params_by_dtype() const;

 private:
  std::string dir_;
  ModelConfig config_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t> where_;  // tensor name -> files_ index
};

// Writes `specs` into DIR as model.safetensors, or as model-0000i-of-0000n.safetensors shards of at
// most max_shard_bytes each plus model.safetensors.index.json, exactly as transformers'
// save_pretrained lays them out. The progress bar counts bytes written.
Status write_checkpoint_weights(const std::string& model_dir, const std::vector<TensorSpec>& specs,
                                const TensorFill& fill, uint64_t max_shard_bytes);

}  // namespace tessera
