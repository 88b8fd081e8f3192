// kernels/attention/bwd/bwd_launch.cuh — launcher of the mma.sync backward for one (dtype, head dim):
//   1. preprocess: dsum = rowsum(dO * O) (and zero the fp32 dQ accumulator unless deterministic)
//   2. dK/dV pass (column-parallel; also accumulates dQ with atomics unless deterministic)
//   3. dQ: accumulator -> dtype (atomics path) or the row-parallel dQ pass (deterministic)
// All on the caller's stream, workspace from the caller: capturable in a CUDA graph.
#pragma once

#include "kernels/attention/bwd/bwd_dq_kernel.cuh"
#include "kernels/attention/bwd/bwd_kernel.cuh"
#include "kernels/attention/tile_config.h"

namespace tessera::kernels::attention {

template <typename Kernel>
cudaError_t allow_smem(Kernel kernel, int bytes) {
  if (bytes <= 48 * 1024) return cudaSuccess;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

template <typename T, int kHeadDim>
cudaError_t run_attention_bwd(const AttentionBwdParams& p, cudaStream_t stream) {
  constexpr BwdTiles kTiles = bwd_tiles(kHeadDim);
  const AttentionShape& s = p.shape;
  const int64_t rows = s.cu_seqlens_q != nullptr ? s.total_q : static_cast<int64_t>(s.batch) * s.seqlen_q;
  float* dsum = static_cast<float*>(p.workspace);
  float* dq_accum = reinterpret_cast<float*>(static_cast<char*>(p.workspace) + (rows * s.num_heads * 4 + 255) / 256 * 256);

  const dim3 row_grid((s.seqlen_q + 7) / 8, s.num_heads, s.batch);
  if (s.seqlen_q > 0) {
    attention_bwd_preprocess_kernel<T, kHeadDim><<<row_grid, 256, 0, stream>>>(p, dsum, p.deterministic ? nullptr : dq_accum);
    if (cudaError_t err = cudaGetLastError(); err != cudaSuccess) return err;
  }

  using Traits = BwdKernelTraits<T, kHeadDim, kTiles.block_m, kTiles.block_n, kTiles.num_warps>;
  const dim3 kv_grid((s.seqlen_k + kTiles.block_n - 1) / kTiles.block_n, s.num_kv_heads, s.batch);
  if (s.seqlen_k > 0) {
    auto dkdv = p.deterministic
                    ? attention_bwd_dkdv_kernel<T, kHeadDim, kTiles.block_m, kTiles.block_n, kTiles.num_warps, false>
                    : attention_bwd_dkdv_kernel<T, kHeadDim, kTiles.block_m, kTiles.block_n, kTiles.num_warps, true>;
    if (cudaError_t err = allow_smem(dkdv, Traits::kSmemBytes); err != cudaSuccess) return err;
    dkdv<<<kv_grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(p, dsum, dq_accum);
    if (cudaError_t err = cudaGetLastError(); err != cudaSuccess) return err;
  }

  if (s.seqlen_q == 0) return cudaSuccess;
  if (p.deterministic) {
    constexpr int kM = kTiles.dq_block_m, kN = kTiles.dq_block_n, kWarps = kM / 16;
    using DqTraits = BwdDqTraits<T, kHeadDim, kM, kN, kWarps>;
    auto dq = attention_bwd_dq_kernel<T, kHeadDim, kM, kN, kWarps>;
    if (cudaError_t err = allow_smem(dq, DqTraits::kSmemBytes); err != cudaSuccess) return err;
    dq<<<dim3((s.seqlen_q + kM - 1) / kM, s.num_heads, s.batch), DqTraits::kThreads, DqTraits::kSmemBytes, stream>>>(
        p, dsum);
  } else {
    attention_bwd_convert_dq_kernel<T, kHeadDim><<<row_grid, 256, 0, stream>>>(p, dq_accum);
  }
  return cudaGetLastError();
}

}  // namespace tessera::kernels::attention
