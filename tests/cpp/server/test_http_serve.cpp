// Tests of the whole server in-process (src/server/server.h) on the demo model, over loopback
// sockets: /health while loading, a streamed completion end to end through the engine bridge,
// many concurrent streams, a client that disconnects, and shutdown with and without grace. The
// Python tests (tests/python) cover the API surface; these keep the bridge and the life cycle
// under the C++ tools (sanitizers, debuggers).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <thread>

#include "src/model/demo.h"
#include "src/server/server.h"

namespace tessera::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

std::unique_ptr<Server> start(ServerOptions o = {}) {
  auto dir = ensure_demo_model();
  EXPECT_TRUE(dir.has_value()) << dir.status().message();
  o.model_dir = dir.has_value() ? *dir : "";
  o.host = "127.0.0.1";
  o.port = 0;
  auto server = Server::start(std::move(o));
  EXPECT_TRUE(server.has_value()) << server.status().message();
  return server ? std::move(*server) : nullptr;
}

struct Conn {
  explicit Conn(uint16_t port) : socket(ioc) { socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port)); }
  void post(const std::string& target, const std::string& body) {
    const std::string req = "POST " + target + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    net::write(socket, net::buffer(req));
  }
  void get(const std::string& target) { net::write(socket, net::buffer("GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n")); }
  http::response<http::string_body> read() {
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return res;
  }
  net::io_context ioc;
  tcp::socket socket;
  beast::flat_buffer buffer;
};

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

TEST(HttpServe, HealthIs503UntilTheModelIsLoaded) {
  auto server = start();
  ASSERT_TRUE(server);
  Conn c(server->port());
  c.get("/health");
  auto r = c.read();
  EXPECT_EQ(r.result_int(), 503);
  EXPECT_NE(r.body().find("loading"), std::string::npos);
  c.post("/v1/completions", R"({"prompt": "hi"})");
  EXPECT_EQ(c.read().result_int(), 503);
  ASSERT_TRUE(server->load_model().is_ok());
  c.get("/health");
  EXPECT_EQ(c.read().result_int(), 200);
}

TEST(HttpServe, StreamsACompletionThroughTheEngine) {
  auto server = start();
  ASSERT_TRUE(server && server->load_model().is_ok());
  Conn c(server->port());
  c.post("/v1/completions",
         R"({"prompt": "Once upon a time", "max_tokens": 12, "ignore_eos": true, "stream": true,
             "stream_options": {"include_usage": true}})");
  auto r = c.read();
  ASSERT_EQ(r.result_int(), 200) << r.body();
  EXPECT_EQ(r[http::field::content_type], "text/event-stream");
  EXPECT_TRUE(r.chunked());
  const std::string& body = r.body();
  EXPECT_TRUE(body.ends_with("data: [DONE]\n\n")) << body;
  EXPECT_NE(body.find("\"finish_reason\":\"length\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"completion_tokens\":12"), std::string::npos) << body;
  EXPECT_GE(count(body, "data: "), 4u);
  // The connection is kept: a whole (not streamed) answer follows on it.
  c.post("/v1/completions", R"({"prompt": "Once upon a time", "max_tokens": 3})");
  auto whole = c.read();
  EXPECT_EQ(whole.result_int(), 200);
  EXPECT_NE(whole.body().find("\"completion_tokens\":3"), std::string::npos) << whole.body();
  EXPECT_EQ(server->requests_in_flight(), 0);
}

TEST(HttpServe, ManyConcurrentStreamsAllFinish) {
  auto server = start();
  ASSERT_TRUE(server && server->load_model().is_ok());
  constexpr int kClients = 48;
  std::atomic<int> done{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      Conn c(server->port());
      c.post("/v1/completions", R"({"prompt": "Story )" + std::to_string(i) +
                                    R"(", "max_tokens": 8, "ignore_eos": true, "stream": true})");
      auto r = c.read();
      if (r.result_int() == 200 && r.body().ends_with("data: [DONE]\n\n") &&
          count(r.body(), "\"finish_reason\":\"length\"") == 1)
        ++done;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(done.load(), kClients);
  EXPECT_EQ(server->requests_in_flight(), 0);
}

TEST(HttpServe, ClientThatLeavesIsCancelled) {
  auto server = start();
  ASSERT_TRUE(server && server->load_model().is_ok());
  for (bool stream : {true, false}) {
    {
      Conn c(server->port());
      c.post("/v1/completions", std::string(R"({"prompt": "x", "max_tokens": 1900, "ignore_eos": true, "stream": )") +
                                    (stream ? "true" : "false") + "}");
      ASSERT_TRUE(wait_for([&] { return server->requests_in_flight() == 1; }, 5s));
      std::this_thread::sleep_for(50ms);
    }  // the socket closes with the request running
    EXPECT_TRUE(wait_for([&] { return server->requests_in_flight() == 0; }, 2s)) << "stream=" << stream;
  }
  // Scraped from /metrics: both counted, nothing left running or holding KV blocks.
  Conn m(server->port());
  m.get("/metrics");
  const std::string text = m.read().body();
  EXPECT_NE(text.find("tessera:client_disconnects_total{model_name=\"demo-tiny\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("tessera:requests_running{model_name=\"demo-tiny\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("tessera:kv_cache_usage_ratio{model_name=\"demo-tiny\"} 0\n"), std::string::npos);
}

TEST(HttpServe, ShutdownLetsRunningRequestsFinishWithinTheGrace) {
  auto server = start();
  ASSERT_TRUE(server && server->load_model().is_ok());
  Conn c(server->port());
  c.post("/v1/completions", R"({"prompt": "x", "max_tokens": 64, "ignore_eos": true, "stream": true})");
  ASSERT_TRUE(wait_for([&] { return server->requests_in_flight() == 1; }, 5s));
  std::thread reader([&] {
    auto r = c.read();
    EXPECT_TRUE(r.body().ends_with("data: [DONE]\n\n"));
    EXPECT_NE(r.body().find("\"finish_reason\":\"length\""), std::string::npos);
    // The headers went out before the shutdown (keep-alive); the connection closes after.
    char byte;
    beast::error_code ec;
    c.socket.read_some(net::buffer(&byte, 1), ec);
    EXPECT_EQ(ec, net::error::eof);
    c.socket.close();
  });
  server->shutdown(30s);
  reader.join();
}

TEST(HttpServe, ShutdownCancelsWhatOutlivesTheGrace) {
  auto server = start();
  ASSERT_TRUE(server && server->load_model().is_ok());
  Conn c(server->port());
  c.post("/v1/completions", R"({"prompt": "x", "max_tokens": 1900, "ignore_eos": true, "stream": true})");
  ASSERT_TRUE(wait_for([&] { return server->requests_in_flight() == 1; }, 5s));
  std::thread reader([&] {
    auto r = c.read();
    EXPECT_TRUE(r.body().ends_with("data: [DONE]\n\n")) << r.body().substr(r.body().size() - 200);
    EXPECT_NE(r.body().find("\"finish_reason\":\"abort\""), std::string::npos);
    c.socket.close();
  });
  const auto t0 = std::chrono::steady_clock::now();
  server->shutdown(100ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  reader.join();
}

}  // namespace
}  // namespace tessera::server
