// src/server/server.cpp — routes, access rules and life cycle of `tessera serve` (server.h).
//
// Invariants: the engine and model context are set once, before `ready` turns true, and are
// destroyed only after the HTTP threads have stopped and every generation call is detached from
// its streams; no handler blocks on the engine (generation goes through http_generation.h); every
// answer, error or not, carries the CORS headers of an allowed origin and is counted in /metrics.
#include "src/server/server.h"

#include <signal.h>
#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "src/server/http_generation.h"
#include "src/server/http_server.h"
#include "src/server/http_util.h"
#include "src/server/prometheus.h"
#include "src/server/web_assets.h"

namespace tessera::server {

namespace {

using Clock = std::chrono::steady_clock;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

HttpResponse error_response(const ApiError& error) {
  HttpResponse r;
  r.status = error.status;
  r.body = error_body(error);
  return r;
}

// The transport's own errors (malformed request, body or headers too large) in OpenAI's shape.
HttpResponse transport_error(int status, std::string message) {
  if (status == 413) {
    ApiError e = ApiError::invalid("", std::move(message));
    e.status = 413;
    e.code = "payload_too_large";
    return error_response(e);
  }
  ApiError e = ApiError::invalid("", std::move(message));
  e.status = status;
  return error_response(e);
}

// The label of a request in http_requests_total: the route pattern, never the raw path.
std::string route_label(const RouteMatch& m) {
  switch (m.route) {
    case Route::kModel: return "/v1/models/{id}";
    case Route::kOther: return "other";
    case Route::kMethodNotAllowed: return "method_not_allowed";
    case Route::kPreflight: return "preflight";
    default: return std::string(m.path);
  }
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  CorsPolicy cors;
  std::string model_name;
  int64_t created_unix = unix_now();
  std::unique_ptr<HttpServer> http;

  // Set once by load_model, then `ready`.
  std::unique_ptr<Engine> engine;
  std::optional<ModelContext> model;
  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};
  bool stopped = false;

  ServerCounters counters;
  LiveRequests live;

  // Returns freed heap to the OS once a burst of requests is over (see trim_when_idle).
  std::thread trimmer;
  std::mutex trimmer_mu;
  std::condition_variable trimmer_cv;
  bool trimmer_stop = false;
  void trim_when_idle();

  void handle(const std::shared_ptr<HttpExchange>& ex);
  void handle_generation(const std::shared_ptr<HttpExchange>& ex, Endpoint endpoint, HeaderList headers,
                         const std::string& route);
  // Bytes of request and response bodies since the trimmer last ran: a burst of large /tokenize
  // calls fragments the heap as a burst of generations does.
  std::atomic<int64_t> body_bytes{0};

  void reply(const std::shared_ptr<HttpExchange>& ex, const std::string& route, HttpResponse r, const HeaderList& cors_headers) {
    counters.count_response(route, r.status);
    body_bytes += static_cast<int64_t>(ex->request().body.size() + r.body.size());
    if (options.log_requests) {
      const bool polled = route == "/health" || route == "/metrics" || route == "web";
      log_request(ex->request(), r.status, nullptr, "", polled);
    }
    for (const auto& h : cors_headers) r.headers.push_back(h);
    ex->respond(std::move(r));
  }
  GenerationDeps deps() { return GenerationDeps{engine.get(), &*model, &counters, &live, options.log_requests}; }
};

// A burst of requests leaves the heap fragmented: the allocator keeps the freed pages of hundreds
// of connections and responses, and the resident size stays at the burst's peak. Half a second
// after the last request of a burst ended, with nothing in flight, hand the free pages back
// (malloc_trim walks every arena; it takes a few milliseconds, and only while idle). A burst is
// generations that ended, or a MiB of other bodies (a few large /tokenize calls): polls of
// /health and /metrics alone never trigger it.
void Server::Impl::trim_when_idle() {
  constexpr int64_t kTrimAfterBodyBytes = 1 << 20;
  int64_t trimmed_at = 0;
  std::unique_lock<std::mutex> lock(trimmer_mu);
  while (!trimmer_cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return trimmer_stop; })) {
    const int64_t released = live.released_total();
    if ((released == trimmed_at && body_bytes.load() < kTrimAfterBodyBytes) || live.in_flight() != 0) continue;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    trimmed_at = released;
    body_bytes = 0;
  }
}

void Server::Impl::handle(const std::shared_ptr<HttpExchange>& ex) {
  const HttpRequest& req = ex->request();
  const RouteMatch m = match_route(req.method, req.target);
  const std::string route = route_label(m);
  const std::string origin(req.header("origin").value_or(""));
  HeaderList cors_headers;
  if (cors.allows(origin)) {
    cors_headers = {{"Access-Control-Allow-Origin", origin},
                    {"Vary", "Origin"},
                    {"Access-Control-Expose-Headers", "X-Request-Id, Retry-After"}};
  }
  auto fail = [&](const ApiError& e, HeaderList extra = {}) {
    HttpResponse r = error_response(e);
    r.headers = std::move(extra);
    reply(ex, route, std::move(r), cors_headers);
  };
  auto ok_json = [&](std::string body) {
    HttpResponse r;
    r.body = std::move(body);
    reply(ex, route, std::move(r), cors_headers);
  };

  // The web UI: public files (the page asks for the API key itself).
  if (m.route == Route::kOther && (req.method == "GET" || req.method == "HEAD")) {
    if (const WebAsset* asset = find_web_asset(m.path)) {
      HttpResponse r;
      r.content_type = std::string(asset->content_type);
      r.body = std::string(asset->body);
      r.headers = {{"Cache-Control", "no-cache"}, {"X-Content-Type-Options", "nosniff"}};
      reply(ex, "web", std::move(r), {});
      return;
    }
  }
  if (m.route == Route::kPreflight) {
    HttpResponse r;
    r.content_type.clear();
    if (origin.empty()) {  // not a browser's preflight: just say what the path takes
      r.status = 204;
      r.headers = {{"Allow", std::string(CorsPolicy::kAllowMethods)}};
      return reply(ex, route, std::move(r), {});
    }
    if (!cors.allows(origin)) {
      ApiError e = ApiError::invalid("Origin", "CORS: origin '" + origin + "' is not allowed (see --cors-origin)");
      e.status = 403;
      return fail(e);
    }
    r.status = 204;
    const std::string asked(req.header("access-control-request-headers").value_or(""));
    r.headers = {{"Access-Control-Allow-Methods", std::string(CorsPolicy::kAllowMethods)},
                 {"Access-Control-Allow-Headers", asked.empty() ? std::string(CorsPolicy::kAllowHeaders) : asked},
                 {"Access-Control-Max-Age", std::string(CorsPolicy::kMaxAgeSeconds)}};
    return reply(ex, route, std::move(r), cors_headers);
  }
  if (!options.api_key.empty() && !route_is_public(m.route) &&
      !bearer_token_matches(req.header("authorization").value_or(""), options.api_key)) {
    return fail(ApiError::unauthorized(), {{"WWW-Authenticate", "Bearer"}});
  }
  switch (m.route) {
    case Route::kOther: return fail(ApiError::not_found(req.method + " " + std::string(m.path)));
    case Route::kMethodNotAllowed:
      return fail(ApiError::method_not_allowed(req.method, m.path), {{"Allow", std::string(CorsPolicy::kAllowMethods)}});
    case Route::kHealth:
      if (draining) return fail(ApiError::unavailable("the server is shutting down"));
      if (!ready) return fail(ApiError::unavailable("the model is loading"));
      return ok_json("{\"status\": \"ok\"}");
    default: break;
  }
  if (draining && (m.route == Route::kCompletions || m.route == Route::kChatCompletions))
    return fail(ApiError::unavailable("the server is shutting down"));
  if (!ready) return fail(ApiError::unavailable("the model is loading"), {{"Retry-After", "1"}});

  switch (m.route) {
    case Route::kMetrics: {
      HttpResponse r;
      r.content_type = kPrometheusContentType;
      r.body = prometheus_text(engine->metrics(), counters.snapshot(), model->model_name);
      return reply(ex, route, std::move(r), cors_headers);
    }
    case Route::kModels: return ok_json(models_body(*model, created_unix));
    case Route::kModel: {
      auto body = model_body(m.model_id, *model, created_unix);
      if (auto* e = std::get_if<ApiError>(&body)) return fail(*e);
      return ok_json(std::move(std::get<std::string>(body)));
    }
    case Route::kTokenize:
    case Route::kDetokenize: {
      auto body = m.route == Route::kTokenize ? tokenize_body(req.body, *model, options.limits)
                                              : detokenize_body(req.body, *model, options.limits);
      if (auto* e = std::get_if<ApiError>(&body)) return fail(*e);
      return ok_json(std::move(std::get<std::string>(body)));
    }
    case Route::kCompletions:
      return handle_generation(ex, Endpoint::kCompletions, cors_headers, route);
    case Route::kChatCompletions:
      return handle_generation(ex, Endpoint::kChatCompletions, cors_headers, route);
    default: return fail(ApiError::internal("unrouted request"));
  }
}

void Server::Impl::handle_generation(const std::shared_ptr<HttpExchange>& ex, Endpoint endpoint, HeaderList headers,
                                     const std::string& route) {
  auto parsed = parse_request(endpoint, ex->request().body, *model, options.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) {
    HttpResponse r = error_response(*e);
    return reply(ex, route, std::move(r), headers);
  }
  ApiRequest& request = std::get<ApiRequest>(parsed);
  const auto incoming = static_cast<int64_t>(request.prompts.size());
  const EngineInfo& info = engine->info();
  if (!live.try_admit(incoming, info.max_num_seqs, engine->metrics().num_waiting, options.max_queue)) {
    HttpResponse r = error_response(ApiError::too_many_requests(
        "the server's queue is full (" + std::to_string(options.max_queue) +
        " waiting requests, --max-queue); retry later"));
    r.headers = {{"Retry-After", "1"}};
    return reply(ex, route, std::move(r), headers);
  }
  start_generation(deps(), ex, std::move(request), std::move(headers), route);
}

// ---- Server ------------------------------------------------------------------------------------

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { shutdown(std::chrono::milliseconds(0)); }

Expected<std::unique_ptr<Server>> Server::start(ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->cors = CorsPolicy(options.cors_origins);
  impl->model_name = options.served_model_name;
  if (impl->model_name.empty()) {
    std::filesystem::path p(options.model_dir);
    impl->model_name = (p.has_filename() ? p.filename() : p.parent_path().filename()).string();
    if (p.extension() == ".gguf") impl->model_name = p.stem().string();  // a GGUF file: its name
  }
  if (impl->model_name.empty()) impl->model_name = "model";
  HttpServerOptions http;
  http.host = options.host;
  http.port = options.port;
  http.num_threads = options.io_threads;
  http.max_body_bytes = options.max_body_bytes;
  http.max_connections = static_cast<size_t>(options.max_connections);
  if (options.max_connections == 0) {
    // Every connection is a descriptor; keep some for the model's files, the engine and the
    // overflow slots, so accept() never fails for want of one.
    constexpr rlim_t kReserve = 64;
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
      http.max_connections = static_cast<size_t>(lim.rlim_cur > 2 * kReserve ? lim.rlim_cur - kReserve : lim.rlim_cur / 2);
  }
  http.overflow_paths = {"/health"};
  impl->options = std::move(options);
  Impl* raw = impl.get();
  http.make_error = [raw](int status, std::string message) {
    raw->counters.count_response("transport", status);  // malformed, too large: never routed
    return transport_error(status, std::move(message));
  };
  TESSERA_ASSIGN_OR_RETURN(impl->http, HttpServer::start(std::move(http), [raw](std::shared_ptr<HttpExchange> ex) {
                             raw->handle(ex);
                           }));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

uint16_t Server::port() const { return impl_->http->port(); }

std::string Server::url() const {
  const std::string& host = impl_->options.host;
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port());
}

const std::string& Server::model_name() const { return impl_->model_name; }

Status Server::load_model() {
  if (impl_->ready) return Status::ok();
  if (impl_->options.load_delay.count() > 0) std::this_thread::sleep_for(impl_->options.load_delay);
  TESSERA_ASSIGN_OR_RETURN(auto engine, Engine::create(impl_->options.model_dir, impl_->options.engine));
  TESSERA_ASSIGN_OR_RETURN(ModelContext model, load_model_context(impl_->options.model_dir, impl_->model_name, engine->info()));
  impl_->engine = std::move(engine);
  impl_->model = std::move(model);
  impl_->ready.store(true, std::memory_order_release);
  impl_->trimmer = std::thread([impl = impl_.get()] { impl->trim_when_idle(); });
  return Status::ok();
}

void Server::shutdown(std::chrono::milliseconds grace, const std::function<bool()>& cut_short) {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  s.draining = true;
  s.http->begin_shutdown();
  // Waits until `done` or `deadline`, polling; only the grace period may be cut short.
  auto wait = [&](Clock::time_point deadline, const std::function<bool()>& done, bool interruptible) {
    while (!done() && Clock::now() < deadline) {
      if (interruptible && cut_short && cut_short()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  auto no_calls = [&] { return s.live.size() == 0; };
  wait(Clock::now() + grace, no_calls, true);
  if (!no_calls()) {
    std::fprintf(stderr, "tessera serve: cancelling %zu requests still running\n", s.live.size());
    for (const auto& call : s.live.calls()) call->cancel();
    // The engine ends cancelled requests before its next step; their last events then go out.
    wait(Clock::now() + std::chrono::seconds(10), no_calls, false);
  }
  // Let the last answers reach their clients (connections close after their response).
  wait(Clock::now() + std::chrono::seconds(3), [&] { return s.http->open_connections() == 0; }, false);
  s.http->stop();
  {
    std::lock_guard<std::mutex> lock(s.trimmer_mu);
    s.trimmer_stop = true;
  }
  s.trimmer_cv.notify_all();
  if (s.trimmer.joinable()) s.trimmer.join();
  for (const auto& call : s.live.calls()) call->detach();
  s.engine.reset();
  s.live.clear();
}

int64_t Server::requests_in_flight() const { return impl_->live.in_flight(); }

size_t Server::open_connections() const { return impl_->http->open_connections(); }

// ---- run_server --------------------------------------------------------------------------------

namespace {

// SIGTERM/SIGINT only count here; the main thread polls the count. A handler (not a blocked mask
// and sigwait) because threads we do not create — OpenBLAS's pool starts before main — would
// otherwise take the signal's default action and kill the process.
std::atomic<int> g_signals{0};
std::atomic<int> g_last_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free counter");

extern "C" void count_signal(int sig) {
  g_last_signal.store(sig);
  g_signals.fetch_add(1);
}

}  // namespace

Status run_server(const ServerOptions& options) {
  struct sigaction action {};
  action.sa_handler = count_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a write to a closed socket is an error code, not a signal
  int seen = g_signals.load();
  // The next signal not seen yet, waiting up to `timeout_ms`; -1 when none came.
  auto take_signal = [&](int timeout_ms) -> int {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (g_signals.load() > seen) {
        ++seen;
        return g_last_signal.load();
      }
      if (Clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };

  TESSERA_ASSIGN_OR_RETURN(auto server, Server::start(options));
  std::printf("tessera serve: listening on %s, loading %s\n", server->url().c_str(), options.model_dir.c_str());
  std::fflush(stdout);

  std::atomic<bool> loaded{false};
  Status load_status;
  const auto t0 = Clock::now();
  std::thread loader([&] {
    load_status = server->load_model();
    loaded = true;
  });
  int sig = -1;
  while (!loaded && sig < 0) sig = take_signal(100);
  if (sig >= 0) {
    // The load cannot be interrupted: wait for it, then stop as after any signal.
    std::fprintf(stderr, "tessera serve: %s while loading: stopping once the load ends\n", strsignal(sig));
  }
  loader.join();
  if (!load_status.is_ok()) {
    server->shutdown(std::chrono::milliseconds(0));
    return load_status.with_context("loading " + options.model_dir + ": ");
  }
  if (sig < 0) {
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("tessera serve: ready in %.1fs at %s  (model \"%s\"; OpenAI API at %s/v1, web UI at %s/)\n", secs,
                server->url().c_str(), server->model_name().c_str(), server->url().c_str(), server->url().c_str());
    std::fflush(stdout);
    while (sig < 0) sig = take_signal(1000);
  }
  std::fprintf(stderr, "tessera serve: %s: shutting down (up to %.0fs for running requests; again to cut short)\n",
               strsignal(sig), std::chrono::duration<double>(options.shutdown_grace).count());
  server->shutdown(options.shutdown_grace, [&] { return take_signal(0) >= 0; });
  std::fprintf(stderr, "tessera serve: stopped\n");
  return Status::ok();
}

}  // namespace tessera::server
