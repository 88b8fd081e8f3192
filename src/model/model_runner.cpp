// src/model/model_runner.cpp — the CPU runner and the backend-choosing factory (model_runner.h).
#include "src/model/model_runner.h"

#include "kernels/cpu/sampling.h"

#ifdef TESSERA_WITH_CUDA
#include "src/model/llama_cuda.h"
#endif

namespace tessera {

Status ModelRunner::execute_greedy(const ForwardBatch& batch, std::vector<int32_t>& tokens) {
  if (batch.all_logits) return invalid_argument("execute_greedy: the batch asks for every token's logits");
  std::vector<float> logits;
  TESSERA_RETURN_IF_ERROR(execute(batch, logits));
  const int64_t vocab = config().vocab_size;
  tokens.resize(static_cast<size_t>(batch.num_seqs()));
  for (int32_t s = 0; s < batch.num_seqs(); ++s)
    tokens[static_cast<size_t>(s)] = kernels::cpu::argmax(logits.data() + s * vocab, vocab);
  return Status::ok();
}

Expected<ModelRunner::DeviceLogits> ModelRunner::execute_device(const ForwardBatch&) {
  return unimplemented("execute_device: the " + device_name() + " runner keeps no logits on a device");
}

Status ModelRunner::sample_device(const kernels::SamplingBatch&) {
  return unimplemented("sample_device: the " + device_name() + " runner keeps no logits on a device");
}

Expected<std::unique_ptr<CpuModelRunner>> CpuModelRunner::create(std::shared_ptr<const LlamaModel> model,
                                                                 int32_t num_blocks, int32_t block_size) {
  if (!model) return invalid_argument("CpuModelRunner: no model");
  TESSERA_ASSIGN_OR_RETURN(CpuKvCache cache, CpuKvCache::create(model->config(), num_blocks, block_size));
  return std::unique_ptr<CpuModelRunner>(new CpuModelRunner(std::move(model), std::move(cache)));
}

Status CpuModelRunner::execute(const ForwardBatch& batch, std::vector<float>& logits) {
  return model_->forward(batch, cache_, logits);
}

int64_t CpuModelRunner::weights_bytes() const {
  return model_->config().num_parameters() * static_cast<int64_t>(sizeof(float));
}

int64_t CpuModelRunner::kv_cache_bytes() const {
  int64_t total = 0;
  for (const Tensor& t : cache_.k) total += static_cast<int64_t>(t.nbytes());
  for (const Tensor& t : cache_.v) total += static_cast<int64_t>(t.nbytes());
  return total;
}

int64_t kv_blocks_for_bytes(const ModelConfig& config, int32_t block_size, int64_t bytes, int64_t bytes_per_value) {
  const int64_t per_block = 2 * config.num_layers * block_size * config.kv_size() * bytes_per_value;
  return per_block > 0 ? bytes / per_block : 0;
}

namespace {

// "cuda" or "cuda:N" → N; anything else → -1.
int cuda_index(const std::string& device) {
  if (device == "cuda") return 0;
  if (device.rfind("cuda:", 0) != 0 || device.size() == 5 || device.size() > 8) return -1;
  int index = 0;
  for (size_t i = 5; i < device.size(); ++i) {
    if (device[i] < '0' || device[i] > '9') return -1;
    index = index * 10 + (device[i] - '0');
  }
  return index;
}

}  // namespace

Expected<std::unique_ptr<ModelRunner>> create_model_runner(const std::string& model_dir, const RunnerOptions& options) {
  if (options.block_size < 1) return invalid_argument("block size must be at least 1, got " + std::to_string(options.block_size));
  if (options.device == "cpu") {
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> loaded, LlamaModel::load(model_dir));
    loaded->set_batch_invariant(options.batch_invariant);
    std::shared_ptr<const LlamaModel> model(std::move(loaded));
    int64_t num_blocks = options.num_blocks;
    if (num_blocks <= 0) num_blocks = kv_blocks_for_bytes(model->config(), options.block_size, options.kv_cache_bytes);
    if (num_blocks < 1 || num_blocks > INT32_MAX)
      return invalid_argument("kv_cache_bytes: " + std::to_string(options.kv_cache_bytes) + " bytes give " +
                              std::to_string(num_blocks) + " KV blocks of " + std::to_string(options.block_size) +
                              " tokens (need 1 to 2^31-1)");
    TESSERA_ASSIGN_OR_RETURN(auto runner, CpuModelRunner::create(std::move(model), static_cast<int32_t>(num_blocks),
                                                                 options.block_size));
    return std::unique_ptr<ModelRunner>(std::move(runner));
  }
  const int index = cuda_index(options.device);
  if (index < 0) return invalid_argument("device '" + options.device + "': expected cpu, cuda or cuda:N");
#ifdef TESSERA_WITH_CUDA
  return create_cuda_model_runner(model_dir, index, options);
#else
  return unimplemented("device '" + options.device +
                       "': this tessera build has no CUDA support (configure with --preset cuda where nvcc exists)");
#endif
}

}  // namespace tessera
