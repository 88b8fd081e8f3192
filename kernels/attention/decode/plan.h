// kernels/attention/decode/plan.h — the CPU half of paged attention's plan()/run() split
// (docs/architecture.md, seam 2): how the keys are split and how big the workspace is, from sizes and upper bounds alone.
// No CUDA in this header or in plan.cpp, so the engine's scheduler side and the CPU tests use it on
// any machine; paged_attention() (decode.h) takes the plan and checks it against its params.
#pragma once

#include <cstdint>

namespace tessera::kernels {

// What paged_attention_plan() needs to know: sizes and upper bounds only.
struct PagedAttentionProblem {
  int32_t num_seqs = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t max_q_len = 1;         // the most new tokens any sequence has in a run
  int64_t max_total_q = 0;       // the most query rows a run has (sizes the workspace); 0: num_seqs * max_q_len
  int64_t max_seq_len = 0;       // the longest sequence (cached + new) a run may see
  int32_t num_sms = 0;           // SMs of the device (0: 132, the H200's)
  int32_t num_splits = 0;        // 0: chosen by the plan; else forced (clamped to [1, kMaxSplits])
};

struct PagedAttentionPlan {
  static constexpr int32_t kMaxSplits = 128;
  int32_t num_splits = 1;        // key ranges per (sequence, KV head, row block); 1: no combine pass
  int32_t rows_per_cta = 16;     // query rows (tokens x heads of one KV group) per CTA: 16 or 64
  int32_t row_blocks = 1;        // CTAs along the query rows for one (sequence, KV head)
  int32_t max_q_len = 1;
  int32_t num_seqs = 0;
  int64_t max_total_q = 0;
  int64_t workspace_bytes = 0;   // fp32 partial outputs and softmax states when num_splits > 1
};

// CPU only; deterministic in its inputs. Invalid sizes give num_splits = 0 (paged_attention then
// rejects the plan with a reason).
PagedAttentionPlan paged_attention_plan(const PagedAttentionProblem& problem);

}  // namespace tessera::kernels
