// src/cli/serve.cpp — `tessera serve [DIR]`: flags into ServerOptions, then run_server
// (src/server). Every flag is checked here, before anything listens or loads, so a typo is one
// error line. vLLM's spellings work where the meaning is the same: the model as the bare argument,
// --gpu-memory-utilization, --disable-log-requests (and --enable-log-requests, the default).
#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "src/cli/args.h"
#include "src/cli/commands.h"
#include "src/engine/engine_core.h"
#include "src/server/server.h"

namespace tessera::cli {

namespace {

// Splits "a,b, c" into its non-empty parts.
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t b = item.find_first_not_of(" \t");
    const size_t e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

// One malloc arena (unless MALLOC_ARENA_MAX says otherwise). With glibc's default of one per
// thread in use, a burst of requests scatters connection and event buffers over several heaps,
// and the pages they free stay resident (measured: +12 MiB after some bursts of 512 streams, none
// with one arena). The server allocates little next to what the model computes, so one lock costs
// nothing measurable (512 streams took the same time); idle trimming (server.cpp) then gives the
// freed pages back.
void limit_malloc_arenas() {
#ifdef __GLIBC__
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 1);
#endif
}

// Each connection is a file descriptor: let the server use every one the hard limit allows (the
// usual soft limit of 1024 would cap it near 1000 clients).
void raise_open_file_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

Status cmd_serve(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> specs = {
      model_flag_spec(),
      {"host", "HOST", "address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)"},
      {"port", "PORT", "TCP port (default 8000; 0 = any free port, printed at start)"},
      {"api-key", "KEY",
       "require `Authorization: Bearer KEY` on every route but /health (default: $TESSERA_API_KEY)"},
      {"cors-origin", "ORIGINS",
       "browser origins allowed to call the API, comma-separated; * = any (default: none)"},
      {"max-queue", "N",
       "requests allowed to wait beyond those running; more get 429 (default 1024; -1 = no limit)"},
      {"max-connections", "N",
       "open connections at most (default 0 = the open-file limit less a reserve)"},
      {"served-model-name", "NAME", "the model name clients use (default: the model folder's name, or the GGUF file's without .gguf)"},
      {"shutdown-timeout", "SECONDS",
       "seconds running requests get to finish on SIGTERM/SIGINT (default 30)"},
      {"max-body-bytes", "BYTES", "largest request body; larger ones get 413 (default 8388608)"},
      {"io-threads", "N", "threads serving connections (default 2)"},
      {"disable-log-requests", "", "no log line per request on stderr (logged by default)"},
      {"enable-log-requests", "", "log a line per request on stderr (the default; vLLM's flag)"},
      {"max-num-seqs", "N", "running requests at most (default 64 on cpu, 256 on a GPU)"},
      {"max-num-batched-tokens", "N",
       "token budget of one engine step (default 2048 on cpu, 8192 on a GPU)"},
      kv_cache_flag_spec(),
      {"num-kv-blocks", "N", "KV cache size in blocks (overrides --kv-cache-bytes)"},
      {"max-model-len", "N", "context length: prompt + generated tokens (default: the model's)"},
      {"block-size", "N", "tokens per KV block (default 16)"},
      {"no-prefix-caching", "", "turn the prefix cache off"},
      {"batch-invariant", "", "bit-identical logits whatever else runs (slower)"},
      {"seed", "N", "source of seeds for requests without one (default: random)"},
      engine_device_flag_specs()[0],
      engine_device_flag_specs()[1],
      help_flag_spec()};
  TESSERA_ASSIGN_OR_RETURN(Args args, Args::parse(argv, specs));
  if (args.has("help")) {
    std::printf("usage: tessera serve [DIR] [flags]\n\n"
                "An OpenAI-compatible HTTP server (/v1/completions, /v1/chat/completions,\n"
                "/v1/models, /tokenize, /detokenize, /health, /metrics) with a web UI at /.\n\n%s",
                format_flag_help(specs).c_str());
    return Status::ok();
  }
  server::ServerOptions o;
  o.host = args.get_or("host", "127.0.0.1");
  TESSERA_ASSIGN_OR_RETURN(int64_t port, args.get_int("port", 8000, 0, 65535));
  o.port = static_cast<uint16_t>(port);
  if (auto key = args.get("api-key")) {
    o.api_key = *key;
  } else if (const char* env = std::getenv("TESSERA_API_KEY")) {
    o.api_key = env;
  }
  if (args.has("api-key") && o.api_key.empty()) return invalid_argument("--api-key: the key must not be empty");
  o.cors_origins = split_list(args.get_or("cors-origin", ""));
  if (args.has("cors-origin") && o.cors_origins.empty())
    return invalid_argument("--cors-origin: give one or more origins, e.g. http://localhost:3000");
  TESSERA_ASSIGN_OR_RETURN(o.max_queue, args.get_int("max-queue", 1024, -1, INT32_MAX));
  o.served_model_name = args.get_or("served-model-name", "");
  if (args.has("served-model-name") && o.served_model_name.empty())
    return invalid_argument("--served-model-name must not be empty");
  TESSERA_ASSIGN_OR_RETURN(double grace_s, args.get_double("shutdown-timeout", 30.0, 0.0, 86400.0));
  o.shutdown_grace = std::chrono::milliseconds(static_cast<int64_t>(grace_s * 1000.0));
  TESSERA_ASSIGN_OR_RETURN(int64_t body, args.get_int("max-body-bytes", 8 << 20, 1024, int64_t{1} << 32));
  o.max_body_bytes = static_cast<size_t>(body);
  TESSERA_ASSIGN_OR_RETURN(int64_t io_threads, args.get_int("io-threads", 2, 1, 256));
  o.io_threads = static_cast<int>(io_threads);
  TESSERA_ASSIGN_OR_RETURN(o.max_connections, args.get_int("max-connections", 0, 0, INT32_MAX));
  if (args.has("disable-log-requests") && args.has("enable-log-requests"))
    return invalid_argument("--disable-log-requests and --enable-log-requests contradict: give one");
  o.log_requests = !args.has("disable-log-requests");

  EngineOptions& e = o.engine;
  // A GPU serves larger batches: vLLM's defaults there (256 sequences, an 8192-token step).
  const bool gpu = args.get_or("device", "cpu") != "cpu";
  TESSERA_ASSIGN_OR_RETURN(int64_t max_seqs, args.get_int("max-num-seqs", gpu ? 256 : e.max_num_seqs, 1, 1 << 20));
  e.max_num_seqs = static_cast<int32_t>(max_seqs);
  TESSERA_ASSIGN_OR_RETURN(e.max_num_batched_tokens, args.get_int("max-num-batched-tokens",
                                                                  gpu ? 8192 : e.max_num_batched_tokens, 1, INT32_MAX));
  TESSERA_ASSIGN_OR_RETURN(e.kv_cache_bytes, kv_cache_bytes_from_flags(args, e.kv_cache_bytes));
  TESSERA_ASSIGN_OR_RETURN(e.num_blocks, args.get_int("num-kv-blocks", 0, 0, INT32_MAX));
  TESSERA_ASSIGN_OR_RETURN(e.max_model_len, args.get_int("max-model-len", 0, 0, INT32_MAX));
  TESSERA_ASSIGN_OR_RETURN(int64_t block, args.get_int("block-size", e.block_size, 1, 1 << 16));
  e.block_size = static_cast<int32_t>(block);
  e.enable_prefix_caching = !args.has("no-prefix-caching");
  e.batch_invariant = args.has("batch-invariant");
  TESSERA_RETURN_IF_ERROR(engine_device_from_flags(args, e));
  if (args.has("seed")) {
    TESSERA_ASSIGN_OR_RETURN(int64_t seed, args.get_int("seed", 0, 0, INT64_MAX));
    e.seed = static_cast<uint64_t>(seed);
  }
  // A test hook, not a flag: tests hold the load back to see /health answer 503 meanwhile.
  if (const char* delay = std::getenv("TESSERA_SERVE_TEST_LOAD_DELAY_MS"))
    o.load_delay = std::chrono::milliseconds(std::strtoll(delay, nullptr, 10));

  // Engine options are checked before anything listens (the engine checks them again).
  TESSERA_RETURN_IF_ERROR(engine::EngineCore::validate_options(e));
  TESSERA_ASSIGN_OR_RETURN(o.model_dir, resolve_model_dir(args));
  raise_open_file_limit();
  limit_malloc_arenas();
  return server::run_server(o);
}

}  // namespace tessera::cli
