// kernels/attention/decode/launch_util.h — the decode launchers' shared error reporting: a
// cudaErrorInvalidValue with a one-line reason kept per thread (paged_attention_last_error()).
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/attention/paged_kv.h"

namespace tessera::kernels::decode {

// Formats `fmt` with up to two integers into this thread's reason and returns cudaErrorInvalidValue.
cudaError_t invalid(const char* fmt, long long a = 0, long long b = 0);

// The cache strides the CUDA kernels can take: each a multiple of 8 elements (16-byte copies), no
// two rows overlapping (PagedKvLayout::rows_disjoint). `op` names the caller in the reason.
cudaError_t check_cache_strides(const char* op, const PagedKvLayout& layout);

}  // namespace tessera::kernels::decode
