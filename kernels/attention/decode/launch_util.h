// kernels/attention/decode/launch_util.h — the decode launchers' shared error reporting: a
// cudaErrorInvalidValue with a one-line reason kept per thread (paged_attention_last_error()).
#pragma once

#include <cuda_runtime_api.h>

namespace tessera::kernels::decode {

// Formats `fmt` with up to two integers into this thread's reason and returns cudaErrorInvalidValue.
cudaError_t invalid(const char* fmt, long long a = 0, long long b = 0);

}  // namespace tessera::kernels::decode
