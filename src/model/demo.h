// src/model/demo.h — the built-in demo model: a `make-model --preset tiny` checkpoint with random
// weights, created on first use under $TESSERA_HOME (default $XDG_CACHE_HOME/tessera or
// ~/.cache/tessera) as demo-tiny/. Creation writes to a temporary folder and renames it, so an
// interrupted first run never leaves a half-written model behind.
#pragma once

#include <string>

#include "src/model/config.h"
#include "tessera/status.h"

namespace tessera {

std::string tessera_home();
// Returns the demo model's folder, creating it if needed (and adding a tokenizer.json to a demo
// folder made before tokenizers existed).
Expected<std::string> ensure_demo_model();

// A small byte-level BPE tokenizer.json (Llama-3 split pattern, ByteLevel decoder) for random-
// weight checkpoints, so that they take and print text. Its merges are learned, deterministically,
// from a paragraph of English built into tessera; its ids never reach config.vocab_size, and its
// special tokens sit at the config's bos/eos ids. Built with nlohmann-json only: the model library
// does not depend on the tokenizer library.
std::string demo_tokenizer_json(const ModelConfig& config);
// The matching tokenizer_config.json: bos/eos and a plain chat template ("user: ...\nassistant:").
std::string demo_tokenizer_config_json(const ModelConfig& config);

}  // namespace tessera
