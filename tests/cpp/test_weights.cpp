// Weight validation against the config: missing tensors, wrong shapes, unusable dtypes.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "src/core/mapped_file.h"
#include "src/model/make_model.h"
#include "src/model/weights.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

ModelConfig small_config() {
  auto c = model_preset("tiny");
  EXPECT_TRUE(c.has_value());
  c->hidden_size = 32;
  c->num_layers = 2;
  c->num_heads = 4;
  c->num_kv_heads = 2;
  c->head_dim = 8;
  c->intermediate_size = 48;
  c->vocab_size = 64;
  return *c;
}

std::string fresh_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("tessera_weights_" + name);
  fs::remove_all(p);
  return p.string();
}

TEST(Weights, SpecsFollowTheConfig) {
  ModelConfig c = small_config();
  c.tie_word_embeddings = false;
  c.qkv_bias = true;
  auto specs = hf_weight_specs(c, DType::kBF16);
  // embed + per layer (2 norms, q/k/v + 3 biases, o, gate, up, down) + final norm + lm_head
  EXPECT_EQ(specs.size(), 1u + 2u * 12u + 2u);
  EXPECT_EQ(specs[2].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(specs[2].shape, (Shape{32, 32}));
  EXPECT_EQ(specs.back().name, "lm_head.weight");
  int64_t total = 0;
  for (const auto& s : specs) total += *checked_numel(s.shape);
  EXPECT_EQ(total, c.num_parameters());
}

TEST(Weights, LoadsAndFusesProjections) {
  const std::string dir = fresh_dir("ok");
  ModelConfig c = small_config();
  ASSERT_TRUE(make_random_model(c, dir, 1, DType::kF16, 1ull << 30, "test").is_ok());
  auto ckpt = Checkpoint::open(dir);
  ASSERT_TRUE(ckpt.has_value()) << ckpt.status().message();
  auto w = load_weights_f32(*ckpt);
  ASSERT_TRUE(w.has_value()) << w.status().message();
  EXPECT_EQ(w->layers[1].qkv.weight.shape(), (Shape{32 + 2 * 16, 32}));
  EXPECT_EQ(w->layers[0].gate_up.weight.shape(), (Shape{96, 32}));
  EXPECT_EQ(w->lm_head.weight.data_ptr(), w->embed.data_ptr());  // tied
  // Row 32 of the fused matrix is row 0 of k_proj.
  auto k = ckpt->get("model.layers.1.self_attn.k_proj.weight");
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(w->layers[1].qkv.weight.data<float>()[32 * 32 + 5], f16_to_f32(k->data<uint16_t>()[5]));
}

// bf16 loading (the GPU path): every element is the fp32 load rounded to nearest even, and each
// fused tensor goes through `place` once, tied embeddings included only once.
TEST(Weights, LoadsBf16ThroughPlace) {
  const std::string dir = fresh_dir("bf16");
  ModelConfig c = small_config();
  ASSERT_TRUE(make_random_model(c, dir, 2, DType::kF32, 1ull << 30, "test").is_ok());
  auto ckpt = Checkpoint::open(dir);
  ASSERT_TRUE(ckpt.has_value()) << ckpt.status().message();
  auto f32 = load_weights_f32(*ckpt);
  ASSERT_TRUE(f32.has_value());
  int placed = 0;
  auto bf16 = load_weights(*ckpt, DType::kBF16, [&](Tensor t) -> Expected<Tensor> {
    ++placed;
    EXPECT_EQ(t.dtype(), DType::kBF16);
    return t;
  });
  ASSERT_TRUE(bf16.has_value()) << bf16.status().message();
  // embed + 2 x (input norm, qkv, o, post norm, gate_up, down) + final norm; lm_head is tied.
  EXPECT_EQ(placed, 1 + 2 * 6 + 1);
  const Tensor& a = f32->layers[1].gate_up.weight;
  const Tensor& b = bf16->layers[1].gate_up.weight;
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.numel(); ++i)
    ASSERT_EQ(b.data<uint16_t>()[i], f32_to_bf16(a.data<float>()[i])) << i;
  // An error from `place` stops the load and comes back unchanged.
  auto failed = load_weights(*ckpt, DType::kBF16, [](Tensor) -> Expected<Tensor> { return out_of_memory("device full"); });
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.status().message(), "device full");
  EXPECT_FALSE(load_weights(*ckpt, DType::kI32, nullptr).has_value());
}

TEST(Weights, ShapeDisagreeingWithConfigIsNamed) {
  const std::string dir = fresh_dir("shape");
  ModelConfig c = small_config();
  ASSERT_TRUE(make_random_model(c, dir, 1, DType::kBF16, 1ull << 30, "test").is_ok());
  c.intermediate_size = 40;  // the weights say 48
  ASSERT_TRUE(write_text_file(dir + "/config.json", model_config_to_hf_json(c).dump()).is_ok());
  auto ckpt = Checkpoint::open(dir);
  ASSERT_TRUE(ckpt.has_value());
  Status s = validate_checkpoint(*ckpt);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("model.safetensors"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'model.layers.0.mlp.gate_proj.weight' has shape [48, 32]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("config.json implies [40, 32]"), std::string::npos) << s.message();
}

TEST(Weights, MissingTensorAndIntegerDtype) {
  const std::string dir = fresh_dir("missing");
  ModelConfig c = small_config();
  ASSERT_TRUE(write_text_file((fs::create_directories(dir), dir + "/config.json"), model_config_to_hf_json(c).dump()).is_ok());
  auto specs = hf_weight_specs(c, DType::kF32);
  specs.erase(specs.begin() + 3);  // drop k_proj of layer 0
  specs[0].dtype = DType::kI32;    // embeddings as integers
  auto zero_fill = [](size_t, void* dst, size_t n) {
    std::memset(dst, 0, n);
    return Status::ok();
  };
  ASSERT_TRUE(write_checkpoint_weights(dir, specs, zero_fill, 1ull << 30).is_ok());
  auto ckpt = Checkpoint::open(dir);
  ASSERT_TRUE(ckpt.has_value());
  Status s = validate_checkpoint(*ckpt);
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << s.message();
  EXPECT_NE(s.message().find("'model.embed_tokens.weight' has dtype i32"), std::string::npos) << s.message();
  specs = hf_weight_specs(c, DType::kF32);
  specs.erase(specs.begin() + 3);
  ASSERT_TRUE(write_checkpoint_weights(dir, specs, zero_fill, 1ull << 30).is_ok());
  ckpt = Checkpoint::open(dir);
  ASSERT_TRUE(ckpt.has_value());
  s = validate_checkpoint(*ckpt);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("'model.layers.0.self_attn.k_proj.weight' is missing"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace tessera
