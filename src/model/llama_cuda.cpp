// src/model/llama_cuda.cpp — the CUDA ModelRunner (llama_cuda.h).
//
// Invariants:
// - Every device pointer a kernel sees is fixed at creation (weights, cache, activations,
//   workspaces) or a function of the step's shape alone (the batch arrays, laid out by
//   BatchLayout), so a CUDA graph captured for a shape replays with new contents.
// - The host never waits on the device inside a step except to copy results back at its end.
// - One thread uses a runner at a time (the engine's loop); each call selects the device first.
#include "src/model/llama_cuda.h"

#include "src/model/checkpoint.h"
#include "src/model/llama_cuda_runner.h"

namespace tessera {
namespace cuda_runner {

CudaModelRunner::~CudaModelRunner() {
  cudaSetDevice(device_);
  for (auto& [bucket, exec] : graphs_) cudaGraphExecDestroy(exec);
  if (uploaded_) cudaEventDestroy(uploaded_);
  if (stream_) cudaStreamDestroy(stream_);
}

Status CudaModelRunner::init(const std::string& model_dir, int device, const RunnerOptions& o) {
  device_ = device;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return unimplemented("no CUDA device is visible to this process");
  if (device >= count) return invalid_argument("cuda:" + std::to_string(device) + ": only " + std::to_string(count) + " CUDA device(s)");
  TESSERA_CUDA_TRY(cudaSetDevice(device), "cudaSetDevice");
  cudaDeviceProp prop{};
  TESSERA_CUDA_TRY(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  device_name_ = "cuda:" + std::to_string(device) + " (" + prop.name + ")";
  if (prop.major < 9)
    return unimplemented(device_name_ + " is sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
                         "; tessera's CUDA kernels are built for Hopper (sm_90a)");
  if (o.dtype != DType::kBF16 && o.dtype != DType::kF16)
    return invalid_argument("the GPU runs bf16 or f16, not " + std::string(dtype_name(o.dtype)));
  if (!(o.gpu_memory_fraction > 0.0 && o.gpu_memory_fraction <= 1.0))
    return invalid_argument("gpu memory fraction must be in (0, 1], got " + std::to_string(o.gpu_memory_fraction));
  if (o.max_num_seqs < 1 || o.max_num_batched_tokens < 1)
    return invalid_argument("max_num_seqs and max_num_batched_tokens must be at least 1");
  dtype_ = o.dtype;
  ftype_ = o.dtype == DType::kBF16 ? k::FloatType::kBF16 : k::FloatType::kF16;

  TESSERA_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::open(model_dir));
  config_ = ckpt.config();
  shape_ = LayerShape::of(config_);
  const ModelConfig& c = config_;
  if (c.norm_plus_one || c.sandwich_norms || c.gelu_tanh || c.attn_logit_softcapping > 0)
    return unimplemented(model_dir + ": " + architecture_hf_name(c.arch) +
                         " (GeGLU, sandwich and (1 + w) norms, soft-capping) runs on the CPU only so far; use --device cpu");
  if (c.qk_norm)
    return unimplemented(model_dir + ": " + architecture_hf_name(c.arch) +
                         " normalizes each q and k head, which the GPU runner does not do yet; use --device cpu");
  if (c.head_dim != 64 && c.head_dim != 96 && c.head_dim != 128 && c.head_dim != 256)
    return unimplemented(model_dir + ": head_dim " + std::to_string(c.head_dim) +
                         "; the GPU attention kernels support 64, 96, 128 and 256");
  max_model_len_ = o.max_model_len > 0 ? o.max_model_len : c.max_position_embeddings;
  if (max_model_len_ > c.max_position_embeddings)
    return invalid_argument("max model length " + std::to_string(max_model_len_) + " exceeds the model's context of " +
                            std::to_string(c.max_position_embeddings) + " tokens");
  max_seqs_ = o.max_num_seqs;
  max_tokens_ = std::max<int64_t>(o.max_num_batched_tokens, max_seqs_);
  use_graphs_ = o.cuda_graphs;
  varlen_prefill_ = o.varlen_prefill;
  const int64_t es = static_cast<int64_t>(dtype_size(dtype_));

  // ---- memory plan: does the model fit at all? ----
  size_t free_b = 0, total_b = 0;
  TESSERA_CUDA_TRY(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  const int64_t total = static_cast<int64_t>(total_b);
  const int64_t budget = static_cast<int64_t>(static_cast<double>(total) * o.gpu_memory_fraction) -
                         (total - static_cast<int64_t>(free_b));
  const int64_t need_weights = c.num_parameters() * es;
  if (need_weights + kRuntimeReserve > budget)
    return out_of_memory(model_dir + ": the weights take " + gib(need_weights) + " in " + std::string(dtype_name(dtype_)) + ", but " +
                         gib(std::max<int64_t>(budget, 0)) + " of " + device_name_ + "'s " + gib(total) +
                         " are available under a memory fraction of " + std::to_string(o.gpu_memory_fraction) +
                         " (other processes hold " + gib(total - static_cast<int64_t>(free_b)) + ")");

  TESSERA_CUDA_TRY(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  TESSERA_CUDA_TRY(cudaEventCreateWithFlags(&uploaded_, cudaEventDisableTiming), "cudaEventCreate");
  std::string err;
  gemm_ = k::Gemm::create(kGemmWorkspace, &err);
  if (!gemm_) return internal_error(err);

  // ---- weights, one tensor at a time ----
  const Device dev = Device::cuda(device);
  int64_t uploaded = 0;
  TESSERA_ASSIGN_OR_RETURN(weights_, load_weights(ckpt, dtype_, [&](Tensor host) -> Expected<Tensor> {
    TESSERA_ASSIGN_OR_RETURN(Tensor d, Tensor::empty(host.shape(), host.dtype(), dev));
    TESSERA_CUDA_TRY(cudaMemcpy(d.data_ptr(), host.data_ptr(), host.nbytes(), cudaMemcpyHostToDevice), "uploading weights");
    uploaded += static_cast<int64_t>(host.nbytes());
    return d;
  }));
  weights_bytes_ = uploaded;

  // ---- RoPE table ----
  const int64_t half = c.head_dim / 2;
  {
    std::vector<float> table(static_cast<size_t>(2 * max_model_len_ * half));
    k::cpu::rope_cos_sin_table(rope_spec(c), static_cast<int32_t>(max_model_len_), table.data(),
                               table.data() + max_model_len_ * half);
    TESSERA_RETURN_IF_ERROR(rope_.allocate(static_cast<int64_t>(table.size() * 4), "the RoPE table"));
    TESSERA_CUDA_TRY(cudaMemcpy(rope_.get(), table.data(), table.size() * 4, cudaMemcpyHostToDevice), "uploading the RoPE table");
  }

  // ---- activations ----
  const int64_t T = max_tokens_, H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t qkv_size = c.q_size() + 2 * c.kv_size();
  logit_rows_cap_ = std::max<int64_t>(max_seqs_, 64);
  int64_t off = 0;
  std::vector<std::pair<char**, int64_t>> carve = {
      {&x_, T * H * es},          {&h_, T * H * es},      {&proj_, T * H * es},
      {&qkv_, T * qkv_size * es}, {&attn_, T * c.q_size() * es},
      {&gate_up_, T * 2 * I * es}, {&mlp_, T * I * es},
      {&last_x_, logit_rows_cap_ * H * es}, {&last_p_, logit_rows_cap_ * H * es}, {&last_h_, logit_rows_cap_ * H * es}};
  std::vector<int64_t> offsets;
  for (auto& [ptr, bytes] : carve) {
    offsets.push_back(off);
    off = round_up(off + bytes, 256);
  }
  const int64_t logits_off = off;
  off = round_up(off + logit_rows_cap_ * V * 4, 256);
  const int64_t tokens_off = off;
  off = round_up(off + logit_rows_cap_ * 4, 256);
  const int64_t scratch_off = off;
  off = round_up(off + logit_rows_cap_ * 8, 256);
  const int64_t lse_off = off;
  off = round_up(off + T * c.num_heads * 4, 256);
  TESSERA_RETURN_IF_ERROR(act_.allocate(off, "activations of " + std::to_string(T) + " tokens"));
  for (size_t i = 0; i < carve.size(); ++i) *carve[i].first = act_.get() + offsets[i];
  logits_ = reinterpret_cast<float*>(act_.get() + logits_off);
  tokens_ = reinterpret_cast<int32_t*>(act_.get() + tokens_off);
  argmax_scratch_ = reinterpret_cast<unsigned long long*>(act_.get() + scratch_off);
  lse_ = reinterpret_cast<float*>(act_.get() + lse_off);

  // ---- batch arrays ----
  table_width_ = static_cast<int32_t>((max_model_len_ + o.block_size - 1) / o.block_size);
  batch_bytes_ = BatchLayout(max_tokens_, max_seqs_, table_width_).end;
  TESSERA_RETURN_IF_ERROR(batch_dev_.allocate(batch_bytes_, "the batch arrays"));
  TESSERA_RETURN_IF_ERROR(batch_host_.allocate(batch_bytes_, "the batch arrays"));
  TESSERA_RETURN_IF_ERROR(tokens_host_.allocate(logit_rows_cap_ * 4, "sampled tokens"));

  // ---- graph buckets and the attention workspace they need ----
  for (int32_t b : {1, 2, 4}) if (b <= max_seqs_) buckets_.push_back(b);
  for (int32_t b = 8; b < max_seqs_ + 8; b += 8) buckets_.push_back(std::min(b, max_seqs_));
  buckets_.erase(std::unique(buckets_.begin(), buckets_.end()), buckets_.end());
  layout_ = {0, o.block_size, static_cast<int32_t>(c.num_kv_heads), static_cast<int32_t>(c.head_dim)};
  // A block's keys and values side by side (docs/perf-notes.md, session 10: ~1% faster decode
  // attention than two separate caches once blocks are scattered).
  layout_.block_stride_elems = 2 * layout_.block_extent();
  int64_t ws = kMinAttentionWorkspace;
  for (int32_t b : buckets_) ws = std::max(ws, plan_for(b, 1, b, max_model_len_).workspace_bytes);
  TESSERA_RETURN_IF_ERROR(attn_ws_.allocate(ws, "the attention workspace"));

  // ---- KV cache: what is left of the budget ----
  TESSERA_CUDA_TRY(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  const int64_t left = static_cast<int64_t>(static_cast<double>(total) * o.gpu_memory_fraction) -
                       (total - static_cast<int64_t>(free_b)) - kRuntimeReserve;
  const int64_t per_block = 2 * c.num_layers * o.block_size * c.kv_size() * es;
  int64_t blocks = o.num_blocks > 0 ? o.num_blocks : std::max<int64_t>(left, 0) / per_block;
  blocks = std::min<int64_t>(blocks, INT32_MAX);
  const int64_t min_blocks = (max_model_len_ + o.block_size - 1) / o.block_size;
  if (o.num_blocks > 0 && o.num_blocks * per_block > left)
    return out_of_memory(std::to_string(o.num_blocks) + " KV blocks take " + gib(o.num_blocks * per_block) + "; " +
                         gib(std::max<int64_t>(left, 0)) + " are left after the weights (" + gib(weights_bytes_) +
                         ") and activations (" + gib(act_.bytes()) + ")");
  if (blocks < min_blocks)
    return out_of_memory("the KV cache would hold " + std::to_string(blocks * o.block_size) + " tokens (" +
                         gib(std::max<int64_t>(left, 0)) + " left after the weights take " + gib(weights_bytes_) +
                         " and activations " + gib(act_.bytes()) + "), less than one sequence of " +
                         std::to_string(max_model_len_) +
                         " tokens: lower the max model length or max batched tokens, or raise the memory fraction");
  layout_.num_blocks = static_cast<int32_t>(blocks);
  TESSERA_RETURN_IF_ERROR(kv_.allocate(blocks * per_block, "the KV cache"));
  // Zeroed so that padding rows of a graph bucket, which read block 0, see finite numbers.
  TESSERA_CUDA_TRY(cudaMemsetAsync(kv_.get(), 0, static_cast<size_t>(kv_.bytes()), stream_), "clearing the KV cache");
  TESSERA_CUDA_TRY(cudaStreamSynchronize(stream_), "clearing the KV cache");
  LOG_INFO(device_name_ << ": weights " << gib(weights_bytes_) << ", activations " << gib(act_.bytes()) << " ("
                        << max_tokens_ << " tokens), KV cache " << gib(kv_.bytes()) << " (" << blocks << " blocks of "
                        << o.block_size << " = " << blocks * o.block_size << " tokens)");
  if (use_graphs_) {
    // Every decode graph is captured now, as vLLM does at start-up, so no request waits for one.
    const auto t0 = std::chrono::steady_clock::now();
    TESSERA_RETURN_IF_ERROR(capture_graphs());
    LOG_INFO(device_name_ << ": captured " << buckets_.size() << " decode graphs (batches 1 to " << buckets_.back()
                          << ") in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
                          << " s");
  }
  return Status::ok();
}

k::PagedAttentionPlan CudaModelRunner::plan_for(int32_t seqs, int32_t max_q_len, int64_t total_q,
                                                int64_t max_seq_len) const {
  k::PagedAttentionProblem pr;
  pr.num_seqs = seqs;
  pr.num_heads = static_cast<int32_t>(config_.num_heads);
  pr.num_kv_heads = static_cast<int32_t>(config_.num_kv_heads);
  pr.head_dim = static_cast<int32_t>(config_.head_dim);
  pr.max_q_len = max_q_len;
  pr.max_total_q = total_q;
  pr.max_seq_len = max_seq_len;
  k::PagedAttentionPlan plan = k::paged_attention_plan(pr);
  // A plan whose splits need more workspace than there is gets fewer splits (1 needs none).
  while (attn_ws_.bytes() > 0 && plan.workspace_bytes > attn_ws_.bytes() && plan.num_splits > 1) {
    pr.num_splits = plan.num_splits / 2;
    plan = k::paged_attention_plan(pr);
  }
  return plan;
}

Status CudaModelRunner::capture_graphs() {
  // A batch of padding only: every row writes nowhere and reads block 0 (zeroed).
  ForwardBatch padding;
  padding.cu_seqlens_q = {0};
  padding.max_blocks_per_seq = 1;
  for (int32_t bucket : buckets_) {
    StepShape shape;
    shape.tokens = bucket;
    shape.seqs = bucket;
    shape.logit_rows = bucket;
    shape.plan = plan_for(bucket, 1, bucket, max_model_len_);
    TESSERA_RETURN_IF_ERROR(upload(padding, shape));
    // Run once eagerly (cuBLASLt picks its algorithms outside the capture), then capture.
    TESSERA_RETURN_IF_ERROR(enqueue(shape));
    cudaGraph_t graph = nullptr;
    TESSERA_CUDA_TRY(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "graph capture");
    const Status st = enqueue(shape);
    const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
    if (!st.is_ok() || end != cudaSuccess) {
      if (graph) cudaGraphDestroy(graph);
      TESSERA_RETURN_IF_ERROR(st);
      return cuda_status(end, "graph capture");
    }
    cudaGraphExec_t exec = nullptr;
    const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    TESSERA_CUDA_TRY(inst, "cudaGraphInstantiate");
    graphs_.emplace(bucket, exec);
  }
  TESSERA_CUDA_TRY(cudaStreamSynchronize(stream_), "graph warm-up");
  return Status::ok();
}

int32_t CudaModelRunner::bucket_for(int32_t seqs) const {
  for (int32_t b : buckets_)
    if (b >= seqs) return b;
  return -1;
}

Status CudaModelRunner::validate(const ForwardBatch& b) const {
  TESSERA_RETURN_IF_ERROR(validate_forward_batch(b, config_, layout_));
  const int64_t T = static_cast<int64_t>(b.token_ids.size());
  if (T > max_tokens_)
    return invalid_argument("forward: " + std::to_string(T) + " new tokens exceed the " + std::to_string(max_tokens_) +
                            " this runner was sized for (max batched tokens)");
  if (b.num_seqs() > max_seqs_)
    return invalid_argument("forward: " + std::to_string(b.num_seqs()) + " sequences exceed the " +
                            std::to_string(max_seqs_) + " this runner was sized for (max sequences)");
  for (int32_t len : b.seq_lens) {
    if (len > max_model_len_)
      return invalid_argument("forward: a sequence of " + std::to_string(len) + " tokens exceeds the max model length " +
                              std::to_string(max_model_len_));
    if (config_.sliding_window > 0 && len > config_.sliding_window)
      return unimplemented("forward: a sequence of " + std::to_string(len) + " tokens is longer than the model's sliding window of " +
                           std::to_string(config_.sliding_window) + ", which the GPU attention does not implement yet");
  }
  for (int32_t p : b.positions)
    if (p >= max_model_len_)
      return invalid_argument("forward: position " + std::to_string(p) + " is past the max model length " + std::to_string(max_model_len_));
  return Status::ok();
}

Status CudaModelRunner::upload(const ForwardBatch& b, const StepShape& shape) {
  const BatchLayout L(shape.tokens, shape.seqs, table_width_);
  if (upload_pending_) {
    TESSERA_CUDA_TRY(cudaEventSynchronize(uploaded_), "waiting for the previous batch upload");
    upload_pending_ = false;
  }
  char* h = batch_host_.get();
  const int64_t T = static_cast<int64_t>(b.token_ids.size());
  const int32_t S = b.num_seqs();
  auto* ids = reinterpret_cast<int32_t*>(h + L.ids);
  auto* pos = reinterpret_cast<int32_t*>(h + L.positions);
  auto* slots = reinterpret_cast<int64_t*>(h + L.slots);
  auto* cu = reinterpret_cast<int32_t*>(h + L.cu_seqlens);
  auto* lens = reinterpret_cast<int32_t*>(h + L.seq_lens);
  auto* table = reinterpret_cast<int32_t*>(h + L.block_table);
  std::copy_n(b.token_ids.data(), T, ids);
  std::copy_n(b.positions.data(), T, pos);
  std::copy_n(b.slot_mapping.data(), T, slots);
  std::copy_n(b.cu_seqlens_q.data(), S + 1, cu);
  std::copy_n(b.seq_lens.data(), S, lens);
  // Padding (graph buckets): one token per extra sequence, written nowhere, attending to block 0.
  std::fill(ids + T, ids + shape.tokens, 0);
  std::fill(pos + T, pos + shape.tokens, 0);
  std::fill(slots + T, slots + shape.tokens, int64_t{-1});
  for (int32_t s = S; s < shape.seqs; ++s) {
    cu[s + 1] = cu[s] + 1;
    lens[s] = 1;
  }
  // Only the columns some sequence uses are copied; the rest of a row is never read.
  int32_t used = 1;
  for (int32_t s = 0; s < S; ++s) used = std::max(used, (b.seq_lens[static_cast<size_t>(s)] + layout_.block_size - 1) / layout_.block_size);
  used = std::min(used, b.max_blocks_per_seq);
  for (int32_t s = 0; s < shape.seqs; ++s) {
    int32_t* row = table + static_cast<int64_t>(s) * table_width_;
    if (s < S) {
      std::copy_n(b.block_table.data() + static_cast<int64_t>(s) * b.max_blocks_per_seq, used, row);
    } else {
      std::fill(row, row + used, 0);
    }
  }
  char* d = batch_dev_.get();
  TESSERA_CUDA_TRY(cudaMemcpyAsync(d, h, static_cast<size_t>(L.scalars_end), cudaMemcpyHostToDevice, stream_), "uploading the batch");
  TESSERA_CUDA_TRY(cudaMemcpy2DAsync(d + L.block_table, static_cast<size_t>(table_width_) * 4, h + L.block_table,
                                     static_cast<size_t>(table_width_) * 4, static_cast<size_t>(used) * 4,
                                     static_cast<size_t>(shape.seqs), cudaMemcpyHostToDevice, stream_),
                   "uploading the block table");
  TESSERA_CUDA_TRY(cudaEventRecord(uploaded_, stream_), "cudaEventRecord");
  upload_pending_ = true;
  return Status::ok();
}

Status CudaModelRunner::run(const ForwardBatch& b, std::vector<float>* host_logits) {
  TESSERA_CUDA_TRY(cudaSetDevice(device_), "cudaSetDevice");
  TESSERA_RETURN_IF_ERROR(validate(b));
  const int32_t S = b.num_seqs();
  const int64_t T = static_cast<int64_t>(b.token_ids.size());
  int32_t max_q = 0;
  int64_t max_len = 0;
  for (int32_t s = 0; s < S; ++s) {
    max_q = std::max(max_q, b.cu_seqlens_q[s + 1] - b.cu_seqlens_q[s]);
    max_len = std::max<int64_t>(max_len, b.seq_lens[static_cast<size_t>(s)]);
  }
  if (!b.all_logits && max_q == 0) return invalid_argument("forward: a sequence with no new tokens has no last-token logits");

  const bool decode = !b.all_logits && max_q == 1 && T == S;
  const int32_t bucket = decode && use_graphs_ ? bucket_for(S) : -1;
  StepShape shape;
  if (bucket > 0) {
    // Graph: the shape of the bucket, planned for any length up to the max model length.
    shape.tokens = bucket;
    shape.seqs = bucket;
    shape.logit_rows = bucket;
    shape.plan = plan_for(bucket, 1, bucket, max_model_len_);
    TESSERA_RETURN_IF_ERROR(upload(b, shape));
    auto it = graphs_.find(bucket);
    if (it == graphs_.end()) return internal_error("no decode graph for a batch of " + std::to_string(bucket));
    TESSERA_CUDA_TRY(cudaGraphLaunch(it->second, stream_), "cudaGraphLaunch");
    return Status::ok();
  }

  shape.tokens = T;
  shape.seqs = S;
  shape.logit_rows = b.all_logits ? 0 : S;
  shape.plan = plan_for(S, max_q, T, max_len);
  shape.max_q_len = max_q;
  shape.fresh_prefill = varlen_prefill_ && max_q > 1;
  for (int32_t s = 0; s < S && shape.fresh_prefill; ++s)
    shape.fresh_prefill = b.seq_lens[static_cast<size_t>(s)] == b.cu_seqlens_q[s + 1] - b.cu_seqlens_q[s];
  TESSERA_RETURN_IF_ERROR(upload(b, shape));
  TESSERA_RETURN_IF_ERROR(enqueue(shape));
  if (!b.all_logits) return Status::ok();

  // Every token's logits: the final norm over all rows, then the LM head in chunks of the logits
  // buffer, each copied out before the next overwrites it.
  const ModelConfig& c = config_;
  TESSERA_RETURN_IF_ERROR(norm(proj_, x_, h_, weights_.final_norm, T, "final rms_norm"));
  const int64_t V = c.vocab_size, es = static_cast<int64_t>(dtype_size(dtype_));
  host_logits->resize(static_cast<size_t>(T * V));
  for (int64_t r0 = 0; r0 < T; r0 += logit_rows_cap_) {
    const int64_t rows = std::min(logit_rows_cap_, T - r0);
    TESSERA_RETURN_IF_ERROR(linear(weights_.lm_head, h_ + r0 * c.hidden_size * es, logits_, rows, k::FloatType::kF32));
    TESSERA_CUDA_TRY(cudaMemcpyAsync(host_logits->data() + r0 * V, logits_, static_cast<size_t>(rows * V) * 4,
                                     cudaMemcpyDeviceToHost, stream_),
                     "copying logits");
  }
  return Status::ok();
}

Status CudaModelRunner::execute(const ForwardBatch& b, std::vector<float>& logits) {
  TESSERA_RETURN_IF_ERROR(run(b, &logits));
  if (!b.all_logits) {
    const int64_t rows = b.num_seqs(), V = config_.vocab_size;
    logits.resize(static_cast<size_t>(rows * V));
    TESSERA_CUDA_TRY(cudaMemcpyAsync(logits.data(), logits_, static_cast<size_t>(rows * V) * 4, cudaMemcpyDeviceToHost, stream_),
                     "copying logits");
  }
  TESSERA_CUDA_TRY(cudaStreamSynchronize(stream_), "forward step");
  return Status::ok();
}

Expected<ModelRunner::DeviceLogits> CudaModelRunner::execute_device(const ForwardBatch& b) {
  if (b.all_logits) return invalid_argument("execute_device: the batch asks for every token's logits");
  TESSERA_RETURN_IF_ERROR(run(b, nullptr));
  return DeviceLogits{logits_, config_.vocab_size, b.num_seqs(), stream_};
}

Status CudaModelRunner::execute_greedy(const ForwardBatch& b, std::vector<int32_t>& tokens) {
  if (b.all_logits) return invalid_argument("execute_greedy: the batch asks for every token's logits");
  TESSERA_RETURN_IF_ERROR(run(b, nullptr));
  const int32_t S = b.num_seqs();
  TESSERA_CUDA_TRY(cudaMemcpyAsync(tokens_host_.get(), tokens_, static_cast<size_t>(S) * 4, cudaMemcpyDeviceToHost, stream_),
                   "copying tokens");
  TESSERA_CUDA_TRY(cudaStreamSynchronize(stream_), "forward step");
  const auto* t = reinterpret_cast<const int32_t*>(tokens_host_.get());
  tokens.assign(t, t + S);
  return Status::ok();
}

}  // namespace cuda_runner

Expected<std::unique_ptr<ModelRunner>> create_cuda_model_runner(const std::string& model_dir, int device_index,
                                                                 const RunnerOptions& options) {
  auto runner = std::make_unique<cuda_runner::CudaModelRunner>();
  TESSERA_RETURN_IF_ERROR(runner->init(model_dir, device_index, options));
  return std::unique_ptr<ModelRunner>(std::move(runner));
}

}  // namespace tessera
