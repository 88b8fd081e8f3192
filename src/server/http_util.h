// src/server/http_util.h — the pure pieces of `tessera serve`'s HTTP layer, kept apart from the
// sockets so they are tested alone: route matching, the API-key check, the CORS policy, the
// chunked transfer coding that carries server-sent events, and the queue admission rule.
//
// Invariants: nothing here allocates per byte of input beyond its output, throws, or looks at
// more than the strings it is given; paths are matched exactly (no normalisation, so "/v1/../x"
// is simply not a route).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::server {

enum class Route {
  kCompletions,      // POST /v1/completions
  kChatCompletions,  // POST /v1/chat/completions
  kModels,           // GET /v1/models
  kModel,            // GET /v1/models/{id}
  kTokenize,         // POST /tokenize
  kDetokenize,       // POST /detokenize
  kHealth,           // GET /health
  kMetrics,          // GET /metrics
  kPreflight,        // OPTIONS on any API path (CORS preflight)
  kMethodNotAllowed, // an API path with the wrong method
  kOther,            // no API route: a GET may still be a web UI asset; otherwise 404
};

struct RouteMatch {
  Route route = Route::kOther;
  std::string_view path;      // the target without its query string or fragment
  std::string_view model_id;  // kModel: the {id} (may contain '/', as HF names do)
};

// The path of a request target: everything before the first '?' or '#'.
std::string_view target_path(std::string_view target);
// Matches a method and request target (HEAD counts as GET).
RouteMatch match_route(std::string_view method, std::string_view target);
// True for the routes served without `Authorization` even when an API key is set: /health (load
// balancers probe it) and CORS preflights (browsers never send credentials with those).
bool route_is_public(Route route);

// True when `authorization` is exactly "Bearer <api_key>" (the scheme case-insensitive). The key
// comparison takes the same time wherever the first difference is.
bool bearer_token_matches(std::string_view authorization, std::string_view api_key);

// Which browser origins may call the API (`--cors-origin`, repeatable; "*" allows any). Empty:
// CORS off, no Access-Control-* header is ever sent.
class CorsPolicy {
 public:
  CorsPolicy() = default;
  explicit CorsPolicy(std::vector<std::string> origins) : origins_(std::move(origins)) {}
  bool enabled() const { return !origins_.empty(); }
  // `origin` is the request's Origin header ("" when absent: never allowed).
  bool allows(std::string_view origin) const;
  // The headers of an allowed origin's answers: Access-Control-Allow-Origin echoes the origin
  // (with Vary: Origin), which works whether or not the browser sends credentials.
  static constexpr std::string_view kAllowMethods = "GET, POST, OPTIONS";
  static constexpr std::string_view kAllowHeaders = "Authorization, Content-Type";
  static constexpr std::string_view kMaxAgeSeconds = "600";

 private:
  std::vector<std::string> origins_;
};

// One chunk of the chunked transfer coding: hex size, CRLF, payload, CRLF. An empty payload would
// end the body, so it gives "" (nothing to send).
std::string http_chunk(std::string_view payload);
// The chunk that ends a chunked body (no trailers).
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";
// A server-sent-events comment, which clients ignore: keeps idle proxies and sockets open while a
// request waits in the queue or between slow tokens.
inline constexpr std::string_view kSseKeepAlive = ": keep-alive\n\n";

// The queue rule of `--max-queue`: a request of `incoming` engine requests is admitted when the
// requests then waiting — those in flight beyond what can run (`max_running`), or the engine's own
// count of waiting ones when KV blocks hold more back — stay within `max_queue` (< 0: no limit).
bool admits(int64_t in_flight, int64_t incoming, int64_t max_running, int64_t engine_waiting, int64_t max_queue);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// `content_length` values of format_response_head that are not a length.
inline constexpr int64_t kChunkedBody = -1;     // Transfer-Encoding: chunked (HTTP/1.1 streams)
inline constexpr int64_t kBodyUntilClose = -2;  // no framing header: the body ends with the connection
                                                // (streams to HTTP/1.0 clients, which know no chunks)

// The status line and headers of a response, ending with the blank line: Content-Length for a
// length >= 0, else as kChunkedBody / kBodyUntilClose say; 1xx and 204 get no framing header.
// Connection says keep-alive or close.
std::string format_response_head(int status, const HeaderList& headers, int64_t content_length, bool keep_alive);

// One request of the access log (`tessera serve` writes one line per request unless
// --disable-log-requests), as vLLM's and llama-server's logs carry it.
struct RequestLogEntry {
  std::string_view method;
  std::string_view target;      // the path is logged, never the query (it may hold secrets)
  std::string_view peer;        // client address:port
  int status = 0;               // the status sent; 499 when the client left before the answer
  int64_t prompt_tokens = -1;   // generation routes only (-1: not logged)
  int64_t completion_tokens = -1;
  double latency_ms = 0;        // from the request's headers read to the response's last byte queued
  std::string_view request_id;  // the X-Request-Id of a generation ("" when none)
};
// `POST /v1/completions 200 127.0.0.1:5000 prompt_tokens=5 completion_tokens=16 412.3ms id=cmpl-...`
std::string format_request_log(const RequestLogEntry& entry);

}  // namespace tessera::server
