// kernels/attention/fwd/fwd_launch.cuh — launcher of the mma.sync forward for one (dtype, head dim):
// takes the tiles from tile_config.h, sizes the grid and the shared memory, launches on the caller's
// stream. No allocation, no synchronization: capturable in a CUDA graph. Instantiated once per
// (dtype, head dim) by the generated files in instantiations/.
#pragma once

#include "kernels/attention/fwd/fwd_kernel.cuh"
#include "kernels/attention/tile_config.h"

namespace tessera::kernels::attention {

template <typename T, int kHeadDim>
cudaError_t run_attention_fwd(const AttentionFwdParams& p, cudaStream_t stream) {
  constexpr FwdTiles kTiles = fwd_tiles(kHeadDim);
  using Traits = FwdKernelTraits<T, kHeadDim, kTiles.block_m, kTiles.block_n, kTiles.num_warps>;
  static_assert(Traits::kMTiles == kTiles.warp_m_tiles, "tile_config.h and the kernel disagree");
  auto kernel = attention_fwd_kernel<T, kHeadDim, kTiles.block_m, kTiles.block_n, kTiles.num_warps>;
  constexpr int kSmem = Traits::kSmemBytes;
  if (kSmem > 48 * 1024) {
    const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
    if (err != cudaSuccess) return err;
  }
  const dim3 grid((p.shape.seqlen_q + kTiles.block_m - 1) / kTiles.block_m, p.shape.num_heads, p.shape.batch);
  kernel<<<grid, Traits::kThreads, kSmem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace tessera::kernels::attention
