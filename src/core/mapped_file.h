// src/core/mapped_file.h — a read-only memory map of a whole file, as a tensor Buffer.
//
// Checkpoint tensors are views into this mapping: nothing is read until a page is touched, and
// the mapping lives as long as the last tensor that views it. Files of size 0 map to an empty
// buffer (mmap refuses length 0).
#pragma once

#include <memory>
#include <string>

#include "tessera/tensor.h"

namespace tessera {

class MappedFile final : public Buffer {
 public:
  static Expected<std::shared_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile() override;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  void* data() override { return data_; }
  const void* data() const { return data_; }
  size_t size_bytes() const override { return size_; }
  Device device() const override { return Device::cpu(); }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole (small) file into a string: config.json, index files.
Expected<std::string> read_text_file(const std::string& path);
// Writes a string to a file, replacing it.
Status write_text_file(const std::string& path, const std::string& contents);

}  // namespace tessera
