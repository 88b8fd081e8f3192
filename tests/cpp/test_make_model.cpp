// Random-weight checkpoints: real preset shapes, determinism, sharding, loadability.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "src/model/checkpoint.h"
#include "src/model/llama.h"
#include "src/model/make_model.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("tessera_make_model_" + name);
  fs::remove_all(p);
  return p.string();
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(MakeModel, PresetsHaveTheRealParameterCounts) {
  // Published sizes of the real models.
  EXPECT_EQ(model_preset("llama-3.2-1b")->num_parameters(), 1'235'814'400);
  EXPECT_EQ(model_preset("llama-3-8b")->num_parameters(), 8'030'261'248);
  EXPECT_EQ(model_preset("qwen2.5-0.5b")->num_parameters(), 494'032'768);
  EXPECT_EQ(model_preset("phi-3-mini")->num_parameters(), 3'821'079'552);  // HF: 3.82B
  EXPECT_EQ(model_preset("qwen3-0.6b")->num_parameters(), 596'049'920);    // HF: 0.6B, 0.44B non-embedding
  EXPECT_EQ(model_preset("gemma-2-2b")->num_parameters(), 2'614'341'888);  // HF: 2.6B
  auto bad = model_preset("gpt-5");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.status().message().find("unknown preset 'gpt-5'"), std::string::npos);
}

TEST(MakeModel, DeterministicInTheSeedAndLoadable) {
  const std::string a = fresh_dir("a"), b = fresh_dir("b"), c = fresh_dir("c");
  for (const auto& [dir, seed] : {std::pair{a, 7}, std::pair{b, 7}, std::pair{c, 8}}) {
    MakeModelOptions o;
    o.out_dir = dir;
    o.seed = static_cast<uint64_t>(seed);
    ASSERT_TRUE(make_random_model(o).is_ok());
  }
  EXPECT_EQ(file_bytes(a + "/model.safetensors"), file_bytes(b + "/model.safetensors"));
  EXPECT_NE(file_bytes(a + "/model.safetensors"), file_bytes(c + "/model.safetensors"));
  EXPECT_TRUE(is_random_weights_checkpoint(a));
  auto model = LlamaModel::load(a);
  ASSERT_TRUE(model.has_value()) << model.status().message();
  EXPECT_EQ((*model)->config().vocab_size, 4096);
}

TEST(MakeModel, ShardsLikeTransformers) {
  const std::string dir = fresh_dir("sharded");
  MakeModelOptions o;
  o.out_dir = dir;
  o.max_shard_bytes = 2'000'000;  // the tiny model is ~8 MB in bf16
  ASSERT_TRUE(make_random_model(o).is_ok());
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/model.safetensors.index.json"));
  int shards = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") {
      EXPECT_EQ(e.path().filename().string().rfind("model-0000", 0), 0u) << e.path();
      EXPECT_LE(fs::file_size(e.path()), 2'000'000u + 100'000u);  // + one header
      ++shards;
    }
  EXPECT_GE(shards, 4);
  auto sharded = LlamaModel::load(dir);
  ASSERT_TRUE(sharded.has_value()) << sharded.status().message();
  // Same seed unsharded: identical logits.
  const std::string single = fresh_dir("single");
  o.out_dir = single;
  o.max_shard_bytes = 5'000'000'000ull;
  ASSERT_TRUE(make_random_model(o).is_ok());
  auto one = LlamaModel::load(single);
  ASSERT_TRUE(one.has_value());
  auto run = [](const LlamaModel& m) {
    auto cache = CpuKvCache::create(m.config(), 1, 16);
    ForwardBatch b;
    b.token_ids = {1, 5, 9};
    b.positions = {0, 1, 2};
    b.slot_mapping = {0, 1, 2};
    b.cu_seqlens_q = {0, 3};
    b.seq_lens = {3};
    b.block_table = {0};
    b.max_blocks_per_seq = 1;
    std::vector<float> logits;
    EXPECT_TRUE(m.forward(b, *cache, logits).is_ok());
    return logits;
  };
  EXPECT_EQ(run(**sharded), run(**one));
}

}  // namespace
}  // namespace tessera
