// src/model/safetensors.h — the safetensors format: header parsing, memory-mapped reading and
// streaming writing.
//
// File layout: u64 little-endian N, then N bytes of JSON header, then the data section. The header
// maps tensor names to {dtype, shape, data_offsets: [begin, end)} relative to the data section,
// plus an optional "__metadata__" object of strings. The parser trusts nothing: N must fit in the
// file, every offset must lie inside the data section, end - begin must equal numel x dtype size
// (computed without overflow), and no two tensors may overlap.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/core/mapped_file.h"
#include "tessera/status.h"
#include "tessera/tensor.h"

namespace tessera {

struct SafetensorsEntry {
  std::string name;
  std::string dtype_name;         // as written: "BF16", "F32", "I64", "F8_E4M3", ...
  std::optional<DType> dtype;     // nullopt for safetensors dtypes tessera cannot compute with
  Shape shape;
  uint64_t begin = 0;             // byte offsets into the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  uint64_t header_size = 0;       // N
  uint64_t data_offset = 0;       // 8 + N: where the data section starts in the file
  std::vector<SafetensorsEntry> entries;  // sorted by begin
  std::map<std::string, std::string> metadata;
};

// Parses and validates the header of a safetensors file given as bytes (the whole file, or at
// least its first 8 + N bytes with `file_size` the real size). Pure: used by the fuzz target.
Expected<SafetensorsHeader> parse_safetensors_header(const uint8_t* bytes, size_t available,
                                                     uint64_t file_size,
                                                     const std::string& source);

// One memory-mapped safetensors file.
class SafetensorsFile {
 public:
  static Expected<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const SafetensorsHeader& header() const { return header_; }
  const SafetensorsEntry* find(const std::string& name) const;
  // A zero-copy view into the mapping. Error if absent or of a dtype tessera cannot use.
  Expected<Tensor> get(const std::string& name) const;

 private:
  std::shared_ptr<MappedFile> file_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> index_;  // name -> entries position
};

// What to write: name, dtype, shape. The writer asks `fill` for each tensor's bytes in order.
struct TensorSpec {
  std::string name;
  DType dtype;
  Shape shape;
  size_t nbytes() const;
};
// fill(index into specs, destination, nbytes) writes the bytes of specs[index].
using TensorFill = std::function<Status(size_t index, void* dst, size_t nbytes)>;

// Writes one safetensors file (tensors in the given order, header padded to 8 bytes).
Status write_safetensors(const std::string& path, const std::vector<TensorSpec>& specs,
                         const TensorFill& fill,
                         const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace tessera
