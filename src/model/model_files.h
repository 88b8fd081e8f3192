// src/model/model_files.h — what a model path gives besides its weights (checkpoint.h): the
// tokenizer and the tokenizer config with its chat template, from a Hugging Face folder
// (tokenizer.json, tokenizer_config.json, chat_template.jinja) or from a GGUF file's metadata
// (gguf_tokenizer.h), so that the CLI, the engine and the server take either alike.
#pragma once

#include <optional>
#include <string>

#include "src/tokenizer/tokenizer.h"
#include "src/tokenizer/tokenizer_config.h"
#include "tessera/status.h"

namespace tessera {

// The model's tokenizer; nullopt for a folder without tokenizer.json (ids-only use).
Expected<std::optional<Tokenizer>> load_model_tokenizer_if_any(const std::string& model_path);
// The same, but a folder without tokenizer.json is an error that says text needs one.
Expected<Tokenizer> load_model_tokenizer(const std::string& model_path);
// tokenizer_config.json (+ chat_template.jinja), or what a GGUF file's metadata says instead.
Expected<TokenizerConfig> load_model_tokenizer_config(const std::string& model_path);

}  // namespace tessera
