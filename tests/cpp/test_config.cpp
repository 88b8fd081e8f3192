// tests/cpp/test_config.cpp — config.json parsing for Llama, Mistral and Qwen2: real configs as
// published (both RoPE spellings), every rejection path with its message, parameter counts checked
// against the published totals, and the writer round-tripping through the parser.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "src/core/mapped_file.h"
#include "src/model/config.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSource = "/models/x/config.json";

// meta-llama/Llama-3.1-8B-Instruct as published (transformers 4.x spelling).
Json llama31_config() {
  return Json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
    "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256})");
}

// Qwen/Qwen2.5-0.5B as published: tied embeddings, q/k/v bias, an inactive sliding window.
Json qwen25_config() {
  return Json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
    "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
    "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
    "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
    "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false,
    "vocab_size": 151936})");
}

// mistralai/Mistral-Nemo-Base-2407: head_dim 128 although hidden_size / heads = 160.
Json mistral_nemo_config() {
  return Json::parse(R"({
    "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
    "eos_token_id": 2, "head_dim": 128, "hidden_act": "silu", "hidden_size": 5120,
    "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 128000,
    "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 40,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
    "sliding_window": null, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 131072})");
}

Expected<ModelConfig> parse(const Json& j) { return parse_model_config(j.dump(), kSource); }

// The error of parsing `j`, which must fail with `code`.
std::string parse_error(const Json& j, StatusCode code) {
  Expected<ModelConfig> c = parse(j);
  EXPECT_FALSE(c.has_value());
  if (c.has_value()) return "";
  EXPECT_EQ(c.status().code(), code) << c.status().to_string();
  EXPECT_NE(c.status().message().find(kSource), std::string::npos) << c.status().message();
  return c.status().message();
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

TEST(Config, Llama31WithLlama3RopeScaling) {
  Expected<ModelConfig> c = parse(llama31_config());
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ(c->arch, Architecture::kLlama);
  EXPECT_EQ(c->hidden_size, 4096);
  EXPECT_EQ(c->num_layers, 32);
  EXPECT_EQ(c->num_heads, 32);
  EXPECT_EQ(c->num_kv_heads, 8);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->intermediate_size, 14336);
  EXPECT_EQ(c->vocab_size, 128256);
  EXPECT_EQ(c->max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->qkv_bias || c->o_bias || c->mlp_bias);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_EQ(c->rope.type, RopeType::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope.theta, 500000.0);
  EXPECT_DOUBLE_EQ(c->rope.factor, 8.0);
  EXPECT_DOUBLE_EQ(c->rope.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c->rope.high_freq_factor, 4.0);
  EXPECT_EQ(c->rope.original_max_position_embeddings, 8192);
  EXPECT_EQ(c->bos_token_id, 128000);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c->dtype, DType::kBF16);
  EXPECT_EQ(c->q_size(), 4096);
  EXPECT_EQ(c->kv_size(), 1024);
  // The published count of Llama 3.1 8B.
  EXPECT_EQ(c->num_parameters(), 8'030'261'248);
}

TEST(Config, LlamaWithRopeParameters5x) {
  Json j = llama31_config();
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j.erase("torch_dtype");
  j["dtype"] = "bfloat16";
  j["rope_parameters"] = {{"rope_type", "llama3"},
                          {"rope_theta", 500000.0},
                          {"factor", 8.0},
                          {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0},
                          {"original_max_position_embeddings", 8192}};
  Expected<ModelConfig> c5 = parse(j);
  ASSERT_TRUE(c5.has_value()) << c5.status().to_string();
  Expected<ModelConfig> c4 = parse(llama31_config());
  ASSERT_TRUE(c4.has_value());
  EXPECT_EQ(*c5, *c4);  // the two spellings describe the same model
}

TEST(Config, RopeParametersWinOverRopeScaling) {
  Json j = llama31_config();
  j["rope_parameters"] = {{"rope_type", "linear"}, {"rope_theta", 1234.0}, {"factor", 2.0}};
  Expected<ModelConfig> c = parse(j);
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ(c->rope.type, RopeType::kLinear);
  EXPECT_DOUBLE_EQ(c->rope.theta, 1234.0);
  EXPECT_DOUBLE_EQ(c->rope.factor, 2.0);
}

TEST(Config, LegacyRopeScalingTypeKey) {
  Json j = llama31_config();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  Expected<ModelConfig> c = parse(j);
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ(c->rope.type, RopeType::kLinear);
  EXPECT_DOUBLE_EQ(c->rope.factor, 4.0);
  j["rope_scaling"] = nullptr;
  c = parse(j);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->rope.type, RopeType::kDefault);
}

TEST(Config, MistralWithExplicitHeadDim) {
  Expected<ModelConfig> c = parse(mistral_nemo_config());
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ(c->arch, Architecture::kMistral);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_NE(c->head_dim, c->hidden_size / c->num_heads);
  EXPECT_EQ(c->q_size(), 4096);
  EXPECT_EQ(c->kv_size(), 1024);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_EQ(c->max_position_embeddings, 128000);
  EXPECT_FALSE(c->qkv_bias || c->o_bias || c->mlp_bias);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{2});
  // Mistral-Nemo-Base-2407 is published as 12.2B parameters.
  EXPECT_EQ(c->num_parameters(), 12'247'782'400);

  Json j = mistral_nemo_config();
  j["sliding_window"] = 4096;
  j.erase("max_position_embeddings");
  c = parse(j);
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ(c->sliding_window, 4096);
  EXPECT_EQ(c->max_position_embeddings, 4096 * 32);  // MistralConfig's default
}

TEST(Config, Qwen2TiedWithBias) {
  Expected<ModelConfig> c = parse(qwen25_config());
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ(c->arch, Architecture::kQwen2);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_FALSE(c->o_bias);
  EXPECT_FALSE(c->mlp_bias);
  EXPECT_EQ(c->sliding_window, 0);  // use_sliding_window is false
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_DOUBLE_EQ(c->rope.theta, 1e6);
  // The published count of Qwen2.5-0.5B (embeddings counted once).
  EXPECT_EQ(c->num_parameters(), 494'032'768);
}

TEST(Config, NumParametersOfASmallConfigByHand) {
  // Llama with every bias: H=8, I=12, V=10, 2 layers, 4 heads of dim 2, 2 kv heads.
  Json j = {{"architectures", {"LlamaForCausalLM"}},
            {"hidden_size", 8},
            {"intermediate_size", 12},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4},
            {"num_key_value_heads", 2},
            {"vocab_size", 10},
            {"attention_bias", true},
            {"mlp_bias", true}};
  Expected<ModelConfig> c = parse(j);
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_TRUE(c->qkv_bias && c->o_bias && c->mlp_bias);
  // q 8*8+8, k 8*4+4, v 8*4+4, o 8*8+8, gate 8*12+12, up 8*12+12, down 12*8+8, norms 16
  const int64_t layer = 72 + 36 + 36 + 72 + 108 + 108 + 104 + 16;
  EXPECT_EQ(c->num_parameters(), 80 + 80 + 2 * layer + 8);
  j["tie_word_embeddings"] = true;
  c = parse(j);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->num_parameters(), 80 + 2 * layer + 8);
}

TEST(Config, DefaultsWhenOptionalFieldsAreAbsent) {
  Json j = {{"model_type", "llama"},  // no `architectures`: falls back to model_type
            {"hidden_size", 64},
            {"intermediate_size", 128},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4},
            {"vocab_size", 100}};
  Expected<ModelConfig> c = parse(j);
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ(c->arch, Architecture::kLlama);
  EXPECT_EQ(c->num_kv_heads, 4);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c->rope.theta, 10000.0);
  EXPECT_EQ(c->rope.type, RopeType::kDefault);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->bos_token_id.has_value());
  EXPECT_TRUE(c->eos_token_ids.empty());
  EXPECT_FALSE(c->dtype.has_value());
  j["model_type"] = "qwen2";
  c = parse(j);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->max_position_embeddings, 32768);
}

TEST(Config, UnknownDtypeIsIgnored) {
  Json j = qwen25_config();
  j["torch_dtype"] = "float8_e4m3fn";
  Expected<ModelConfig> c = parse(j);
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_FALSE(c->dtype.has_value());
  j["torch_dtype"] = "float16";
  c = parse(j);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->dtype, DType::kF16);
}

// Each size within its own bound, together past int64 in num_parameters() (fuzz_model_json found
// it: 65,536 layers of width 2^24): one error, and the largest real shapes still load.
TEST(Config, SizesWhoseParameterCountOverflows) {
  Json j = llama31_config();
  j["hidden_size"] = 16777216;
  j["intermediate_size"] = 16777216;
  j["num_hidden_layers"] = 65536;
  j["num_attention_heads"] = 2;
  j["num_key_value_heads"] = 2;
  j["head_dim"] = 2;
  EXPECT_CONTAINS(parse_error(j, StatusCode::kInvalidArgument), "parameters, more than tessera supports (2^50)");
  j = llama31_config();  // 405B-sized: hidden 16384, 126 layers, intermediate 53248
  j["hidden_size"] = 16384;
  j["num_hidden_layers"] = 126;
  j["intermediate_size"] = 53248;
  j["num_attention_heads"] = 128;
  j["num_key_value_heads"] = 8;
  auto c = parse(j);
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_GT(c->num_parameters(), int64_t{400'000'000'000});
}

TEST(Config, MissingField) {
  Json j = llama31_config();
  j.erase("hidden_size");
  const std::string m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, "field 'hidden_size' is missing");
}

TEST(Config, MistypedField) {
  Json j = llama31_config();
  j["hidden_size"] = "abc";
  std::string m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, std::string(kSource) + ": field 'hidden_size' must be an integer, got \"abc\"");
  j = llama31_config();
  j["num_hidden_layers"] = 0;
  m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, "num_hidden_layers");
  j = llama31_config();
  j["tie_word_embeddings"] = "yes";
  m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, "tie_word_embeddings");
  j = llama31_config();
  j["eos_token_id"] = {1, "two"};
  m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, "eos_token_id[1]");
  j = llama31_config();
  j["rms_norm_eps"] = -1.0;
  m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, "rms_norm_eps");
}

TEST(Config, UnknownArchitecture) {
  Json j = llama31_config();
  j["architectures"] = {"GPT2LMHeadModel"};
  const std::string m = parse_error(j, StatusCode::kUnimplemented);
  EXPECT_CONTAINS(m, std::string(kSource) +
                         ": architecture 'GPT2LMHeadModel' is not supported (supported: "
                         "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Phi3ForCausalLM, "
                         "Qwen3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM)");
}

TEST(Config, Qwen3) {
  Json j = llama31_config();
  j["architectures"] = {"Qwen3ForCausalLM"};
  j["model_type"] = "qwen3";
  j.erase("rope_scaling");
  j.erase("head_dim");
  auto c = parse_model_config(j.dump(), kSource);
  ASSERT_TRUE(c.has_value()) << c.status().message();
  EXPECT_EQ(c->arch, Architecture::kQwen3);
  EXPECT_TRUE(c->qk_norm);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_EQ(c->head_dim, 128);  // Qwen3Config's default, not hidden / heads
  auto again = parse_model_config(model_config_to_hf_json(*c).dump(), kSource);
  ASSERT_TRUE(again.has_value()) << again.status().message();
  EXPECT_EQ(*again, *c);
  j["use_sliding_window"] = true;
  EXPECT_CONTAINS(parse_error(j, StatusCode::kUnimplemented), "use_sliding_window");
}

TEST(Config, Gemma2) {
  Json j = llama31_config();
  j["architectures"] = {"Gemma2ForCausalLM"};
  j["model_type"] = "gemma2";
  j.erase("rope_scaling");
  j["num_hidden_layers"] = 3;
  j["hidden_act"] = "silu";  // stale beside hidden_activation, as transformers writes it: ignored
  j["hidden_activation"] = "gelu_pytorch_tanh";
  j["attn_logit_softcapping"] = nullptr;  // null: no capping
  auto c = parse_model_config(j.dump(), kSource);
  ASSERT_TRUE(c.has_value()) << c.status().message();
  EXPECT_EQ(c->arch, Architecture::kGemma2);
  EXPECT_TRUE(c->gelu_tanh && c->norm_plus_one && c->sandwich_norms && c->scale_embeddings);
  EXPECT_EQ(c->attn_logit_softcapping, 0.0);
  EXPECT_EQ(c->final_logit_softcapping, 30.0);
  EXPECT_EQ(c->query_pre_attn_scalar, 256.0);
  EXPECT_EQ(c->sliding_window, 4096);
  EXPECT_EQ(c->sliding_layers, (std::vector<bool>{true, false, true}));  // Gemma 2's default pattern
  auto again = parse_model_config(model_config_to_hf_json(*c).dump(), kSource);
  ASSERT_TRUE(again.has_value()) << again.status().message();
  EXPECT_EQ(*again, *c);
  j["layer_types"] = {"full_attention", "sliding_attention"};  // one short
  EXPECT_CONTAINS(parse_error(j, StatusCode::kInvalidArgument), "layer_types");
  j["layer_types"] = {"full_attention", "sliding_attention", "chunked_attention"};
  EXPECT_CONTAINS(parse_error(j, StatusCode::kInvalidArgument), "chunked_attention");
  j.erase("layer_types");
  j["hidden_activation"] = "gelu";
  EXPECT_CONTAINS(parse_error(j, StatusCode::kUnimplemented), "hidden_activation 'gelu'");
}

TEST(Config, Gemma3RopePerLayerType) {
  Json j = llama31_config();
  j["architectures"] = {"Gemma3ForCausalLM"};
  j["model_type"] = "gemma3_text";
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["num_hidden_layers"] = 7;
  j["rope_parameters"] = {{"full_attention", {{"rope_type", "linear"}, {"rope_theta", 1e6}, {"factor", 8.0}}},
                          {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 1e4}}}};
  auto c = parse_model_config(j.dump(), kSource);
  ASSERT_TRUE(c.has_value()) << c.status().message();
  EXPECT_EQ(c->arch, Architecture::kGemma3);
  EXPECT_TRUE(c->qk_norm && c->norm_plus_one && c->sandwich_norms);
  EXPECT_EQ(c->attn_logit_softcapping, 0.0);  // Gemma 3 does not cap
  EXPECT_EQ(c->rope.type, RopeType::kLinear);
  EXPECT_EQ(c->rope.theta, 1e6);
  ASSERT_TRUE(c->local_rope.has_value());
  EXPECT_EQ(c->local_rope->theta, 1e4);
  EXPECT_EQ(c->sliding_layers, (std::vector<bool>{true, true, true, true, true, false, true}));  // five in six
  auto again = parse_model_config(model_config_to_hf_json(*c).dump(), kSource);
  ASSERT_TRUE(again.has_value()) << again.status().message();
  EXPECT_EQ(*again, *c);
  // transformers 4.x's spelling: rope_theta (+ rope_scaling) and rope_local_base_freq.
  j.erase("rope_parameters");
  j["rope_theta"] = 1e6;
  j["rope_local_base_freq"] = 5e3;
  auto old = parse_model_config(j.dump(), kSource);
  ASSERT_TRUE(old.has_value()) << old.status().message();
  EXPECT_EQ(old->rope.theta, 1e6);
  EXPECT_EQ(old->local_rope->theta, 5e3);
}

TEST(Config, Phi3) {
  Json j = llama31_config();
  j["architectures"] = {"Phi3ForCausalLM"};
  j["model_type"] = "phi3";
  j["sliding_window"] = 2047;
  j.erase("rope_scaling");
  auto c = parse_model_config(j.dump(), kSource);
  ASSERT_TRUE(c.has_value()) << c.status().message();
  EXPECT_EQ(c->arch, Architecture::kPhi3);
  EXPECT_EQ(c->sliding_window, 2047);
  EXPECT_FALSE(c->qkv_bias);
  // The config tessera writes for it reads back the same.
  auto again = parse_model_config(model_config_to_hf_json(*c).dump(), kSource);
  ASSERT_TRUE(again.has_value()) << again.status().message();
  EXPECT_EQ(*again, *c);
  j["partial_rotary_factor"] = 0.75;  // Phi-4-mini's: not implemented, and said so
  EXPECT_CONTAINS(parse_error(j, StatusCode::kUnimplemented), "partial_rotary_factor");
}

TEST(Config, BadArchitecturesField) {
  Json j = llama31_config();
  j["architectures"] = Json::array();
  EXPECT_CONTAINS(parse_error(j, StatusCode::kInvalidArgument), "architectures");
  j["architectures"] = "LlamaForCausalLM";
  EXPECT_CONTAINS(parse_error(j, StatusCode::kInvalidArgument), "architectures");
  j.erase("architectures");
  j.erase("model_type");
  EXPECT_CONTAINS(parse_error(j, StatusCode::kInvalidArgument), "architectures");
  j["model_type"] = "gpt2";
  EXPECT_CONTAINS(parse_error(j, StatusCode::kUnimplemented), "model_type 'gpt2'");
}

TEST(Config, UnsupportedRopeType) {
  Json j = llama31_config();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  std::string m = parse_error(j, StatusCode::kUnimplemented);
  EXPECT_CONTAINS(m, "'yarn'");
  EXPECT_CONTAINS(m, "rope_scaling");
  j["rope_parameters"] = {{"rope_type", "dynamic"}, {"factor", 4.0}};
  m = parse_error(j, StatusCode::kUnimplemented);
  EXPECT_CONTAINS(m, "'dynamic'");
  EXPECT_CONTAINS(m, "rope_parameters");
}

TEST(Config, RopeMissingParameter) {
  Json j = llama31_config();
  j["rope_scaling"].erase("factor");
  std::string m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, "field 'rope_scaling.factor' is missing");
  j = llama31_config();
  j["rope_scaling"].erase("original_max_position_embeddings");
  m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, "field 'rope_scaling.original_max_position_embeddings' is missing");
  j = llama31_config();
  j["rope_parameters"] = {{"rope_type", "linear"}};
  m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, "field 'rope_parameters.factor' is missing");
  j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", "big"}};
  m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, "field 'rope_parameters.factor' must be a number");
  j["rope_parameters"] = "linear";
  m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, "rope_parameters");
}

TEST(Config, HeadsNotDivisibleByKvHeads) {
  Json j = llama31_config();
  j["num_key_value_heads"] = 5;
  const std::string m = parse_error(j, StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(m, "num_attention_heads (32) must be divisible by num_key_value_heads (5)");
}

TEST(Config, BadHeadDim) {
  Json j = llama31_config();
  j["hidden_size"] = 4100;  // 4100 / 32 is not an integer and there is no head_dim
  EXPECT_CONTAINS(parse_error(j, StatusCode::kInvalidArgument), "num_attention_heads (32)");
  j = llama31_config();
  j["head_dim"] = 127;
  EXPECT_CONTAINS(parse_error(j, StatusCode::kInvalidArgument), "head_dim (127) must be even");
  j["head_dim"] = nullptr;  // null means "derive it"
  EXPECT_TRUE(parse(j).has_value());
}

TEST(Config, UnsupportedActivationAndSlidingWindow) {
  Json j = llama31_config();
  j["hidden_act"] = "gelu";
  EXPECT_CONTAINS(parse_error(j, StatusCode::kUnimplemented), "hidden_act 'gelu'");
  j = qwen25_config();
  j["use_sliding_window"] = true;
  EXPECT_CONTAINS(parse_error(j, StatusCode::kUnimplemented), "use_sliding_window");
}

TEST(Config, NotAnObjectOrNotJson) {
  Expected<ModelConfig> c = parse_model_config("[1, 2]", kSource);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(c.status().message(), kSource);
  EXPECT_CONTAINS(c.status().message(), "object");
  c = parse_model_config("{\"hidden_size\": 4096,", kSource);
  ASSERT_FALSE(c.has_value());
  EXPECT_CONTAINS(c.status().message(), kSource);
  EXPECT_CONTAINS(c.status().message(), "JSON");
  // A number past double range makes nlohmann throw out_of_range, not parse_error.
  c = parse_model_config("{\"hidden_size\": 1e999}", kSource);
  ASSERT_FALSE(c.has_value());
  EXPECT_CONTAINS(c.status().message(), kSource);
  c = parse_model_config("", kSource);
  ASSERT_FALSE(c.has_value());
}

TEST(Config, RoundTripThroughHfJson) {
  std::vector<Json> configs = {llama31_config(), qwen25_config(), mistral_nemo_config()};
  Json linear = llama31_config();
  linear["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.5}};
  linear["attention_bias"] = true;
  linear["mlp_bias"] = true;
  linear["eos_token_id"] = 7;
  linear.erase("bos_token_id");
  configs.push_back(linear);
  Json windowed = mistral_nemo_config();
  windowed["sliding_window"] = 4096;
  windowed.erase("torch_dtype");
  windowed.erase("eos_token_id");
  configs.push_back(windowed);
  for (const Json& j : configs) {
    Expected<ModelConfig> c = parse(j);
    ASSERT_TRUE(c.has_value()) << c.status().to_string();
    const Json written = model_config_to_hf_json(*c);
    EXPECT_EQ(written["hidden_act"], "silu");
    EXPECT_TRUE(written.contains("rope_theta"));
    Expected<ModelConfig> back = parse_model_config(written.dump(2), "written/config.json");
    ASSERT_TRUE(back.has_value()) << back.status().to_string() << "\n" << written.dump(2);
    EXPECT_EQ(*back, *c) << written.dump(2);
  }
}

TEST(Config, WrittenSpellingMatchesTransformers4) {
  Expected<ModelConfig> c = parse(llama31_config());
  ASSERT_TRUE(c.has_value());
  const Json j = model_config_to_hf_json(*c);
  EXPECT_EQ(j["architectures"], Json::array({"LlamaForCausalLM"}));
  EXPECT_EQ(j["model_type"], "llama");
  EXPECT_EQ(j["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(j["torch_dtype"], "bfloat16");
  EXPECT_EQ(j["attention_bias"], false);
  EXPECT_FALSE(j.contains("rope_parameters"));
  c = parse(mistral_nemo_config());
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(model_config_to_hf_json(*c)["sliding_window"].is_null());
  c = parse(qwen25_config());
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(model_config_to_hf_json(*c)["use_sliding_window"], false);
  EXPECT_TRUE(model_config_to_hf_json(*c)["rope_scaling"].is_null());
}

TEST(Config, LoadFromDirectory) {
  const fs::path dir = fs::temp_directory_path() /
                       ("tessera_test_config_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  Expected<ModelConfig> missing = load_model_config(dir.string());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_CONTAINS(missing.status().message(), (dir / "config.json").string());

  ASSERT_TRUE(write_text_file((dir / "config.json").string(), qwen25_config().dump()).is_ok());
  Expected<ModelConfig> c = load_model_config(dir.string());
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  EXPECT_EQ(c->arch, Architecture::kQwen2);

  Json bad = qwen25_config();
  bad["vocab_size"] = "many";
  ASSERT_TRUE(write_text_file((dir / "config.json").string(), bad.dump()).is_ok());
  c = load_model_config(dir.string() + "/");
  ASSERT_FALSE(c.has_value());
  EXPECT_CONTAINS(c.status().message(), (dir / "config.json").string() + ": field 'vocab_size'");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tessera
