// src/server/http_generation.cpp — one completions/chat call: submit to the engine, stream or
// collect its events, cancel when the client leaves (http_generation.h).
#include "src/server/http_generation.h"

#include <chrono>
#include <optional>

#include "src/core/logging.h"

namespace tessera::server {

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

ApiRequest& with_request_ids(ApiRequest& request, const std::string& response_id) {
  assign_request_ids(request, response_id);
  return request;
}

}  // namespace

void log_request(const HttpRequest& request, int status, const Usage* usage, std::string_view request_id,
                 bool polled_route) {
  const LogLevel level = polled_route ? LogLevel::kDebug : LogLevel::kInfo;
  if (static_cast<int>(level) > static_cast<int>(log_level())) return;
  RequestLogEntry e;
  e.method = request.method;
  e.target = request.target;
  e.peer = request.peer;
  e.status = status;
  if (usage) {
    e.prompt_tokens = usage->prompt_tokens;
    e.completion_tokens = usage->completion_tokens;
  }
  e.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - request.received).count();
  e.request_id = request_id;
  log_message(level, format_request_log(e));
}

// ---- LiveRequests ------------------------------------------------------------------------------

bool LiveRequests::try_admit(int64_t incoming, int64_t max_running, int64_t engine_waiting, int64_t max_queue) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!admits(in_flight_, incoming, max_running, engine_waiting, max_queue)) return false;
  in_flight_ += incoming;
  return true;
}

void LiveRequests::release(int64_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_ -= count;
  released_total_ += count;
}

int64_t LiveRequests::released_total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return released_total_;
}

int64_t LiveRequests::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

void LiveRequests::add(std::shared_ptr<GenerationCall> call) {
  std::lock_guard<std::mutex> lock(mu_);
  const GenerationCall* key = call.get();
  calls_.emplace(key, std::move(call));
}

void LiveRequests::remove(const GenerationCall* call) {
  std::shared_ptr<GenerationCall> last;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = calls_.find(call);
  if (it == calls_.end()) return;
  last = std::move(it->second);
  calls_.erase(it);
}

std::vector<std::shared_ptr<GenerationCall>> LiveRequests::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<GenerationCall>> out;
  out.reserve(calls_.size());
  for (const auto& [key, call] : calls_) out.push_back(call);
  return out;
}

size_t LiveRequests::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_.size();
}

void LiveRequests::clear() {
  std::unordered_map<const GenerationCall*, std::shared_ptr<GenerationCall>> gone;
  std::lock_guard<std::mutex> lock(mu_);
  gone.swap(calls_);
}

// ---- GenerationCall ----------------------------------------------------------------------------

void start_generation(const GenerationDeps& deps, std::shared_ptr<HttpExchange> exchange, ApiRequest request,
                      HeaderList headers, std::string route) {
  auto call = std::make_shared<GenerationCall>(deps, std::move(exchange), request, std::move(headers), std::move(route));
  call->start(std::move(request));
}

GenerationCall::GenerationCall(const GenerationDeps& deps, std::shared_ptr<HttpExchange> exchange,
                               ApiRequest& request, HeaderList headers, std::string route)
    : deps_(deps),
      exchange_(std::move(exchange)),
      headers_(std::move(headers)),
      route_(std::move(route)),
      response_id_(make_response_id(request.endpoint)),
      stream_(request.stream),
      builder_(with_request_ids(request, response_id_), *deps.model, response_id_, unix_now()) {
  headers_.emplace_back("X-Request-Id", response_id_);
}

void GenerationCall::start(ApiRequest request) {
  const int64_t reserved = static_cast<int64_t>(request.prompts.size());
  std::optional<ApiError> error;
  for (GenerationRequest& prompt : request.prompts) {
    const std::string id = prompt.request_id;
    const auto prompt_tokens = static_cast<int64_t>(prompt.prompt_token_ids.size());
    auto stream = deps_.engine->submit(std::move(prompt));
    if (!stream) {
      error = ApiError::from_status(stream.status());
      break;
    }
    deps_.counters->count_admitted(prompt_tokens);
    request_ids_.push_back(id);
    streams_.push_back(std::move(*stream));
  }
  // Prompts never submitted hold no place in the queue.
  deps_.live->release(reserved - static_cast<int64_t>(streams_.size()));
  stream_done_.assign(streams_.size(), 0);
  unfinished_ = streams_.size();

  if (error) {
    // Those already submitted are ended; their events are still drained below (accounting).
    for (const std::string& id : request_ids_) deps_.engine->cancel(id);
    answered_ = true;
    deps_.counters->count_response(route_, error->status);
    if (deps_.log_requests) log_request(exchange_->request(), error->status, nullptr, response_id_);
    HttpResponse r;
    r.status = error->status;
    r.body = error_body(*error);
    r.headers = headers_;
    exchange_->respond(std::move(r));
    if (streams_.empty()) return;
  } else if (stream_) {
    deps_.counters->count_response(route_, 200);
    status_ = 200;
    exchange_->begin_stream(200, builder_.content_type(), headers_);
  }

  deps_.live->add(shared_from_this());
  const std::weak_ptr<GenerationCall> weak = weak_from_this();
  exchange_->on_close([weak] {
    if (auto self = weak.lock()) self->client_gone();
  });
  for (const auto& s : streams_) {
    s->set_on_event([weak] {
      if (auto self = weak.lock()) self->notify();
    });
  }
}

void GenerationCall::notify() {
  if (drain_pending_.exchange(true)) return;
  exchange_->post([weak = weak_from_this()] {
    if (auto self = weak.lock()) self->drain();
  });
}

void GenerationCall::drain() {
  // Cleared first: an event that lands while we read posts the next drain.
  drain_pending_ = false;
  if (unfinished_ == 0) return;
  for (size_t i = 0; i < streams_.size(); ++i) {
    if (stream_done_[i]) continue;
    while (auto ev = streams_[i]->next_for(std::chrono::milliseconds(0))) {
      std::string out = builder_.on_event(i, *ev);
      if (stream_ && !answered_ && !out.empty()) exchange_->send(std::move(out));
      if (ev->finished()) {
        stream_done_[i] = 1;
        --unfinished_;
        deps_.live->release(1);
        break;
      }
    }
  }
  if (unfinished_ == 0) finish();
}

void GenerationCall::finish() {
  for (const auto& s : streams_) s->set_on_event(nullptr);
  if (!answered_) {
    answered_ = true;
    std::string body = builder_.finish();
    if (stream_) {
      exchange_->send(std::move(body));
      exchange_->end_stream();
    } else {
      HttpResponse r;
      r.status = status_ = builder_.http_status();
      r.content_type = builder_.content_type();
      r.body = std::move(body);
      r.headers = headers_;
      deps_.counters->count_response(route_, r.status);
      exchange_->respond(std::move(r));
    }
    if (deps_.log_requests) {
      const Usage usage = builder_.usage();
      log_request(exchange_->request(), status_, &usage, response_id_);
    }
  }
  // The caller (a drain) holds a reference until it returns.
  deps_.live->remove(this);
}

void GenerationCall::client_gone() {
  if (answered_ || unfinished_ == 0) return;
  answered_ = true;
  deps_.counters->count_disconnect();
  if (deps_.log_requests) {
    // 499, as nginx logs it: the client closed the connection before the answer was complete.
    const Usage usage = builder_.usage();
    log_request(exchange_->request(), 499, &usage, response_id_);
  }
  cancel();
}

void GenerationCall::cancel() {
  for (const std::string& id : request_ids_) deps_.engine->cancel(id);
}

void GenerationCall::detach() {
  for (const auto& s : streams_) s->set_on_event(nullptr);
}

}  // namespace tessera::server
