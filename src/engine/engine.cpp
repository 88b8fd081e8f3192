// src/engine/engine.cpp — the engine thread and per-request streams around EngineCore
// (tessera/engine.h).
//
// Threads: callers of submit()/cancel() only touch the inbox, the cancel list and the stream map,
// under one mutex; the engine thread alone touches the EngineCore (and so the model and its KV
// cache). A request's stream is in the map from submit() until its last event is delivered.
// Cancels are applied before the next step is scheduled, so a cancelled request's blocks are free
// within one step. A stream's on_event callback (the HTTP server's bridge to its event loop) is
// called on the engine thread after each push, outside every lock.
#include <climits>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "src/engine/engine_core.h"
#include "src/engine/model_runner.h"
#include "src/model/model_files.h"
#include "src/tokenizer/tokenizer.h"
#include "tessera/engine.h"

namespace tessera {

struct StreamState {
  std::string request_id;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<TokenEvent> events;
  bool done = false;  // the last event has been read
  // RequestStream::set_on_event's callback; shared so push() copies a pointer, not the closure,
  // and calls it outside the lock (it may post to another thread that reads this stream).
  std::shared_ptr<const std::function<void()>> on_event;

  void push(TokenEvent ev) {
    std::shared_ptr<const std::function<void()>> notify;
    {
      std::lock_guard<std::mutex> lock(mu);
      events.push_back(std::move(ev));
      notify = on_event;
    }
    cv.notify_all();
    if (notify) (*notify)();
  }
};

RequestStream::RequestStream(std::shared_ptr<StreamState> state) : state_(std::move(state)) {}

const std::string& RequestStream::request_id() const { return state_->request_id; }

bool RequestStream::finished() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->done;
}

std::optional<TokenEvent> RequestStream::next() {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait(lock, [&] { return !state_->events.empty() || state_->done; });
  if (state_->events.empty()) return std::nullopt;
  TokenEvent ev = std::move(state_->events.front());
  state_->events.pop_front();
  if (ev.finished()) state_->done = true;
  return ev;
}

std::optional<TokenEvent> RequestStream::next_for(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait_for(lock, timeout, [&] { return !state_->events.empty() || state_->done; });
  if (state_->events.empty()) return std::nullopt;
  TokenEvent ev = std::move(state_->events.front());
  state_->events.pop_front();
  if (ev.finished()) state_->done = true;
  return ev;
}

void RequestStream::set_on_event(std::function<void()> on_event) {
  std::shared_ptr<const std::function<void()>> notify;
  if (on_event) notify = std::make_shared<const std::function<void()>>(std::move(on_event));
  bool pending = false;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->on_event = notify;
    pending = !state_->events.empty();
  }
  if (pending && notify) (*notify)();
}

struct Engine::Impl {
  std::unique_ptr<engine::EngineCore> core;  // the engine thread's alone once it runs
  EngineInfo info;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<GenerationRequest, std::shared_ptr<StreamState>>> inbox;
  std::vector<std::string> cancels;
  std::unordered_map<std::string, std::shared_ptr<StreamState>> streams;
  EngineMetrics metrics;
  uint64_t next_id = 0;
  bool stop = false;
  std::thread thread;

  void deliver(std::vector<TokenEvent>& events) {
    for (TokenEvent& ev : events) {
      std::shared_ptr<StreamState> state;
      {
        std::lock_guard<std::mutex> lock(mu);
        auto it = streams.find(ev.request_id);
        if (it == streams.end()) continue;
        state = it->second;
        if (ev.finished()) streams.erase(it);
      }
      state->push(std::move(ev));
    }
  }

  void publish_metrics() {
    std::lock_guard<std::mutex> lock(mu);
    metrics = core->metrics();
  }

  void loop() {
    for (;;) {
      std::vector<std::pair<GenerationRequest, std::shared_ptr<StreamState>>> arrived;
      std::vector<std::string> cancelled;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stop || !inbox.empty() || !cancels.empty() || core->has_unfinished(); });
        if (stop) break;
        arrived.swap(inbox);
        cancelled.swap(cancels);
      }
      std::vector<TokenEvent> events;
      for (auto& [request, state] : arrived) {
        const Status st = core->add_request(request);
        if (st.is_ok()) continue;
        TokenEvent ev;
        ev.request_id = request.request_id;
        ev.finish_reason = FinishReason::kError;
        ev.error = st.message();
        ev.time = std::chrono::steady_clock::now();
        events.push_back(std::move(ev));
      }
      for (const std::string& id : cancelled)
        for (TokenEvent& ev : core->abort_request(id)) events.push_back(std::move(ev));
      publish_metrics();
      deliver(events);
      if (core->has_unfinished()) {
        std::vector<TokenEvent> stepped = core->step();
        if (core->last_step().num_seqs == 0 && core->has_unfinished())  // cannot happen; never spin
          stepped = core->abort_all(FinishReason::kError, "engine: the scheduler could not make progress");
        publish_metrics();  // before the events, so a reader of a last event sees it counted
        deliver(stepped);
      }
    }
    // Shutdown: whatever is live or still queued ends as cancelled.
    std::vector<TokenEvent> events = core->abort_all(FinishReason::kCancelled, "");
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& [request, state] : inbox) {
        TokenEvent ev;
        ev.request_id = request.request_id;
        ev.finish_reason = FinishReason::kCancelled;
        ev.time = std::chrono::steady_clock::now();
        events.push_back(std::move(ev));
      }
      inbox.clear();
      metrics = core->metrics();
    }
    deliver(events);
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Expected<std::unique_ptr<Engine>> Engine::create(std::unique_ptr<ModelRunner> runner,
                                                 std::shared_ptr<const Tokenizer> tokenizer,
                                                 const EngineOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(auto core, engine::EngineCore::create(std::move(runner), std::move(tokenizer), options));
  auto impl = std::make_unique<Impl>();
  impl->info = core->info();
  impl->metrics = core->metrics();
  impl->core = std::move(core);
  Impl* raw = impl.get();
  std::unique_ptr<Engine> engine(new Engine(std::move(impl)));
  raw->thread = std::thread([raw] { raw->loop(); });
  return engine;
}

Expected<std::unique_ptr<Engine>> Engine::create(const std::string& model_dir, const EngineOptions& options) {
  TESSERA_RETURN_IF_ERROR(engine::EngineCore::validate_options(options));
  std::shared_ptr<const Tokenizer> tokenizer;
  TESSERA_ASSIGN_OR_RETURN(std::optional<Tokenizer> tok, load_model_tokenizer_if_any(model_dir));
  if (tok) tokenizer = std::make_shared<const Tokenizer>(std::move(*tok));
  RunnerOptions ro;
  ro.device = options.device;
  ro.block_size = options.block_size;
  ro.num_blocks = options.num_blocks;
  ro.kv_cache_bytes = options.kv_cache_bytes;
  ro.gpu_memory_fraction = options.gpu_memory_fraction;
  ro.max_model_len = options.max_model_len;
  ro.max_num_seqs = options.max_num_seqs;
  ro.max_num_batched_tokens = options.max_num_batched_tokens;
  ro.batch_invariant = options.batch_invariant;
  if (options.device != "cpu" && options.batch_invariant)
    return invalid_argument("batch_invariant: a mode of the cpu backend (its GEMMs run one row at a time); not on " +
                            options.device);
  TESSERA_ASSIGN_OR_RETURN(auto runner, create_model_runner(model_dir, ro));
  return create(std::move(runner), std::move(tokenizer), options);
}

Expected<std::shared_ptr<RequestStream>> Engine::submit(GenerationRequest request) {
  auto state = std::make_shared<StreamState>();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (request.request_id.empty()) {
      std::ostringstream s;
      s << "req-" << impl_->next_id++;
      request.request_id = s.str();
    }
    if (impl_->stop) return Status(StatusCode::kCancelled, "engine: shutting down");
    if (impl_->streams.count(request.request_id)) {
      std::ostringstream s;
      s << "request_id: '" << request.request_id << "' is already in use";
      return invalid_argument(s.str());
    }
  }
  // validate() reads only the engine's fixed limits, so it is safe off the engine thread.
  TESSERA_RETURN_IF_ERROR(impl_->core->validate(request));
  state->request_id = request.request_id;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->streams.emplace(request.request_id, state).second) {
      std::ostringstream s;
      s << "request_id: '" << request.request_id << "' is already in use";
      return invalid_argument(s.str());
    }
    impl_->inbox.emplace_back(std::move(request), state);
  }
  impl_->cv.notify_all();
  return std::make_shared<RequestStream>(state);
}

bool Engine::cancel(const std::string& request_id) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->streams.count(request_id)) return false;
    impl_->cancels.push_back(request_id);
  }
  impl_->cv.notify_all();
  return true;
}

EngineMetrics Engine::metrics() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->metrics;
}

const EngineInfo& Engine::info() const { return impl_->info; }

}  // namespace tessera
