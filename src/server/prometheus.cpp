// src/server/prometheus.cpp — ServerCounters and the Prometheus text exposition (format 0.0.4) of
// the engine's and the server's metrics. See prometheus.h for the names and invariants.
#include "src/server/prometheus.h"

#include <charconv>
#include <cmath>
#include <string>

namespace tessera::server {

void ServerCounters::count_response(std::string_view route, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key(route);
  // A new route beyond the bound joins "other", so a flood of odd paths cannot grow the output.
  bool known = false;
  size_t routes = 0;
  std::string last;
  for (const auto& [k, v] : s_.responses) {
    if (k.first == key) known = true;
    if (k.first != last) {
      ++routes;
      last = k.first;
    }
  }
  if (!known && routes >= kMaxRoutes) key = "other";
  ++s_.responses[{key, status}];
}

void ServerCounters::count_admitted(int64_t prompt_tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  ++s_.admitted;
  s_.prompt_tokens += prompt_tokens;
}

void ServerCounters::count_disconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  ++s_.disconnects;
}

ServerCounters::Snapshot ServerCounters::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return s_;
}

namespace {

// Go's ParseFloat reads these; shortest round-trip digits for the rest.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string escape(std::string_view s, bool quote_too) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quote_too) out += "\\\"";
    else out += c;
  }
  return out;
}

class Exposition {
 public:
  explicit Exposition(std::string_view model_name) : model_label_("model_name=\"" + escape(model_name, true) + "\"") {}

  void family(const std::string& name, const char* type, const char* help) {
    out_ += "# HELP " + name + " " + escape(help, false) + "\n# TYPE " + name + " " + type + "\n";
  }
  // `labels`: extra label pairs, already escaped ("le=\"0.5\"").
  void sample(const std::string& name, const std::string& value, const std::string& labels = "") {
    out_ += name + "{" + model_label_ + (labels.empty() ? "" : "," + labels) + "} " + value + "\n";
  }
  void gauge(const std::string& name, const char* help, double v) {
    family(name, "gauge", help);
    sample(name, number(v));
  }
  void counter(const std::string& name, const char* help, int64_t v) {
    family(name, "counter", help);
    sample(name, std::to_string(v));
  }
  void histogram(const std::string& name, const char* help, const Histogram& h) {
    family(name, "histogram", help);
    int64_t cumulative = 0;
    for (size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += i < h.counts.size() ? h.counts[i] : 0;
      sample(name + "_bucket", std::to_string(cumulative), "le=\"" + number(h.bounds[i]) + "\"");
    }
    // +Inf holds every observation; the engine's last count is the overflow bucket.
    for (size_t i = h.bounds.size(); i < h.counts.size(); ++i) cumulative += h.counts[i];
    sample(name + "_bucket", std::to_string(cumulative), "le=\"+Inf\"");
    sample(name + "_sum", number(h.sum));
    sample(name + "_count", std::to_string(cumulative));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string model_label_;
  std::string out_;
};

}  // namespace

std::string prometheus_text(const EngineMetrics& m, const ServerCounters::Snapshot& server, std::string_view model_name) {
  Exposition e(model_name);
  e.gauge("tessera:requests_running", "Sample streams in the running batch.", static_cast<double>(m.num_running));
  e.gauge("tessera:requests_waiting", "Sample streams waiting to be scheduled.", static_cast<double>(m.num_waiting));
  e.gauge("tessera:kv_cache_usage_ratio", "Fraction of KV cache blocks held by requests (0 to 1).", m.kv_cache_usage);
  e.gauge("tessera:kv_cache_blocks", "KV cache blocks in total.", static_cast<double>(m.num_kv_blocks));

  e.counter("tessera:prompt_tokens_total", "Prompt tokens of the generation requests the engine accepted.",
            server.prompt_tokens);
  e.counter("tessera:generation_tokens_total", "Tokens generated (sampled).", m.generated_tokens);
  e.counter("tessera:computed_tokens_total", "Tokens run through the model: prompts, recomputation and decode.",
            m.computed_tokens);
  e.counter("tessera:num_preemptions_total", "Sample streams preempted for lack of KV blocks (later recomputed).",
            m.num_preemptions);
  e.counter("tessera:prefix_cache_queries_total", "Tokens looked up in the prefix cache when requests were admitted.",
            m.prefix_cache_query_tokens);
  e.counter("tessera:prefix_cache_hits_total", "Of the prefix cache's queried tokens, those found in the cache.",
            m.prefix_cache_hit_tokens);
  e.counter("tessera:engine_steps_total", "Engine steps (batches run through the model).", m.num_steps);

  e.family("tessera:sample_streams_finished_total", "counter", "Sample streams finished, by finish reason.");
  static const char* kReasons[4] = {"stop", "length", "abort", "error"};  // FinishReason order
  for (int r = 0; r < 4; ++r)
    e.sample("tessera:sample_streams_finished_total", std::to_string(m.requests_finished[r]),
             std::string("finished_reason=\"") + kReasons[r] + "\"");

  e.counter("tessera:requests_admitted_total", "Generation requests the engine accepted (one per prompt).",
            server.admitted);
  e.family("tessera:http_requests_total", "counter", "HTTP responses sent, by route and status code.");
  for (const auto& [key, count] : server.responses)
    e.sample("tessera:http_requests_total", std::to_string(count),
             "route=\"" + escape(key.first, true) + "\",code=\"" + std::to_string(key.second) + "\"");
  e.counter("tessera:client_disconnects_total", "Clients that closed the connection before their answer was complete.",
            server.disconnects);

  e.histogram("tessera:time_to_first_token_seconds", "Time from arrival to a sample stream's first token.",
              m.time_to_first_token_s);
  e.histogram("tessera:inter_token_latency_seconds", "Time between consecutive tokens of a sample stream.",
              m.inter_token_latency_s);
  e.histogram("tessera:e2e_request_latency_seconds", "Time from arrival to a request's last token.", m.e2e_latency_s);
  e.histogram("tessera:request_queue_time_seconds", "Time from arrival to a request's first scheduling.",
              m.queue_time_s);
  e.histogram("tessera:step_tokens", "Tokens scheduled per engine step.", m.step_tokens);
  return e.take();
}

}  // namespace tessera::server
