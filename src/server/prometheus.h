// src/server/prometheus.h — GET /metrics: the engine's metrics and the HTTP server's own counters
// in Prometheus text exposition format 0.0.4 (content type "text/plain; version=0.0.4").
//
// Every family has one HELP and one TYPE line before its samples, and every sample carries the
// label model_name="<served name>" (as vLLM's do, so several servers can share a dashboard).
// Counters end in _total; histograms give cumulative _bucket{le="..."} samples ending with
// le="+Inf" (= _count), then _sum and _count. Names, in the `tessera:` namespace:
//   gauges     requests_running, requests_waiting, kv_cache_usage_ratio, kv_cache_blocks
//   counters   prompt_tokens_total (prompts the engine accepted), generation_tokens_total,
//              computed_tokens_total, num_preemptions_total, prefix_cache_queries_total and
//              prefix_cache_hits_total (in tokens), engine_steps_total,
//              sample_streams_finished_total{finished_reason}, requests_admitted_total,
//              http_requests_total{route, code}, client_disconnects_total
//   histograms time_to_first_token_seconds, inter_token_latency_seconds,
//              e2e_request_latency_seconds, request_queue_time_seconds, step_tokens
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "tessera/engine.h"

namespace tessera::server {

// What the HTTP server counts that the engine cannot see. Thread-safe: any connection's handler
// may call it. Routes are label values, so their number is bounded: give the route pattern
// ("/v1/completions"), never a raw path; past kMaxRoutes distinct routes the rest count as "other".
class ServerCounters {
 public:
  static constexpr size_t kMaxRoutes = 32;

  struct Snapshot {
    std::map<std::pair<std::string, int>, int64_t> responses;  // (route, HTTP status) -> count
    int64_t prompt_tokens = 0;     // prompt tokens of generation requests the engine accepted
    int64_t admitted = 0;          // generation requests the engine accepted (one per prompt)
    int64_t disconnects = 0;       // clients that went away before their answer was complete
  };

  // One HTTP response sent (any route, any status).
  void count_response(std::string_view route, int status);
  // One engine request accepted by Engine::submit, with its prompt's tokens.
  void count_admitted(int64_t prompt_tokens);
  // A client closed its connection mid-request (its engine request is then cancelled).
  void count_disconnect();
  Snapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  Snapshot s_;
};

// The exposition text (ends with a newline). `model_name` labels every sample.
std::string prometheus_text(const EngineMetrics& engine, const ServerCounters::Snapshot& server,
                            std::string_view model_name);

// The content type to send it with.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace tessera::server
