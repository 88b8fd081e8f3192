// src/cli/commands.cpp — generate, logits, perplexity, make-model, info, tokenize and detokenize,
// and the backend flags they share with bench (--device, --dtype, --gpu-memory-fraction,
// --block-size). The single-sequence commands run a SequenceRunner over a ModelRunner: on the cpu
// its cache holds exactly the tokens the command needs and prompts go in 512-token chunks, as
// before the runner seam (so cpu output is unchanged bit for bit); on cuda the runner sizes its
// cache from the memory fraction and its block table from the command's length.
#include "src/cli/commands.h"

#include <algorithm>
#include <cstdint>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/cpu/sampling.h"
#include "src/cli/args.h"
#include "src/core/mapped_file.h"
#include "src/core/npy.h"
#include "src/core/progress.h"
#include "src/model/checkpoint.h"
#include "src/model/config.h"
#include "src/model/model_files.h"
#include "src/model/demo.h"
#include "src/model/make_model.h"
#include "src/model/sequence_runner.h"
#include "src/tokenizer/tokenizer.h"
#include "src/tokenizer/tokenizer_config.h"
#include "tessera/tensor.h"

namespace tessera::cli {

FlagSpec model_flag_spec() {
  return FlagSpec{"model", "DIR",
                  "checkpoint folder, or give DIR alone (default: the built-in demo model)"}
      .with_short('m')
      .as_positional();
}

FlagSpec help_flag_spec() { return FlagSpec{"help", "", "show this help"}.with_short('h'); }

// A model folder that is not one: from a bare argument, the message says that a bare argument is
// read as the model (a stray word, e.g. an unquoted prompt, lands there).
static Status no_such_model_folder(const Args& args, const std::string& dir) {
  return not_found(dir + ": no such model folder or GGUF file" +
                   (args.given_as_argument("model")
                        ? " (a bare argument is the model folder or file; flags start with --)"
                        : ""));
}

// A --model that names something: a folder, or a GGUF file (any other file is an error that says
// it is not one).
static Status check_model_path(const Args& args, const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Status::ok();
  if (!std::filesystem::is_regular_file(path, ec)) return no_such_model_folder(args, path);
  auto gguf = find_gguf_model(path);
  return gguf.has_value() ? Status::ok() : gguf.status();
}

// Resolves --model (or the demo model) and says so when the weights are random.
Expected<std::string> resolve_model_dir(const Args& args) {
  std::string dir;
  if (auto m = args.get("model")) {
    dir = *m;
    TESSERA_RETURN_IF_ERROR(check_model_path(args, dir));
  } else {
    TESSERA_ASSIGN_OR_RETURN(dir, ensure_demo_model());
  }
  if (is_random_weights_checkpoint(dir))
    std::fprintf(stderr, "note: %s has RANDOM weights (made by tessera make-model): its output is meaningless\n",
                 dir.c_str());
  return dir;
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Prompt tokens per forward() on the cpu: the chunk of SequenceRunner's LlamaModel overload, which
// the commands used before the runner seam.
constexpr int64_t kCpuPrefillChunk = 512;
// Prompt tokens per step on cuda: RunnerOptions' default budget.
constexpr int64_t kCudaPrefillChunk = 8192;

// "cpu", "cuda" or "cuda:N" (N up to three digits, as create_model_runner reads it).
bool is_device_name(const std::string& d) {
  if (d == "cpu" || d == "cuda") return true;
  if (d.rfind("cuda:", 0) != 0 || d.size() == 5 || d.size() > 8) return false;
  return std::all_of(d.begin() + 5, d.end(), [](char c) { return c >= '0' && c <= '9'; });
}

const char* const kGpuMemoryHelp =
    "cuda: share of the GPU's memory for weights, activations and KV cache (default 0.9)";

FlagSpec gpu_memory_flag_spec() {
  return FlagSpec{"gpu-memory-fraction", "F", kGpuMemoryHelp}.with_alias("gpu-memory-utilization");
}

// --gpu-memory-fraction (or its alias) into `fraction`, for a run on `device`.
Status gpu_memory_from_flags(const Args& args, const std::string& device, double& fraction) {
  if (!args.has("gpu-memory-fraction")) return Status::ok();
  const std::string flag = args.flag("gpu-memory-fraction");
  if (device == "cpu") return invalid_argument(flag + " applies to --device cuda, not cpu");
  TESSERA_ASSIGN_OR_RETURN(fraction, args.get_double("gpu-memory-fraction", 0.9, -1e9, 1e9));
  if (!(fraction > 0.0 && fraction <= 1.0))
    return invalid_argument(flag + " must be in (0, 1], got " + *args.get("gpu-memory-fraction"));
  return Status::ok();
}

}  // namespace

std::vector<FlagSpec> runner_flag_specs() {
  return {{"device", "DEV", "cpu | cuda | cuda:N (default cpu)"},
          {"dtype", "DTYPE",
           "cuda: bf16 | f16 weights and activations (default bf16); the cpu computes in f32"},
          gpu_memory_flag_spec(),
          {"block-size", "N", "tokens per KV block (default 16)"}};
}

Expected<RunnerOptions> runner_options_from_flags(const Args& args) {
  RunnerOptions o;
  o.device = args.get_or("device", "cpu");
  if (!is_device_name(o.device))
    return invalid_argument("--device must be cpu, cuda or cuda:N, got '" + o.device + "'");
  const bool is_cpu = o.device == "cpu";
  if (auto d = args.get("dtype")) {
    const std::optional<DType> t = parse_dtype(*d);
    if (is_cpu && t != DType::kF32)
      return invalid_argument("--dtype " + *d +
                              ": the cpu computes in f32 (bf16 and f16 are for --device cuda)");
    if (!is_cpu && t != DType::kBF16 && t != DType::kF16)
      return invalid_argument("--dtype must be bf16 or f16 on " + o.device + ", got '" + *d + "'");
    if (!is_cpu) o.dtype = *t;
  }
  TESSERA_RETURN_IF_ERROR(gpu_memory_from_flags(args, o.device, o.gpu_memory_fraction));
  TESSERA_ASSIGN_OR_RETURN(int64_t block_size, args.get_int("block-size", 16, 1, 1024));
  o.block_size = static_cast<int32_t>(block_size);
  return o;
}

std::vector<FlagSpec> engine_device_flag_specs() {
  return {{"device", "DEV", "cpu | cuda | cuda:N: where the model runs (default cpu; bf16 on a GPU)"},
          gpu_memory_flag_spec()};
}

Status engine_device_from_flags(const Args& args, EngineOptions& options) {
  options.device = args.get_or("device", "cpu");
  if (!is_device_name(options.device))
    return invalid_argument("--device must be cpu, cuda or cuda:N, got '" + options.device + "'");
  return gpu_memory_from_flags(args, options.device, options.gpu_memory_fraction);
}

FlagSpec kv_cache_flag_spec() {
  return FlagSpec{"kv-cache-bytes", "N",
                  "KV cache size: N bytes, or N MiB as --kv-cache-mb (default 512 MiB)"}
      .with_alias("kv-cache-mb");
}

Expected<int64_t> kv_cache_bytes_from_flags(const Args& args, int64_t fallback) {
  if (args.flag("kv-cache-bytes") != "--kv-cache-mb")
    return args.get_int("kv-cache-bytes", fallback, 1, INT64_MAX);
  TESSERA_ASSIGN_OR_RETURN(int64_t mib, args.get_int("kv-cache-bytes", 0, 1, int64_t{1} << 40));
  return mib << 20;
}

std::string compute_dtype_name(const RunnerOptions& options) {
  return options.device == "cpu" ? "f32" : std::string(dtype_name(options.dtype));
}

Expected<std::unique_ptr<ModelRunner>> load_runner(const std::string& model_dir,
                                                   const RunnerOptions& options) {
  const auto t0 = Clock::now();
  TESSERA_ASSIGN_OR_RETURN(auto runner, create_model_runner(model_dir, options));
  const ModelConfig& c = runner->config();
  std::fprintf(stderr, "loaded %s (%s, %lld layers) on %s in %.2fs\n", model_dir.c_str(),
               architecture_hf_name(c.arch), static_cast<long long>(c.num_layers),
               runner->device_name().c_str(), seconds_since(t0));
  return runner;
}

namespace {

// The runner of a single-sequence command that needs `capacity` tokens. cpu: a cache of exactly
// that many blocks (the memory the command used before the runner seam). cuda: the cache from the
// memory fraction, one sequence, and a block table only as long as the command needs.
Expected<std::unique_ptr<ModelRunner>> load_sequence_runner(const std::string& dir,
                                                            RunnerOptions options,
                                                            int64_t capacity) {
  if (options.device == "cpu") {
    options.num_blocks = (capacity + options.block_size - 1) / options.block_size;
  } else {
    options.num_blocks = 0;
    options.max_model_len = capacity;
    options.max_num_seqs = 1;
    options.max_num_batched_tokens = std::min<int64_t>(capacity, kCudaPrefillChunk);
  }
  return load_runner(dir, options);
}

// The SequenceRunner over `runner`: 512-token prompt chunks on the cpu (the BLAS results depend on
// the rows per call, so this keeps cpu logits as they were); on cuda as many as a step takes.
Expected<SequenceRunner> sequence_over(ModelRunner& runner, const RunnerOptions& options,
                                       int64_t capacity) {
  return SequenceRunner::create(runner, capacity,
                                options.device == "cpu" ? kCpuPrefillChunk : kCudaPrefillChunk);
}

Status usage(const char* cmd, const char* synopsis, const std::vector<FlagSpec>& specs) {
  std::printf("usage: tessera %s %s\n\n%s", cmd, synopsis, format_flag_help(specs).c_str());
  return Status::ok();
}


// The text prompt of --prompt or --chat as ids through the model's tokenizer (nullopt when the
// prompt is given as ids). --chat renders the model's chat template around the message first.
Expected<std::optional<std::vector<int32_t>>> text_prompt_ids(const Args& args, const std::string& dir,
                                                               const Tokenizer& tok) {
  if (args.has("prompt")) {
    auto ids = tok.encode(*args.get("prompt"), /*add_special_tokens=*/true);  // HF's default: BOS etc.
    if (!ids) return ids.status().with_context("--prompt: ");
    return std::optional<std::vector<int32_t>>(std::move(*ids));
  }
  if (!args.has("chat")) return std::optional<std::vector<int32_t>>();
  TESSERA_ASSIGN_OR_RETURN(TokenizerConfig config, load_model_tokenizer_config(dir));
  auto tmpl = config.chat_template();
  if (!tmpl) return tmpl.status().with_context("--chat: " + dir + ": ");
  std::vector<ChatMessage> messages;
  if (auto sys = args.get("system")) messages.emplace_back("system", *sys);
  messages.emplace_back("user", *args.get("chat"));
  TESSERA_ASSIGN_OR_RETURN(std::string rendered, tmpl->render(messages, /*add_generation_prompt=*/true, config.chat_context()));
  // The template writes the special tokens itself (as transformers' apply_chat_template does).
  auto ids = tok.encode(rendered, /*add_special_tokens=*/false);
  if (!ids) return ids.status().with_context("--chat: ");
  std::fprintf(stderr, "chat prompt:\n%s\n", rendered.c_str());
  return std::optional<std::vector<int32_t>>(std::move(*ids));
}

Expected<std::vector<int32_t>> prompt_ids(const Args& args, const ModelConfig& config,
                                          const std::optional<std::vector<int32_t>>& text_ids) {
  std::vector<int32_t> ids;
  if (text_ids) {
    ids = *text_ids;
    if (ids.empty()) return invalid_argument("the prompt encodes to no tokens; give some text");
  } else {
    TESSERA_ASSIGN_OR_RETURN(ids, args.get_ids("prompt-ids"));
  }
  if (ids.empty()) {
    // A fixed default prompt, so the demo runs with no arguments.
    ids = {static_cast<int32_t>(config.bos_token_id.value_or(1) % config.vocab_size)};
    for (int32_t i = 1; i < 8; ++i) ids.push_back(static_cast<int32_t>((i * 97 + 11) % config.vocab_size));
  }
  for (int32_t id : ids)
    if (id >= config.vocab_size)
      return invalid_argument(std::string(text_ids ? "prompt" : "--prompt-ids") + ": token id " + std::to_string(id) +
                              " is outside the vocabulary [0, " + std::to_string(config.vocab_size) + ")");
  return ids;
}

// ---- generate -------------------------------------------------------------------------------
Status cmd_generate(const std::vector<std::string>& argv) {
  std::vector<FlagSpec> specs = {
      model_flag_spec(),
      {"prompt-ids", "IDS", "prompt token ids, e.g. 1,2,3 (default: a fixed 8-token prompt)"},
      FlagSpec{"prompt", "TEXT",
               "prompt text, tokenized with the model's tokenizer.json; the output is then text"}
          .with_short('p'),
      {"chat", "TEXT", "a user message, put in the model's chat template; the output is then text"},
      {"system", "TEXT", "with --chat: a system message before the user's"},
      FlagSpec{"max-tokens", "N", "tokens to generate (default 32)"}.with_short('n').with_alias(
          "n"),
      {"temperature", "T", "0 = greedy (default 0.8)"},
      {"top-k", "K", "keep the k most likely tokens (0 = off, default 0)"},
      {"top-p", "P", "nucleus sampling mass (default 1.0 = off)"},
      {"min-p", "P", "drop tokens below min-p x the top probability (default 0 = off)"},
      {"seed", "N", "sampling seed (default 0)"},
      {"ignore-eos", "", "keep generating past end-of-sequence tokens"}};
  for (FlagSpec f : runner_flag_specs()) specs.push_back(f);
  specs.push_back(help_flag_spec());
  TESSERA_ASSIGN_OR_RETURN(Args args, Args::parse(argv, specs));
  if (args.has("help")) return usage("generate", "[DIR] [flags]", specs);
  TESSERA_ASSIGN_OR_RETURN(int64_t n, args.get_int("max-tokens", 32, 0, 1 << 20));
  TESSERA_ASSIGN_OR_RETURN(double temperature, args.get_double("temperature", 0.8, 0.0, 100.0));
  TESSERA_ASSIGN_OR_RETURN(int64_t top_k, args.get_int("top-k", 0, 0, INT32_MAX));
  TESSERA_ASSIGN_OR_RETURN(double top_p, args.get_double("top-p", 1.0, 1e-6, 1.0));
  TESSERA_ASSIGN_OR_RETURN(double min_p, args.get_double("min-p", 0.0, 0.0, 1.0));
  TESSERA_ASSIGN_OR_RETURN(int64_t seed, args.get_int("seed", 0, 0, INT64_MAX));
  TESSERA_ASSIGN_OR_RETURN(RunnerOptions options, runner_options_from_flags(args));

  TESSERA_ASSIGN_OR_RETURN(std::string dir, resolve_model_dir(args));
  // The config first (cheap): the prompt and n decide how much cache the runner gets.
  TESSERA_ASSIGN_OR_RETURN(const ModelConfig cfg, load_config_for_model(dir));
  if (args.has("prompt") + args.has("chat") + args.has("prompt-ids") > 1)
    return invalid_argument("generate: give at most one of --prompt, --chat, --prompt-ids");
  if (args.has("system") && !args.has("chat")) return invalid_argument("generate: --system needs --chat");
  // Text in means text out, streamed through the incremental decoder; ids in means ids out.
  std::optional<Tokenizer> tokenizer;
  std::optional<std::vector<int32_t>> text_ids;
  if (args.has("prompt") || args.has("chat")) {
    TESSERA_ASSIGN_OR_RETURN(tokenizer, load_model_tokenizer(dir));
    TESSERA_ASSIGN_OR_RETURN(text_ids, text_prompt_ids(args, dir, *tokenizer));
  }
  TESSERA_ASSIGN_OR_RETURN(auto prompt, prompt_ids(args, cfg, text_ids));
  std::optional<StreamDecoder> stream;
  if (tokenizer) stream.emplace(*tokenizer, /*skip_special_tokens=*/true);
  const int64_t capacity = static_cast<int64_t>(prompt.size()) + std::max<int64_t>(n, 1);
  if (capacity > cfg.max_position_embeddings)
    return invalid_argument("prompt (" + std::to_string(prompt.size()) + ") + " +
                            args.flag("max-tokens") + " (" + std::to_string(n) +
                            ") exceeds the model's context of " + std::to_string(cfg.max_position_embeddings) + " tokens");
  TESSERA_ASSIGN_OR_RETURN(auto model_runner, load_sequence_runner(dir, options, capacity));
  TESSERA_ASSIGN_OR_RETURN(SequenceRunner runner, sequence_over(*model_runner, options, capacity));

  kernels::cpu::SamplingParams sp;
  sp.temperature = static_cast<float>(temperature);
  sp.top_k = static_cast<int32_t>(top_k);
  sp.top_p = static_cast<float>(top_p);
  sp.min_p = static_cast<float>(min_p);
  // Greedy decoding takes the runner's argmax (on the GPU only the id comes back). It is the token
  // sample_token picks for these params: both take the first maximum of the unscaled logits, NaN
  // never winning.
  const bool greedy = sp.temperature <= 0.0f || sp.top_k == 1;
  std::vector<float> logits;  // sampling: the last token's logits [vocab]
  int32_t next = 0;           // greedy: the runner's next token
  auto feed = [&](const std::vector<int32_t>& tokens) -> Status {
    if (greedy) {
      TESSERA_ASSIGN_OR_RETURN(next, runner.append_greedy(tokens));
    } else {
      TESSERA_ASSIGN_OR_RETURN(logits, runner.append(tokens));
    }
    return Status::ok();
  };

  std::fprintf(stderr, "prompt (%zu tokens):", prompt.size());
  for (int32_t id : prompt) std::fprintf(stderr, " %d", id);
  std::fprintf(stderr, "\n");
  auto t0 = Clock::now();
  TESSERA_RETURN_IF_ERROR(feed(prompt));
  const double prefill_s = seconds_since(t0);
  auto t1 = Clock::now();
  int64_t generated = 0;
  const char* finish = "length";
  for (; generated < n; ++generated) {
    const int32_t tok = greedy ? next
                               : kernels::cpu::sample_token(
                                     logits.data(), cfg.vocab_size, sp,
                                     kernels::cpu::uniform_from(static_cast<uint64_t>(seed),
                                                                static_cast<uint64_t>(generated)));
    if (stream) {
      const std::string piece = stream->step(tok);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
    } else {
      std::printf("%s%d", generated ? " " : "", tok);
    }
    std::fflush(stdout);
    const bool is_eos = std::find(cfg.eos_token_ids.begin(), cfg.eos_token_ids.end(), tok) != cfg.eos_token_ids.end();
    if (is_eos && !args.has("ignore-eos")) {
      ++generated;
      finish = "eos";
      break;
    }
    if (generated + 1 < n) TESSERA_RETURN_IF_ERROR(feed({tok}));
  }
  if (stream) {
    const std::string rest = stream->flush();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
  }
  std::printf("\n");
  std::fflush(stdout);  // the token line ends before the stats line on a shared terminal
  const double decode_s = seconds_since(t1);
  std::fprintf(stderr,
               "prefill: %zu tokens in %.3fs (%.1f tok/s) | decode: %lld tokens in %.3fs (%.2f tok/s) | finish: %s\n",
               prompt.size(), prefill_s, static_cast<double>(prompt.size()) / prefill_s,
               static_cast<long long>(generated), decode_s,
               generated > 1 ? static_cast<double>(generated - 1) / decode_s : 0.0, finish);
  return Status::ok();
}

// ---- logits ---------------------------------------------------------------------------------
Status cmd_logits(const std::vector<std::string>& argv) {
  std::vector<FlagSpec> specs = {
      model_flag_spec(),
      {"prompt-ids", "IDS", "token ids, e.g. 1,2,3 (required)"},
      {"out", "FILE", "output .npy file: float32 [tokens, vocab] (required)"}};
  for (FlagSpec f : runner_flag_specs()) specs.push_back(f);
  specs.push_back(help_flag_spec());
  TESSERA_ASSIGN_OR_RETURN(Args args, Args::parse(argv, specs));
  if (args.has("help")) return usage("logits", "[DIR] --prompt-ids IDS --out F.npy [flags]", specs);
  if (!args.has("prompt-ids")) return invalid_argument("logits: --prompt-ids is required");
  if (!args.has("out")) return invalid_argument("logits: --out is required");
  TESSERA_ASSIGN_OR_RETURN(RunnerOptions options, runner_options_from_flags(args));
  TESSERA_ASSIGN_OR_RETURN(std::string dir, resolve_model_dir(args));
  TESSERA_ASSIGN_OR_RETURN(const ModelConfig cfg, load_config_for_model(dir));
  TESSERA_ASSIGN_OR_RETURN(auto ids, prompt_ids(args, cfg, std::nullopt));
  if (ids.empty()) return invalid_argument("--prompt-ids is empty");
  const int64_t n = static_cast<int64_t>(ids.size());
  if (n > cfg.max_position_embeddings)
    return invalid_argument("--prompt-ids: " + std::to_string(n) +
                            " tokens exceed the model's context of " +
                            std::to_string(cfg.max_position_embeddings));
  TESSERA_ASSIGN_OR_RETURN(auto model_runner, load_sequence_runner(dir, options, n));
  TESSERA_ASSIGN_OR_RETURN(SequenceRunner runner, sequence_over(*model_runner, options, n));
  TESSERA_ASSIGN_OR_RETURN(auto logits, runner.append(ids, /*all_logits=*/true));
  const std::string out = *args.get("out");
  TESSERA_RETURN_IF_ERROR(write_npy_f32(out, logits.data(), {n, cfg.vocab_size}));
  std::fprintf(stderr, "wrote %s: float32 [%zu, %lld]\n", out.c_str(), ids.size(),
               static_cast<long long>(cfg.vocab_size));
  return Status::ok();
}

// ---- perplexity -----------------------------------------------------------------------------
Status cmd_perplexity(const std::vector<std::string>& argv) {
  std::vector<FlagSpec> specs = {
      model_flag_spec(),
      {"file", "FILE", "token ids separated by spaces, commas or newlines (required)"},
      {"ctx", "N", "window length in tokens (default min(1024, model context))"}};
  for (FlagSpec f : runner_flag_specs()) specs.push_back(f);
  specs.push_back(help_flag_spec());
  TESSERA_ASSIGN_OR_RETURN(Args args, Args::parse(argv, specs));
  if (args.has("help")) return usage("perplexity", "[DIR] --file F [flags]", specs);
  if (!args.has("file")) return invalid_argument("perplexity: --file is required");
  TESSERA_ASSIGN_OR_RETURN(RunnerOptions options, runner_options_from_flags(args));
  const std::string file = *args.get("file");
  TESSERA_ASSIGN_OR_RETURN(std::string text, read_text_file(file));
  TESSERA_ASSIGN_OR_RETURN(auto ids, parse_id_list(text, file));
  if (ids.size() < 2) return invalid_argument(file + ": needs at least 2 token ids, found " + std::to_string(ids.size()));
  TESSERA_ASSIGN_OR_RETURN(std::string dir, resolve_model_dir(args));
  TESSERA_ASSIGN_OR_RETURN(const ModelConfig cfg, load_config_for_model(dir));
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] >= cfg.vocab_size)
      return invalid_argument(file + ": token id " + std::to_string(ids[i]) + " (position " + std::to_string(i) +
                              ") is outside the vocabulary [0, " + std::to_string(cfg.vocab_size) + ")");
  TESSERA_ASSIGN_OR_RETURN(int64_t ctx, args.get_int("ctx", std::min<int64_t>(1024, cfg.max_position_embeddings), 2,
                                                     cfg.max_position_embeddings));
  // The cache holds one window; a window never needs more than the file has.
  const int64_t capacity = std::min<int64_t>(ctx, static_cast<int64_t>(ids.size()));
  TESSERA_ASSIGN_OR_RETURN(auto model_runner, load_sequence_runner(dir, options, capacity));
  TESSERA_ASSIGN_OR_RETURN(SequenceRunner runner, sequence_over(*model_runner, options, capacity));
  // Non-overlapping windows: each predicts tokens 1..len-1 of itself from the ones before.
  double nll = 0.0;
  int64_t count = 0;
  auto t0 = Clock::now();
  ProgressBar bar("perplexity", ids.size(), "tokens");
  for (size_t begin = 0; begin + 1 < ids.size(); begin += static_cast<size_t>(ctx)) {
    const size_t end = std::min(ids.size(), begin + static_cast<size_t>(ctx));
    std::vector<int32_t> window(ids.begin() + static_cast<std::ptrdiff_t>(begin), ids.begin() + static_cast<std::ptrdiff_t>(end));
    runner.reset();
    TESSERA_ASSIGN_OR_RETURN(auto logits, runner.append(window, true));
    const int64_t V = cfg.vocab_size;
    for (size_t i = 0; i + 1 < window.size(); ++i) {
      const float* row = logits.data() + static_cast<int64_t>(i) * V;
      double mx = row[0];
      for (int64_t j = 1; j < V; ++j) mx = std::max<double>(mx, row[j]);
      double sum = 0.0;
      for (int64_t j = 0; j < V; ++j) sum += std::exp(row[j] - mx);
      nll += (mx + std::log(sum)) - row[window[i + 1]];
      ++count;
    }
    bar.advance(window.size());
  }
  bar.finish();
  const double secs = seconds_since(t0);
  std::printf("perplexity: %.4f over %lld predicted tokens (window %lld)\n", std::exp(nll / static_cast<double>(count)),
              static_cast<long long>(count), static_cast<long long>(ctx));
  std::fprintf(stderr, "%.1f tokens/s\n", static_cast<double>(ids.size()) / secs);
  return Status::ok();
}

// ---- make-model -----------------------------------------------------------------------------
Status cmd_make_model(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> specs = {
      {"preset", "NAME", "tiny | llama-3.2-1b | llama-3-8b | qwen2.5-0.5b | phi-3-mini | qwen3-0.6b | gemma-2-2b (default tiny)"},
      {"out", "DIR", "output folder (required)"},
      {"seed", "N", "random seed (default 0)"},
      {"dtype", "DTYPE", "bf16 | f16 | f32 (default bf16)"},
      {"max-shard-size", "BYTES", "bytes per safetensors shard (default 5000000000)"},
      help_flag_spec()};
  TESSERA_ASSIGN_OR_RETURN(Args args, Args::parse(argv, specs));
  if (args.has("help")) return usage("make-model", "--preset P --out DIR [flags]", specs);
  MakeModelOptions o;
  o.preset = args.get_or("preset", "tiny");
  if (!args.has("out")) return invalid_argument("make-model: --out is required");
  o.out_dir = *args.get("out");
  TESSERA_ASSIGN_OR_RETURN(int64_t seed, args.get_int("seed", 0, 0, INT64_MAX));
  o.seed = static_cast<uint64_t>(seed);
  auto dtype = parse_dtype(args.get_or("dtype", "bf16"));
  if (!dtype || dtype == DType::kI8 || dtype == DType::kI32 || dtype == DType::kI64)
    return invalid_argument("--dtype must be bf16, f16 or f32, got '" + args.get_or("dtype", "") + "'");
  o.dtype = *dtype;
  TESSERA_ASSIGN_OR_RETURN(int64_t shard, args.get_int("max-shard-size", 5'000'000'000ll, 1, INT64_MAX));
  o.max_shard_bytes = static_cast<uint64_t>(shard);
  TESSERA_ASSIGN_OR_RETURN(ModelConfig cfg, model_preset(o.preset));
  std::fprintf(stderr, "make-model: %s, %.3g parameters, %s, RANDOM weights -> %s\n", o.preset.c_str(),
               static_cast<double>(cfg.num_parameters()), std::string(dtype_name(o.dtype)).c_str(), o.out_dir.c_str());
  TESSERA_RETURN_IF_ERROR(make_random_model(o));
  std::printf("%s\n", o.out_dir.c_str());
  return Status::ok();
}

// ---- info -----------------------------------------------------------------------------------
Status cmd_info(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> specs = {model_flag_spec(), help_flag_spec()};
  TESSERA_ASSIGN_OR_RETURN(Args args, Args::parse(argv, specs));
  if (args.has("help")) return usage("info", "[DIR | --model DIR]", specs);
  TESSERA_ASSIGN_OR_RETURN(std::string dir, resolve_model_dir(args));
  TESSERA_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::open(dir));
  TESSERA_RETURN_IF_ERROR(validate_checkpoint(ckpt));
  const ModelConfig& c = ckpt.config();
  const char* rope = c.rope.type == RopeType::kLlama3 ? "llama3" : c.rope.type == RopeType::kLinear ? "linear" : "default";
  const int64_t params = c.num_parameters();
  const int64_t kv_bytes_per_token_bf16 = 2 * c.num_layers * c.kv_size() * 2;
  std::printf("model         %s\n", dir.c_str());
  std::printf("architecture  %s%s\n", architecture_hf_name(c.arch), is_random_weights_checkpoint(dir) ? " (random weights)" : "");
  std::printf("layers        %lld, hidden %lld, intermediate %lld\n", static_cast<long long>(c.num_layers),
              static_cast<long long>(c.hidden_size), static_cast<long long>(c.intermediate_size));
  std::printf("attention     %lld heads, %lld kv heads, head_dim %lld%s\n", static_cast<long long>(c.num_heads),
              static_cast<long long>(c.num_kv_heads), static_cast<long long>(c.head_dim),
              c.qkv_bias ? ", qkv bias" : "");
  std::printf("rope          %s, theta %g%s\n", rope, c.rope.theta,
              c.rope.type == RopeType::kDefault ? "" : (", factor " + std::to_string(c.rope.factor)).c_str());
  std::printf("vocab         %lld%s\n", static_cast<long long>(c.vocab_size), c.tie_word_embeddings ? " (tied embeddings)" : "");
  std::printf("context       %lld tokens\n", static_cast<long long>(c.max_position_embeddings));
  std::printf("parameters    %lld (%.3g)\n", static_cast<long long>(params), static_cast<double>(params));
  std::string dtypes;
  for (const auto& [name, count] : ckpt.params_by_dtype())
    dtypes += (dtypes.empty() ? "" : ", ") + name + " " + std::to_string(count);
  std::printf("stored dtypes %s\n", dtypes.c_str());
  std::printf("on disk       %s\n", format_bytes(ckpt.stored_tensor_bytes()).c_str());
  std::printf("memory (cpu)  %s of fp32 weights + %s of KV cache per 1k tokens\n",
              format_bytes(static_cast<uint64_t>(params) * 4).c_str(),
              format_bytes(static_cast<uint64_t>(kv_bytes_per_token_bf16) * 2 * 1000).c_str());
  std::printf("memory (gpu)  %s of bf16 weights + %s of bf16 KV cache per 1k tokens\n",
              format_bytes(static_cast<uint64_t>(params) * 2).c_str(),
              format_bytes(static_cast<uint64_t>(kv_bytes_per_token_bf16) * 1000).c_str());
  return Status::ok();
}

// ---- tokenize / detokenize ------------------------------------------------------------------
// tokenize --batch F reads one hex-encoded string per line (binary safe: the HF comparison in
// tests/python feeds it invalid UTF-8 too) and prints one JSON array or "error: ..." per line.
Expected<std::string> model_dir_of(const Args& args) {
  if (auto m = args.get("model")) {
    TESSERA_RETURN_IF_ERROR(check_model_path(args, *m));
    return *m;
  }
  return ensure_demo_model();
}

std::string ids_json(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

Expected<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Expected<std::string> from_hex(const std::string& line, const std::string& where) {
  if (line.size() % 2) return invalid_argument(where + ": odd number of hex digits");
  std::string out;
  out.reserve(line.size() / 2);
  auto nibble = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  for (size_t i = 0; i < line.size(); i += 2) {
    const int hi = nibble(line[i]), lo = nibble(line[i + 1]);
    if (hi < 0 || lo < 0) return invalid_argument(where + ": not a hex digit");
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

Status cmd_tokenize(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> specs = {
      model_flag_spec(),
      {"text", "TEXT", "text to tokenize"},
      {"file", "FILE", "file whose contents to tokenize"},
      {"batch", "FILE", "file with one hex-encoded string per line; one result line each"},
      {"no-special", "", "do not add the post-processor's special tokens (BOS ...)"},
      {"repeat", "N", "with --batch: time N passes over all texts, print a JSON line (benchmark)"},
      help_flag_spec()};
  TESSERA_ASSIGN_OR_RETURN(Args args, Args::parse(argv, specs));
  if (args.has("help")) {
    std::printf("usage: tessera tokenize [DIR] (--text T | --file F | --batch F)\n\n%s",
                format_flag_help(specs).c_str());
    return Status::ok();
  }
  const int given = args.has("text") + args.has("file") + args.has("batch");
  if (given != 1) return invalid_argument("tokenize: give exactly one of --text, --file, --batch");
  TESSERA_ASSIGN_OR_RETURN(std::string dir, model_dir_of(args));
  TESSERA_ASSIGN_OR_RETURN(Tokenizer tok, load_model_tokenizer(dir));
  const bool add_special = !args.has("no-special");
  TESSERA_ASSIGN_OR_RETURN(int64_t repeat, args.get_int("repeat", 0, 0, 1000000));
  if (auto batch = args.get("batch")) {
    TESSERA_ASSIGN_OR_RETURN(std::string all, read_whole_file(*batch));
    std::istringstream lines(all);
    std::string line, out;
    std::vector<std::string> texts;
    for (size_t n = 1; std::getline(lines, line); ++n) {
      TESSERA_ASSIGN_OR_RETURN(std::string text, from_hex(line, *batch + ":" + std::to_string(n)));
      texts.push_back(std::move(text));
    }
    if (repeat > 0) {
      // Benchmark mode (bench/tokenizer): encode every text, `repeat` times, on this one thread;
      // print the median time of a pass and the totals as one JSON line.
      std::vector<double> times;
      int64_t bytes = 0, tokens = 0;
      for (int64_t r = 0; r < repeat; ++r) {
        bytes = tokens = 0;
        const auto t0 = Clock::now();
        for (const std::string& text : texts) {
          auto ids = tok.encode(text, add_special);
          if (!ids) return ids.status().with_context(*batch + ": ");
          bytes += static_cast<int64_t>(text.size());
          tokens += static_cast<int64_t>(ids->size());
        }
        times.push_back(seconds_since(t0));
      }
      std::sort(times.begin(), times.end());
      std::printf("{\"texts\": %zu, \"bytes\": %lld, \"tokens\": %lld, \"runs\": %lld, \"median_s\": %.6f, \"min_s\": %.6f}\n",
                  texts.size(), static_cast<long long>(bytes), static_cast<long long>(tokens), static_cast<long long>(repeat),
                  times[times.size() / 2], times.front());
      return Status::ok();
    }
    for (const std::string& text : texts) {
      auto ids = tok.encode(text, add_special);
      out += ids ? ids_json(*ids) : "error: " + ids.status().message();
      out += '\n';
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return Status::ok();
  }
  std::string text;
  if (auto t = args.get("text")) {
    text = *t;
  } else {
    TESSERA_ASSIGN_OR_RETURN(text, read_whole_file(*args.get("file")));
  }
  auto ids = tok.encode(text, add_special);
  if (!ids) return ids.status().with_context(args.has("file") ? *args.get("file") + ": " : "--text: ");
  std::printf("%s\n", ids_json(*ids).c_str());
  return Status::ok();
}

Status cmd_detokenize(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> specs = {
      model_flag_spec(),
      {"ids", "IDS", "token ids: \"[1,2,3]\", \"1,2,3\" or \"1 2 3\""},
      {"skip-special", "", "leave special tokens out of the text"},
      {"batch", "FILE", "file with one id list per line; prints the hex of each text"},
      {"stream", "", "with --batch: decode through the streaming decoder"},
      help_flag_spec()};
  TESSERA_ASSIGN_OR_RETURN(Args args, Args::parse(argv, specs));
  if (args.has("help")) {
    std::printf("usage: tessera detokenize [DIR] --ids IDS\n\n%s", format_flag_help(specs).c_str());
    return Status::ok();
  }
  if (auto batch = args.get("batch")) {
    // One id list per line in ("1 2 3"), the hex of the decoded text per line out (binary safe).
    TESSERA_ASSIGN_OR_RETURN(std::string all, read_whole_file(*batch));
    TESSERA_ASSIGN_OR_RETURN(std::string dir, model_dir_of(args));
    TESSERA_ASSIGN_OR_RETURN(Tokenizer tok, load_model_tokenizer(dir));
    std::istringstream lines(all);
    std::string line, out;
    for (size_t n = 1; std::getline(lines, line); ++n) {
      TESSERA_ASSIGN_OR_RETURN(auto ids, parse_id_list(line, *batch + ":" + std::to_string(n)));
      std::string text;
      if (args.has("stream")) {
        StreamDecoder stream(tok, args.has("skip-special"));
        for (int32_t id : ids) text += stream.step(id);
        text += stream.flush();
      } else {
        text = tok.decode(ids, args.has("skip-special"));
      }
      static const char* kHex = "0123456789abcdef";
      for (unsigned char c : text) out += kHex[c >> 4], out += kHex[c & 15];
      out += '\n';
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return Status::ok();
  }
  if (!args.has("ids")) return invalid_argument("detokenize: --ids is required");
  std::string list = *args.get("ids");
  // Accept the JSON form `tokenize` prints.
  const size_t b = list.find_first_not_of(" \t\n");
  if (b != std::string::npos && list[b] == '[') {
    const size_t e = list.find_last_not_of(" \t\n");
    if (list[e] != ']') return invalid_argument("--ids: a list that starts with '[' must end with ']'");
    list = list.substr(b + 1, e - b - 1);
  }
  TESSERA_ASSIGN_OR_RETURN(auto ids, parse_id_list(list, "--ids"));
  TESSERA_ASSIGN_OR_RETURN(std::string dir, model_dir_of(args));
  TESSERA_ASSIGN_OR_RETURN(Tokenizer tok, load_model_tokenizer(dir));
  for (int32_t id : ids)
    if (id >= tok.vocab_size())
      return invalid_argument("--ids: token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                              std::to_string(tok.vocab_size()) + ")");
  const std::string text = tok.decode(ids, args.has("skip-special"));
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::printf("\n");
  return Status::ok();
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"generate", "generate tokens from a prompt, streaming them as they come", cmd_generate},
      {"logits", "write the logits of a prompt to a .npy file", cmd_logits},
      {"perplexity", "perplexity of a model on a file of token ids", cmd_perplexity},
      {"make-model", "write a checkpoint with random weights in Hugging Face layout",
       cmd_make_model},
      {"info", "describe a checkpoint: architecture, parameters, dtypes, memory", cmd_info},
      {"tokenize", "text to token ids with the model's tokenizer.json", cmd_tokenize},
      {"detokenize", "token ids to text", cmd_detokenize},
      {"bench", "prefill latency and decode speed per batch size; engine throughput with --offline",
       cmd_bench},
#ifdef TESSERA_WITH_SERVER
      {"serve", "OpenAI-compatible HTTP server with a web UI (streaming, metrics)", cmd_serve},
#endif
  };
  return kCommands;
}

}  // namespace tessera::cli
