// src/model/gguf_tokenizer.h — the tokenizer a GGUF file describes, as the tokenizer.json and
// tokenizer_config.json that transformers builds from it (its GGUF integration,
// gguf_tokenizer_mapping.py), so that tessera's own loaders (src/tokenizer) read it and the ids
// equal transformers' on the same file.
//
// A GGUF file keeps the vocabulary as metadata: `tokenizer.ggml.model` (gpt2: byte-level BPE with
// merges; llama: SentencePiece BPE with scores), `.tokens`, `.token_type` (3 control, 4
// user-defined), `.merges`, `.scores`, `.pre` (which split regex the merges were learned with), the
// special token ids and `tokenizer.chat_template`.
//   gpt2:  BPE over the byte alphabet; pre type llama-bpe and its kin split with the Llama-3
//          pattern, qwen2 and its kin with Qwen2's, anything else with GPT-2's (as transformers
//          does; llama.cpp's "smollm" splits digits first, which gives the same ids for a
//          vocabulary with no merges between digits, SmolLM2's included).
//   llama: BPE with byte fallback, merges rebuilt from the scores when the file has none
//          (transformers' generate_merges), Metaspace "▁" with a prefix on the first piece.
// Control tokens become special added tokens, user-defined ones plain added tokens.
#pragma once

#include <string>

#include "src/model/gguf.h"
#include "tessera/status.h"

namespace tessera {

// tokenizer.json text for the file's vocabulary; `source` names the file in errors.
Expected<std::string> gguf_tokenizer_json(const GgufFile& file, const std::string& source);

// tokenizer_config.json text: bos/eos/unk/pad tokens, add_bos_token / add_eos_token, and the
// chat template (when the file has one).
Expected<std::string> gguf_tokenizer_config_json(const GgufFile& file, const std::string& source);

}  // namespace tessera
