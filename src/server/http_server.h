// src/server/http_server.h — HTTP/1.1 transport of `tessera serve` on Boost.Beast/Asio.
//
// A small pool of threads runs one io_context; each connection lives on its own strand, so no
// thread is tied to a connection and 512 open streams cost 512 small objects, not 512 threads.
// Per connection: keep-alive, a header/idle timeout and a body timeout (a slow client cannot pin
// a connection), a body-size limit (413 without reading the body), a write timeout (a client that
// stops reading is dropped), and while a response is pending the socket stays under a read so a
// client that goes away is noticed at once (HttpExchange::on_close), streamed or not. A client
// that only half-closes (shutdown(SHUT_WR) after its request) still gets its whole response: the
// end of its input is followed by a probe (an SSE comment, or an interim 100 Continue) that a
// client which really left answers with a reset. Framing follows RFC 9112: a Transfer-Encoding
// other than exactly "chunked" is refused (400, or 501 for codings tessera does not decode) and
// the connection closed, so a body can never be read as a second request; absolute-form targets
// (http://host/path) are served as their path.
//
// The application sees one HttpExchange per request. It answers with respond() or with
// begin_stream()/send()/end_stream() (chunked transfer coding; send() takes already-framed
// server-sent events; an HTTP/1.0 client gets the stream unframed, ended by closing). Every method may be called from any thread: it hops onto the connection's
// strand. Calls after the client left, or after the response ended, do nothing.
//
// Lifetime: an exchange the application keeps holds its connection object (and the io_context
// under it) but nothing else: after stop() every call on it does nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/server/http_util.h"
#include "tessera/status.h"

namespace tessera::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  HeaderList headers;  // names lower-cased, in order
  std::string body;
  int version = 11;        // 11 for HTTP/1.1, 10 for HTTP/1.0
  bool keep_alive = true;  // what the client asked for (HTTP/1.1 default, Connection: close)
  std::string peer;        // the client's address:port (for logs)
  std::chrono::steady_clock::time_point received;  // when its headers and body were read

  // The first header of that (lower-case) name.
  std::optional<std::string_view> header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  HeaderList headers;  // extra headers (CORS, Retry-After, ...)
};

class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  // The request; stable for the exchange's lifetime.
  virtual const HttpRequest& request() const = 0;
  // The whole response (Content-Length set). Ends the exchange.
  virtual void respond(HttpResponse response) = 0;
  // Starts a chunked response: the status line and headers go out now, data as it comes.
  virtual void begin_stream(int status, std::string content_type, HeaderList headers) = 0;
  // One piece of a streamed body, sent as one chunk (coalesced with others when the socket is
  // slower than the engine). Empty data is ignored.
  virtual void send(std::string data) = 0;
  // Ends a streamed body. Ends the exchange.
  virtual void end_stream() = 0;
  // Called once, on the strand, if the client disconnects or the connection fails before the
  // response was fully written. Set it right away: a disconnect before it is set is reported when
  // it is set.
  virtual void on_close(std::function<void()> callback) = 0;
  // Runs `fn` on the exchange's strand (from any thread; the engine's event callback uses it).
  virtual void post(std::function<void()> fn) = 0;
};

using HttpHandler = std::function<void(std::shared_ptr<HttpExchange>)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // 0: any free port (see HttpServer::port)
  int num_threads = 2;
  size_t max_body_bytes = 8u << 20;
  size_t max_header_bytes = 16u << 10;
  // Waiting for a request's headers, including the idle time of a kept-alive connection.
  std::chrono::milliseconds header_timeout{30'000};
  // Reading a body once its headers are in.
  std::chrono::milliseconds body_timeout{60'000};
  // One write of the response; a client that reads nothing for this long is dropped.
  std::chrono::milliseconds write_timeout{30'000};
  // A streamed body with nothing to send for this long gets an SSE comment (kSseKeepAlive).
  std::chrono::milliseconds stream_keepalive{15'000};
  // Open connections at most (0: no limit). Past it, up to kOverflowConnections more are accepted
  // for one request each, with a short header timeout: a request for one of `overflow_paths` is
  // served as usual (an orchestrator's health check still gets through when idle clients hold
  // every slot), any other gets 503; beyond those, new connections are closed at once.
  size_t max_connections = 0;
  std::vector<std::string> overflow_paths;
  // The body of errors the transport answers itself (400 bad request, 413, 431): JSON in the
  // application's shape. Default: {"error": {"message": ...}}.
  std::function<HttpResponse(int status, std::string message)> make_error;
};

// Connections taken past max_connections (see HttpServerOptions::max_connections).
inline constexpr size_t kOverflowConnections = 4;

class HttpServer {
 public:
  // Binds and listens, then starts the threads; requests go to `handler` on the connection's
  // strand. An error names the address when it cannot bind.
  static Expected<std::unique_ptr<HttpServer>> start(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;  // the bound port (the chosen one when options.port was 0)
  // Graceful shutdown, first half: no more connections; idle kept-alive connections are closed;
  // responses in progress end normally, with Connection: close. Thread-safe.
  void begin_shutdown();
  size_t open_connections() const;
  // Closes every connection and joins the threads. Idempotent.
  void stop();

  struct Shared;

 private:
  HttpServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::server
