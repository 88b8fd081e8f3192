// src/cli/bench.cpp — `tessera bench --offline`: engine throughput and latency on random prompts.
//
// N requests of random token ids (input_len each, optionally starting with a shared prefix) are
// submitted at once with max_tokens = output_len and EOS ignored, so every request generates
// exactly output_len tokens in each of its n sample streams. Timings come from the engine's event
// timestamps: TTFT is a stream's first token minus submit, inter-token latency the gaps between a
// stream's tokens. Prints a table and, with
// --json, writes the configuration and results (bench/serving/offline.py reads it).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "src/cli/args.h"
#include "src/cli/commands.h"
#include "src/core/json_util.h"
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

}  // namespace

Status cmd_bench(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> specs = {
      {"offline", false, "all requests at once, ignoring EOS (the only mode today)"},
      {"model", true, "checkpoint folder (default: the built-in demo model)"},
      {"num-prompts", true, "requests (default 64)"},
      {"input-len", true, "prompt tokens per request (default 128)"},
      {"output-len", true, "generated tokens per request (default 64)"},
      {"n", true, "completions per request, sharing the prompt's KV blocks (default 1)"},
      {"shared-prefix-len", true, "leading prompt tokens every request shares (default 0)"},
      {"max-num-seqs", true, "running requests at most (default 64)"},
      {"max-num-batched-tokens", true, "token budget of one step (default 2048)"},
      {"block-size", true, "tokens per KV block (default 16)"},
      {"kv-cache-mb", true, "KV cache size in MiB (default 512)"},
      {"no-prefix-caching", false, "turn the prefix cache off"},
      {"temperature", true, "sampling temperature, 0 = greedy (default 1.0)"},
      {"seed", true, "seed of the random prompts and of sampling (default 0)"},
      {"json", true, "write the results to this file"},
      {"help", false, "show this help"}};
  TESSERA_ASSIGN_OR_RETURN(Args args, Args::parse(argv, specs));
  if (args.has("help")) {
    std::printf("usage: tessera bench --offline [flags]\n\n%s", format_flag_help(specs).c_str());
    return Status::ok();
  }
  if (!args.has("offline")) return invalid_argument("bench: give --offline (the only mode today)");
  TESSERA_ASSIGN_OR_RETURN(int64_t num_prompts, args.get_int("num-prompts", 64, 1, 1 << 20));
  TESSERA_ASSIGN_OR_RETURN(int64_t input_len, args.get_int("input-len", 128, 1, 1 << 20));
  TESSERA_ASSIGN_OR_RETURN(int64_t output_len, args.get_int("output-len", 64, 1, 1 << 20));
  TESSERA_ASSIGN_OR_RETURN(int64_t n, args.get_int("n", 1, 1, kMaxSampleStreams));
  TESSERA_ASSIGN_OR_RETURN(int64_t shared_len, args.get_int("shared-prefix-len", 0, 0, input_len));
  TESSERA_ASSIGN_OR_RETURN(int64_t max_num_seqs, args.get_int("max-num-seqs", 64, 1, 1 << 16));
  TESSERA_ASSIGN_OR_RETURN(int64_t max_batched, args.get_int("max-num-batched-tokens", 2048, 1, 1 << 24));
  TESSERA_ASSIGN_OR_RETURN(int64_t block_size, args.get_int("block-size", 16, 1, 1024));
  TESSERA_ASSIGN_OR_RETURN(int64_t kv_mb, args.get_int("kv-cache-mb", 512, 1, 1 << 22));
  TESSERA_ASSIGN_OR_RETURN(double temperature, args.get_double("temperature", 1.0, 0.0, 100.0));
  TESSERA_ASSIGN_OR_RETURN(int64_t seed, args.get_int("seed", 0, 0, INT64_MAX));

  TESSERA_ASSIGN_OR_RETURN(std::string dir, resolve_model_dir(args));
  EngineOptions opt;
  opt.max_num_seqs = static_cast<int32_t>(max_num_seqs);
  opt.max_num_batched_tokens = max_batched;
  opt.block_size = static_cast<int32_t>(block_size);
  opt.kv_cache_bytes = kv_mb << 20;
  opt.enable_prefix_caching = !args.has("no-prefix-caching");
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

}  // namespace tessera::cli
