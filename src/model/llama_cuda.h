// src/model/llama_cuda.h — the Llama family (Llama 2/3, Mistral, Qwen2) on one NVIDIA GPU: the
// CUDA ModelRunner. Only in builds with CUDA (TESSERA_WITH_CUDA); create_model_runner reaches it for
// device "cuda" / "cuda:N".
//
// Weights and activations are bf16 (or fp16), logits fp32. One step, for the batch's T new tokens
// packed back to back (the same math as the CPU model, src/model/llama.h):
//
//   x = embedding(ids)                                         [T, hidden]
//   per layer:  h = rms_norm(x (+= proj))                      residual add fused into the norm
//               qkv = h · Wqkvᵀ (+b)                           one cuBLASLt GEMM
//               paged_kv_append: RoPE on q and k, k/v → cache  one kernel
//               a = attention(q, k, v | cache)                 varlen prefill for fresh prompts,
//                                                              paged for chunks and decode
//               proj = a · Woᵀ;  h = rms_norm(x += proj)
//               proj = down(silu(gate) · up)                   gate/up one GEMM, SiLU·mul one kernel
//   rows = the last token of each sequence (or every token)    gathered before the final norm
//   logits = rms_norm(x += proj)[rows] · lm_headᵀ              fp32 out of the GEMM
//   greedy = argmax(logits)                                    many CTAs per row (kernels/sampling)
//
// Memory plan: the weights are uploaded first; then activation buffers for
// RunnerOptions::max_num_batched_tokens tokens, the workspaces and the KV cache, which takes what is
// left of gpu_memory_fraction of the card. A model or cache that does not fit is a clear error
// before anything is allocated for it.
//
// CUDA graphs: a step whose sequences all have one new token (decode) and whose logits are the last
// token's is replayed from the graph of the smallest batch bucket (1, 2, 4, 8, then multiples of 8
// up to max_num_seqs) that holds it; the rows past the batch are padding (slot -1: nothing written;
// length 1). Every bucket's graph is captured when the runner is created (as vLLM does at start-up),
// so no step waits for a capture. Every other step runs the same kernels eagerly.
#pragma once

#include <memory>
#include <string>

#include "src/model/model_runner.h"

namespace tessera {

Expected<std::unique_ptr<ModelRunner>> create_cuda_model_runner(const std::string& model_dir, int device_index,
                                                                 const RunnerOptions& options);

}  // namespace tessera
