// src/model/cuda_memory.h — the GPU runtime's owners of memory: one cudaMalloc (DeviceMemory) or
// one pinned host allocation (PinnedMemory), freed with their owner, and the CUDA-error-to-Status
// helpers the runner's host code uses (TESSERA_CUDA_TRY returns from the enclosing function). CUDA
// builds only (the CUDA runner, src/model/llama_cuda*.cpp).
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "tessera/status.h"

namespace tessera::cuda_runtime {

inline Status cuda_status(cudaError_t e, const std::string& what) {
  if (e == cudaErrorMemoryAllocation) return out_of_memory(what + ": " + cudaGetErrorString(e));
  return internal_error(what + ": " + cudaGetErrorString(e));
}

#define TESSERA_CUDA_TRY(expr, what)                               \
  do {                                                             \
    const cudaError_t tessera_cuda_err_ = (expr);                  \
    if (tessera_cuda_err_ != cudaSuccess) return cuda_status(tessera_cuda_err_, what); \
  } while (0)

inline std::string gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / static_cast<double>(1ll << 30));
  return buf;
}

inline int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// One cudaMalloc; freed with the owner.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory() {
    if (p_) cudaFree(p_);
  }
  Status allocate(int64_t bytes, const std::string& what) {
    TESSERA_CUDA_TRY(cudaMalloc(&p_, static_cast<size_t>(std::max<int64_t>(bytes, 256))), "allocating " + gib(bytes) + " for " + what);
    bytes_ = bytes;
    return Status::ok();
  }
  char* get() const { return static_cast<char*>(p_); }
  int64_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  int64_t bytes_ = 0;
};

// Pinned host memory (for copies the device does asynchronously).
class PinnedMemory {
 public:
  PinnedMemory() = default;
  PinnedMemory(const PinnedMemory&) = delete;
  PinnedMemory& operator=(const PinnedMemory&) = delete;
  ~PinnedMemory() {
    if (p_) cudaFreeHost(p_);
  }
  Status allocate(int64_t bytes, const std::string& what) {
    TESSERA_CUDA_TRY(cudaMallocHost(&p_, static_cast<size_t>(std::max<int64_t>(bytes, 256))), "pinned host memory for " + what);
    return Status::ok();
  }
  char* get() const { return static_cast<char*>(p_); }

 private:
  void* p_ = nullptr;
};

}  // namespace tessera::cuda_runtime
