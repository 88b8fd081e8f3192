// python/src/decode_bindings.cpp — tessera._C's paged KV cache entry points (kernels/attention/
// decode/decode.h): paged_attention_plan, paged_attention, paged_kv_append. Same rules as
// attention_bindings.cpp: no logic, raw device addresses and element strides as ints (0 for an
// absent tensor), the CUDA stream as an int, the GIL released around launches, a
// cudaErrorInvalidValue raised as ValueError with the launcher's reason.
#include <nanobind/nanobind.h>
#include <nanobind/stl/tuple.h>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>

#include "kernels/attention/decode/decode.h"
#include "python/src/bindings_util.h"

namespace nb = nanobind;
namespace tk = tessera::kernels;
using tessera::bindings::to_dtype;
using tessera::bindings::to_ptr;

namespace {

// (num_splits, rows_per_cta, row_blocks, max_q_len, num_seqs, max_total_q, workspace_bytes)
using PlanTuple = std::tuple<int32_t, int32_t, int32_t, int32_t, int32_t, int64_t, int64_t>;

PlanTuple to_tuple(const tk::PagedAttentionPlan& p) {
  return {p.num_splits, p.rows_per_cta, p.row_blocks, p.max_q_len, p.num_seqs, p.max_total_q, p.workspace_bytes};
}

tk::PagedAttentionPlan from_tuple(const PlanTuple& t) {
  tk::PagedAttentionPlan p;
  p.num_splits = std::get<0>(t);
  p.rows_per_cta = std::get<1>(t);
  p.row_blocks = std::get<2>(t);
  p.max_q_len = std::get<3>(t);
  p.num_seqs = std::get<4>(t);
  p.max_total_q = std::get<5>(t);
  p.workspace_bytes = std::get<6>(t);
  return p;
}

void raise_on_error(cudaError_t err, const char* what) {
  tessera::bindings::raise_on_error(err, what, tk::paged_attention_last_error);
}

tk::PagedKvLayout layout(int32_t num_blocks, int32_t block_size, int32_t num_kv_heads, int32_t head_dim,
                         int64_t block_stride, int64_t token_stride, int64_t head_stride) {
  tk::PagedKvLayout l;
  l.num_blocks = num_blocks;
  l.block_size = block_size;
  l.num_kv_heads = num_kv_heads;
  l.head_dim = head_dim;
  l.block_stride_elems = block_stride;
  l.token_stride_elems = token_stride;
  l.head_stride_elems = head_stride;
  return l;
}

PlanTuple plan(int32_t num_seqs, int32_t num_heads, int32_t num_kv_heads, int32_t head_dim, int32_t max_q_len,
               int64_t max_total_q, int64_t max_seq_len, int32_t num_sms, int32_t num_splits) {
  tk::PagedAttentionProblem pr;
  pr.num_seqs = num_seqs;
  pr.num_heads = num_heads;
  pr.num_kv_heads = num_kv_heads;
  pr.head_dim = head_dim;
  pr.max_q_len = max_q_len;
  pr.max_total_q = max_total_q;
  pr.max_seq_len = max_seq_len;
  pr.num_sms = num_sms;
  pr.num_splits = num_splits;
  const tk::PagedAttentionPlan p = tk::paged_attention_plan(pr);
  if (p.num_splits < 1)
    throw nb::value_error(("tessera paged_attention_plan: invalid sizes (num_seqs " + std::to_string(num_seqs) +
                           ", num_heads " + std::to_string(num_heads) + ", num_kv_heads " +
                           std::to_string(num_kv_heads) + ", max_q_len " + std::to_string(max_q_len) +
                           ", max_seq_len " + std::to_string(max_seq_len) + ")")
                              .c_str());
  return to_tuple(p);
}

void paged_attention(const PlanTuple& plan_t, uintptr_t q, int64_t q_token_stride, int64_t q_head_stride,
                     uintptr_t out, int64_t out_token_stride, int64_t out_head_stride, uintptr_t lse,
                     uintptr_t k_cache, uintptr_t v_cache, int32_t num_blocks, int32_t block_size,
                     int32_t num_kv_heads, int32_t head_dim, uintptr_t cu_seqlens_q, uintptr_t seq_lens,
                     uintptr_t block_table, int32_t num_seqs, int32_t max_blocks_per_seq, int32_t num_heads,
                     float softmax_scale, bool causal, int dtype, uintptr_t workspace, uintptr_t stream,
                     int64_t cache_block_stride, int64_t cache_token_stride, int64_t cache_head_stride) {
  tk::PagedAttentionParams p;
  p.q = to_ptr<const void>(q);
  p.q_token_stride = q_token_stride;
  p.q_head_stride = q_head_stride;
  p.out = to_ptr<void>(out);
  p.out_token_stride = out_token_stride;
  p.out_head_stride = out_head_stride;
  p.lse = to_ptr<float>(lse);
  p.k_cache = to_ptr<const void>(k_cache);
  p.v_cache = to_ptr<const void>(v_cache);
  p.layout = layout(num_blocks, block_size, num_kv_heads, head_dim, cache_block_stride, cache_token_stride,
                    cache_head_stride);
  p.batch.cu_seqlens_q = to_ptr<const int32_t>(cu_seqlens_q);
  p.batch.seq_lens = to_ptr<const int32_t>(seq_lens);
  p.batch.block_table = to_ptr<const int32_t>(block_table);
  p.batch.num_seqs = num_seqs;
  p.batch.max_blocks_per_seq = max_blocks_per_seq;
  p.num_heads = num_heads;
  p.softmax_scale = softmax_scale;
  p.causal = causal;
  p.dtype = to_dtype(dtype);
  p.workspace = to_ptr<void>(workspace);
  const tk::PagedAttentionPlan pl = from_tuple(plan_t);
  cudaError_t err;
  {
    nb::gil_scoped_release release;
    err = tk::paged_attention(p, pl, reinterpret_cast<cudaStream_t>(stream));
  }
  raise_on_error(err, "tessera paged_attention");
}

void paged_kv_append(uintptr_t k, int64_t k_token_stride, int64_t k_head_stride, uintptr_t v, int64_t v_token_stride,
                     int64_t v_head_stride, uintptr_t slot_mapping, int64_t num_tokens, uintptr_t k_cache,
                     uintptr_t v_cache, int32_t num_blocks, int32_t block_size, int32_t num_kv_heads, int32_t head_dim,
                     uintptr_t q, int64_t q_token_stride, int64_t q_head_stride, uintptr_t q_out,
                     int64_t q_out_token_stride, int64_t q_out_head_stride, int64_t num_q_tokens, int32_t num_heads,
                     int rope_layout, int32_t rotary_dim, uintptr_t cos, uintptr_t sin, int32_t max_position,
                     uintptr_t k_positions, uintptr_t q_positions, int dtype, uintptr_t stream,
                     int64_t cache_block_stride, int64_t cache_token_stride, int64_t cache_head_stride) {
  tk::KvAppendParams p;
  p.k = to_ptr<const void>(k);
  p.k_token_stride = k_token_stride;
  p.k_head_stride = k_head_stride;
  p.v = to_ptr<const void>(v);
  p.v_token_stride = v_token_stride;
  p.v_head_stride = v_head_stride;
  p.slot_mapping = to_ptr<const int64_t>(slot_mapping);
  p.num_tokens = num_tokens;
  p.k_cache = to_ptr<void>(k_cache);
  p.v_cache = to_ptr<void>(v_cache);
  p.layout = layout(num_blocks, block_size, num_kv_heads, head_dim, cache_block_stride, cache_token_stride,
                    cache_head_stride);
  p.q = to_ptr<const void>(q);
  p.q_token_stride = q_token_stride;
  p.q_head_stride = q_head_stride;
  p.q_out = to_ptr<void>(q_out);
  p.q_out_token_stride = q_out_token_stride;
  p.q_out_head_stride = q_out_head_stride;
  p.num_q_tokens = num_q_tokens;
  p.num_heads = num_heads;
  if (rope_layout < 0 || rope_layout > 2)
    throw nb::value_error(("tessera paged_kv_append: rope layout " + std::to_string(rope_layout) +
                           " is not 0 (none), 1 (rotate-half) or 2 (interleaved)")
                              .c_str());
  p.rope = static_cast<tk::RopeLayout>(rope_layout);
  p.rotary_dim = rotary_dim;
  p.cos = to_ptr<const float>(cos);
  p.sin = to_ptr<const float>(sin);
  p.max_position = max_position;
  p.k_positions = to_ptr<const int32_t>(k_positions);
  p.q_positions = to_ptr<const int32_t>(q_positions);
  p.dtype = to_dtype(dtype);
  cudaError_t err;
  {
    nb::gil_scoped_release release;
    err = tk::paged_kv_append(p, reinterpret_cast<cudaStream_t>(stream));
  }
  raise_on_error(err, "tessera paged_kv_append");
}

}  // namespace

void register_decode(nb::module_& m) {
  m.def("paged_attention_plan", &plan, nb::arg("num_seqs"), nb::arg("num_heads"), nb::arg("num_kv_heads"),
        nb::arg("head_dim"), nb::arg("max_q_len"), nb::arg("max_total_q"), nb::arg("max_seq_len"), nb::arg("num_sms"),
        nb::arg("num_splits"),
        "Work split of paged_attention (CPU): (num_splits, rows_per_cta, row_blocks, max_q_len, num_seqs, "
        "max_total_q, workspace_bytes).");
  // The cache's block, token and head strides (elements; 0: dense) are keyword arguments: callers
  // that predate them keep working.
  m.def("paged_attention", &paged_attention, nb::arg("plan"), nb::arg("q"), nb::arg("q_token_stride"),
        nb::arg("q_head_stride"), nb::arg("out"), nb::arg("out_token_stride"), nb::arg("out_head_stride"), nb::arg("lse"),
        nb::arg("k_cache"), nb::arg("v_cache"), nb::arg("num_blocks"), nb::arg("block_size"), nb::arg("num_kv_heads"),
        nb::arg("head_dim"), nb::arg("cu_seqlens_q"), nb::arg("seq_lens"), nb::arg("block_table"), nb::arg("num_seqs"),
        nb::arg("max_blocks_per_seq"), nb::arg("num_heads"), nb::arg("softmax_scale"), nb::arg("causal"),
        nb::arg("dtype"), nb::arg("workspace"), nb::arg("stream"), nb::arg("cache_block_stride") = 0,
        nb::arg("cache_token_stride") = 0, nb::arg("cache_head_stride") = 0,
        "Launch paged attention on `stream` (addresses as ints).");
  m.def("paged_kv_append", &paged_kv_append, nb::arg("k"), nb::arg("k_token_stride"), nb::arg("k_head_stride"),
        nb::arg("v"), nb::arg("v_token_stride"), nb::arg("v_head_stride"), nb::arg("slot_mapping"), nb::arg("num_tokens"),
        nb::arg("k_cache"), nb::arg("v_cache"), nb::arg("num_blocks"), nb::arg("block_size"), nb::arg("num_kv_heads"),
        nb::arg("head_dim"), nb::arg("q"), nb::arg("q_token_stride"), nb::arg("q_head_stride"), nb::arg("q_out"),
        nb::arg("q_out_token_stride"), nb::arg("q_out_head_stride"), nb::arg("num_q_tokens"), nb::arg("num_heads"),
        nb::arg("rope_layout"), nb::arg("rotary_dim"), nb::arg("cos"), nb::arg("sin"), nb::arg("max_position"),
        nb::arg("k_positions"), nb::arg("q_positions"), nb::arg("dtype"), nb::arg("stream"),
        nb::arg("cache_block_stride") = 0,
        nb::arg("cache_token_stride") = 0, nb::arg("cache_head_stride") = 0, "Launch the paged KV append (+ RoPE) on `stream`.");
}
