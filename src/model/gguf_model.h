// src/model/gguf_model.h — a GGUF file as a model: its config from the metadata, its tensors under
// Hugging Face names, dequantized to fp32 (or viewed as they are) at load.
//
// The config: llama.cpp's metadata keys (`{arch}.block_count`, `{arch}.attention.head_count`, ...)
// are turned into the config.json transformers would build from them (GGUF_CONFIG_MAPPING in its
// GGUF integration) and parsed by parse_model_config, so a GGUF config gets every check a
// config.json gets. Architectures: llama (Llama, Mistral and SmolLM files), qwen2, qwen3, phi3
// (attn_qkv and ffn_up hold the fused projections, as Phi-3's HF checkpoints do), gemma2 (norms
// stored as 1 + w, served as w; ffn_norm is the norm before the MLP, post_ffw_norm the one after).
//
// Tensors: `token_embd.weight` -> `model.embed_tokens.weight`, `blk.N.attn_q.weight` ->
// `model.layers.N.self_attn.q_proj.weight`, `attn_q_norm` -> `self_attn.q_norm`, ...,
// `output.weight` -> `lm_head.weight` (absent:
// tied embeddings). GGUF lists extents innermost first; the HF shape is their reverse. llama.cpp's
// converter interleaves the two rotary halves of each q and k head for the llama architecture
// (rows [h, 2, d/2] stored as [h, d/2, 2]); get() undoes that, as transformers does on load.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/core/mapped_file.h"
#include "src/model/config.h"
#include "src/model/gguf.h"
#include "tessera/tensor.h"

namespace tessera {

// The GGUF file a model path names: the path itself when it is a file that starts with the GGUF
// magic, or the one *.gguf file inside a folder that has no config.json. Empty when neither (a
// Hugging Face folder); an error when a folder holds several GGUF files and no config.json.
Expected<std::string> find_gguf_model(const std::string& model_path);

// The config.json transformers would derive from this file's metadata (a JSON object).
Expected<Json> gguf_hf_config_json(const GgufFile& file, const std::string& source);
// That config, parsed and checked as a config.json is.
Expected<ModelConfig> gguf_model_config(const GgufFile& file, const std::string& source);

class GgufModel {
 public:
  static Expected<std::shared_ptr<const GgufModel>> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const GgufFile& gguf() const { return gguf_; }
  const ModelConfig& config() const { return config_; }

  // HF tensor names this file holds, sorted.
  std::vector<std::string> tensor_names() const;
  bool contains(const std::string& hf_name) const { return by_hf_name_.count(hf_name) != 0; }
  // The GGUF tensor behind an HF name (nullptr when absent).
  const GgufTensorInfo* info(const std::string& hf_name) const;
  // The tensor in HF layout: a zero-copy view for F32/F16/BF16 tensors that need no reordering,
  // else a new fp32 tensor (dequantized on the thread pool, q/k rows put back in HF order).
  Expected<Tensor> get(const std::string& hf_name) const;
  // Bytes the tensors take once served by get() (fp32 for the dequantized ones).
  uint64_t served_bytes() const;
  // ggml type name ("Q4_K") -> parameters stored with it.
  std::map<std::string, int64_t> params_by_type() const;

 private:
  std::shared_ptr<MappedFile> file_;
  GgufFile gguf_;
  ModelConfig config_;
  struct Serving {
    bool q_rows = false, k_rows = false;  // rows to un-interleave (q or k heads)
    bool minus_one = false;               // a Gemma norm stored as 1 + w
    std::optional<DType> view;            // set: served as a zero-copy view of this dtype
  };
  Serving serving(const std::string& hf_name, const GgufTensorInfo& t) const;

  std::map<std::string, size_t> by_hf_name_;  // HF name -> gguf_.tensors index
  bool permute_qk_ = false;                   // llama.cpp's rotary interleave to undo
};

}  // namespace tessera
