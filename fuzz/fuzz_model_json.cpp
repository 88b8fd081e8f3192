// fuzz/fuzz_model_json.cpp — libFuzzer target for the three JSON files of a model folder that the
// loaders read besides tokenizer.json: config.json, model.safetensors.index.json and
// tokenizer_config.json, with their error paths (the messages quote bits of the bad value through
// json_excerpt, which is where nlohmann's recursive dump once overflowed the stack).
//
// Input: one byte choosing the file (its value mod 3: '0' config.json, '1' the index, '2'
// tokenizer_config.json), then the file's text.
//   0  parse_model_config(text). An accepted config must keep the promises of src/model/config.cpp
//      (positive sizes under the cap, heads divisible by kv heads, even head_dim, positive finite
//      eps / theta / RoPE factors, num_parameters() without overflow), and must come back equal
//      after model_config_to_hf_json and a second parse.
//   1  Checkpoint::open on a folder made once per process (/tmp/fuzz_model_json_<pid>/, removed at
//      exit) holding a fixed valid config.json, two shards (tensors a, b | c), a third shard that
//      repeats tensor a and a truncated one; the input is written as its index file (the weight_map
//      reader is private to checkpoint.cpp). An opened checkpoint must have every weight_map entry
//      in the shard the index names.
//   2  parse_tokenizer_config(text); when it loads, each of its chat templates (at most 3) is parsed
//      and rendered, with and without add_generation_prompt, over a fixed conversation with the
//      config's own special tokens, and an absent template name is asked for.
// Any error Status is fine as long as its message is non-empty and names the file (the template's
// origin for template parse errors); a crash, a sanitizer report, a hang, unbounded memory, an
// exception escaping or a broken invariant (checked: abort with a line on stderr) is not.
// The target defines the logging sink of src/core/logging.h itself: warnings (an unknown dtype in
// config.json, tensors missing from weight_map) are formatted in full, so their json_excerpt runs,
// checked to be non-empty, and dropped instead of flooding the fuzzer's output.
//
// Build and run (clang; not part of the default build): see fuzz/CMakeLists.txt, then
//   python3 fuzz/make_seeds.py --model-json /tmp/fuzz_seeds/model_json   # the 100,000-deep seeds
//   build/fuzz/fuzz_model_json -max_total_time=600 -timeout=10 -rss_limit_mb=2048 \
//     -dict=fuzz/model_json.dict CORPUS_DIR fuzz/seeds/model_json /tmp/fuzz_seeds/model_json
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "src/core/logging.h"
#include "src/core/mapped_file.h"
#include "src/model/checkpoint.h"
#include "src/model/config.h"
#include "src/tokenizer/tokenizer_config.h"

// The logging sink (replaces src/core/logging.cpp, which this target does not link): every level
// is on so every LOG_* expression is evaluated; the line is checked and dropped.
namespace tessera {
void set_log_level(LogLevel) {}
LogLevel log_level() { return LogLevel::kDebug; }
void log_message(LogLevel, const std::string& message) {
  if (message.empty()) {
    std::fprintf(stderr, "empty log message\n");
    std::abort();
  }
}
}  // namespace tessera

namespace {

using tessera::Checkpoint;
using tessera::Expected;
using tessera::ModelConfig;
using tessera::RopeType;
using tessera::Status;

void check(bool ok, const char* what, const std::string& detail = "") {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s%s%s\n", what, detail.empty() ? "" : ": ", detail.c_str());
    std::abort();
  }
}

// An error must say something, and say where (`where` is a substring it must contain).
void check_error(const Status& st, const std::string& where) {
  check(!st.is_ok(), "an error Status");
  check(!st.message().empty(), "non-empty error message");
  if (!where.empty())
    check(st.message().find(where) != std::string::npos, "error names the file", st.message());
}

bool positive_finite(double v) { return std::isfinite(v) && v > 0.0; }

// ---- 0: config.json ----------------------------------------------------------------------------

constexpr const char* kConfigSource = "fuzz/config.json";

void check_config(const ModelConfig& c) {
  constexpr int64_t kMaxDim = int64_t{1} << 24;  // config.cpp's cap
  check(c.hidden_size > 0 && c.num_layers > 0 && c.num_heads > 0 && c.num_kv_heads > 0 &&
            c.head_dim > 0 && c.intermediate_size > 0 && c.vocab_size > 0 &&
            c.max_position_embeddings > 0,
        "positive sizes");
  check(c.num_heads % c.num_kv_heads == 0, "num_heads a multiple of num_kv_heads");
  check(c.head_dim % 2 == 0, "even head_dim");
  check(c.hidden_size <= kMaxDim && c.intermediate_size <= kMaxDim && c.vocab_size <= kMaxDim &&
            c.num_layers <= kMaxDim && c.head_dim <= kMaxDim && c.num_heads <= kMaxDim,
        "sizes under the cap");
  check(c.q_size() <= kMaxDim, "q_size under the cap");
  check(positive_finite(c.rms_norm_eps), "positive finite rms_norm_eps");
  check(positive_finite(c.rope.theta), "positive finite rope theta");
  if (c.rope.type != RopeType::kDefault) check(positive_finite(c.rope.factor), "positive finite rope factor");
  if (c.rope.type == RopeType::kLlama3) {
    check(positive_finite(c.rope.low_freq_factor) && positive_finite(c.rope.high_freq_factor),
          "positive finite llama3 frequency factors");
    check(c.rope.high_freq_factor > c.rope.low_freq_factor, "llama3 high_freq_factor > low_freq_factor");
    check(c.rope.original_max_position_embeddings > 0, "llama3 original_max_position_embeddings > 0");
  }
  check(c.sliding_window >= 0, "sliding_window >= 0");
  check(!c.bos_token_id || *c.bos_token_id >= 0, "bos_token_id >= 0");
  for (int64_t id : c.eos_token_ids) check(id >= 0, "eos_token_id >= 0");
  // config.cpp bounds each size and the parameter count, so this sum of products cannot overflow
  // int64 (UBSan reports it if it does; this harness found 65,536 layers of width 2^24 doing so).
  check(c.num_parameters() > 0, "num_parameters() > 0");
}

void fuzz_config(const std::string& text) {
  Expected<ModelConfig> c = tessera::parse_model_config(text, kConfigSource);
  if (!c) {
    check_error(c.status(), kConfigSource);
    return;
  }
  check_config(*c);
  // What tessera writes for a config it accepted must load back as the same config.
  const std::string written = tessera::model_config_to_hf_json(*c).dump(2);
  Expected<ModelConfig> again = tessera::parse_model_config(written, "fuzz/written_config.json");
  check(again.has_value(), "the written config loads", again ? "" : again.status().message());
  check(*again == *c, "the written config loads as the same config", written);
}

// ---- 1: model.safetensors.index.json -------------------------------------------------------------

struct ModelFolder {
  std::string dir;
  std::string index_path;
};

void remove_folder();

// Made on first use and never destroyed: remove_folder() runs at exit, after static destructors.
const ModelFolder& folder() {
  static const ModelFolder* f = [] {
    auto* made = new ModelFolder;
    ModelFolder& m = *made;
    m.dir = "/tmp/fuzz_model_json_" + std::to_string(::getpid());
    m.index_path = m.dir + "/model.safetensors.index.json";
    std::error_code ec;
    std::filesystem::remove_all(m.dir, ec);
    std::filesystem::create_directories(m.dir, ec);
    check(!ec, "create the model folder", m.dir);
    const char* config = R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 8,
      "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
      "num_key_value_heads": 1, "vocab_size": 16, "torch_dtype": "float32"})";
    check(tessera::write_text_file(m.dir + "/config.json", config).is_ok(), "write config.json");
    using tessera::DType;
    using tessera::TensorSpec;
    const tessera::TensorFill fill = [](size_t i, void* dst, size_t n) {
      std::memset(dst, static_cast<int>(i + 1), n);
      return Status::ok();
    };
    auto write = [&](const char* name, const std::vector<TensorSpec>& specs) {
      check(tessera::write_safetensors(m.dir + "/" + name, specs, fill).is_ok(), "write a shard", name);
    };
    write("model-00001-of-00002.safetensors", {{"a", DType::kF32, {2, 2}}, {"b", DType::kBF16, {3}}});
    write("model-00002-of-00002.safetensors", {{"c", DType::kI64, {1}}});
    write("extra.safetensors", {{"a", DType::kF16, {1}}});  // 'a' again: a duplicate when listed
    check(tessera::write_text_file(m.dir + "/truncated.safetensors", std::string("\x40\0\0\0\0\0\0\0{", 9)).is_ok(),
          "write truncated.safetensors");
    std::atexit(remove_folder);
    return made;
  }();
  return *f;
}

void remove_folder() {
  std::error_code ec;
  std::filesystem::remove_all(folder().dir, ec);
}

void fuzz_index(const std::string& text) {
  const ModelFolder& f = folder();
  check(tessera::write_text_file(f.index_path, text).is_ok(), "write the index");
  Expected<Checkpoint> ckpt = Checkpoint::open(f.dir);
  if (!ckpt) {
    check_error(ckpt.status(), f.dir);
    return;
  }
  // Opened: the index was a JSON object whose weight_map names tensors where they really are.
  tessera::Json index;
  try {
    index = tessera::Json::parse(text);
  } catch (const tessera::Json::exception& e) {
    check(false, "an accepted index parses", e.what());
  }
  check(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object() &&
            !index["weight_map"].empty(),
        "an accepted index has a non-empty weight_map object");
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    check(it->is_string(), "weight_map values are strings");
    check(ckpt->contains(it.key()), "weight_map entries are in the checkpoint", it.key());
    check(ckpt->file_of(it.key()) == f.dir + "/" + it->get<std::string>(),
          "weight_map entries are in the shard the index names", it.key());
  }
  for (const std::string& name : ckpt->tensor_names()) {
    Expected<tessera::Tensor> t = ckpt->get(name);
    check(t.has_value(), "every tensor of an opened checkpoint can be viewed", name);
  }
  check(ckpt->total_tensor_bytes() > 0, "an opened checkpoint has bytes");
  Expected<tessera::Tensor> absent = ckpt->get("no.such.tensor");
  check(!absent.has_value(), "an absent tensor is an error");
  check_error(absent.status(), "");
}

// ---- 2: tokenizer_config.json ----------------------------------------------------------------------

constexpr const char* kTokenizerConfigSource = "fuzz/tokenizer_config.json";

const tessera::OrderedJson& conversation() {
  static const tessera::OrderedJson messages = tessera::OrderedJson::parse(R"([
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Weather in Paris? é 日本"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call12345", "type": "function",
      "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "content": "{\"t\": 22}", "tool_call_id": "call12345"},
    {"role": "assistant", "content": "It is 22C."},
    {"role": "user", "content": "thanks"}
  ])");
  return messages;
}

void fuzz_tokenizer_config(const std::string& text) {
  Expected<tessera::TokenizerConfig> cfg = tessera::parse_tokenizer_config(text, kTokenizerConfigSource);
  if (!cfg) {
    check_error(cfg.status(), kTokenizerConfigSource);
    return;
  }
  check(cfg->raw.is_object(), "raw is the file's object");
  tessera::ChatContext ctx = cfg->chat_context();
  check(ctx.bos_token == cfg->bos_token && ctx.eos_token == cfg->eos_token, "chat_context's special tokens");
  ctx.now_unix_seconds = 1721952000;
  ctx.variables["date_string"] = "26 Jul 2024";
  tessera::ChatTemplateLimits limits;
  limits.max_output_bytes = 1 << 20;
  limits.max_steps = 200000;
  limits.max_depth = 100;
  size_t tried = 0;
  for (const tessera::NamedChatTemplate& named : cfg->chat_templates) {
    if (++tried > 3) break;
    check(cfg->find_chat_template(named.name) != nullptr, "find_chat_template finds a listed name", named.name);
    check(named.origin.find(kTokenizerConfigSource) != std::string::npos, "a template's origin names the file");
    Expected<tessera::ChatTemplate> tmpl = cfg->chat_template(named.name);
    if (!tmpl) {
      // find_chat_template returns the first of equal names, whose origin may differ from `named`.
      check_error(tmpl.status(), kTokenizerConfigSource);
      continue;
    }
    tmpl->set_limits(limits);
    for (bool add_generation_prompt : {false, true}) {
      Expected<std::string> out = tmpl->render_json(conversation(), add_generation_prompt, ctx);
      if (!out) check_error(out.status(), "");
    }
  }
  Expected<tessera::ChatTemplate> absent = cfg->chat_template("fuzz-no-such-template");
  if (!absent) check_error(absent.status(), "");
  if (cfg->chat_templates.empty()) check(!cfg->chat_template().has_value(), "no templates: no default");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)folder();  // create the model folder before the first input, outside the timings
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > (1 << 20)) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: fuzz_config(text); break;
    case 1: fuzz_index(text); break;
    default: fuzz_tokenizer_config(text); break;
  }
  return 0;
}
