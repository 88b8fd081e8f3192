// kernels/common/float_convert.cuh — fp32 <-> storage type (fp32, fp16, bf16) in device code,
// round to nearest even: the conversions every elementwise kernel computes in fp32 between.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace tessera::kernels {

template <typename T> __device__ __forceinline__ float to_f32(T v);
template <> __device__ __forceinline__ float to_f32(float v) { return v; }
template <> __device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32(float v) { return v; }
template <> __device__ __forceinline__ __half from_f32(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32(float v) { return __float2bfloat16_rn(v); }

}  // namespace tessera::kernels
