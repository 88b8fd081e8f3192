// src/server/server.h — `tessera serve`: the OpenAI-compatible server around one engine.
//
// Life of a server: start() listens at once (GET /health answers 503 "loading" while the model
// loads, so orchestrators see a live process), load_model() builds the engine and the API layer's
// model context and flips /health to 200, shutdown() drains: no new connections or generation
// requests, running ones get `grace` to finish, the rest are cancelled, then the threads stop.
// run_server() strings these together around SIGTERM/SIGINT for the CLI.
//
// Requests (server.cpp): the web UI's files are public; every other route but /health and CORS
// preflights needs `Authorization: Bearer <api key>` when a key is set; CORS headers go only to
// allowed origins; completions beyond the queue limit get 429 with Retry-After. Generation itself
// runs through http_generation.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "src/server/openai_api.h"
#include "tessera/engine.h"
#include "tessera/status.h"

namespace tessera::server {

struct ServerOptions {
  std::string model_dir;           // a checkpoint folder (the CLI resolves the demo model)
  std::string served_model_name;   // the "model" clients send; "" = the folder's name
  std::string host = "127.0.0.1";
  uint16_t port = 8000;            // 0: any free port
  std::string api_key;             // "" = no key needed
  std::vector<std::string> cors_origins;  // allowed browser origins; "*" = any; empty = CORS off
  int64_t max_queue = 1024;        // engine requests waiting beyond those that can run; < 0: no limit
  std::chrono::milliseconds shutdown_grace{30'000};  // for running requests on SIGTERM
  int io_threads = 2;
  size_t max_body_bytes = 8u << 20;
  // Open connections at most; 0 = the open-file limit less a reserve. Past it a few more are
  // taken, answered (GET /health normally, anything else 503) and closed, so an orchestrator's
  // health check still gets through when idle clients hold every slot.
  int64_t max_connections = 0;
  // One log line per request on stderr: method, path, status, tokens, latency, request id.
  bool log_requests = true;
  EngineOptions engine;
  ApiLimits limits;
  // Test hook: hold the model load back this long (tests see /health answer 503 while loading).
  std::chrono::milliseconds load_delay{0};
};

class Server {
 public:
  // Listens; /health answers 503 until load_model() succeeds.
  static Expected<std::unique_ptr<Server>> start(ServerOptions options);
  ~Server();  // shutdown(0) if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  std::string url() const;  // http://host:port
  const std::string& model_name() const;
  // Loads the engine and the model's API context (blocks; run it off the thread that handles
  // signals). Requests that need the model get 503 until it returns.
  Status load_model();
  // Graceful stop. `cut_short`, polled while waiting, ends the grace early (a second signal).
  // Idempotent. After it the engine is gone and every connection closed.
  void shutdown(std::chrono::milliseconds grace, const std::function<bool()>& cut_short = {});

  // For tests and logs: engine requests in flight, generation calls, open connections.
  int64_t requests_in_flight() const;
  size_t open_connections() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `tessera serve`: start, load, print the URL, serve until SIGTERM or SIGINT, shut down
// gracefully. OK after a clean shutdown; an error when it cannot listen or load the model.
Status run_server(const ServerOptions& options);

}  // namespace tessera::server
