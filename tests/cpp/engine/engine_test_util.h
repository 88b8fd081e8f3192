// Shared helpers of the engine tests: a very small random Llama checkpoint (written once per test
// process, fp32, in batch-invariant mode so logits do not depend on the batch), engine cores over
// it, and the "run alone" reference through SequenceRunner with the engine's sampling rule.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cpu/sampling.h"
#include "src/engine/engine_core.h"
#include "src/model/make_model.h"
#include "src/model/sequence_runner.h"

namespace tessera::engine::testing {

// 2 layers, hidden 64, 4 query heads over 2 KV heads of 16, vocab 512, context 2048.
inline ModelConfig tiny_config() {
  ModelConfig c = *model_preset("tiny");
  c.hidden_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 128;
  c.vocab_size = 512;
  c.max_position_embeddings = 2048;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

inline std::string tiny_model_dir() {
  static const std::string dir = [] {
    std::ostringstream name;
    name << "tessera_engine_tiny_" << ::getpid();
    const std::filesystem::path p = std::filesystem::temp_directory_path() / name.str();
    std::filesystem::remove_all(p);
    const Status st = make_random_model(tiny_config(), p.string(), /*seed=*/11, DType::kF32, 5'000'000'000ull, "engine-test");
    if (!st.is_ok()) return std::string();
    return p.string();
  }();
  return dir;
}

// The shared tiny model, batch-invariant.
inline std::shared_ptr<LlamaModel> tiny_model() {
  static std::shared_ptr<LlamaModel> model = []() -> std::shared_ptr<LlamaModel> {
    auto m = LlamaModel::load(tiny_model_dir());
    if (!m) return nullptr;
    std::shared_ptr<LlamaModel> shared(std::move(*m));
    shared->set_batch_invariant(true);
    return shared;
  }();
  return model;
}

inline std::unique_ptr<EngineCore> make_core(int32_t num_blocks, int32_t block_size, EngineOptions options = {},
                                             std::shared_ptr<const Tokenizer> tokenizer = nullptr) {
  auto runner = CpuModelRunner::create(tiny_model(), num_blocks, block_size);
  if (!runner) return nullptr;
  auto core = EngineCore::create(std::move(*runner), std::move(tokenizer), options);
  return core ? std::move(*core) : nullptr;
}

// Forwards every call to another runner; tests override what they change (failures, hiding the
// device logits).
class ForwardingRunner : public ModelRunner {
 public:
  explicit ForwardingRunner(std::unique_ptr<ModelRunner> inner) : inner_(std::move(inner)) {}
  const ModelConfig& config() const override { return inner_->config(); }
  int32_t num_blocks() const override { return inner_->num_blocks(); }
  int32_t block_size() const override { return inner_->block_size(); }
  int64_t max_tokens_per_step() const override { return inner_->max_tokens_per_step(); }
  int64_t weights_bytes() const override { return inner_->weights_bytes(); }
  int64_t kv_cache_bytes() const override { return inner_->kv_cache_bytes(); }
  std::string device_name() const override { return inner_->device_name(); }
  Status execute(const ForwardBatch& batch, std::vector<float>& logits) override { return inner_->execute(batch, logits); }

 protected:
  std::unique_ptr<ModelRunner> inner_;
};

// The tokens a request generates when it runs alone: one SequenceRunner over the same model, and
// the engine's sampler and stop rules for one sequence (text through `tokenizer` when given, which
// stop strings need). Unseeded non-greedy requests have no reference: give them a seed.
inline std::vector<int32_t> run_alone(const LlamaModel& model, const GenerationRequest& q,
                                      const Tokenizer* tokenizer = nullptr) {
  const ModelConfig& c = model.config();
  auto runner = SequenceRunner::create(model, static_cast<int64_t>(q.prompt_token_ids.size()) + q.max_tokens);
  if (!runner) return {};
  std::vector<int32_t> eos;
  for (int64_t e : c.eos_token_ids) eos.push_back(static_cast<int32_t>(e));
  Sampler sampler(c.vocab_size, eos, /*engine_seed=*/0);
  const SamplingParams params = sampling_params_of(q);
  SequenceSamplingState state(params, sampler.request_seed(params), q.prompt_token_ids);
  StopChecker stop(params, eos, q.max_tokens);
  std::optional<StreamDecoder> decoder;
  if (tokenizer) decoder.emplace(*tokenizer, true);
  auto logits = runner->append(q.prompt_token_ids);
  std::vector<int32_t> out;
  while (logits) {
    const SampleRow row{&params, &state};
    auto drawn = sampler.sample(logits->data(), c.vocab_size, std::span<const SampleRow>(&row, 1));
    if (!drawn) return {};
    const int32_t tok = (*drawn)[0].token;
    out.push_back(tok);
    state.append(tok);
    if (stop.on_token(tok, decoder ? decoder->step(tok) : std::string()).finish) break;
    logits = runner->append({tok});
  }
  return out;
}

inline std::string name(const char* prefix, int64_t i) {
  std::ostringstream s;
  s << prefix << i;
  return s.str();
}

// n random prompt ids of the tiny model, never bos (1) or eos (2).
inline std::vector<int32_t> random_tokens(std::mt19937& rng, int64_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = 3 + static_cast<int32_t>(rng() % 509);
  return t;
}

}  // namespace tessera::engine::testing
