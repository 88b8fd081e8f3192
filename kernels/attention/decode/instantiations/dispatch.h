// kernels/attention/decode/instantiations/dispatch.h — one launcher per head dim, each compiled in
// its own translation unit (decode_hdim*.cu) so the kernels build in parallel.
#pragma once

#include <cuda_runtime_api.h>

namespace tessera::kernels::attention::decode {

struct DecodeArgs;

// bf16 or fp16; warps_n 4 (16 query rows per CTA) or 1 (64 rows).
cudaError_t paged_attention_hdim64(const DecodeArgs& a, dim3 grid, bool bf16, int warps_n, cudaStream_t stream);
cudaError_t paged_attention_hdim96(const DecodeArgs& a, dim3 grid, bool bf16, int warps_n, cudaStream_t stream);
cudaError_t paged_attention_hdim128(const DecodeArgs& a, dim3 grid, bool bf16, int warps_n, cudaStream_t stream);
cudaError_t paged_attention_hdim256(const DecodeArgs& a, dim3 grid, bool bf16, int warps_n, cudaStream_t stream);

}  // namespace tessera::kernels::attention::decode
