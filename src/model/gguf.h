// src/model/gguf.h — the GGUF container (llama.cpp's model file format, versions 2 and 3): header,
// metadata and tensor directory, parsed from bytes that nothing vouches for.
//
// Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 metadata count; the metadata
// as (string key, u32 type, value) with strings as u64 length + bytes and arrays as u32 element
// type + u64 count + elements; then per tensor (string name, u32 dims, u64 extent per dim, u32
// ggml type, u64 offset); then padding to `general.alignment` (default 32); then the data section.
// Extents are ggml's order: extent[0] is the innermost (contiguous) one.
//
// The parser trusts nothing (GGUF readers have had a CVE for each of these): every count is
// checked against the bytes left before anything is allocated for it (a count of 2^60 costs no
// memory), every string length likewise, nesting of arrays is bounded, dims are 1..4 and their
// product does not overflow, a quantized tensor's innermost extent is whole blocks, every tensor's
// bytes lie inside the data section at an aligned offset, no two overlap, and names and keys are
// unique. Any violation is one error naming the file and the field or tensor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/core/json_util.h"
#include "tessera/status.h"

namespace tessera {

// ggml's tensor types that a GGUF file may hold and tessera reads (the numbers are the format's).
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
};

struct GgmlTypeInfo {
  const char* name;      // "Q4_K", as llama.cpp prints it
  uint32_t block_size;   // elements per block (1 for plain floats)
  uint32_t block_bytes;  // bytes per block
};

// The type's layout, or nullopt for a type number tessera does not know (an error when loading).
std::optional<GgmlTypeInfo> ggml_type_info(uint32_t type);

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> extent;  // ggml order: extent[0] innermost; 1 to 4 entries, each >= 1
  GgmlType type;
  uint64_t offset = 0;  // bytes from the start of the file
  uint64_t bytes = 0;
  int64_t num_elements() const;
};

struct GgufFile {
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // start of the data section in the file
  // The metadata by key, each value as JSON: integers (signed or unsigned as stored), floats,
  // booleans, strings (bytes as stored; not checked as UTF-8) and arrays of those.
  Json metadata = Json::object();
  std::vector<GgufTensorInfo> tensors;  // in file order

  const GgufTensorInfo* find(const std::string& name) const;
  const Json* meta(const std::string& key) const;  // nullptr when absent
};

// Parses `size` bytes that are the whole file. `source` names the file in errors.
Expected<GgufFile> parse_gguf(const uint8_t* data, size_t size, const std::string& source);

// True when the bytes start with the GGUF magic (for telling a GGUF file from a folder or other).
bool looks_like_gguf(const uint8_t* data, size_t size);

}  // namespace tessera
