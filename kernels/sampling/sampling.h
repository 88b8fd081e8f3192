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

}  // namespace tessera::kernels
