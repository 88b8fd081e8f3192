// kernels/sampling/sampling.h — the CUDA sampler: one CTA per row of logits draws that row's token
// (and its raw logprobs) exactly as the CPU twin does (kernels/cpu/sampling.h), bit for bit, from
// the same SamplingBatch (kernels/sampling/params.h), here with device pointers.
//
// Graph-capturable: it runs on `stream`, allocates nothing, never synchronizes with the host. The
// caller owns every array, including batch.workspace ([num_rows, vocab] fp32) when penalty or
// banned lists are given. Returns cudaErrorInvalidValue for a malformed batch (checked on the host
// side: null pointers, sizes); token ids in the lists outside [0, vocab) are skipped on the device.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/sampling/params.h"

namespace tessera::kernels {

cudaError_t sample(const SamplingBatch& batch, cudaStream_t stream);

// Greedy only, for many tokens per row at full bandwidth: out_tokens[r] is the lowest index of the
// largest logit of row r (NaN never wins; a row of NaN gives 0), the same token sample() picks at
// temperature 0 with no penalties, from many CTAs per row instead of one (kernels/sampling/argmax.cu).
// scratch: [num_rows] 64-bit words, overwritten. Graph-capturable (a memset and two kernels).
struct GreedyParams {
  const float* logits = nullptr;  // [num_rows, logits_row_stride] fp32
  int64_t logits_row_stride = 0;
  int64_t num_rows = 0;           // at most 65535
  int64_t vocab = 0;
  unsigned long long* scratch = nullptr;
  int32_t* out_tokens = nullptr;  // [num_rows]
};
cudaError_t greedy_argmax(const GreedyParams& params, cudaStream_t stream);

}  // namespace tessera::kernels
