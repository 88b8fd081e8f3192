// src/cli/commands.h — the `tessera` subcommands. Each returns a Status; main() prints a non-ok
// one as a single line and exits non-zero (2 for usage errors, 1 otherwise).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/cli/args.h"
#include "src/model/model_runner.h"
#include "tessera/engine.h"
#include "tessera/status.h"

namespace tessera::cli {

struct Command {
  const char* name;
  const char* summary;
  Status (*run)(const std::vector<std::string>& args);
};

const std::vector<Command>& commands();

// `-m, --model DIR`, also given as the command's one bare argument (`tessera serve DIR`, as vLLM
// takes it), and `-h, --help`: the flags every command that loads a model declares.
FlagSpec model_flag_spec();
FlagSpec help_flag_spec();

// The folder of --model (or the bare argument), or the built-in demo model (made on first use);
// notes random weights on stderr. Shared by every command that loads a model.
Expected<std::string> resolve_model_dir(const Args& args);

// The flags that pick and shape the backend, shared by generate, logits, perplexity and bench:
// --device cpu|cuda|cuda:N (default cpu), --dtype (cuda: bf16|f16, default bf16; the cpu computes
// in f32 and accepts only f32, so nobody believes a cpu run was bf16), --gpu-memory-fraction (alias
// vLLM's --gpu-memory-utilization; cuda only, in (0, 1], default 0.9) and --block-size (tokens per
// KV block, default 16).
std::vector<FlagSpec> runner_flag_specs();
// RunnerOptions from those flags; each bad value is an error naming its flag. The caller sizes the
// cache (num_blocks, max_model_len, ...).
Expected<RunnerOptions> runner_options_from_flags(const Args& args);
// The engine's --device and --gpu-memory-fraction (serve, bench --offline): the flags' specs, and
// their values into `options` (each bad value an error naming its flag).
std::vector<FlagSpec> engine_device_flag_specs();
Status engine_device_from_flags(const Args& args, EngineOptions& options);
// The KV cache size of serve and bench --offline: `--kv-cache-bytes N` in bytes, or under its alias
// `--kv-cache-mb N` in MiB (one flag: giving both is "given twice"). The spec, and the size in
// bytes (`fallback` when absent).
FlagSpec kv_cache_flag_spec();
Expected<int64_t> kv_cache_bytes_from_flags(const Args& args, int64_t fallback);
// "f32" on the cpu, else the GPU dtype of `options`: for messages and bench's JSON.
std::string compute_dtype_name(const RunnerOptions& options);
// create_model_runner, with a "loaded ... in Xs" line on stderr.
Expected<std::unique_ptr<ModelRunner>> load_runner(const std::string& model_dir,
                                                   const RunnerOptions& options);

// `tessera bench`: latency per batch size, or --offline engine throughput (src/cli/bench.cpp).
Status cmd_bench(const std::vector<std::string>& args);
// `tessera serve` (src/cli/serve.cpp; built when the server library is).
Status cmd_serve(const std::vector<std::string>& args);

}  // namespace tessera::cli
