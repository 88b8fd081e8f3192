// src/model/model_files.cpp — tokenizer and tokenizer config of a model path (model_files.h).
#include "src/model/model_files.h"

#include <filesystem>

#include "src/core/mapped_file.h"
#include "src/model/gguf_model.h"
#include "src/model/gguf_tokenizer.h"

namespace tessera {
namespace {

// The metadata of a GGUF file, without the model config (a vocabulary-only file has none).
Expected<GgufFile> read_gguf(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::open(path));
  return parse_gguf(static_cast<const uint8_t*>(file->data()), file->size_bytes(), path);
}

}  // namespace

Expected<std::optional<Tokenizer>> load_model_tokenizer_if_any(const std::string& model_path) {
  TESSERA_ASSIGN_OR_RETURN(std::string gguf_path, find_gguf_model(model_path));
  if (!gguf_path.empty()) {
    TESSERA_ASSIGN_OR_RETURN(GgufFile gguf, read_gguf(gguf_path));
    TESSERA_ASSIGN_OR_RETURN(std::string json, gguf_tokenizer_json(gguf, gguf_path));
    TESSERA_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::from_json(json, gguf_path + " (its tokenizer metadata)"));
    return std::optional<Tokenizer>(std::move(tok));
  }
  const std::string file = (std::filesystem::path(model_path) / "tokenizer.json").string();
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::optional<Tokenizer>();
  TESSERA_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::load(file));
  return std::optional<Tokenizer>(std::move(tok));
}

Expected<Tokenizer> load_model_tokenizer(const std::string& model_path) {
  TESSERA_ASSIGN_OR_RETURN(std::optional<Tokenizer> tok, load_model_tokenizer_if_any(model_path));
  if (!tok)
    return not_found(model_path + ": has no tokenizer.json (text needs the model's Hugging Face tokenizer)");
  return std::move(*tok);
}

Expected<TokenizerConfig> load_model_tokenizer_config(const std::string& model_path) {
  TESSERA_ASSIGN_OR_RETURN(std::string gguf_path, find_gguf_model(model_path));
  if (gguf_path.empty()) return load_tokenizer_config(model_path);
  TESSERA_ASSIGN_OR_RETURN(GgufFile gguf, read_gguf(gguf_path));
  TESSERA_ASSIGN_OR_RETURN(std::string json, gguf_tokenizer_config_json(gguf, gguf_path));
  return parse_tokenizer_config(json, gguf_path + " (its tokenizer metadata)");
}

}  // namespace tessera
