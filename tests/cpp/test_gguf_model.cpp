// src/model/gguf_model, gguf_dequant: a GGUF file as a model. Dequantization is bitwise what the
// `gguf` Python package computes (tests/data/gguf/dequant.gguf, from tools/make_gguf_golden.py:
// random blocks of every type beside gguf's own fp32 reading of them); the config comes from the
// metadata with every config.json check, and what is missing or unsupported is one clear error;
// tensors appear under their HF names in HF layout (q/k rows back in rotate-half order). The
// logits of whole GGUF models against transformers are tests/cpp/test_golden.cpp's gguf_* cases.
#include "src/model/gguf_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "src/model/checkpoint.h"
#include "src/model/gguf_dequant.h"
#include "tests/cpp/gguf_test_writer.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
const std::string kData = TESSERA_TEST_DATA;

#define EXPECT_ERROR_HAS(expr, text)                                       \
  do {                                                                     \
    auto _r = (expr);                                                      \
    ASSERT_FALSE(_r.has_value()) << "expected an error containing " << text; \
    EXPECT_NE(_r.status().message().find(text), std::string::npos)         \
        << _r.status().message();                                          \
  } while (0)

TEST(GgufDequant, BitwiseEqualToTheGgufPackage) {
  const std::string path = kData + "/gguf/dequant.gguf";
  auto file = MappedFile::open(path);
  ASSERT_TRUE(file.has_value()) << file.status().message();
  auto g = parse_gguf(static_cast<const uint8_t*>((*file)->data()), (*file)->size_bytes(), path);
  ASSERT_TRUE(g.has_value()) << g.status().message();
  int checked = 0;
  for (const GgufTensorInfo& t : g->tensors) {
    if (t.name.size() > 4 && t.name.substr(t.name.size() - 4) == ".ref") continue;
    const GgufTensorInfo* ref = g->find(t.name + ".ref");
    ASSERT_NE(ref, nullptr) << t.name;
    ASSERT_EQ(ref->num_elements(), t.num_elements());
    std::vector<float> out(static_cast<size_t>(t.num_elements()), NAN);
    const auto* base = static_cast<const uint8_t*>((*file)->data());
    ASSERT_TRUE(dequantize_tensor(t, base + t.offset, out.data()).is_ok()) << t.name;
    size_t differ = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      float want;
      std::memcpy(&want, base + ref->offset + 4 * i, 4);
      if (std::memcmp(&want, &out[i], 4) != 0 && ++differ <= 3)
        ADD_FAILURE() << t.name << "[" << i << "]: " << out[i] << ", gguf says " << want;
    }
    EXPECT_EQ(differ, 0u) << t.name;
    ++checked;
  }
  EXPECT_EQ(checked, 12);  // F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K
}

// A minimal llama GGUF: metadata for a 1-layer model (hidden 4, 2 heads of 2... as given) and its
// tensors in F32, written to `path`. `edit` may add or change metadata before the tensors.
struct TinyLlama {
  int64_t hidden = 8, heads = 2, kv_heads = 1, inter = 8, vocab = 5;
  std::string arch = "llama";
  bool with_rope_freqs = false;
  uint64_t rope_freqs_len = 0;  // 0: head_dim / 2, as it must be
  bool skip_block_count = false;
  uint64_t block_count_u64 = 0;  // nonzero: block_count written as this u64 (fuzz found casts)

  std::vector<std::pair<std::string, std::vector<uint64_t>>> tensors() const {
    const uint64_t h = hidden, hd = hidden / heads;
    std::vector<std::pair<std::string, std::vector<uint64_t>>> t = {
        {"token_embd.weight", {h, uint64_t(vocab)}}, {"output_norm.weight", {h}},
        {"blk.0.attn_norm.weight", {h}},       {"blk.0.attn_q.weight", {h, h}},
        {"blk.0.attn_k.weight", {h, hd * kv_heads}}, {"blk.0.attn_v.weight", {h, hd * kv_heads}},
        {"blk.0.attn_output.weight", {h, h}},  {"blk.0.ffn_norm.weight", {h}},
        {"blk.0.ffn_gate.weight", {h, uint64_t(inter)}}, {"blk.0.ffn_up.weight", {h, uint64_t(inter)}},
        {"blk.0.ffn_down.weight", {uint64_t(inter), h}}};
    if (with_rope_freqs) t.push_back({"rope_freqs.weight", {rope_freqs_len ? rope_freqs_len : hd / 2}});
    return t;
  }

  // Every F32 element of tensor k at index i holds 1000 k + i, so a test can tell rows apart.
  void write(const std::string& path) const {
    GgufWriter w;
    const auto ts = tensors();
    w.header(ts.size(), skip_block_count ? 8 : 9);
    w.kv_str("general.architecture", arch);
    if (block_count_u64) {
      w.str(arch + ".block_count"), w.put<uint32_t>(10), w.put<uint64_t>(block_count_u64);
    } else if (!skip_block_count) {
      w.kv_u32(arch + ".block_count", 1);
    }
    w.kv_u32(arch + ".embedding_length", static_cast<uint32_t>(hidden));
    w.kv_u32(arch + ".feed_forward_length", static_cast<uint32_t>(inter));
    w.kv_u32(arch + ".attention.head_count", static_cast<uint32_t>(heads));
    w.kv_u32(arch + ".attention.head_count_kv", static_cast<uint32_t>(kv_heads));
    w.kv_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
    w.kv_f32(arch + ".rope.freq_base", 10000.f);
    w.kv_u32(arch + ".vocab_size", static_cast<uint32_t>(vocab));
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const auto& [name, extent] : ts) {
      uint64_t n = 1;
      for (uint64_t e : extent) n *= e;
      w.tensor(name, extent, 0, offset);
      offsets.push_back(offset);
      offset += (n * 4 + 31) / 32 * 32;
    }
    std::vector<uint8_t> bytes = w.data(32, offset);
    const size_t data_start = bytes.size() - offset;
    for (size_t k = 0; k < ts.size(); ++k) {
      uint64_t n = 1;
      for (uint64_t e : ts[k].second) n *= e;
      for (uint64_t i = 0; i < n; ++i) {
        const float v = static_cast<float>(1000 * k + i);
        std::memcpy(bytes.data() + data_start + offsets[k] + 4 * i, &v, 4);
      }
    }
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
};

class GgufModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tessera_gguf_model_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(GgufModelTest, ConfigFromMetadataAndTensorsUnderHfNames) {
  TinyLlama m;
  m.write(path("m.gguf"));
  auto ckpt = Checkpoint::open(path("m.gguf"));
  ASSERT_TRUE(ckpt.has_value()) << ckpt.status().message();
  const ModelConfig& c = ckpt->config();
  EXPECT_EQ(c.arch, Architecture::kLlama);
  EXPECT_EQ(c.hidden_size, 8);
  EXPECT_EQ(c.num_layers, 1);
  EXPECT_EQ(c.num_heads, 2);
  EXPECT_EQ(c.num_kv_heads, 1);
  EXPECT_EQ(c.head_dim, 4);
  EXPECT_EQ(c.vocab_size, 5);
  EXPECT_TRUE(c.tie_word_embeddings);  // no output.weight
  EXPECT_FLOAT_EQ(static_cast<float>(c.rms_norm_eps), 1e-5f);
  EXPECT_TRUE(ckpt->contains("model.layers.0.mlp.down_proj.weight"));
  EXPECT_NE(ckpt->config_source().find("metadata"), std::string::npos);

  // A plain F32 tensor is a view in HF shape: [out, in] from ggml's [in, out].
  auto down = ckpt->get("model.layers.0.mlp.down_proj.weight");
  ASSERT_TRUE(down.has_value()) << down.status().message();
  EXPECT_EQ(down->shape(), (Shape{8, 8}));
  EXPECT_EQ(down->data<float>()[9], 10 * 1000.f + 9);  // tensor 10, element 9

  // q rows come back in rotate-half order: HF row [h, half, i] is llama.cpp's row [h, i, half].
  auto q = ckpt->get("model.layers.0.self_attn.q_proj.weight");
  ASSERT_TRUE(q.has_value()) << q.status().message();
  const float* qp = q->data<float>();
  const int64_t hd = 4, half = 2, cols = 8;
  for (int64_t r = 0; r < 8; ++r) {
    const int64_t h = r / hd, which = (r / half) % 2, i = r % half;
    const int64_t from = h * hd + i * 2 + which;
    EXPECT_EQ(qp[r * cols], 3000.f + static_cast<float>(from * cols)) << "row " << r;
  }
  // The folder holding the file (and no config.json) is the same model.
  auto by_dir = Checkpoint::open(dir_.string());
  ASSERT_TRUE(by_dir.has_value()) << by_dir.status().message();
  EXPECT_EQ(by_dir->config(), c);
}

TEST_F(GgufModelTest, MissingOrUnsupportedMetadataIsOneClearError) {
  TinyLlama no_layers;
  no_layers.skip_block_count = true;
  no_layers.write(path("a.gguf"));
  EXPECT_ERROR_HAS(Checkpoint::open(path("a.gguf")), "llama.block_count' is missing");

  TinyLlama bert;
  bert.arch = "bert";
  bert.write(path("b.gguf"));
  EXPECT_ERROR_HAS(Checkpoint::open(path("b.gguf")), "architecture 'bert' is not supported");

  TinyLlama rope;  // llama.cpp's per-frequency divisors become the config's freq_factors
  rope.with_rope_freqs = true;
  rope.write(path("c.gguf"));
  auto with_factors = Checkpoint::open(path("c.gguf"));
  ASSERT_TRUE(with_factors.has_value()) << with_factors.status().message();
  EXPECT_EQ(with_factors->config().rope.freq_factors, (std::vector<float>{11000.f, 11001.f}));
  TinyLlama wrong_len;  // 3 divisors for head_dim 4 (which has 2 frequencies)
  wrong_len.with_rope_freqs = true;
  wrong_len.rope_freqs_len = 3;
  wrong_len.write(path("f.gguf"));
  EXPECT_ERROR_HAS(Checkpoint::open(path("f.gguf")), "'rope_freqs.weight' must be F32 [2]");

  TinyLlama huge;  // a u64 past int64: no overflowing cast, one error naming the key
  huge.block_count_u64 = uint64_t{1} << 63;
  huge.write(path("e.gguf"));
  EXPECT_ERROR_HAS(Checkpoint::open(path("e.gguf")), "'llama.block_count' must be an integer from 0 to 2^40");

  TinyLlama odd;  // 3 heads do not divide hidden 8: the config.json check names the field
  odd.heads = 3;
  odd.kv_heads = 3;
  odd.write(path("d.gguf"));
  EXPECT_FALSE(Checkpoint::open(path("d.gguf")).has_value());
}

TEST_F(GgufModelTest, ModelPathResolution) {
  EXPECT_EQ(find_gguf_model(dir_.string()).value(), "");  // empty folder: not GGUF
  TinyLlama().write(path("one.gguf"));
  EXPECT_EQ(find_gguf_model(dir_.string()).value(), path("one.gguf"));
  EXPECT_EQ(find_gguf_model(path("one.gguf")).value(), path("one.gguf"));
  TinyLlama().write(path("two.gguf"));
  EXPECT_ERROR_HAS(find_gguf_model(dir_.string()), "holds 2 GGUF files");
  std::ofstream(path("config.json")) << "{}";
  EXPECT_EQ(find_gguf_model(dir_.string()).value(), "");  // a config.json: a Hugging Face folder
  std::ofstream(path("notes.txt")) << "hello";
  EXPECT_ERROR_HAS(find_gguf_model(path("notes.txt")), "not a GGUF file");
}

}  // namespace
}  // namespace tessera
