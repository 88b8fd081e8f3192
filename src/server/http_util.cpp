// src/server/http_util.cpp — route matching, API-key check, CORS policy, chunk framing and the
// queue rule (http_util.h). Pure functions: no sockets, no engine.
#include "src/server/http_util.h"

#include <algorithm>
#include <ostream>  // status.hpp needs it and does not include it (Boost 1.74)
#include <boost/beast/http/status.hpp>
#include <cctype>
#include <cstdio>

namespace tessera::server {

namespace http = boost::beast::http;

std::string_view target_path(std::string_view target) {
  const size_t end = target.find_first_of("?#");
  return end == std::string_view::npos ? target : target.substr(0, end);
}

RouteMatch match_route(std::string_view method, std::string_view target) {
  RouteMatch m;
  m.path = target_path(target);
  const std::string_view path = m.path;
  const bool is_get = method == "GET" || method == "HEAD";
  const bool is_post = method == "POST";

  // API paths and the one method each accepts.
  struct Fixed {
    std::string_view path;
    Route route;
    bool post;
  };
  static constexpr Fixed kFixed[] = {
      {"/v1/completions", Route::kCompletions, true},
      {"/v1/chat/completions", Route::kChatCompletions, true},
      {"/v1/models", Route::kModels, false},
      {"/tokenize", Route::kTokenize, true},
      {"/detokenize", Route::kDetokenize, true},
      {"/health", Route::kHealth, false},
      {"/metrics", Route::kMetrics, false},
  };
  constexpr std::string_view kModelPrefix = "/v1/models/";
  Route route = Route::kOther;
  bool wants_post = false;
  for (const Fixed& f : kFixed) {
    if (path == f.path) {
      route = f.route;
      wants_post = f.post;
    }
  }
  if (route == Route::kOther && path.size() > kModelPrefix.size() && path.starts_with(kModelPrefix)) {
    route = Route::kModel;
    m.model_id = path.substr(kModelPrefix.size());
  }
  if (route == Route::kOther) return m;  // maybe a web asset, else 404: the caller decides
  if (method == "OPTIONS") {
    m.route = Route::kPreflight;
    return m;
  }
  m.route = (wants_post ? is_post : is_get) ? route : Route::kMethodNotAllowed;
  return m;
}

bool route_is_public(Route route) { return route == Route::kHealth || route == Route::kPreflight; }

bool bearer_token_matches(std::string_view authorization, std::string_view api_key) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  const std::string_view given = authorization.substr(kScheme.size());
  // Constant time in the key's content: every byte is compared whatever differs first. The
  // length is not secret enough to hide (it leaks through the request size anyway).
  unsigned diff = given.size() == api_key.size() ? 0u : 1u;
  for (size_t i = 0; i < given.size(); ++i) {
    const unsigned char k = api_key.empty() ? 0 : static_cast<unsigned char>(api_key[i % api_key.size()]);
    diff |= static_cast<unsigned>(static_cast<unsigned char>(given[i]) ^ k);
  }
  return diff == 0 && !api_key.empty();
}

bool CorsPolicy::allows(std::string_view origin) const {
  if (origin.empty()) return false;
  return std::any_of(origins_.begin(), origins_.end(),
                     [&](const std::string& o) { return o == "*" || o == origin; });
}

std::string http_chunk(std::string_view payload) {
  if (payload.empty()) return {};
  char size[24];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", payload.size());
  std::string out;
  out.reserve(static_cast<size_t>(n) + payload.size() + 2);
  out.append(size, static_cast<size_t>(n));
  out.append(payload);
  out.append("\r\n");
  return out;
}

bool admits(int64_t in_flight, int64_t incoming, int64_t max_running, int64_t engine_waiting, int64_t max_queue) {
  if (max_queue < 0) return true;
  const int64_t beyond_running = std::max<int64_t>(0, in_flight + incoming - max_running);
  // When the engine already holds requests back (KV blocks short), newcomers queue behind them.
  const int64_t waiting = std::max(beyond_running, engine_waiting > 0 ? engine_waiting + incoming : 0);
  return waiting <= max_queue;
}

std::string format_response_head(int status, const HeaderList& headers, int64_t content_length, bool keep_alive) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  head.append(reason.data(), reason.size());
  head += "\r\n";
  for (const auto& [name, value] : headers) {
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (status == 204 || status < 200) {
    // No body and so no framing header (RFC 9110 8.6).
  } else if (content_length >= 0) {
    head += "Content-Length: " + std::to_string(content_length) + "\r\n";
  } else if (content_length == kChunkedBody) {
    head += "Transfer-Encoding: chunked\r\n";
  }
  head += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return head;
}

std::string format_request_log(const RequestLogEntry& e) {
  std::string line;
  line.reserve(128);
  line += e.method;
  line += ' ';
  // Control characters would let a client forge log lines; the path is printable in practice.
  for (char c : target_path(e.target)) line += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  line += ' ' + std::to_string(e.status);
  if (!e.peer.empty()) {
    line += ' ';
    line += e.peer;
  }
  if (e.prompt_tokens >= 0) line += " prompt_tokens=" + std::to_string(e.prompt_tokens);
  if (e.completion_tokens >= 0) line += " completion_tokens=" + std::to_string(e.completion_tokens);
  char latency[32];
  std::snprintf(latency, sizeof(latency), " %.1fms", e.latency_ms);
  line += latency;
  if (!e.request_id.empty()) {
    line += " id=";
    line += e.request_id;
  }
  return line;
}

}  // namespace tessera::server
