// CPU logits and greedy continuations against Hugging Face transformers (fp32, eager attention) on
// the small random-init checkpoints that tools/make_golden.py writes into tests/data/golden, and
// on the GGUF files (one per ggml type) that tools/make_gguf_golden.py writes there, whose
// reference is transformers loading the same file.
//
// Bar (issue [foundation]): max |logit error| <= 1e-4 x max |logit|, and the 16-token greedy
// continuation identical. Also: splitting the prompt into chunks, or batching two sequences in
// one forward, does not change the answer (what the engine relies on).
#include <algorithm>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "kernels/cpu/sampling.h"
#include "src/model/sequence_runner.h"
#include "tests/cpp/npy_test_util.h"

namespace tessera {
namespace {

const std::string kGolden = std::string(TESSERA_TEST_DATA) + "/golden";

std::vector<std::string> golden_cases() {
  std::vector<std::string> cases;
  if (!std::filesystem::is_directory(kGolden)) return cases;
  for (const auto& e : std::filesystem::directory_iterator(kGolden))
    if (std::filesystem::exists(e.path() / "logits.npy")) cases.push_back(e.path().filename().string());
  std::sort(cases.begin(), cases.end());
  return cases;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, LogitsAndGreedyMatchTransformers) {
  const std::string dir = kGolden + "/" + GetParam();
  auto model = LlamaModel::load(dir);
  ASSERT_TRUE(model.has_value()) << model.status().message();
  const auto ids64 = npy_values<int64_t>(dir + "/input_ids.npy");
  const auto ref = npy_values<float>(dir + "/logits.npy");
  const auto greedy_ref = npy_values<int64_t>(dir + "/greedy.npy");
  std::vector<int32_t> ids(ids64.begin(), ids64.end());
  const int64_t V = (*model)->config().vocab_size;
  ASSERT_EQ(ref.size(), ids.size() * static_cast<size_t>(V));

  auto runner = SequenceRunner::create(**model, static_cast<int64_t>(ids.size() + greedy_ref.size()));
  ASSERT_TRUE(runner.has_value());
  auto logits = runner->append(ids, /*all_logits=*/true);
  ASSERT_TRUE(logits.has_value()) << logits.status().message();
  float max_ref = 0.f, max_err = 0.f;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(ref[i]));
    max_err = std::max(max_err, std::fabs((*logits)[i] - ref[i]));
  }
  EXPECT_LE(max_err, 1e-4f * max_ref) << "max |err| " << max_err << ", max |logit| " << max_ref;
  std::printf("[ golden ] %-24s tokens %zu vocab %lld  max|logit| %.3f  max|err| %.3g (%.2g of bound)\n",
              GetParam().c_str(), ids.size(), static_cast<long long>(V), max_ref, max_err, max_err / (1e-4f * max_ref));

  // Greedy continuation, one token at a time through the paged cache.
  std::vector<float> last(logits->end() - V, logits->end());
  for (size_t step = 0; step < greedy_ref.size(); ++step) {
    const int32_t tok = kernels::cpu::argmax(last.data(), V);
    ASSERT_EQ(tok, greedy_ref[step]) << "greedy token " << step;
    if (step + 1 < greedy_ref.size()) {
      auto next = runner->append({tok});
      ASSERT_TRUE(next.has_value());
      last = *next;
    }
  }
}

TEST_P(Golden, ChunkedPrefillAndBatchingDoNotChangeLogits) {
  const std::string dir = kGolden + "/" + GetParam();
  auto model = LlamaModel::load(dir);
  ASSERT_TRUE(model.has_value()) << model.status().message();
  const auto ids64 = npy_values<int64_t>(dir + "/input_ids.npy");
  std::vector<int32_t> ids(ids64.begin(), ids64.end());
  const int64_t V = (*model)->config().vocab_size;
  auto whole = SequenceRunner::create(**model, static_cast<int64_t>(ids.size()));
  auto chunked = SequenceRunner::create(**model, static_cast<int64_t>(ids.size()), 4, /*prefill_chunk=*/5);
  auto a = whole->append(ids, true);
  auto b = chunked->append(ids, true);
  ASSERT_TRUE(a.has_value() && b.has_value());
  for (size_t i = 0; i < a->size(); ++i) ASSERT_NEAR((*a)[i], (*b)[i], 1e-4f) << i;

  // Two sequences in one forward: the full prompt, and the prompt's first 9 tokens, in blocks of 8
  // laid out interleaved in one cache.
  const int32_t n0 = static_cast<int32_t>(ids.size()), n1 = 9, bs = 8;
  auto cache = CpuKvCache::create((*model)->config(), 16, bs);
  ASSERT_TRUE(cache.has_value());
  ForwardBatch batch;
  batch.max_blocks_per_seq = 8;
  batch.block_table.assign(16, 0);
  for (int32_t j = 0; j < 8; ++j) {
    batch.block_table[static_cast<size_t>(j)] = 2 * j + 1;      // seq 0: odd blocks
    batch.block_table[static_cast<size_t>(8 + j)] = 2 * j;      // seq 1: even blocks
  }
  auto add_seq = [&](int32_t s, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
      batch.token_ids.push_back(ids[static_cast<size_t>(i)]);
      batch.positions.push_back(i);
      batch.slot_mapping.push_back(static_cast<int64_t>(batch.block_table[static_cast<size_t>(s * 8 + i / bs)]) * bs + i % bs);
    }
    batch.seq_lens.push_back(n);
  };
  add_seq(0, n0);
  add_seq(1, n1);
  batch.cu_seqlens_q = {0, n0, n0 + n1};
  batch.all_logits = true;
  std::vector<float> out;
  ASSERT_TRUE((*model)->forward(batch, *cache, out).is_ok());
  for (int64_t i = 0; i < n0 * V; ++i) ASSERT_NEAR(out[static_cast<size_t>(i)], (*a)[static_cast<size_t>(i)], 1e-4f);
  for (int64_t i = 0; i < n1 * V; ++i)
    ASSERT_NEAR(out[static_cast<size_t>(n0 * V + i)], (*a)[static_cast<size_t>(i)], 1e-4f);
}

INSTANTIATE_TEST_SUITE_P(Transformers, Golden, ::testing::ValuesIn(golden_cases()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Golden);

TEST(GoldenData, AllArchitecturesPresent) {
  const auto cases = golden_cases();
  for (const char* required : {"llama", "llama_rope_parameters", "qwen2", "mistral", "phi3", "qwen3", "gemma2", "gemma3"})
    EXPECT_NE(std::find(cases.begin(), cases.end(), required), cases.end())
        << "tests/data/golden/" << required << " is missing (python3 tools/make_golden.py --out tests/data/golden)";
  // GGUF files in every ggml type [real-models] lists, read back by transformers.
  for (const char* required : {"gguf_f16", "gguf_bf16", "gguf_q8_0", "gguf_q4_0", "gguf_q4_1", "gguf_q5_0",
                               "gguf_q5_1", "gguf_q4_k", "gguf_q5_k", "gguf_q6_k", "gguf_qwen2_q8_0",
                               "gguf_qwen3_q4_k", "gguf_llama3_rope_freqs", "gguf_phi3_q6_k",
                               "gguf_gemma2_q8_0"})
    EXPECT_NE(std::find(cases.begin(), cases.end(), required), cases.end())
        << "tests/data/golden/" << required << " is missing (python3 tools/make_gguf_golden.py --out tests/data)";
}

}  // namespace
}  // namespace tessera
