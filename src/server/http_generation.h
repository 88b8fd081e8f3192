// src/server/http_generation.h — the bridge between one HTTP exchange and the engine requests of
// one /v1/completions or /v1/chat/completions call.
//
// The engine's RequestStream::next() blocks, and io threads must never block. So each stream gets
// an on_event callback (tessera/engine.h) that, on the engine thread, only posts a "drain" to the
// connection's strand — at most one outstanding per call (an atomic flag), however many events
// arrive meanwhile. The drain reads every ready event with next_for(0), turns them into SSE text
// or an accumulated body through the OpenAI layer's ResponseBuilder, and sends it. No thread
// waits on a stream.
//
// Ownership: LiveRequests holds each call (strongly) from submit until its last engine event is
// read, so queue accounting is exact even when the client is long gone. Callbacks (engine events,
// client close, posted drains) hold the call weakly: nothing cycles through the io_context.
//
// A client that disconnects gets its engine requests cancelled at once (Engine::cancel: freed
// before the next step); the remaining events are drained and dropped.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/server/http_server.h"
#include "src/server/openai_api.h"
#include "src/server/prometheus.h"
#include "tessera/engine.h"

namespace tessera::server {

class GenerationCall;

// Generation calls in flight and the engine requests they hold (one per prompt), for the queue
// limit and for shutdown. Thread-safe.
class LiveRequests {
 public:
  // Reserves `incoming` engine requests when the queue rule (http_util.h admits) lets them in.
  bool try_admit(int64_t incoming, int64_t max_running, int64_t engine_waiting, int64_t max_queue);
  void release(int64_t count);  // engine requests whose last event was read (or never submitted)
  int64_t in_flight() const;
  int64_t released_total() const;  // engine requests ever released (it only grows)

  void add(std::shared_ptr<GenerationCall> call);
  void remove(const GenerationCall* call);
  std::vector<std::shared_ptr<GenerationCall>> calls() const;
  size_t size() const;
  void clear();

 private:
  mutable std::mutex mu_;
  int64_t in_flight_ = 0;
  int64_t released_total_ = 0;
  std::unordered_map<const GenerationCall*, std::shared_ptr<GenerationCall>> calls_;
};

// What a call uses of the server; every pointer outlives the call (the server stops the HTTP
// threads and detaches the calls before it destroys the engine).
struct GenerationDeps {
  Engine* engine = nullptr;
  const ModelContext* model = nullptr;
  ServerCounters* counters = nullptr;
  LiveRequests* live = nullptr;
  bool log_requests = true;
};

// The access-log line of one answered request (format_request_log), at info level; the routes a
// page or an orchestrator polls (/health, /metrics, the web UI's files) at debug level, so a demo's
// dashboard does not flood the terminal. `usage` is given for generations.
void log_request(const HttpRequest& request, int status, const Usage* usage = nullptr,
                 std::string_view request_id = "", bool polled_route = false);

// Submits `request` (already parsed, validated and admitted: request.prompts.size() engine
// requests reserved in deps.live) and answers `exchange` from the engine's events: a streamed
// response begins at once (so the client sees the request accepted) and carries each delta as it
// comes; a whole one is sent after the last event. `headers` go on the response (CORS). `route`
// labels the response in the server counters. Runs on the exchange's strand.
void start_generation(const GenerationDeps& deps, std::shared_ptr<HttpExchange> exchange, ApiRequest request,
                      HeaderList headers, std::string route);

class GenerationCall : public std::enable_shared_from_this<GenerationCall> {
 public:
  // Names the engine requests of `request` (a fresh response id) and sets up the response.
  GenerationCall(const GenerationDeps& deps, std::shared_ptr<HttpExchange> exchange, ApiRequest& request,
                 HeaderList headers, std::string route);
  // Asks the engine to end every request of this call (shutdown past its grace). Any thread.
  void cancel();
  // Removes the engine callbacks (before the engine is destroyed at shutdown). Any thread.
  void detach();

 private:
  friend void start_generation(const GenerationDeps&, std::shared_ptr<HttpExchange>, ApiRequest, HeaderList,
                               std::string);
  void start(ApiRequest request);
  void notify();       // engine thread: schedule one drain
  void drain();        // strand: read what is ready
  void finish();       // strand: the last event of every stream is in
  void client_gone();  // strand: the connection closed before the answer was complete

  GenerationDeps deps_;
  std::shared_ptr<HttpExchange> exchange_;
  HeaderList headers_;
  std::string route_;
  std::string response_id_;
  bool stream_ = false;
  ResponseBuilder builder_;
  // Fixed once start() has registered the call (read by cancel() from other threads).
  std::vector<std::string> request_ids_;
  std::vector<std::shared_ptr<RequestStream>> streams_;
  // Strand only.
  std::vector<char> stream_done_;
  size_t unfinished_ = 0;
  bool answered_ = false;  // the response ended (or the client left): send nothing more
  int status_ = 0;         // the status sent (for the log)
  std::atomic<bool> drain_pending_{false};
};

}  // namespace tessera::server
