// python/src/bindings_util.h — what the tessera._C binding files share: raw device addresses as
// typed pointers, dtype codes as FloatType, and a failed launch as a Python exception
// (cudaErrorInvalidValue -> ValueError with the launcher's one-line reason, anything else ->
// RuntimeError with CUDA's name and text).
#pragma once

#include <nanobind/nanobind.h>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/norm/rmsnorm.h"  // FloatType

namespace tessera::bindings {

template <typename T>
T* to_ptr(uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

inline kernels::FloatType to_dtype(int dtype) {
  if (dtype == static_cast<int>(kernels::FloatType::kF16)) return kernels::FloatType::kF16;
  if (dtype == static_cast<int>(kernels::FloatType::kBF16)) return kernels::FloatType::kBF16;
  throw nanobind::value_error(
      ("tessera._C: dtype code " + std::to_string(dtype) + " is not fp16 (1) or bf16 (2)").c_str());
}

// `last_error` is the launcher family's reason for its last cudaErrorInvalidValue on this thread.
inline void raise_on_error(cudaError_t err, const char* what, const char* (*last_error)()) {
  if (err == cudaSuccess) return;
  if (err == cudaErrorInvalidValue) {
    const char* reason = last_error();
    throw nanobind::value_error(
        (std::string(what) + ": " + (reason && *reason ? reason : cudaGetErrorString(err))).c_str());
  }
  throw std::runtime_error(std::string(what) + ": CUDA error " + cudaGetErrorName(err) + " (" +
                           cudaGetErrorString(err) + ")");
}

}  // namespace tessera::bindings
