// Paged attention kernels for head_dim 96 (fp16, bf16; 16- and 64-row CTAs).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/attention/decode/decode_kernel.cuh"
#include "kernels/attention/decode/instantiations/dispatch.h"

namespace tessera::kernels::attention::decode {

cudaError_t paged_attention_hdim96(const DecodeArgs& a, dim3 grid, bool bf16, int warps_n, cudaStream_t stream) {
  if (warps_n == 4)
    return bf16 ? launch_paged_attention<__nv_bfloat16, 96, 4>(a, grid, stream)
                : launch_paged_attention<__half, 96, 4>(a, grid, stream);
  return bf16 ? launch_paged_attention<__nv_bfloat16, 96, 1>(a, grid, stream)
              : launch_paged_attention<__half, 96, 1>(a, grid, stream);
}

}  // namespace tessera::kernels::attention::decode
