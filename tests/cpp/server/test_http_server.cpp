// Tests of the HTTP transport (src/server/http_server.h) over loopback sockets with test
// handlers: keep-alive and pipelining, limits (413, 431, 400), timeouts, Expect: 100-continue,
// chunked streaming with keep-alive comments, disconnect notification, and graceful shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "src/server/http_server.h"

namespace tessera::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

std::unique_ptr<HttpServer> start_server(HttpHandler handler, HttpServerOptions options = {}) {
  options.host = "127.0.0.1";
  options.port = 0;
  auto server = HttpServer::start(std::move(options), std::move(handler));
  EXPECT_TRUE(server.has_value()) << server.status().message();
  return server ? std::move(*server) : nullptr;
}

// Echoes "METHOD TARGET BODY".
void echo(std::shared_ptr<HttpExchange> ex) {
  const HttpRequest& r = ex->request();
  HttpResponse out;
  out.content_type = "text/plain";
  out.body = r.method + " " + r.target + " " + r.body;
  ex->respond(std::move(out));
}

// A blocking client on its own io_context.
struct Client {
  explicit Client(uint16_t port) : socket(ioc) { socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port)); }
  void send(const std::string& bytes) { net::write(socket, net::buffer(bytes)); }
  http::response<http::string_body> read_response() {
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return res;
  }
  // Reads until the server closes (with a deadline through SO_RCVTIMEO-free polling).
  std::string read_until_close(std::chrono::milliseconds deadline = 5s) {
    std::string out(static_cast<const char*>(buffer.data().data()), buffer.size());
    buffer.consume(buffer.size());
    socket.non_blocking(true);
    const auto end = std::chrono::steady_clock::now() + deadline;
    char chunk[4096];
    while (std::chrono::steady_clock::now() < end) {
      beast::error_code ec;
      const size_t n = socket.read_some(net::buffer(chunk), ec);
      if (ec == net::error::would_block) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      if (ec) {
        closed = true;
        break;
      }
      out.append(chunk, n);
    }
    return out;
  }
  net::io_context ioc;
  tcp::socket socket;
  beast::flat_buffer buffer;
  bool closed = false;
};

std::string get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

std::string post(const std::string& target, const std::string& body) {
  return "POST " + target + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = start_server(echo);
  Client c(server->port());
  c.send(post("/a", "one"));
  auto r1 = c.read_response();
  EXPECT_EQ(r1.result_int(), 200);
  EXPECT_EQ(r1.body(), "POST /a one");
  EXPECT_TRUE(r1.keep_alive());
  c.send(get("/b?q=1"));
  auto r2 = c.read_response();
  EXPECT_EQ(r2.body(), "GET /b?q=1 ");
  EXPECT_EQ(r2[http::field::content_type], "text/plain");
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  // The first answer is late (from another thread); the second request is already buffered.
  auto server = start_server([](std::shared_ptr<HttpExchange> ex) {
    if (ex->request().target == "/slow") {
      std::thread([ex] {
        std::this_thread::sleep_for(100ms);
        echo(ex);
      }).detach();
    } else {
      echo(ex);
    }
  });
  Client c(server->port());
  c.send(get("/slow") + post("/fast", "x"));
  EXPECT_EQ(c.read_response().body(), "GET /slow ");
  EXPECT_EQ(c.read_response().body(), "POST /fast x");
}

TEST(HttpServer, ConnectionCloseIsHonoured) {
  auto server = start_server(echo);
  Client c(server->port());
  c.send(get("/x", "Connection: close\r\n"));
  auto r = c.read_response();
  EXPECT_FALSE(r.keep_alive());
  c.read_until_close();
  EXPECT_TRUE(c.closed);
}

TEST(HttpServer, HeadGetsHeadersWithoutBody) {
  auto server = start_server(echo);
  Client c(server->port());
  c.send("HEAD /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  const std::string raw = c.read_until_close();
  EXPECT_NE(raw.find("Content-Length: 8\r\n"), std::string::npos) << raw;  // "HEAD /x "
  EXPECT_TRUE(raw.ends_with("\r\n\r\n")) << raw;
}

TEST(HttpServer, BodyOverTheLimitIs413WithoutReadingIt) {
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  std::atomic<int> handled{0};
  auto server = start_server([&](std::shared_ptr<HttpExchange> ex) { ++handled, echo(ex); }, o);
  Client c(server->port());
  c.send("POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x'));
  auto r = c.read_response();
  EXPECT_EQ(r.result_int(), 413);
  EXPECT_NE(r.body().find("1000 bytes"), std::string::npos) << r.body();
  EXPECT_FALSE(r.keep_alive());
  c.read_until_close();
  EXPECT_TRUE(c.closed);
  EXPECT_EQ(handled.load(), 0);
  // At the limit is fine.
  Client ok(server->port());
  ok.send(post("/p", std::string(1000, 'y')));
  EXPECT_EQ(ok.read_response().result_int(), 200);
}

TEST(HttpServer, ChunkedBodyOverTheLimitIs413) {
  HttpServerOptions o;
  o.max_body_bytes = 100;
  auto server = start_server(echo, o);
  Client c(server->port());
  c.send("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + std::string(64, 'a') +
         "\r\n40\r\n" + std::string(64, 'b') + "\r\n0\r\n\r\n");
  EXPECT_EQ(c.read_response().result_int(), 413);
}

TEST(HttpServer, ErrorBodiesComeFromTheApplication) {
  HttpServerOptions o;
  o.max_body_bytes = 10;
  o.make_error = [](int status, std::string message) {
    HttpResponse r;
    r.status = status;
    r.body = "custom " + std::to_string(status) + ": " + message;
    return r;
  };
  auto server = start_server(echo, o);
  Client c(server->port());
  c.send(post("/x", std::string(11, 'z')));
  auto r = c.read_response();
  EXPECT_EQ(r.result_int(), 413);
  EXPECT_TRUE(r.body().starts_with("custom 413: ")) << r.body();
}

TEST(HttpServer, OversizedHeadersAre431) {
  HttpServerOptions o;
  o.max_header_bytes = 1024;
  auto server = start_server(echo, o);
  Client c(server->port());
  c.send(get("/x", "X-Big: " + std::string(4000, 'h') + "\r\n"));
  EXPECT_EQ(c.read_response().result_int(), 431);
}

TEST(HttpServer, MalformedRequestIs400AndCloses) {
  auto server = start_server(echo);
  Client c(server->port());
  c.send("GET /x HTTP/1.1\r\nHost t\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.result_int(), 400);
  EXPECT_NE(r.body().find("malformed"), std::string::npos);
}

TEST(HttpServer, SlowHeadersTimeOut) {
  HttpServerOptions o;
  o.header_timeout = 200ms;
  auto server = start_server(echo, o);
  Client c(server->port());
  c.send("GET /x HTTP/1.1\r\nHost: t\r\n");  // never finished
  const auto t0 = std::chrono::steady_clock::now();
  c.read_until_close(5s);
  EXPECT_TRUE(c.closed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST(HttpServer, IdleKeptAliveConnectionTimesOut) {
  HttpServerOptions o;
  o.header_timeout = 200ms;
  auto server = start_server(echo, o);
  Client c(server->port());
  c.send(get("/x"));
  EXPECT_EQ(c.read_response().result_int(), 200);
  c.read_until_close(5s);
  EXPECT_TRUE(c.closed);
}

TEST(HttpServer, SlowBodyTimesOut) {
  HttpServerOptions o;
  o.body_timeout = 200ms;
  auto server = start_server(echo, o);
  Client c(server->port());
  c.send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  c.read_until_close(5s);
  EXPECT_TRUE(c.closed);
}

TEST(HttpServer, ExpectContinueGetsA100First) {
  auto server = start_server(echo);
  Client c(server->port());
  c.send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  std::string line(25, '\0');
  net::read(c.socket, net::buffer(line));
  EXPECT_EQ(line, "HTTP/1.1 100 Continue\r\n\r\n");
  c.send("body");
  EXPECT_EQ(c.read_response().body(), "POST /x body");
}

TEST(HttpServer, HandlerExceptionIs500) {
  auto server = start_server([](std::shared_ptr<HttpExchange>) { throw std::runtime_error("boom"); });
  Client c(server->port());
  c.send(get("/x"));
  auto r = c.read_response();
  EXPECT_EQ(r.result_int(), 500);
  EXPECT_NE(r.body().find("boom"), std::string::npos);
}

// A handler that streams `events` from another thread, `gap` apart.
HttpHandler streamer(std::vector<std::string> events, std::chrono::milliseconds gap) {
  return [events, gap](std::shared_ptr<HttpExchange> ex) {
    ex->begin_stream(200, "text/event-stream", {{"X-Test", "1"}});
    std::thread([ex, events, gap] {
      for (const auto& e : events) {
        std::this_thread::sleep_for(gap);
        ex->send(e);
      }
      ex->end_stream();
    }).detach();
  };
}

TEST(HttpServer, StreamsChunkedEventsAndKeepsTheConnection) {
  auto server = start_server(streamer({"data: 1\n\n", "data: 2\n\n", "data: [DONE]\n\n"}, 20ms));
  Client c(server->port());
  c.send(post("/v1/completions", "{}"));
  auto r = c.read_response();  // beast decodes the chunked body
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r[http::field::content_type], "text/event-stream");
  EXPECT_EQ(r[http::field::cache_control], "no-cache");
  EXPECT_EQ(r["X-Test"], "1");
  EXPECT_TRUE(r.chunked());
  EXPECT_EQ(r.body(), "data: 1\n\ndata: 2\n\ndata: [DONE]\n\n");
  c.send(post("/v1/completions", "{}"));
  EXPECT_EQ(c.read_response().body(), "data: 1\n\ndata: 2\n\ndata: [DONE]\n\n");
}

TEST(HttpServer, StreamChunksAreFramedOnTheWire) {
  auto server = start_server(streamer({"data: a\n\n"}, 0ms));
  Client c(server->port());
  c.send(get("/s", "Connection: close\r\n"));
  const std::string raw = c.read_until_close();
  const size_t body = raw.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_NE(raw.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(raw.substr(body + 4), "9\r\ndata: a\n\n\r\n0\r\n\r\n");
}

TEST(HttpServer, Http10ClientsGetTheStreamUnframedUntilClose) {
  auto server = start_server(streamer({"data: a\n\n", "data: b\n\n"}, 10ms));
  Client c(server->port());
  c.send("GET /s HTTP/1.0\r\n\r\n");
  const std::string raw = c.read_until_close();
  EXPECT_TRUE(c.closed);
  const size_t body = raw.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_EQ(raw.find("Transfer-Encoding"), std::string::npos) << raw;
  EXPECT_NE(raw.find("Connection: close\r\n"), std::string::npos) << raw;
  EXPECT_EQ(raw.substr(body + 4), "data: a\n\ndata: b\n\n");
}

TEST(HttpServer, QuietStreamsGetKeepAliveComments) {
  HttpServerOptions o;
  o.stream_keepalive = 50ms;
  auto server = start_server(streamer({"data: late\n\n"}, 300ms), o);
  Client c(server->port());
  c.send(get("/s"));
  auto r = c.read_response();
  EXPECT_TRUE(r.body().starts_with(": keep-alive\n\n")) << r.body();
  EXPECT_TRUE(r.body().ends_with("data: late\n\n")) << r.body();
}

// Holds the exchange without answering and reports its on_close.
struct Holder {
  std::mutex mu;
  std::shared_ptr<HttpExchange> ex;
  std::promise<void> closed;
  std::atomic<int> close_calls{0};
  HttpHandler handler(bool stream) {
    return [this, stream](std::shared_ptr<HttpExchange> e) {
      if (stream) e->begin_stream(200, "text/event-stream", {});
      e->on_close([this] {
        if (++close_calls == 1) closed.set_value();
      });
      std::lock_guard<std::mutex> lock(mu);
      ex = e;
    };
  }
};

TEST(HttpServer, ClientThatLeavesWhileWaitingIsReported) {
  for (bool stream : {false, true}) {
    Holder h;
    auto server = start_server(h.handler(stream));
    {
      Client c(server->port());
      c.send(post("/v1/completions", "{}"));
      std::this_thread::sleep_for(50ms);
    }  // closes the socket
    EXPECT_EQ(h.closed.get_future().wait_for(2s), std::future_status::ready) << "stream=" << stream;
    // Answers after the client left are ignored; on_close ran once.
    h.ex->send("data: x\n\n");
    h.ex->respond(HttpResponse{});
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(h.close_calls.load(), 1);
  }
}

TEST(HttpServer, CompletedExchangeDoesNotReportClose) {
  std::atomic<int> close_calls{0};
  auto server = start_server([&](std::shared_ptr<HttpExchange> ex) {
    ex->on_close([&] { ++close_calls; });
    echo(ex);
  });
  {
    Client c(server->port());
    c.send(get("/x"));
    c.read_response();
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(close_calls.load(), 0);
}

TEST(HttpServer, ClientThatStopsReadingIsDroppedAfterTheWriteTimeout) {
  HttpServerOptions o;
  o.write_timeout = 200ms;
  std::promise<void> closed;
  auto is_closed = std::make_shared<std::atomic<bool>>(false);
  auto server = start_server(
      [&](std::shared_ptr<HttpExchange> ex) {
        ex->begin_stream(200, "text/event-stream", {});
        ex->on_close([&closed, is_closed] {
          *is_closed = true;
          closed.set_value();
        });
        std::thread([ex, is_closed] {
          const std::string block(256 << 10, 'x');
          for (int i = 0; i < 2000 && !*is_closed; ++i) {  // up to 500 MB, until dropped
            ex->send(block);
            std::this_thread::sleep_for(2ms);
          }
        }).detach();
      },
      o);
  Client c(server->port());
  c.send(get("/s"));  // and never read
  EXPECT_EQ(closed.get_future().wait_for(10s), std::future_status::ready);
}

TEST(HttpServer, ShutdownClosesIdleConnectionsAndFinishesBusyOnes) {
  Holder h;
  auto server = start_server(h.handler(false));
  Client idle(server->port());
  Client busy(server->port());
  busy.send(get("/x"));
  for (int i = 0; i < 200 && !h.ex; ++i) {
    std::this_thread::sleep_for(5ms);
    std::lock_guard<std::mutex> lock(h.mu);
  }
  ASSERT_TRUE(h.ex);
  server->begin_shutdown();
  idle.read_until_close(2s);
  EXPECT_TRUE(idle.closed);
  HttpResponse late;
  late.body = "late";
  h.ex->respond(late);
  auto r = busy.read_response();
  EXPECT_EQ(r.body(), "late");
  EXPECT_FALSE(r.keep_alive());
  // No new connections.
  std::this_thread::sleep_for(50ms);
  net::io_context ioc;
  tcp::socket s(ioc);
  beast::error_code ec;
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server->port()), ec);
  EXPECT_TRUE(ec) << "connect after shutdown should be refused";
  h.ex.reset();
  server->stop();
}

TEST(HttpServer, BindFailureNamesTheAddress) {
  auto first = start_server(echo);
  HttpServerOptions o;
  o.host = "127.0.0.1";
  o.port = first->port();
  // SO_REUSEADDR does not let two listeners share a port on Linux.
  auto second = HttpServer::start(o, echo);
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.status().message().find("127.0.0.1:" + std::to_string(first->port())), std::string::npos)
      << second.status().message();
}

}  // namespace
}  // namespace tessera::server
