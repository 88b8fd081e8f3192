// src/model/gguf_dequant.h — ggml's block formats turned back into fp32.
//
// A quantized row of n elements is n / block_size blocks, each a few scales and packed integers
// (ggml-common.h documents the layouts; they are the file format, so they are restated in
// gguf_dequant.cpp next to the code that reads them). Every format dequantizes block by block with
// no state between blocks, so a tensor splits into independent ranges of blocks for a thread pool.
//
// The arithmetic follows ggml's reference dequantizers exactly (the fp16 scales widened to fp32,
// then one fp32 multiply, and one subtract or add where the format has a minimum), so the values
// are bitwise those llama.cpp and the `gguf` Python package compute.
#pragma once

#include <cstddef>
#include <cstdint>

#include "src/model/gguf.h"
#include "tessera/status.h"

namespace tessera {

// Dequantizes `num_blocks` whole blocks of `type` from `src` into `dst` (num_blocks x block_size
// floats). F32, F16 and BF16 count as blocks of one element. Unknown types: unimplemented.
Status dequantize_blocks(GgmlType type, const uint8_t* src, int64_t num_blocks, float* dst);

// A whole tensor (`info`'s bytes at `src`) into `dst` (num_elements floats), on the thread pool.
Status dequantize_tensor(const GgufTensorInfo& info, const uint8_t* src, float* dst);

}  // namespace tessera
