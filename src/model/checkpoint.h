// src/model/checkpoint.h — a model's weights and config: a Hugging Face checkpoint folder
// (config.json plus weights in one `model.safetensors` or shards listed by
// `model.safetensors.index.json`, weight_map: tensor name -> shard file), or a GGUF file (or a
// folder holding one and no config.json), whose tensors it serves under their HF names
// (gguf_model.h). Every shard named by the index must exist and hold the tensors the index says
// it holds; a missing shard is an error naming it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "src/model/config.h"
#include "src/model/gguf_model.h"
#include "src/model/safetensors.h"

namespace tessera {

class Checkpoint {
 public:
  // A folder, or a GGUF file (find_gguf_model).
  static Expected<Checkpoint> open(const std::string& model_path);

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return config_; }
  // Where the config came from, for messages: "DIR/config.json" or "FILE.gguf (metadata)".
  std::string config_source() const;
  // The GGUF file behind this checkpoint, or null for a safetensors folder.
  const GgufModel* gguf() const { return gguf_.get(); }
  bool contains(const std::string& name) const;
  // Zero-copy view (a quantized or reordered GGUF tensor: a new fp32 tensor); error names the
  // tensor and the file when absent.
  Expected<Tensor> get(const std::string& name) const;
  // The file a tensor lives in (for messages).
  std::string file_of(const std::string& name) const;
  std::vector<std::string> tensor_names() const;
  // Bytes get() serves over all tensors (a progress bar's total).
  uint64_t total_tensor_bytes() const;
  // Bytes the tensors take in their files (quantized ones as stored).
  uint64_t stored_tensor_bytes() const;
  // dtype name -> number of parameters stored with it ("BF16" -> 1.2e9; GGUF: "Q4_K" -> ...)
  std::map<std::string, int64_t> params_by_dtype() const;

 private:
  std::string dir_;
  ModelConfig config_;
  std::shared_ptr<const GgufModel> gguf_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t> where_;  // tensor name -> files_ index
};

// Writes `specs` into DIR as model.safetensors, or as model-0000i-of-0000n.safetensors shards of at
// most max_shard_bytes each plus model.safetensors.index.json, exactly as transformers'
// save_pretrained lays them out. The progress bar counts bytes written.
// The config of a model path without opening its weights: DIR/config.json, or a GGUF file's
// metadata.
Expected<ModelConfig> load_config_for_model(const std::string& model_path);

Status write_checkpoint_weights(const std::string& model_dir, const std::vector<TensorSpec>& specs,
                                const TensorFill& fill, uint64_t max_shard_bytes);

}  // namespace tessera
