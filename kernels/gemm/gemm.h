// kernels/gemm/gemm.h — the dense layers of a model through cuBLASLt: y = x · wᵀ (+ bias), with x
// the activations [m, k] and w a weight [n, k] as Hugging Face stores it (out_features × in_features),
// all row-major. bf16 or fp16 inputs, fp32 accumulation; the output is the input type or fp32 (the
// LM head's logits).
//
// Gemm holds what cuBLASLt needs between calls: its handle, one workspace, and the algorithm its
// heuristic chose for each shape (asked once per shape, then reused, so a step of a known shape
// costs no host-side search). Graph-capturable after a shape's first call: no allocation, no sync.
// Not thread-safe; one per stream.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>

#include "kernels/common/float_type.h"

namespace tessera::kernels {

struct GemmParams {
  const void* x = nullptr;     // [m, ldx ≥ k]
  const void* w = nullptr;     // [n, ldw ≥ k]
  const void* bias = nullptr;  // [n] of dtype, optional; only with out_dtype == dtype
  void* y = nullptr;           // [m, ldy ≥ n] of out_dtype
  int64_t m = 0, n = 0, k = 0;
  int64_t ldx = 0, ldw = 0, ldy = 0;
  FloatType dtype = FloatType::kBF16;      // x, w and bias: kBF16 or kF16
  FloatType out_dtype = FloatType::kBF16;  // dtype or kF32
};

class Gemm {
 public:
  // workspace_bytes: cuBLASLt's scratch (32 MiB is what Hopper kernels want at most).
  static std::unique_ptr<Gemm> create(size_t workspace_bytes, std::string* error);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // Runs on `stream`. On failure returns a non-success code and sets last_error().
  cudaError_t run(const GemmParams& params, cudaStream_t stream);
  const std::string& last_error() const { return error_; }
  size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  struct Impl;
  explicit Gemm(std::unique_ptr<Impl> impl, size_t workspace_bytes);
  std::unique_ptr<Impl> impl_;
  size_t workspace_bytes_ = 0;
  std::string error_;
};

}  // namespace tessera::kernels
