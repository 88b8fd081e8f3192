// src/cli/bench.cpp — `tessera bench`, two modes.
//
// Latency (the default): one ModelRunner on --device, and for each --batch size b, b sequences of
// input_len random ids, each in blocks of its own. Prefill: every prompt, back to back, through
// execute_greedy — in one step of b·input_len tokens, or in steps of kMaxPrefillStepTokens when
// that is more (a sequence may then span two steps, as in chunked prefill), which bounds the
// activations a runner sizes for one step. Then output_len - 1 decode steps of one token per
// sequence, each feeding back the greedy tokens. Each execute_greedy call is timed with a steady
// clock; it returns once the ids are on the host, so the time includes the device sync. Warm-up
// runs (one prefill and a few decode steps per batch size) first, so CUDA graph capture and GEMM
// heuristics are not timed. Memory is what the runner reports: weights + KV cache (not a measured
// peak). Prints a table and, with --json, bench/e2e/decode.py's schema.
//
// --offline: engine throughput. N requests of random token ids (input_len each, optionally starting
// with a shared prefix) are submitted at once with max_tokens = output_len and EOS ignored, so
// every request generates exactly output_len tokens in each of its n sample streams. Timings come
// from the engine's event timestamps: TTFT is a stream's first token minus submit, inter-token
// latency the gaps between a stream's tokens. Prints a table and, with --json, writes the
// configuration and results (bench/serving/offline.py reads it).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "src/cli/args.h"
#include "src/cli/commands.h"
#include "src/core/json_util.h"
#include "src/core/progress.h"
#include "src/model/checkpoint.h"
#include "src/model/config.h"
#include "src/model/demo.h"
#include "src/model/make_model.h"
#include "tessera/engine.h"

namespace tessera::cli {
namespace {

using Clock = std::chrono::steady_clock;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Exact percentiles (linear between order statistics) of a sample.
struct Summary {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
  int64_t n = 0;
};

Summary summarize(std::vector<double> v) {
  Summary s;
  s.n = static_cast<int64_t>(v.size());
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto pct = [&](double q) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(pos);
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
  };
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  s.p50 = pct(0.5);
  s.p90 = pct(0.9);
  s.p99 = pct(0.99);
  s.max = v.back();
  return s;
}

Json summary_json(const Summary& s) {
  return Json{{"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}, {"max", s.max}, {"n", s.n}};
}

std::vector<FlagSpec> offline_specs() {
  return {{"offline", "", "engine throughput: all requests at once, ignoring EOS"},
          model_flag_spec(),
          {"num-prompts", "N", "requests (default 64)"},
          {"input-len", "N", "prompt tokens per request (default 128)"},
          {"output-len", "N", "generated tokens per request (default 64)"},
          {"n", "N", "completions per request, sharing the prompt's KV blocks (default 1)"},
          {"shared-prefix-len", "N", "leading prompt tokens every request shares (default 0)"},
          {"max-num-seqs", "N", "running requests at most (default 64 on cpu, 256 on a GPU)"},
          {"max-num-batched-tokens", "N",
           "token budget of one step (default 2048 on cpu, 8192 on a GPU)"},
          {"block-size", "N", "tokens per KV block (default 16)"},
          kv_cache_flag_spec(),
          {"no-prefix-caching", "", "turn the prefix cache off"},
          {"temperature", "T", "sampling temperature, 0 = greedy (default 1.0)"},
          {"seed", "N", "seed of the random prompts and of sampling (default 0)"},
          {"json", "FILE", "write the results to this file"},
          engine_device_flag_specs()[0],
          engine_device_flag_specs()[1],
          help_flag_spec()};
}

std::vector<FlagSpec> latency_specs() {
  std::vector<FlagSpec> specs = {
      model_flag_spec(),
      {"batch", "SIZES", "batch sizes, comma-separated, e.g. 1,8,32 (required)"},
      {"input-len", "N", "prompt tokens per sequence (default 512)"},
      {"output-len", "N",
       "tokens generated per sequence: the prefill's, then output-len - 1 decode steps (default "
       "128)"},
      {"warmup", "N", "untimed runs per batch size before the timed one (default 1)"},
      {"seed", "N", "seed of the random prompts (default 0)"},
      {"json", "FILE", "write the results to this file"}};
  for (FlagSpec f : runner_flag_specs()) specs.push_back(f);
  specs.push_back(help_flag_spec());
  return specs;
}

// Parses argv for one mode; a flag that only the other mode knows is an error that says so.
Expected<Args> parse_mode(const std::vector<std::string>& argv, const std::vector<FlagSpec>& specs,
                          const std::vector<FlagSpec>& other_specs, const char* other_mode) {
  for (const std::string& a : argv) {
    const bool is_long = a.rfind("--", 0) == 0 && a.size() > 2;
    const bool is_short = !is_long && a.size() == 2 && a[0] == '-' && a[1] != '-';
    if (!is_long && !is_short) continue;
    const size_t eq = is_long ? a.find('=') : std::string::npos;
    const size_t dashes = is_long ? 2 : 1;
    const std::string name = a.substr(dashes, eq == std::string::npos ? eq : eq - dashes);
    if (!find_flag(specs, name, is_short) && find_flag(other_specs, name, is_short))
      return invalid_argument(a.substr(0, dashes) + name + " applies to " + other_mode + " only");
  }
  return Args::parse(argv, specs);
}

Status bench_offline(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> specs = offline_specs();
  TESSERA_ASSIGN_OR_RETURN(Args args,
                           parse_mode(argv, specs, latency_specs(), "bench without --offline"));
  if (args.has("help")) {
    std::printf("usage: tessera bench [DIR] --offline [flags]\n\n%s",
                format_flag_help(specs).c_str());
    return Status::ok();
  }
  TESSERA_ASSIGN_OR_RETURN(int64_t num_prompts, args.get_int("num-prompts", 64, 1, 1 << 20));
  TESSERA_ASSIGN_OR_RETURN(int64_t input_len, args.get_int("input-len", 128, 1, 1 << 20));
  TESSERA_ASSIGN_OR_RETURN(int64_t output_len, args.get_int("output-len", 64, 1, 1 << 20));
  TESSERA_ASSIGN_OR_RETURN(int64_t n, args.get_int("n", 1, 1, kMaxSampleStreams));
  TESSERA_ASSIGN_OR_RETURN(int64_t shared_len, args.get_int("shared-prefix-len", 0, 0, input_len));
  const bool gpu = args.get_or("device", "cpu") != "cpu";
  TESSERA_ASSIGN_OR_RETURN(int64_t max_num_seqs, args.get_int("max-num-seqs", gpu ? 256 : 64, 1, 1 << 16));
  TESSERA_ASSIGN_OR_RETURN(int64_t max_batched, args.get_int("max-num-batched-tokens", gpu ? 8192 : 2048, 1, 1 << 24));
  TESSERA_ASSIGN_OR_RETURN(int64_t block_size, args.get_int("block-size", 16, 1, 1024));
  TESSERA_ASSIGN_OR_RETURN(int64_t kv_bytes, kv_cache_bytes_from_flags(args, int64_t{512} << 20));
  TESSERA_ASSIGN_OR_RETURN(double temperature, args.get_double("temperature", 1.0, 0.0, 100.0));
  TESSERA_ASSIGN_OR_RETURN(int64_t seed, args.get_int("seed", 0, 0, INT64_MAX));

  TESSERA_ASSIGN_OR_RETURN(std::string dir, resolve_model_dir(args));
  EngineOptions opt;
  opt.max_num_seqs = static_cast<int32_t>(max_num_seqs);
  opt.max_num_batched_tokens = max_batched;
  opt.block_size = static_cast<int32_t>(block_size);
  opt.kv_cache_bytes = kv_bytes;
  opt.enable_prefix_caching = !args.has("no-prefix-caching");
  TESSERA_RETURN_IF_ERROR(engine_device_from_flags(args, opt));
  const auto t_load = Clock::now();
  TESSERA_ASSIGN_OR_RETURN(auto engine, Engine::create(dir, opt));
  const EngineInfo& info = engine->info();
  std::fprintf(stderr, "loaded %s in %.2fs%s; KV cache: %lld blocks of %d tokens\n", dir.c_str(),
               ms(Clock::now() - t_load) / 1e3, is_random_weights_checkpoint(dir) ? " (random weights)" : "",
               static_cast<long long>(info.num_kv_blocks), info.block_size);

  // Prompts: uniform random ids (the shared prefix drawn once).
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  auto random_id = [&] { return static_cast<int32_t>(rng() % static_cast<uint64_t>(info.vocab_size)); };
  std::vector<int32_t> prefix(static_cast<size_t>(shared_len));
  for (auto& t : prefix) t = random_id();
  std::vector<GenerationRequest> requests(static_cast<size_t>(num_prompts));
  for (size_t i = 0; i < requests.size(); ++i) {
    GenerationRequest& q = requests[i];
    q.prompt_token_ids = prefix;
    while (static_cast<int64_t>(q.prompt_token_ids.size()) < input_len) q.prompt_token_ids.push_back(random_id());
    q.max_tokens = output_len;
    q.n = static_cast<int32_t>(n);
    q.ignore_eos = true;
    q.detokenize = false;
    q.sampling.temperature = static_cast<float>(temperature);
    q.sampling.seed = static_cast<uint64_t>(seed) + i;
  }

  std::vector<std::shared_ptr<RequestStream>> streams;
  std::vector<Clock::time_point> submitted;
  const auto t0 = Clock::now();
  for (auto& q : requests) {
    submitted.push_back(Clock::now());
    TESSERA_ASSIGN_OR_RETURN(auto s, engine->submit(std::move(q)));
    streams.push_back(std::move(s));
  }
  std::vector<double> ttft, itl, e2e;
  int64_t out_tokens = 0, in_tokens = 0, cached = 0;
  Clock::time_point t_end = t0;
  for (size_t i = 0; i < streams.size(); ++i) {
    std::vector<std::optional<Clock::time_point>> last(static_cast<size_t>(n));  // per sample stream
    while (auto ev = streams[i]->next()) {
      if (ev->finish_reason == FinishReason::kError) return internal_error("bench: request failed: " + ev->error);
      auto& stream_last = last[static_cast<size_t>(ev->index)];
      if (!ev->token_ids.empty()) {
        if (!stream_last) ttft.push_back(ms(ev->time - submitted[i]));
        else itl.push_back(ms(ev->time - *stream_last));
        stream_last = ev->time;
      }
      if (ev->finished()) {
        out_tokens += ev->usage.completion_tokens;
        in_tokens += ev->usage.prompt_tokens;
        cached += ev->usage.cached_prompt_tokens;
        e2e.push_back(ms(ev->time - submitted[i]));
        t_end = std::max(t_end, ev->time);
      }
    }
  }
  const double seconds = std::chrono::duration<double>(t_end - t0).count();
  const EngineMetrics m = engine->metrics();
  const Summary s_ttft = summarize(ttft), s_itl = summarize(itl), s_e2e = summarize(e2e);

  std::printf("tessera bench --offline: %lld requests, %lld in + %lld x %lld out tokens each, %s\n",
              static_cast<long long>(num_prompts), static_cast<long long>(input_len), static_cast<long long>(n),
              static_cast<long long>(output_len), dir.c_str());
  std::printf("  duration          %10.3f s   (%lld engine steps, %lld preemptions)\n", seconds,
              static_cast<long long>(m.num_steps), static_cast<long long>(m.num_preemptions));
  std::printf("  requests/s        %10.3f\n", static_cast<double>(num_prompts) / seconds);
  std::printf("  input tokens/s    %10.1f   (%lld of %lld from the prefix cache)\n",
              static_cast<double>(in_tokens) / seconds, static_cast<long long>(cached), static_cast<long long>(in_tokens));
  std::printf("  output tokens/s   %10.1f\n", static_cast<double>(out_tokens) / seconds);
  std::printf("  %-16s %10s %10s %10s %10s\n", "latency (ms)", "mean", "p50", "p90", "p99");
  for (const auto& [label, s] : {std::pair{"TTFT", s_ttft}, std::pair{"inter-token", s_itl}, std::pair{"end-to-end", s_e2e}})
    std::printf("  %-16s %10.2f %10.2f %10.2f %10.2f\n", label, s.mean, s.p50, s.p90, s.p99);

  if (auto path = args.get("json")) {
    Json j = {
        {"mode", "offline"},
        {"model", dir},
        {"config",
         {{"num_prompts", num_prompts}, {"input_len", input_len}, {"output_len", output_len}, {"n", n},
          {"shared_prefix_len", shared_len}, {"max_num_seqs", max_num_seqs}, {"max_num_batched_tokens", max_batched},
          {"block_size", block_size}, {"num_kv_blocks", info.num_kv_blocks}, {"prefix_caching", opt.enable_prefix_caching},
          {"temperature", temperature}, {"seed", seed}}},
        {"duration_s", seconds},
        {"requests_per_s", static_cast<double>(num_prompts) / seconds},
        {"input_tokens_per_s", static_cast<double>(in_tokens) / seconds},
        {"output_tokens_per_s", static_cast<double>(out_tokens) / seconds},
        {"input_tokens", in_tokens},
        {"output_tokens", out_tokens},
        {"cached_prompt_tokens", cached},
        {"num_steps", m.num_steps},
        {"num_preemptions", m.num_preemptions},
        {"ttft_ms", summary_json(s_ttft)},
        {"itl_ms", summary_json(s_itl)},
        {"e2e_ms", summary_json(s_e2e)}};
    std::ofstream out(*path);
    out << j.dump(2) << "\n";
    if (!out) return io_error(*path + ": cannot write the results");
    std::fprintf(stderr, "wrote %s\n", path->c_str());
  }
  return Status::ok();
}

// ---- latency mode -----------------------------------------------------------------------------

// Prefill steps hold at most this many tokens: 32 prompts of 512 in one step, longer prefills in
// several (activation buffers are sized for one step).
constexpr int64_t kMaxPrefillStepTokens = 16384;
// Decode steps in a warm-up run: enough to capture and replay a decode graph.
constexpr int64_t kWarmupDecodeSteps = 4;

// "1,8,32" -> {1, 8, 32}: positive integers, nothing else.
Expected<std::vector<int64_t>> parse_batch_list(const std::string& text) {
  std::vector<int64_t> out;
  size_t begin = 0;
  while (true) {
    const size_t end = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    const bool digits =
        !item.empty() && item.size() <= 9 &&
        std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits)
      return invalid_argument(
          "--batch must be batch sizes separated by commas, e.g. 1,8,32; got '" + text + "'");
    const int64_t b = std::stoll(item);
    if (b < 1 || b > 65536)
      return invalid_argument("--batch: each batch size must be in [1, 65536], got " + item);
    out.push_back(b);
    if (end == text.size()) break;
    begin = end + 1;
  }
  return out;
}

// Tokens [begin, end) of sequence `seq`.
struct Piece {
  int32_t seq;
  int64_t begin, end;
};

// One step over `pieces`. seqs[s]: sequence s's tokens so far (prompt, then greedy outputs); its
// KV lives in blocks [s * blocks_per_seq, (s + 1) * blocks_per_seq), so no two sequences share one.
ForwardBatch step_batch(const std::vector<Piece>& pieces,
                        const std::vector<std::vector<int32_t>>& seqs, int32_t block_size,
                        int32_t blocks_per_seq) {
  ForwardBatch b;
  b.cu_seqlens_q.push_back(0);
  b.max_blocks_per_seq = blocks_per_seq;
  for (const Piece& p : pieces) {
    const int64_t first_block = static_cast<int64_t>(p.seq) * blocks_per_seq;
    for (int64_t pos = p.begin; pos < p.end; ++pos) {
      b.token_ids.push_back(seqs[static_cast<size_t>(p.seq)][static_cast<size_t>(pos)]);
      b.positions.push_back(static_cast<int32_t>(pos));
      b.slot_mapping.push_back((first_block + pos / block_size) * block_size + pos % block_size);
    }
    b.cu_seqlens_q.push_back(static_cast<int32_t>(b.token_ids.size()));
    b.seq_lens.push_back(static_cast<int32_t>(p.end));
    for (int32_t j = 0; j < blocks_per_seq; ++j)
      b.block_table.push_back(static_cast<int32_t>(first_block + j));
  }
  return b;
}

// The prefill of `batch` prompts of `input_len` tokens in steps of at most `budget` tokens.
std::vector<std::vector<Piece>> prefill_steps(int64_t batch, int64_t input_len, int64_t budget) {
  std::vector<std::vector<Piece>> steps(1);
  int64_t used = 0;
  for (int32_t s = 0; s < batch; ++s) {
    for (int64_t pos = 0; pos < input_len;) {
      if (used == budget) {
        steps.emplace_back();
        used = 0;
      }
      const int64_t take = std::min(budget - used, input_len - pos);
      steps.back().push_back({s, pos, pos + take});
      pos += take;
      used += take;
    }
  }
  return steps;
}

struct Timing {
  double prefill_ms = 0;
  double decode_ms = 0;  // all decode steps together
};

// Prefills the prompts `seqs` in steps of at most `budget` tokens, then runs `decode_steps` greedy
// decode steps over all of them.
Expected<Timing> run_batch(ModelRunner& runner, std::vector<std::vector<int32_t>> seqs,
                           int64_t budget, int64_t decode_steps, int32_t blocks_per_seq) {
  const int32_t bs = runner.block_size();
  const int64_t input_len = static_cast<int64_t>(seqs[0].size());
  Timing t;
  std::vector<int32_t> next;
  auto timed_step = [&](const std::vector<Piece>& pieces, double& total_ms) -> Status {
    const ForwardBatch batch = step_batch(pieces, seqs, bs, blocks_per_seq);
    const auto t0 = Clock::now();
    TESSERA_RETURN_IF_ERROR(runner.execute_greedy(batch, next));
    total_ms += ms(Clock::now() - t0);
    if (next.size() != pieces.size())
      return internal_error("bench: execute_greedy returned " + std::to_string(next.size()) +
                            " tokens for " + std::to_string(pieces.size()) + " sequences");
    return Status::ok();
  };
  for (const auto& step : prefill_steps(static_cast<int64_t>(seqs.size()), input_len, budget)) {
    TESSERA_RETURN_IF_ERROR(timed_step(step, t.prefill_ms));
    for (size_t i = 0; i < step.size(); ++i)  // a prompt's last piece gives its first output
      if (step[i].end == input_len) seqs[static_cast<size_t>(step[i].seq)].push_back(next[i]);
  }
  std::vector<Piece> decode(seqs.size());
  for (int64_t k = 0; k < decode_steps; ++k) {
    for (size_t s = 0; s < seqs.size(); ++s) {
      const int64_t len = static_cast<int64_t>(seqs[s].size());
      // The newest token, not yet in the cache.
      decode[s] = {static_cast<int32_t>(s), len - 1, len};
    }
    TESSERA_RETURN_IF_ERROR(timed_step(decode, t.decode_ms));
    for (size_t s = 0; s < seqs.size(); ++s) seqs[s].push_back(next[s]);
  }
  return t;
}

Status bench_latency(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> specs = latency_specs();
  TESSERA_ASSIGN_OR_RETURN(Args args, parse_mode(argv, specs, offline_specs(), "bench --offline"));
  if (args.has("help")) {
    std::printf(
        "usage: tessera bench [DIR] [--device cuda] --batch 1,8,32 [--input-len 512] "
        "[--output-len 128]\n"
        "       [flags]   (tessera bench --offline --help: engine throughput)\n\n%s",
        format_flag_help(specs).c_str());
    return Status::ok();
  }
  // No default batch list: a bare `tessera bench` asks which mode is meant.
  if (!args.has("batch"))
    return invalid_argument(
        "bench: give --batch B1,B2,... (prefill latency and decode speed per batch size) or "
        "--offline (engine throughput)");
  TESSERA_ASSIGN_OR_RETURN(std::vector<int64_t> batches, parse_batch_list(*args.get("batch")));
  TESSERA_ASSIGN_OR_RETURN(int64_t input_len, args.get_int("input-len", 512, 1, 1 << 20));
  TESSERA_ASSIGN_OR_RETURN(int64_t output_len, args.get_int("output-len", 128, 1, 1 << 20));
  TESSERA_ASSIGN_OR_RETURN(int64_t warmup, args.get_int("warmup", 1, 0, 1000));
  TESSERA_ASSIGN_OR_RETURN(int64_t seed, args.get_int("seed", 0, 0, INT64_MAX));
  TESSERA_ASSIGN_OR_RETURN(RunnerOptions options, runner_options_from_flags(args));

  TESSERA_ASSIGN_OR_RETURN(std::string dir, resolve_model_dir(args));
  TESSERA_ASSIGN_OR_RETURN(const ModelConfig cfg, load_config_for_model(dir));
  const int64_t seq_len = input_len + output_len;
  if (seq_len > cfg.max_position_embeddings)
    return invalid_argument("--input-len " + std::to_string(input_len) + " + --output-len " +
                            std::to_string(output_len) + " = " + std::to_string(seq_len) +
                            " tokens exceed the model's context of " +
                            std::to_string(cfg.max_position_embeddings) +
                            " (max_position_embeddings)");
  const int64_t max_batch = *std::max_element(batches.begin(), batches.end());
  const int64_t blocks_per_seq = (seq_len + options.block_size - 1) / options.block_size;
  const int64_t blocks_needed = max_batch * blocks_per_seq;
  if (blocks_needed > INT32_MAX)
    return invalid_argument("--batch " + std::to_string(max_batch) + " x " +
                            std::to_string(seq_len) + " tokens needs more than 2^31 KV blocks");
  options.max_num_seqs = static_cast<int32_t>(max_batch);
  options.max_model_len = seq_len;
  options.max_num_batched_tokens =
      std::min(max_batch * input_len, std::max(kMaxPrefillStepTokens, max_batch));
  if (options.device == "cpu") options.num_blocks = blocks_needed;  // exactly the sequences' blocks
  TESSERA_ASSIGN_OR_RETURN(auto runner, load_runner(dir, options));
  if (runner->num_blocks() < blocks_needed)
    return invalid_argument("the KV cache holds " + std::to_string(runner->num_blocks()) +
                            " blocks of " + std::to_string(runner->block_size()) +
                            " tokens; --batch " + std::to_string(max_batch) + " x (" +
                            std::to_string(input_len) + " + " + std::to_string(output_len) +
                            ") tokens needs " + std::to_string(blocks_needed) +
                            ": lower --batch or the lengths, or raise --gpu-memory-fraction");
  if (runner->max_tokens_per_step() < max_batch)
    return invalid_argument("the runner takes " + std::to_string(runner->max_tokens_per_step()) +
                            " tokens per step, fewer than --batch " + std::to_string(max_batch));
  const int64_t budget =
      std::min(runner->max_tokens_per_step(), std::max(kMaxPrefillStepTokens, max_batch));

  // The prompts of the largest batch; a batch of b takes the first b.
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(max_batch),
                                            std::vector<int32_t>(static_cast<size_t>(input_len)));
  for (auto& p : prompts)
    for (auto& t : p) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(cfg.vocab_size));

  const std::string dtype = compute_dtype_name(options);
  const int64_t weights = runner->weights_bytes(), kv = runner->kv_cache_bytes();
  std::printf("tessera bench: %s on %s, %s, %lld prompt + %lld output tokens per sequence\n",
              dir.c_str(), runner->device_name().c_str(), dtype.c_str(),
              static_cast<long long>(input_len), static_cast<long long>(output_len));
  std::printf(
      "weights %s, KV cache %s (%d blocks of %d tokens); memory = weights + KV cache as the runner "
      "reports them\n\n",
      format_bytes(static_cast<uint64_t>(weights)).c_str(),
      format_bytes(static_cast<uint64_t>(kv)).c_str(), runner->num_blocks(), runner->block_size());
  std::printf(
      "| batch | prefill ms | prefill tok/s | decode ms/step | decode tok/s | weights + KV |\n");
  std::printf(
      "|------:|-----------:|--------------:|---------------:|-------------:|-------------:|\n");
  std::fflush(stdout);

  // Keys in the order of the schema (bench/e2e/decode.py reads them by name; people read the file).
  using OrderedJson = nlohmann::ordered_json;
  OrderedJson results = OrderedJson::array();
  for (const int64_t b : batches) {
    const std::vector<std::vector<int32_t>> seqs(prompts.begin(), prompts.begin() + b);
    for (int64_t w = 0; w < warmup; ++w) {
      TESSERA_ASSIGN_OR_RETURN(
          Timing ignored,
          run_batch(*runner, seqs, budget, std::min(output_len - 1, kWarmupDecodeSteps),
                    static_cast<int32_t>(blocks_per_seq)));
      (void)ignored;
    }
    TESSERA_ASSIGN_OR_RETURN(Timing t, run_batch(*runner, seqs, budget, output_len - 1,
                                                 static_cast<int32_t>(blocks_per_seq)));
    const double prefill_tps = static_cast<double>(b * input_len) / (t.prefill_ms / 1e3);
    OrderedJson row = {{"batch", b},
                       {"prefill_ms", t.prefill_ms},
                       {"prefill_tokens_per_s", prefill_tps},
                       {"decode_ms_per_step", nullptr},
                       {"decode_tokens_per_s", nullptr},
                       {"kv_cache_bytes", kv},
                       {"peak_memory_bytes", weights + kv}};
    std::string decode_cols =
        "|              - |            - ";  // output-len 1: no decode step to time
    if (output_len > 1) {
      const double step_ms = t.decode_ms / static_cast<double>(output_len - 1);
      const double tps = static_cast<double>(b) / (step_ms / 1e3);
      row["decode_ms_per_step"] = step_ms;
      row["decode_tokens_per_s"] = tps;
      char buf[64];
      std::snprintf(buf, sizeof buf, "| %14.3f | %12.1f ", step_ms, tps);
      decode_cols = buf;
    }
    std::printf("| %5lld | %10.3f | %13.1f %s| %12s |\n", static_cast<long long>(b), t.prefill_ms,
                prefill_tps, decode_cols.c_str(),
                format_bytes(static_cast<uint64_t>(weights + kv)).c_str());
    std::fflush(stdout);
    results.push_back(std::move(row));
  }

  if (auto path = args.get("json")) {
    const OrderedJson j = {{"model", dir},
                           {"device", options.device},
                           {"dtype", dtype},
                           {"input_len", input_len},
                           {"output_len", output_len},
                           {"num_parameters", cfg.num_parameters()},
                           {"weights_bytes", weights},
                           {"results", results}};
    std::ofstream out(*path);
    out << j.dump(2) << "\n";
    if (!out) return io_error(*path + ": cannot write the results");
    std::fprintf(stderr, "wrote %s\n", path->c_str());
  }
  return Status::ok();
}

}  // namespace

Status cmd_bench(const std::vector<std::string>& argv) {
  const bool offline = std::find(argv.begin(), argv.end(), "--offline") != argv.end();
  return offline ? bench_offline(argv) : bench_latency(argv);
}

}  // namespace tessera::cli
