// kernels/norm/rmsnorm.h — RMSNorm on the GPU, optionally fused with the residual add that
// precedes it in a pre-norm transformer block:
//   if residual: residual[t] += x[t]; y[t] = norm(residual[t]) * weight     (residual updated in place)
//   else:        y[t] = norm(x[t]) * weight
// Statistics in fp32. x, residual, y: [num_tokens, hidden] with row strides in elements; weight:
// [hidden]; all of `dtype`. Like the CPU twin (kernels/cpu/ops.h): same math, same rounding points
// (the sum is rounded to the storage dtype before normalizing, as PyTorch does).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/float_type.h"

namespace tessera::kernels {

struct RmsNormParams {
  const void* x = nullptr;
  void* residual = nullptr;  // optional
  void* y = nullptr;
  const void* weight = nullptr;
  int64_t num_tokens = 0;
  int64_t hidden = 0;
  int64_t x_row_stride = 0;
  int64_t residual_row_stride = 0;
  int64_t y_row_stride = 0;
  float eps = 1e-6f;
  FloatType dtype = FloatType::kBF16;
};

cudaError_t rms_norm(const RmsNormParams& params, cudaStream_t stream);

}  // namespace tessera::kernels
