// kernels/attention/decode/launch.cu — the entry points of decode.h for paged attention: check the
// params against the plan once, resolve them into DecodeArgs and dispatch (head dim, dtype, row
// layout) to the instantiations. Nothing here allocates or synchronizes, so paged_attention() can
// be captured in a CUDA graph.
#include <cmath>
#include <cstdio>

#include "kernels/attention/decode/decode.h"
#include "kernels/attention/decode/decode_kernel.cuh"
#include "kernels/attention/decode/instantiations/dispatch.h"
#include "kernels/attention/decode/launch_util.h"
#include "kernels/attention/decode/plan_detail.h"

namespace tessera::kernels {

namespace decode {
namespace {
thread_local char g_last_error[256] = "";
}  // namespace

cudaError_t invalid(const char* fmt, long long a, long long b) {
  std::snprintf(g_last_error, sizeof(g_last_error), fmt, a, b);
  return cudaErrorInvalidValue;
}

cudaError_t check_cache_strides(const char* op, const PagedKvLayout& L) {
  const long long block = L.block_stride(), token = L.token_stride(), head = L.head_stride();
  const char* why = nullptr;
  if (block % 8 != 0 || token % 8 != 0 || head % 8 != 0)
    why = "must be multiples of 8 elements (16 bytes)";
  else if (!L.rows_disjoint())
    why = PagedKvLayout::kOverlapReason;
  if (why == nullptr) return cudaSuccess;
  std::snprintf(g_last_error, sizeof(g_last_error), "%s: cache strides (block %lld, token %lld, head %lld elements) %s",
                op, block, token, head, why);
  return cudaErrorInvalidValue;
}

}  // namespace decode

namespace attention::decode {

// The plan (plan.cpp, CPU-only) counts on kernels::decode::ctas_per_sm CTAs per SM.
template <int kHeadDim>
constexpr bool residency_holds = DecodeTraits<kHeadDim, 4>::kCtasPerSm >= kernels::decode::ctas_per_sm(kHeadDim) &&
                                 DecodeTraits<kHeadDim, 1>::kCtasPerSm >= kernels::decode::ctas_per_sm(kHeadDim);
static_assert(residency_holds<64> && residency_holds<96> && residency_holds<128> && residency_holds<256>,
              "the plan assumes more CTAs per SM than the kernels' shared memory allows");

}  // namespace attention::decode

const char* paged_attention_last_error() { return decode::g_last_error; }

cudaError_t paged_attention(const PagedAttentionParams& p, const PagedAttentionPlan& plan, cudaStream_t stream) {
  using decode::invalid;
  const PagedKvLayout& L = p.layout;
  if (plan.num_splits < 1 || plan.num_splits > PagedAttentionPlan::kMaxSplits)
    return invalid("paged_attention: the plan is invalid (num_splits %lld): paged_attention_plan rejected its sizes",
                   plan.num_splits);
  if (p.dtype != FloatType::kF16 && p.dtype != FloatType::kBF16) return invalid("paged_attention: dtype must be fp16 or bf16");
  if (L.head_dim != 64 && L.head_dim != 96 && L.head_dim != 128 && L.head_dim != 256)
    return invalid("paged_attention: head_dim %lld is not supported (64, 96, 128, 256)", L.head_dim);
  if (L.num_blocks < 1 || L.block_size < 1 || L.num_kv_heads < 1)
    return invalid("paged_attention: cache layout needs num_blocks, block_size and num_kv_heads >= 1");
  if (const cudaError_t err = decode::check_cache_strides("paged_attention", L); err != cudaSuccess) return err;
  if (p.num_heads < 1 || p.num_heads % L.num_kv_heads != 0)
    return invalid("paged_attention: num_heads %lld is not a multiple of num_kv_heads %lld", p.num_heads, L.num_kv_heads);
  if (p.batch.num_seqs != plan.num_seqs)
    return invalid("paged_attention: batch has %lld sequences, the plan was made for %lld", p.batch.num_seqs, plan.num_seqs);
  if (p.batch.num_seqs < 0 || p.batch.num_seqs > 65535)
    return invalid("paged_attention: num_seqs %lld out of range [0, 65535]", p.batch.num_seqs);
  if (p.batch.max_blocks_per_seq < 1) return invalid("paged_attention: max_blocks_per_seq %lld must be >= 1", p.batch.max_blocks_per_seq);
  const int64_t group = p.num_heads / L.num_kv_heads;
  const int rows_per_cta = plan.max_q_len * group <= 16 ? 16 : 64;
  if (rows_per_cta != plan.rows_per_cta ||
      static_cast<int64_t>(plan.row_blocks) * plan.rows_per_cta < static_cast<int64_t>(plan.max_q_len) * group)
    return invalid("paged_attention: the plan was made for other head counts (rows per CTA %lld, row blocks %lld)",
                   plan.rows_per_cta, plan.row_blocks);
  if (!(p.softmax_scale != 0.f) || !std::isfinite(p.softmax_scale))
    return invalid("paged_attention: softmax_scale must be finite and non-zero");
  if (!p.q || !p.out || !p.k_cache || !p.v_cache || !p.batch.cu_seqlens_q || !p.batch.seq_lens || !p.batch.block_table)
    return invalid("paged_attention: q, out, k_cache, v_cache, cu_seqlens_q, seq_lens and block_table must be non-null");
  if (plan.num_splits > 1 && (p.workspace == nullptr || reinterpret_cast<uintptr_t>(p.workspace) % 256 != 0))
    return invalid("paged_attention: the plan splits the keys %lld ways and needs a 256-byte aligned workspace of %lld bytes",
                   plan.num_splits, plan.workspace_bytes);
  for (const int64_t s : {p.q_token_stride, p.q_head_stride, p.out_token_stride, p.out_head_stride})
    if (s % 8 != 0) return invalid("paged_attention: q/out strides must be multiples of 8 elements, got %lld", s);
  for (const void* ptr : {p.q, static_cast<const void*>(p.out), p.k_cache, p.v_cache})
    if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0) return invalid("paged_attention: tensors must be 16-byte aligned");
  if (p.batch.num_seqs == 0) return cudaSuccess;

  attention::decode::DecodeArgs a{};
  a.q = p.q;
  a.out = p.out;
  a.lse = p.lse;
  a.k_cache = p.k_cache;
  a.v_cache = p.v_cache;
  a.cu_seqlens_q = p.batch.cu_seqlens_q;
  a.seq_lens = p.batch.seq_lens;
  a.block_table = p.batch.block_table;
  const int64_t rows_ws = static_cast<int64_t>(plan.num_splits) * plan.max_total_q * p.num_heads;
  a.ws_o = static_cast<float*>(p.workspace);
  a.ws_state = plan.num_splits > 1
                   ? reinterpret_cast<float2*>(static_cast<char*>(p.workspace) + (rows_ws * L.head_dim * 4 + 255) / 256 * 256)
                   : nullptr;
  a.q_token_stride = p.q_token_stride;
  a.q_head_stride = p.q_head_stride;
  a.out_token_stride = p.out_token_stride;
  a.out_head_stride = p.out_head_stride;
  a.cache_token_stride = L.token_stride();
  a.cache_head_stride = L.head_stride();
  a.cache_block_stride = L.block_stride();
  a.max_total_q = plan.max_total_q;
  a.num_seqs = p.batch.num_seqs;
  a.num_heads = p.num_heads;
  a.group = static_cast<int32_t>(group);
  a.block_size = L.block_size;
  a.num_blocks = L.num_blocks;
  a.max_blocks_per_seq = p.batch.max_blocks_per_seq;
  a.num_splits = plan.num_splits;
  a.row_blocks = plan.row_blocks;
  a.scale_log2 = std::fabs(p.softmax_scale) * 1.4426950408889634f;
  a.negate_q = p.softmax_scale < 0.f;
  a.causal = p.causal;
  const dim3 grid(static_cast<unsigned>(plan.num_splits), static_cast<unsigned>(L.num_kv_heads * plan.row_blocks),
                  static_cast<unsigned>(p.batch.num_seqs));
  if (grid.y > 65535) return invalid("paged_attention: num_kv_heads x row blocks = %lld exceeds 65535", grid.y);
  const bool bf16 = p.dtype == FloatType::kBF16;
  const int warps_n = plan.rows_per_cta == 16 ? 4 : 1;
  switch (L.head_dim) {
    case 64: return attention::decode::paged_attention_hdim64(a, grid, bf16, warps_n, stream);
    case 96: return attention::decode::paged_attention_hdim96(a, grid, bf16, warps_n, stream);
    case 128: return attention::decode::paged_attention_hdim128(a, grid, bf16, warps_n, stream);
    default: return attention::decode::paged_attention_hdim256(a, grid, bf16, warps_n, stream);
  }
}

}  // namespace tessera::kernels
