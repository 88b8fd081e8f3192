// kernels/attention/launch.cu — the public entry points of params.h: validate the params once,
// then dispatch (dtype, head dim) to the generated instantiations. Nothing here allocates or
// synchronizes, so every entry point can be captured in a CUDA graph.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdio>

#include "kernels/attention/instantiations/instantiations.h"
#include "kernels/attention/params.h"
#include "kernels/attention/tile_config.h"

namespace tessera::kernels {
namespace {

thread_local char g_last_error[256] = "";

cudaError_t invalid(const char* fmt, long long a = 0, long long b = 0) {
  std::snprintf(g_last_error, sizeof(g_last_error), fmt, a, b);
  return cudaErrorInvalidValue;
}

bool contains(const int* list, int n, int v) {
  for (int i = 0; i < n; ++i)
    if (list[i] == v) return true;
  return false;
}

cudaError_t validate_shape(const AttentionShape& s, bool backward) {
  const bool supported = backward ? attention_bwd_supports_head_dim(s.head_dim) : attention_fwd_supports_head_dim(s.head_dim);
  if (!supported)
    return invalid(backward ? "head_dim %lld is not supported by the backward (64, 96, 128)"
                            : "head_dim %lld is not supported (64, 96, 128, 256)",
                   s.head_dim);
  if (s.dtype != FloatType::kF16 && s.dtype != FloatType::kBF16) return invalid("dtype must be fp16 or bf16");
  if (s.batch < 1 || s.batch > 65535) return invalid("batch %lld out of range [1, 65535]", s.batch);
  if (s.num_heads < 1 || s.num_heads > 65535) return invalid("num_heads %lld out of range [1, 65535]", s.num_heads);
  if (s.num_kv_heads < 1 || s.num_heads % s.num_kv_heads != 0)
    return invalid("num_heads %lld is not a multiple of num_kv_heads %lld", s.num_heads, s.num_kv_heads);
  if (s.seqlen_q < 0 || s.seqlen_k < 0) return invalid("negative sequence length (q %lld, k %lld)", s.seqlen_q, s.seqlen_k);
  if ((s.cu_seqlens_q == nullptr) != (s.cu_seqlens_k == nullptr))
    return invalid("cu_seqlens_q and cu_seqlens_k must both be given (varlen) or both be null");
  if (s.cu_seqlens_q != nullptr && s.total_q < 0) return invalid("total_q %lld is negative", s.total_q);
  return cudaSuccess;
}

bool strides_ok(const AttentionStrides& st) {
  // Rows and heads start on 16-byte boundaries: every tile load is a 16-byte cp.async.
  return st.row % 8 == 0 && st.head % 8 == 0 && st.batch % 8 == 0;
}

template <template <typename, int> class Launch, typename Params>
cudaError_t dispatch(const Params& p, cudaStream_t stream, int head_dim) {
  const bool bf16 = p.shape.dtype == FloatType::kBF16;
  switch (head_dim) {
    case 64: return bf16 ? Launch<__nv_bfloat16, 64>::run(p, stream) : Launch<__half, 64>::run(p, stream);
    case 96: return bf16 ? Launch<__nv_bfloat16, 96>::run(p, stream) : Launch<__half, 96>::run(p, stream);
    case 128: return bf16 ? Launch<__nv_bfloat16, 128>::run(p, stream) : Launch<__half, 128>::run(p, stream);
    case 256: return bf16 ? Launch<__nv_bfloat16, 256>::run(p, stream) : Launch<__half, 256>::run(p, stream);
    default: return invalid("head_dim %lld has no kernel", head_dim);
  }
}

template <typename T, int kHeadDim>
struct FwdLaunch {
  static cudaError_t run(const AttentionFwdParams& p, cudaStream_t s) {
    return attention::run_attention_fwd<T, kHeadDim>(p, s);
  }
};
template <typename T, int kHeadDim>
struct BwdLaunch {
  static cudaError_t run(const AttentionBwdParams& p, cudaStream_t s) {
    if constexpr (kHeadDim <= attention::kBwdMaxHeadDim) {
      return attention::run_attention_bwd<T, kHeadDim>(p, s);
    } else {
      return invalid("head_dim %lld is not supported by the backward", kHeadDim);
    }
  }
};

}  // namespace

bool attention_fwd_supports_head_dim(int head_dim) {
  return contains(attention::kFwdHeadDims, sizeof(attention::kFwdHeadDims) / sizeof(int), head_dim);
}
bool attention_bwd_supports_head_dim(int head_dim) {
  return contains(attention::kBwdHeadDims, sizeof(attention::kBwdHeadDims) / sizeof(int), head_dim);
}

const char* attention_last_error() { return g_last_error; }

// Workspace of the backward: dsum ([batch, heads, seqlen_q] or [heads, total_q] fp32, like lse),
// then the fp32 dQ accumulator ([heads, dq_accum_rows, head_dim], tile_config.h), each rounded up
// to 256 bytes.
int64_t attention_bwd_workspace(const AttentionShape& s) {
  const int64_t rows = s.cu_seqlens_q != nullptr ? s.total_q : static_cast<int64_t>(s.batch) * s.seqlen_q;
  auto round = [](int64_t bytes) { return (bytes + 255) / 256 * 256; };
  return round(rows * s.num_heads * 4) + round(attention::dq_accum_rows(s) * s.num_heads * s.head_dim * 4);
}

cudaError_t attention_fwd(const AttentionFwdParams& p, cudaStream_t stream) {
  if (cudaError_t err = validate_shape(p.shape, false); err != cudaSuccess) return err;
  if (!p.q || !p.k || !p.v || !p.o || !p.lse) return invalid("q, k, v, o and lse must all be non-null");
  for (const AttentionStrides* st : {&p.q_strides, &p.k_strides, &p.v_strides, &p.o_strides})
    if (!strides_ok(*st)) return invalid("strides must be multiples of 8 elements (16 bytes)");
  if (p.shape.batch == 0 || p.shape.seqlen_q == 0) return cudaSuccess;
  return dispatch<FwdLaunch>(p, stream, p.shape.head_dim);
}

cudaError_t attention_bwd(const AttentionBwdParams& p, cudaStream_t stream) {
  if (cudaError_t err = validate_shape(p.shape, true); err != cudaSuccess) return err;
  if (!p.q || !p.k || !p.v || !p.o || !p.dout || !p.lse || !p.dq || !p.dk || !p.dv || !p.workspace)
    return invalid("q, k, v, o, dout, lse, dq, dk, dv and workspace must all be non-null");
  for (const AttentionStrides* st : {&p.q_strides, &p.k_strides, &p.v_strides, &p.o_strides, &p.dout_strides,
                                     &p.dq_strides, &p.dk_strides, &p.dv_strides})
    if (!strides_ok(*st)) return invalid("strides must be multiples of 8 elements (16 bytes)");
  if (reinterpret_cast<uintptr_t>(p.workspace) % 256 != 0) return invalid("workspace must be 256-byte aligned");
  return dispatch<BwdLaunch>(p, stream, p.shape.head_dim);
}

}  // namespace tessera::kernels
