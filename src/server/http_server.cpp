// src/server/http_server.cpp — the Beast/Asio transport (http_server.h): acceptor, connections,
// timeouts, chunked streaming and disconnect detection.
//
// A Connection moves through phases on its strand:
//   kReading   headers (header_timeout), then the body (body_timeout); limits answered here
//   kExchange  the application holds the request; the socket is under a "watch" read so EOF or
//              a reset is seen at once; writes go through one queue (write_timeout each)
//   kLingering after a response that closes the connection: our side is shut, the client's
//              leftover bytes are drained (bounded in time and bytes) so it reads our answer
//              instead of a reset
//   kClosed
// Bytes the watch reads early (a pipelined next request) stay in the read buffer and are parsed
// when the exchange ends. Every handler checks the phase first: a late completion after a close
// does nothing.
//
// The end of the client's input while a response is pending is either a half-close (it still
// reads) or a close (it left). TCP only tells them apart when we send something: a closed socket
// answers data with a reset. So the watch's EOF stops reading (keep-alive is off from then on) and
// sends a probe that is valid HTTP at that point, an SSE comment in a stream or an interim
// "100 Continue" before an HTTP/1.1 response, then checks the socket's state a few round trips
// later (TCP_INFO); until the response starts the probe repeats every stream_keepalive.
#include "src/server/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace tessera::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

std::optional<std::string_view> HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return std::string_view(value);
  return std::nullopt;
}

namespace {

class Connection;

// Read-ahead kept while a response is pending (a pipelined request); past it the watch stops and
// a vanished client is noticed by the next write instead.
constexpr size_t kMaxReadAhead = 64u << 10;
// Lingering close: at most this long and this many bytes of the client's leftovers.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 16u << 20;

// Overflow connections (past max_connections) get this long for their request's headers.
constexpr auto kOverflowHeaderTimeout = std::chrono::seconds(1);
// After a half-close probe the socket's state is read at these delays: a reset comes back one
// round trip after the probe, which is microseconds on loopback (where a cancelled request should
// free its blocks within an engine step) and up to a second or so across the world.
constexpr std::chrono::milliseconds kProbeChecks[] = {std::chrono::milliseconds(1), std::chrono::milliseconds(4),
                                                      std::chrono::milliseconds(16), std::chrono::milliseconds(64),
                                                      std::chrono::milliseconds(256), std::chrono::milliseconds(1024)};

// True when the peer answered with a reset (or the socket failed otherwise): it is gone.
bool socket_reset(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state == TCP_CLOSE) return true;
  int error = 0;
  len = sizeof(error);
  return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error != 0;
}

// What is wrong with the framing of a request's headers, as RFC 9112 6.1-6.3 asks a server to
// check: {status, message}, or status 0. The body may only be delimited by Transfer-Encoding
// exactly "chunked" or by Content-Length; any other coding list could be read one way here and
// another by a proxy in front of us (request smuggling), so it is refused and the connection closed.
std::pair<int, std::string> framing_problem(const http::request_header<>& req) {
  std::string te;
  bool has_te = false;
  for (const auto& f : req) {
    if (f.name() != http::field::transfer_encoding) continue;
    if (has_te) te += ',';
    te += std::string(f.value());
    has_te = true;
  }
  if (!has_te) return {0, ""};
  const std::string quoted = "Transfer-Encoding '" + te + "'";
  if (req.version() < 11) return {400, quoted + ": transfer codings need HTTP/1.1"};
  if (req.find(http::field::content_length) != req.end())
    return {400, quoted + " together with Content-Length: the body's length is ambiguous"};
  std::vector<std::string> codings;
  size_t start = 0;
  while (start <= te.size()) {
    size_t end = te.find(',', start);
    if (end == std::string::npos) end = te.size();
    std::string c = te.substr(start, end - start);
    c = c.substr(0, c.find(';'));  // parameters do not change the coding
    const size_t b = c.find_first_not_of(" \t");
    const size_t e = c.find_last_not_of(" \t");
    if (b != std::string::npos) {
      c = c.substr(b, e - b + 1);
      for (char& ch : c) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      codings.push_back(std::move(c));
    }
    start = end + 1;
  }
  if (codings.empty() || codings.back() != "chunked")
    return {400, quoted + ": the last transfer coding must be chunked, or the body's length cannot be known"};
  if (std::count(codings.begin(), codings.end(), "chunked") > 1)
    return {400, quoted + ": chunked may be applied only once"};
  if (codings.size() > 1) return {501, quoted + ": only chunked is supported, no other transfer coding"};
  return {0, ""};
}

// The origin-form of a request target: "http://host:8000/v1/models?x" is "/v1/models?x" (RFC
// 9112 3.2.2: a server must accept the absolute form, which proxies send).
std::string origin_form(std::string_view target) {
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (target.size() < scheme.size()) continue;
    const std::string_view head = target.substr(0, scheme.size());
    if (!beast::iequals(beast::string_view(head.data(), head.size()), beast::string_view(scheme.data(), scheme.size())))
      continue;
    const size_t path = target.find_first_of("/?", scheme.size());
    if (path == std::string_view::npos) return "/";
    return (target[path] == '?' ? "/" : "") + std::string(target.substr(path));
  }
  return std::string(target);
}

HttpResponse default_error(int status, std::string message) {
  HttpResponse r;
  r.status = status;
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) escaped += c;
  }
  r.body = "{\"error\": {\"message\": \"" + escaped + "\"}}";
  return r;
}

}  // namespace

struct HttpServer::Shared {
  HttpServerOptions options;
  HttpHandler handler;
  std::atomic<bool> draining{false};
  mutable std::mutex mu;
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> connections;
  size_t overflow_connections = 0;  // of those, taken past max_connections (under mu)
};

namespace {

class Connection final : public HttpExchange, public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<HttpServer::Shared> shared, std::shared_ptr<net::io_context> ioc,
             bool overflow)
      : ioc_(std::move(ioc)),
        stream_(std::move(socket)),
        shared_(std::move(shared)),
        timer_(stream_.get_executor()),
        probe_timer_(stream_.get_executor()),
        overflow_(overflow) {}

  ~Connection() override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->connections.erase(this);
    if (overflow_) --shared_->overflow_connections;
  }

  void start() {
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->connections.emplace(this, weak_from_this());
    }
    beast::error_code ec;  // the client's address, once per connection (for the request log)
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      const std::string address = peer.address().to_string();
      peer_ = (peer.address().is_v6() ? "[" + address + "]" : address) + ":" + std::to_string(peer.port());
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  // begin_shutdown: an idle connection closes now, a busy one after its response.
  void shutdown_if_idle() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->keep_alive_ = false;
      if (self->phase_ == Phase::kReading) self->close_now();
    });
  }

  // stop(): no thread runs any more, so touching the connection from here is safe. The pending
  // operations complete (aborted) when stop() runs the io_context once more.
  void force_close() {
    phase_ = Phase::kClosed;
    on_close_ = nullptr;
    beast::error_code ec;
    stream_.socket().close(ec);
    timer_.cancel();
    probe_timer_.cancel();
  }

  // ---- HttpExchange ----
  const HttpRequest& request() const override { return request_; }

  void respond(HttpResponse response) override {
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this(), r = std::move(response)]() mutable { self->do_respond(std::move(r)); });
  }

  void begin_stream(int status, std::string content_type, HeaderList headers) override {
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), status, ct = std::move(content_type),
                                           h = std::move(headers)]() mutable {
      self->do_begin_stream(status, std::move(ct), std::move(h));
    });
  }

  void send(std::string data) override {
    if (data.empty()) return;
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this(), d = std::move(data)]() mutable { self->do_send(d); });
  }

  void end_stream() override {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_end_stream(); });
  }

  void on_close(std::function<void()> callback) override {
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), cb = std::move(callback)]() mutable {
      if (self->closed_early_) {
        if (cb) cb();
      } else if (self->phase_ == Phase::kExchange && !self->exchange_done_) {
        self->on_close_ = std::move(cb);
      }
    });
  }

  void post(std::function<void()> fn) override { net::post(stream_.get_executor(), std::move(fn)); }

 private:
  enum class Phase { kReading, kExchange, kLingering, kClosed };

  const HttpServerOptions& options() const { return shared_->options; }
  HttpResponse make_error(int status, std::string message) const {
    return options().make_error ? options().make_error(status, std::move(message))
                                : default_error(status, std::move(message));
  }

  // ---- reading a request ----
  void read_header() {
    phase_ = Phase::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(options().max_header_bytes));
    parser_->body_limit(options().max_body_bytes);
    stream_.expires_after(overflow_ ? std::min<std::chrono::milliseconds>(options().header_timeout, kOverflowHeaderTimeout)
                                    : options().header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (phase_ != Phase::kReading) return;
    if (ec) return read_failed(ec);
    const auto& req = parser_->get();
    if (auto [status, message] = framing_problem(req.base()); status != 0)
      return answer_and_close(status, "malformed HTTP request: " + message);
    const auto expect = req[http::field::expect];
    if (beast::iequals(expect, "100-continue") && !parser_->is_done()) {
      // The client waits for this before sending its body (curl does, for large ones).
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(options().write_timeout);
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](beast::error_code wec, size_t) {
                         if (self->phase_ != Phase::kReading) return;
                         if (wec) return self->close_now();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return on_request();
    stream_.expires_after(options().body_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->phase_ != Phase::kReading) return;
      if (ec) return self->read_failed(ec);
      self->on_request();
    });
  }

  void read_failed(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return answer_and_close(413, "the request body is larger than the limit of " +
                                       std::to_string(options().max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return answer_and_close(431, "the request headers are larger than the limit of " +
                                       std::to_string(options().max_header_bytes) + " bytes");
    }
    // A malformed request gets one 400; a client that left, timed out or reset just goes.
    const bool parse_error = ec.category() == http::make_error_code(http::error::bad_method).category() &&
                             ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (parse_error) return answer_and_close(400, "malformed HTTP request: " + ec.message());
    close_now();
  }

  void on_request() {
    http::request<http::string_body> msg = parser_->release();
    parser_.reset();
    request_ = HttpRequest{};
    request_.method = std::string(msg.method_string());
    request_.target = origin_form(std::string_view(msg.target().data(), msg.target().size()));
    for (const auto& field : msg) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request_.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    request_.version = static_cast<int>(msg.version());
    request_.received = Clock::now();
    request_.peer = peer_;
    request_.keep_alive = msg.keep_alive();
    request_.body = std::move(msg.body());
    keep_alive_ = request_.keep_alive && !shared_->draining.load() && !overflow_;
    if (overflow_) {
      const std::string_view path = std::string_view(request_.target).substr(0, request_.target.find('?'));
      const auto& allowed = options().overflow_paths;
      if (std::find(allowed.begin(), allowed.end(), path) == allowed.end()) {
        return answer_and_close(503, "the server has reached its limit of " + std::to_string(options().max_connections) +
                                         " open connections (--max-connections); retry later");
      }
    }
    phase_ = Phase::kExchange;
    response_started_ = response_complete_ = exchange_done_ = streaming_ = false;
    closed_early_ = false;
    on_close_ = nullptr;
    stream_.expires_never();
    start_watch();
    try {
      shared_->handler(shared_from_this());
    } catch (const std::exception& e) {
      do_respond(make_error(500, std::string("internal error: ") + e.what()));
    }
  }

  // The transport's own answer (413, 431, 400): written, then the connection lingers closed.
  void answer_and_close(int status, std::string message) {
    phase_ = Phase::kExchange;
    keep_alive_ = false;
    response_started_ = response_complete_ = exchange_done_ = streaming_ = false;
    request_ = HttpRequest{};
    stream_.expires_never();
    do_respond(make_error(status, std::move(message)));
  }

  // ---- the watch: notices a client that leaves while its response is pending ----
  void start_watch() {
    if (watching_ || peer_write_closed_ || phase_ != Phase::kExchange || exchange_done_ ||
        buffer_.size() >= kMaxReadAhead)
      return;
    watching_ = true;
    stream_.socket().async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->on_watch(ec, n);
    });
  }

  void on_watch(beast::error_code ec, size_t n) {
    watching_ = false;
    if (!ec) buffer_.commit(n);
    if (phase_ != Phase::kExchange) return;
    if (!exchange_done_) {
      if (ec == net::error::eof) return on_peer_half_close();  // it left, or it only stopped sending
      if (ec) return close_now();  // a reset while the response is pending: the client left
      return start_watch();
    }
    // The exchange ended and cancelled the watch, or the watch completed at the same time: with
    // the end of the client's input too, requests pipelined before that end are still answered
    // (as on_peer_half_close does), and the connection closes after them.
    if (ec == net::error::eof) {
      peer_write_closed_ = true;
      if (buffer_.size() == 0) keep_alive_ = false;
    } else if (ec && ec != net::error::operation_aborted) {
      return close_now();
    }
    continue_after_exchange();
  }

  // ---- the client's end of input while its response is pending (see the file's header) ----
  void on_peer_half_close() {
    peer_write_closed_ = true;
    // No next request can come, unless one was pipelined before the end: it is still answered
    // (read_header parses it from the buffer; the end of input after it closes the connection).
    if (buffer_.size() == 0) keep_alive_ = false;
    send_probe();
  }

  void send_probe() {
    if (phase_ != Phase::kExchange || exchange_done_ || response_complete_) return;
    if (streaming_) {
      queue_write(chunked_ ? http_chunk(kSseKeepAlive) : std::string(kSseKeepAlive));
    } else if (!response_started_ && request_.version >= 11) {
      // Any number of 1xx responses may precede the final one (RFC 9110 15.2); clients skip them.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      queue_write(std::string(kContinue));
    } else {
      return;  // an HTTP/1.0 client cannot be probed: its response is written when it is ready
    }
    check_probe(0);
  }

  // The `step`th look at the socket after a probe; then, before a response has started, the next
  // probe one stream_keepalive later (a stream's own writes and keep-alive comments fail instead).
  void check_probe(size_t step) {
    const bool last = step >= std::size(kProbeChecks);
    probe_timer_.expires_after(last ? options().stream_keepalive
                                    : kProbeChecks[step] - (step ? kProbeChecks[step - 1] : std::chrono::milliseconds(0)));
    probe_timer_.async_wait([self = shared_from_this(), step, last](beast::error_code ec) {
      if (ec || self->phase_ != Phase::kExchange || self->exchange_done_) return;
      if (last) return self->response_started_ ? void() : self->send_probe();
      if (socket_reset(self->stream_.socket().native_handle())) return self->close_now();
      self->check_probe(step + 1);
    });
  }

  // ---- writing ----
  void do_respond(HttpResponse r) {
    if (phase_ != Phase::kExchange || response_started_) return;
    response_started_ = response_complete_ = true;
    if (shared_->draining.load()) keep_alive_ = false;
    HeaderList headers;
    if (!r.content_type.empty()) headers.emplace_back("Content-Type", std::move(r.content_type));
    for (auto& h : r.headers) headers.push_back(std::move(h));
    std::string out = format_response_head(r.status, headers, static_cast<int64_t>(r.body.size()), keep_alive_);
    if (request_.method != "HEAD") out += r.body;
    queue_write(std::move(out));
  }

  void do_begin_stream(int status, std::string content_type, HeaderList extra) {
    if (phase_ != Phase::kExchange || response_started_) return;
    response_started_ = streaming_ = true;
    chunked_ = request_.version >= 11;
    if (shared_->draining.load() || !chunked_) keep_alive_ = false;
    HeaderList headers = {{"Content-Type", std::move(content_type)},
                          {"Cache-Control", "no-cache"},
                          {"X-Accel-Buffering", "no"}};  // proxies: do not hold events back
    for (auto& h : extra) headers.push_back(std::move(h));
    queue_write(format_response_head(status, headers, chunked_ ? kChunkedBody : kBodyUntilClose, keep_alive_));
    arm_keepalive();
  }

  void do_send(const std::string& data) {
    if (phase_ != Phase::kExchange || !streaming_ || response_complete_) return;
    queue_write(chunked_ ? http_chunk(data) : data);
  }

  void do_end_stream() {
    if (phase_ != Phase::kExchange || !streaming_ || response_complete_) return;
    streaming_ = false;
    response_complete_ = true;
    timer_.cancel();
    if (chunked_) {
      queue_write(std::string(kLastChunk));
    } else if (!writing_) {
      start_write();  // nothing to add: the close ends the body
    }
  }

  void queue_write(std::string bytes) {
    out_pending_ += bytes;
    last_write_ = Clock::now();
    if (!writing_) start_write();
  }

  void start_write() {
    if (out_pending_.empty()) {
      if (response_complete_ && !exchange_done_) finish_exchange();
      return;
    }
    writing_ = true;
    out_writing_.swap(out_pending_);
    out_pending_.clear();
    stream_.expires_after(options().write_timeout);
    net::async_write(stream_, net::buffer(out_writing_), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    out_writing_.clear();
    if (phase_ != Phase::kExchange) return;
    if (ec) return close_now();  // reset, or the write timeout closed the socket
    start_write();
  }

  // Streams with nothing to say for a while send an SSE comment.
  void arm_keepalive() {
    timer_.expires_at(last_write_ + options().stream_keepalive);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->phase_ != Phase::kExchange || !self->streaming_ || self->response_complete_) return;
      if (Clock::now() - self->last_write_ >= self->options().stream_keepalive)
        self->queue_write(self->chunked_ ? http_chunk(kSseKeepAlive) : std::string(kSseKeepAlive));
      self->arm_keepalive();
    });
  }

  // ---- after a response ----
  void finish_exchange() {
    exchange_done_ = true;
    on_close_ = nullptr;
    request_.body = std::string();
    timer_.cancel();
    probe_timer_.cancel();
    if (shared_->draining.load()) keep_alive_ = false;
    if (watching_) {
      // The watch read must end before the next read starts; its handler continues.
      beast::error_code ec;
      stream_.socket().cancel(ec);
      return;
    }
    continue_after_exchange();
  }

  void continue_after_exchange() {
    if (keep_alive_) return read_header();
    linger_close();
  }

  void linger_close() {
    phase_ = Phase::kLingering;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close_now();
    stream_.expires_after(kLingerTime);
    linger_read();
  }

  void linger_read() {
    if (linger_bytes_ >= kLingerBytes) return close_now();
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(16u << 10), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (self->phase_ != Phase::kLingering) return;
      if (ec) return self->close_now();
      self->linger_bytes_ += n;
      self->buffer_.commit(n);
      self->linger_read();
    });
  }

  void close_now() {
    if (phase_ == Phase::kClosed) return;
    const bool pending = phase_ == Phase::kExchange && !exchange_done_;
    phase_ = Phase::kClosed;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    timer_.cancel();
    probe_timer_.cancel();
    if (pending) {
      closed_early_ = true;
      auto callback = std::move(on_close_);
      on_close_ = nullptr;
      if (callback) callback();
    }
  }

  // First member, so destroyed last: a connection the application still holds after the server
  // is gone keeps the io_context its socket belongs to.
  std::shared_ptr<net::io_context> ioc_;
  beast::tcp_stream stream_;
  std::shared_ptr<HttpServer::Shared> shared_;
  net::steady_timer timer_;        // stream keep-alive comments
  net::steady_timer probe_timer_;  // after a half-close: is the client still there?
  const bool overflow_;            // taken past max_connections: one request, a short timeout
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::kReading;
  HttpRequest request_;
  std::string peer_;  // the client's address:port
  bool keep_alive_ = true;
  bool response_started_ = false;
  bool response_complete_ = false;  // the last byte is queued
  bool exchange_done_ = false;      // ... and written
  bool streaming_ = false;
  bool chunked_ = true;        // the stream's body is chunked (not for HTTP/1.0)
  bool closed_early_ = false;  // the client left before the response was written
  bool watching_ = false;
  bool peer_write_closed_ = false;  // the client's input ended while a response was pending
  bool writing_ = false;
  std::function<void()> on_close_;
  std::string out_pending_;
  std::string out_writing_;
  Clock::time_point last_write_ = Clock::now();
  size_t linger_bytes_ = 0;
};

}  // namespace

struct HttpServer::Impl {
  explicit Impl(int threads)
      : ioc(std::make_shared<net::io_context>(threads)), work(net::make_work_guard(*ioc)),
        acceptor(net::make_strand(*ioc)), accept_retry(acceptor.get_executor()) {}

  void accept() {
    acceptor.async_accept(net::make_strand(*ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (ec) {
        // Out of file descriptors and the like: wait a little instead of spinning.
        std::fprintf(stderr, "tessera serve: accept: %s\n", ec.message().c_str());
        accept_retry.expires_after(std::chrono::milliseconds(100));
        accept_retry.async_wait([this](beast::error_code wec) {
          if (!wec && acceptor.is_open()) accept();
        });
        return;
      }
      beast::error_code opt_ec;
      socket.set_option(tcp::no_delay(true), opt_ec);  // one event = one packet, now
      bool overflow = false;
      if (const size_t limit = shared->options.max_connections; limit > 0) {
        std::lock_guard<std::mutex> lock(shared->mu);
        if (shared->connections.size() - shared->overflow_connections >= limit) {
          overflow = shared->overflow_connections < kOverflowConnections;
          if (overflow) ++shared->overflow_connections;
        }
        if (!overflow && shared->connections.size() - shared->overflow_connections >= limit) {
          socket.close(opt_ec);  // past the overflow slots too: no answer rather than no descriptor
          return accept();
        }
      }
      std::make_shared<Connection>(std::move(socket), shared, ioc, overflow)->start();
      accept();
    });
  }

  std::vector<std::shared_ptr<Connection>> live_connections() const {
    std::vector<std::shared_ptr<Connection>> out;
    std::lock_guard<std::mutex> lock(shared->mu);
    for (const auto& [key, weak] : shared->connections)
      if (auto c = weak.lock()) out.push_back(std::move(c));
    return out;
  }

  std::shared_ptr<Shared> shared;
  std::shared_ptr<net::io_context> ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool stopped = false;
};

Expected<std::unique_ptr<HttpServer>> HttpServer::start(HttpServerOptions options, HttpHandler handler) {
  if (options.num_threads < 1) return invalid_argument("http: num_threads must be >= 1");
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_unique<Impl>(options.num_threads);
  Impl& impl = *server->impl_;
  impl.shared = std::make_shared<Shared>();
  impl.shared->handler = std::move(handler);
  const std::string where = options.host + ":" + std::to_string(options.port);

  beast::error_code ec;
  tcp::resolver resolver(*impl.ioc);
  const auto results = resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) return invalid_argument("--host " + options.host + ": cannot resolve: " + ec.message());
  const tcp::endpoint endpoint = results.begin()->endpoint();
  impl.acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl.acceptor.bind(endpoint, ec);
  if (!ec) impl.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return io_error("cannot listen on " + where + ": " + ec.message());
  impl.port = impl.acceptor.local_endpoint(ec).port();
  impl.shared->options = std::move(options);

  impl.accept();
  for (int i = 0; i < impl.shared->options.num_threads; ++i) {
    impl.threads.emplace_back([&impl] {
      for (;;) {
        try {
          impl.ioc->run();
          return;
        } catch (const std::exception& e) {  // a handler threw: log it, keep serving
          std::fprintf(stderr, "tessera serve: unexpected error in a connection: %s\n", e.what());
        }
      }
    });
  }
  return server;
}

HttpServer::~HttpServer() { stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::begin_shutdown() {
  impl_->shared->draining = true;
  net::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->accept_retry.cancel();
  });
  for (const auto& c : impl_->live_connections()) c->shutdown_if_idle();
}

size_t HttpServer::open_connections() const {
  std::lock_guard<std::mutex> lock(impl_->shared->mu);
  return impl_->shared->connections.size();
}

void HttpServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->shared->draining = true;
  impl_->work.reset();
  impl_->ioc->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // No thread runs now: close the listener and every socket here so clients see the end at once,
  // then run the io_context once more so the aborted operations complete and let go of their
  // connections (those the application still holds stay, inert, until it drops them).
  beast::error_code ec;
  impl_->acceptor.close(ec);
  impl_->accept_retry.cancel();
  for (const auto& c : impl_->live_connections()) c->force_close();
  impl_->ioc->restart();
  impl_->ioc->run_for(std::chrono::seconds(2));
}

}  // namespace tessera::server
