// tests/cpp/cuda_test_util.h — what every CUDA kernel test needs: whether a GPU is there (tests skip,
// never fail, without one) and fp16/bf16 bit conversions by FloatType.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/norm/rmsnorm.h"  // FloatType
#include "tessera/dtype.h"

namespace tessera::kernels::test {

inline bool has_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

inline uint16_t to_bits(float v, FloatType t) { return t == FloatType::kF16 ? f32_to_f16(v) : f32_to_bf16(v); }
inline float from_bits(uint16_t b, FloatType t) { return t == FloatType::kF16 ? f16_to_f32(b) : bf16_to_f32(b); }

}  // namespace tessera::kernels::test
