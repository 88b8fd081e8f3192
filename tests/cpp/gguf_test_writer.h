// tests/cpp/gguf_test_writer.h — GGUF bytes written field by field, for tests that need a file
// (valid or broken) without the `gguf` Python package.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace tessera {

// Builds GGUF bytes. Tensors are added with their data-relative offsets; data() pads the header
// to the alignment and appends `data_bytes` bytes.
class GgufWriter {
 public:
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  void header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
    put<uint32_t>(0x46554747);
    put<uint32_t>(version);
    put<uint64_t>(tensors);
    put<uint64_t>(kvs);
  }
  void kv_u32(const std::string& k, uint32_t v) { str(k), put<uint32_t>(4), put<uint32_t>(v); }
  void kv_str(const std::string& k, const std::string& v) { str(k), put<uint32_t>(8), str(v); }
  void kv_f32(const std::string& k, float v) { str(k), put<uint32_t>(6), put<float>(v); }
  void kv_bool(const std::string& k, bool v) { str(k), put<uint32_t>(7), put<uint8_t>(v ? 1 : 0); }
  void kv_strings(const std::string& k, const std::vector<std::string>& v) {
    str(k), put<uint32_t>(9), put<uint32_t>(8), put<uint64_t>(v.size());
    for (const auto& s : v) str(s);
  }
  template <typename T>
  void kv_numbers(const std::string& k, uint32_t type, const std::vector<T>& v) {
    str(k), put<uint32_t>(9), put<uint32_t>(type), put<uint64_t>(v.size());
    for (T x : v) put<T>(x);
  }
  void tensor(const std::string& name, std::vector<uint64_t> extent, uint32_t type,
              uint64_t offset) {
    str(name);
    put<uint32_t>(static_cast<uint32_t>(extent.size()));
    for (uint64_t e : extent) put<uint64_t>(e);
    put<uint32_t>(type);
    put<uint64_t>(offset);
  }
  std::vector<uint8_t> data(uint64_t alignment, size_t data_bytes) {
    std::vector<uint8_t> out = bytes_;
    while (out.size() % alignment != 0) out.push_back(0);
    out.resize(out.size() + data_bytes, 0x5a);
    return out;
  }
  std::vector<uint8_t>& raw() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace tessera
