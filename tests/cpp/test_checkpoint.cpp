// tests/cpp/test_checkpoint.cpp — checkpoint folders: written single-file and sharded (the index
// checked field by field), read back tensor by tensor, and every broken-folder case rejected with
// a message naming the file at fault.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "src/core/mapped_file.h"
#include "src/model/checkpoint.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

constexpr const char* kIndex = "model.safetensors.index.json";

ModelConfig tiny_config() {
  ModelConfig c;
  c.arch = Architecture::kLlama;
  c.hidden_size = 8;
  c.num_layers = 1;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 4;
  c.intermediate_size = 16;
  c.vocab_size = 10;
  c.max_position_embeddings = 64;
  c.dtype = DType::kF32;
  return c;
}

uint8_t pattern(size_t t, size_t i) { return static_cast<uint8_t>(i * 13 + t * 41 + 3); }

Status fill_pattern(size_t index, void* dst, size_t nbytes) {
  auto* p = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < nbytes; ++i) p[i] = pattern(index, i);
  return Status::ok();
}

// With max_shard_bytes = 100 these pack as [a, b] [big] [c, d]: 80 B, 400 B (over the limit, so
// alone), 80 B.
std::vector<TensorSpec> shard_specs() {
  return {{"a.weight", DType::kF32, {10}},
          {"b.weight", DType::kF32, {2, 5}},
          {"big.weight", DType::kBF16, {10, 20}},
          {"c.weight", DType::kF32, {10}},
          {"d.bias", DType::kI64, {5}}};
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("tessera_ckpt_" + std::string(info->name()) + "_" +
                                        std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dir() const { return dir_.string(); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // config.json plus weights written by write_checkpoint_weights.
  void write_checkpoint(const std::vector<TensorSpec>& specs, uint64_t max_shard_bytes) {
    ASSERT_TRUE(write_checkpoint_weights(dir(), specs, fill_pattern, max_shard_bytes).is_ok());
    ASSERT_TRUE(
        write_text_file(path("config.json"), model_config_to_hf_json(tiny_config()).dump(2))
            .is_ok());
  }

  Json read_index() const {
    Expected<std::string> text = read_text_file(path(kIndex));
    EXPECT_TRUE(text.has_value());
    return text.has_value() ? Json::parse(*text) : Json();
  }
  void write_index(const Json& j) { ASSERT_TRUE(write_text_file(path(kIndex), j.dump()).is_ok()); }

  // Opening must fail with `code`, naming `file` and containing `what`.
  void expect_open_error(StatusCode code, const std::string& file, const std::string& what) {
    Expected<Checkpoint> c = Checkpoint::open(dir());
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.status().code(), code) << c.status().to_string();
    EXPECT_CONTAINS(c.status().message(), file);
    EXPECT_CONTAINS(c.status().message(), what);
  }

  fs::path dir_;
};

void expect_tensors_equal(const Checkpoint& ckpt, const std::vector<TensorSpec>& specs) {
  for (size_t t = 0; t < specs.size(); ++t) {
    Expected<Tensor> got = ckpt.get(specs[t].name);
    ASSERT_TRUE(got.has_value()) << got.status().to_string();
    EXPECT_EQ(got->dtype(), specs[t].dtype);
    EXPECT_EQ(got->shape(), specs[t].shape);
    ASSERT_EQ(got->nbytes(), specs[t].nbytes());
    const auto* p = static_cast<const uint8_t*>(got->data_ptr());
    for (size_t i = 0; i < got->nbytes(); ++i)
      ASSERT_EQ(p[i], pattern(t, i)) << specs[t].name << " byte " << i;
  }
}

TEST_F(CheckpointTest, SingleFile) {
  const auto specs = shard_specs();
  write_checkpoint(specs, uint64_t{1} << 30);
  EXPECT_TRUE(fs::exists(path("model.safetensors")));
  EXPECT_FALSE(fs::exists(path(kIndex)));

  Expected<Checkpoint> ckpt = Checkpoint::open(dir());
  ASSERT_TRUE(ckpt.has_value()) << ckpt.status().to_string();
  EXPECT_EQ(ckpt->dir(), dir());
  EXPECT_EQ(ckpt->config(), tiny_config());
  EXPECT_EQ(ckpt->tensor_names(), (std::vector<std::string>{"a.weight", "b.weight", "big.weight",
                                                             "c.weight", "d.bias"}));
  EXPECT_TRUE(ckpt->contains("big.weight"));
  EXPECT_FALSE(ckpt->contains("lm_head.weight"));
  EXPECT_EQ(ckpt->total_tensor_bytes(), 40u + 40 + 400 + 40 + 40);
  EXPECT_EQ(ckpt->params_by_dtype(),
            (std::map<std::string, int64_t>{{"BF16", 200}, {"F32", 30}, {"I64", 5}}));
  EXPECT_EQ(ckpt->file_of("c.weight"), path("model.safetensors"));
  expect_tensors_equal(*ckpt, specs);

  Expected<Tensor> missing = ckpt->get("lm_head.weight");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_CONTAINS(missing.status().message(), "model.safetensors");
  EXPECT_CONTAINS(missing.status().message(), "'lm_head.weight'");
}

TEST_F(CheckpointTest, ShardedWriteAndReadBack) {
  const auto specs = shard_specs();
  write_checkpoint(specs, 100);
  const char* shards[] = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                          "model-00003-of-00003.safetensors"};
  for (const char* s : shards) EXPECT_TRUE(fs::exists(path(s))) << s;
  EXPECT_FALSE(fs::exists(path("model.safetensors")));
  EXPECT_FALSE(fs::exists(path("model-00004-of-00003.safetensors")));

  const Json index = read_index();
  EXPECT_EQ(index["metadata"]["total_size"], 560);
  const Json expected_map = {{"a.weight", shards[0]},
                             {"b.weight", shards[0]},
                             {"big.weight", shards[1]},
                             {"c.weight", shards[2]},
                             {"d.bias", shards[2]}};
  EXPECT_EQ(index["weight_map"], expected_map);
  // Keys sorted by name in the file, as transformers writes them.
  Expected<std::string> text = read_text_file(path(kIndex));
  ASSERT_TRUE(text.has_value());
  EXPECT_LT(text->find("\"a.weight\""), text->find("\"big.weight\""));
  EXPECT_LT(text->find("\"c.weight\""), text->find("\"d.bias\""));

  Expected<Checkpoint> ckpt = Checkpoint::open(dir());
  ASSERT_TRUE(ckpt.has_value()) << ckpt.status().to_string();
  EXPECT_EQ(ckpt->tensor_names().size(), specs.size());
  EXPECT_EQ(ckpt->file_of("big.weight"), path(shards[1]));
  EXPECT_EQ(ckpt->file_of("d.bias"), path(shards[2]));
  EXPECT_EQ(ckpt->total_tensor_bytes(), 560u);
  expect_tensors_equal(*ckpt, specs);

  // Writing again as one file replaces the sharded layout instead of being shadowed by it.
  ASSERT_TRUE(write_checkpoint_weights(dir(), specs, fill_pattern, 1 << 20).is_ok());
  EXPECT_FALSE(fs::exists(path(kIndex)));
  ckpt = Checkpoint::open(dir());
  ASSERT_TRUE(ckpt.has_value()) << ckpt.status().to_string();
  EXPECT_EQ(ckpt->file_of("big.weight"), path("model.safetensors"));
}

TEST_F(CheckpointTest, WriteCreatesNestedDirectoryAndReportsFillErrors) {
  dir_ /= "nested/deeper";
  Status st = write_checkpoint_weights(dir(), shard_specs(), [](size_t i, void* dst, size_t n) {
    if (i == 3) return data_loss("bad source tensor");
    return fill_pattern(i, dst, n);
  }, 100);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_CONTAINS(st.message(), "model-00003-of-00003.safetensors");
  EXPECT_CONTAINS(st.message(), "'c.weight'");
  EXPECT_TRUE(fs::is_directory(dir_));
  dir_ = dir_.parent_path().parent_path();  // so TearDown removes the whole tree
}

TEST_F(CheckpointTest, MissingShard) {
  write_checkpoint(shard_specs(), 100);
  fs::remove(path("model-00002-of-00003.safetensors"));
  expect_open_error(StatusCode::kNotFound, path("model-00002-of-00003.safetensors"),
                    ": no such file (listed in model.safetensors.index.json)");
}

TEST_F(CheckpointTest, IndexNamesTensorNotInItsShard) {
  write_checkpoint(shard_specs(), 100);
  Json index = read_index();
  index["weight_map"]["ghost.weight"] = "model-00001-of-00003.safetensors";
  write_index(index);
  expect_open_error(StatusCode::kNotFound, path(kIndex),
                    "says 'ghost.weight' is in shard model-00001-of-00003.safetensors but it is "
                    "not");
  // A real tensor listed under the wrong shard.
  index = read_index();
  index["weight_map"].erase("ghost.weight");
  index["weight_map"]["big.weight"] = "model-00003-of-00003.safetensors";
  write_index(index);
  expect_open_error(StatusCode::kNotFound, path(kIndex),
                    "says 'big.weight' is in shard model-00003-of-00003.safetensors");
}

TEST_F(CheckpointTest, IndexWithPathEscapingFileName) {
  write_checkpoint(shard_specs(), 100);
  for (const char* bad : {"../x", "/etc/passwd", "..", "sub/model.safetensors", ""}) {
    Json index = read_index();
    index["weight_map"]["a.weight"] = bad;
    write_index(index);
    expect_open_error(StatusCode::kInvalidArgument, path(kIndex), "weight_map['a.weight']");
    expect_open_error(StatusCode::kInvalidArgument, path(kIndex), "plain file name");
  }
}

TEST_F(CheckpointTest, MalformedIndex) {
  write_checkpoint(shard_specs(), 100);
  write_index(Json{{"metadata", {{"total_size", 1}}}});
  expect_open_error(StatusCode::kInvalidArgument, path(kIndex), "field 'weight_map' is missing");
  write_index(Json{{"weight_map", {{"a.weight", 3}}}});
  expect_open_error(StatusCode::kInvalidArgument, path(kIndex), "weight_map['a.weight']");
  write_index(Json{{"weight_map", Json::array()}});
  expect_open_error(StatusCode::kInvalidArgument, path(kIndex), "weight_map");
  ASSERT_TRUE(write_text_file(path(kIndex), "{\"weight_map\": ").is_ok());
  expect_open_error(StatusCode::kDataLoss, path(kIndex), "JSON");
}

TEST_F(CheckpointTest, TensorInTwoShards) {
  write_checkpoint(shard_specs(), 100);
  // Rewrite shard 3 so that it also holds a.weight (which shard 1 holds).
  ASSERT_TRUE(write_safetensors(path("model-00003-of-00003.safetensors"),
                                {{"c.weight", DType::kF32, {10}},
                                 {"d.bias", DType::kI64, {5}},
                                 {"a.weight", DType::kF32, {10}}},
                                fill_pattern)
                  .is_ok());
  expect_open_error(StatusCode::kDataLoss, "model-0000", "tensor 'a.weight' is also in");
}

TEST_F(CheckpointTest, CorruptShard) {
  write_checkpoint(shard_specs(), 100);
  const std::string shard = path("model-00002-of-00003.safetensors");
  fs::resize_file(shard, fs::file_size(shard) - 1);
  expect_open_error(StatusCode::kDataLoss, shard, "outside the data section");
}

TEST_F(CheckpointTest, NoWeightsAtAll) {
  fs::create_directories(dir_);
  ASSERT_TRUE(
      write_text_file(path("config.json"), model_config_to_hf_json(tiny_config()).dump()).is_ok());
  expect_open_error(StatusCode::kNotFound, dir(),
                    ": no model.safetensors or model.safetensors.index.json");
}

TEST_F(CheckpointTest, MissingConfig) {
  ASSERT_TRUE(write_checkpoint_weights(dir(), shard_specs(), fill_pattern, 1 << 20).is_ok());
  expect_open_error(StatusCode::kNotFound, path("config.json"), "no such file");
  Expected<Checkpoint> c = Checkpoint::open(path("does-not-exist"));
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera
