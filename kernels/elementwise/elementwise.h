// kernels/elementwise/elementwise.h — the small memory-bound kernels of a decoder layer that are
// neither a norm nor attention: the embedding gather, SiLU(gate)·up, and a row gather (the last
// token of each sequence before the LM head). Each has a CPU twin in kernels/cpu/ops.h with the
// same math; all are graph-capturable (no sync, no allocation).
//
// Row-major 2-D tensors with row strides in elements; dtype fp16 or bf16 (fp32 accepted too), one
// dtype for all tensors of a call.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/float_type.h"

namespace tessera::kernels {

// out[t, :] = table[ids[t], :] for t < num_tokens. ids are not range-checked here (the caller
// validates them on the host: a GPU kernel cannot report a bad id back).
struct EmbeddingParams {
  const int32_t* ids = nullptr;   // [num_tokens]
  const void* table = nullptr;    // [vocab, hidden], contiguous
  void* out = nullptr;            // [num_tokens, out_row_stride]
  int64_t num_tokens = 0;
  int64_t hidden = 0;
  int64_t out_row_stride = 0;
  FloatType dtype = FloatType::kBF16;
};
cudaError_t embedding(const EmbeddingParams& params, cudaStream_t stream);

// out[t, i] = silu(gate_up[t, i]) * gate_up[t, inter + i] for i < inter: gate and up are the two
// halves of one fused projection. Computed in fp32 from the stored inputs and rounded once.
struct SiluMulParams {
  const void* gate_up = nullptr;  // [num_tokens, in_row_stride], gate in [0, inter), up in [inter, 2 inter)
  void* out = nullptr;            // [num_tokens, out_row_stride]
  int64_t num_tokens = 0;
  int64_t inter = 0;
  int64_t in_row_stride = 0;
  int64_t out_row_stride = 0;
  FloatType dtype = FloatType::kBF16;
};
cudaError_t silu_mul(const SiluMulParams& params, cudaStream_t stream);

// dst[r, :] = src[rows[r], :] for r < num_rows (a copy of `width` elements per row). With
// cu_seqlens instead of rows, row r is the last one of sequence r: cu_seqlens[r + 1] - 1.
struct GatherRowsParams {
  const void* src = nullptr;
  int64_t src_row_stride = 0;
  void* dst = nullptr;
  int64_t dst_row_stride = 0;
  const int32_t* rows = nullptr;        // [num_rows], or null with cu_seqlens
  const int32_t* cu_seqlens = nullptr;  // [num_rows + 1]
  int64_t num_rows = 0;
  int64_t width = 0;
  FloatType dtype = FloatType::kBF16;
};
cudaError_t gather_rows(const GatherRowsParams& params, cudaStream_t stream);

}  // namespace tessera::kernels
