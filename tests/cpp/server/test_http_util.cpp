// Tests of the pure HTTP pieces (src/server/http_util.h): routes, API key, CORS, chunk framing,
// response heads and the queue rule.
#include <gtest/gtest.h>

#include "src/server/http_util.h"

namespace tessera::server {
namespace {

TEST(HttpRoute, MatchesEachApiRouteWithItsMethod) {
  EXPECT_EQ(match_route("POST", "/v1/completions").route, Route::kCompletions);
  EXPECT_EQ(match_route("POST", "/v1/chat/completions").route, Route::kChatCompletions);
  EXPECT_EQ(match_route("GET", "/v1/models").route, Route::kModels);
  EXPECT_EQ(match_route("POST", "/tokenize").route, Route::kTokenize);
  EXPECT_EQ(match_route("POST", "/detokenize").route, Route::kDetokenize);
  EXPECT_EQ(match_route("GET", "/health").route, Route::kHealth);
  EXPECT_EQ(match_route("HEAD", "/health").route, Route::kHealth);
  EXPECT_EQ(match_route("GET", "/metrics").route, Route::kMetrics);
}

TEST(HttpRoute, WrongMethodIsNotAllowedAndOptionsIsAPreflight) {
  EXPECT_EQ(match_route("GET", "/v1/completions").route, Route::kMethodNotAllowed);
  EXPECT_EQ(match_route("POST", "/health").route, Route::kMethodNotAllowed);
  EXPECT_EQ(match_route("DELETE", "/v1/models").route, Route::kMethodNotAllowed);
  EXPECT_EQ(match_route("OPTIONS", "/v1/chat/completions").route, Route::kPreflight);
}

TEST(HttpRoute, QueryStringsAreIgnoredAndPathsMatchExactly) {
  const RouteMatch m = match_route("GET", "/metrics?x=1#frag");
  EXPECT_EQ(m.route, Route::kMetrics);
  EXPECT_EQ(m.path, "/metrics");
  EXPECT_EQ(match_route("POST", "/v1/completions/").route, Route::kOther);
  EXPECT_EQ(match_route("POST", "/v1/../v1/completions").route, Route::kOther);
  EXPECT_EQ(match_route("GET", "/").route, Route::kOther);
  EXPECT_EQ(match_route("GET", "/index.html").route, Route::kOther);
  EXPECT_EQ(match_route("GET", "").route, Route::kOther);
}

TEST(HttpRoute, ModelIdMayContainSlashes) {
  const RouteMatch m = match_route("GET", "/v1/models/meta-llama/Llama-3.2-1B?x");
  EXPECT_EQ(m.route, Route::kModel);
  EXPECT_EQ(m.model_id, "meta-llama/Llama-3.2-1B");
  EXPECT_EQ(match_route("GET", "/v1/models/").route, Route::kOther);
  EXPECT_EQ(match_route("POST", "/v1/models/x").route, Route::kMethodNotAllowed);
}

TEST(HttpRoute, OnlyHealthAndPreflightArePublic) {
  EXPECT_TRUE(route_is_public(Route::kHealth));
  EXPECT_TRUE(route_is_public(Route::kPreflight));
  for (Route r : {Route::kCompletions, Route::kChatCompletions, Route::kModels, Route::kModel, Route::kTokenize,
                  Route::kDetokenize, Route::kMetrics, Route::kMethodNotAllowed, Route::kOther})
    EXPECT_FALSE(route_is_public(r));
}

TEST(HttpAuth, BearerTokenMustMatchExactly) {
  EXPECT_TRUE(bearer_token_matches("Bearer sk-123", "sk-123"));
  EXPECT_TRUE(bearer_token_matches("bearer sk-123", "sk-123"));
  EXPECT_FALSE(bearer_token_matches("Bearer sk-124", "sk-123"));
  EXPECT_FALSE(bearer_token_matches("Bearer sk-12", "sk-123"));
  EXPECT_FALSE(bearer_token_matches("Bearer sk-1234", "sk-123"));
  EXPECT_FALSE(bearer_token_matches("Bearer  sk-123", "sk-123"));
  EXPECT_FALSE(bearer_token_matches("Basic sk-123", "sk-123"));
  EXPECT_FALSE(bearer_token_matches("sk-123", "sk-123"));
  EXPECT_FALSE(bearer_token_matches("", "sk-123"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", ""));  // an empty key never matches
}

TEST(HttpCors, OffByDefaultAndExactOriginsOrAny) {
  EXPECT_FALSE(CorsPolicy().enabled());
  EXPECT_FALSE(CorsPolicy().allows("http://a.example"));
  const CorsPolicy some({"http://a.example", "https://b.example:8443"});
  EXPECT_TRUE(some.allows("http://a.example"));
  EXPECT_TRUE(some.allows("https://b.example:8443"));
  EXPECT_FALSE(some.allows("http://a.example.evil"));
  EXPECT_FALSE(some.allows("https://a.example"));
  EXPECT_FALSE(some.allows(""));
  const CorsPolicy any({"*"});
  EXPECT_TRUE(any.allows("http://anything"));
  EXPECT_FALSE(any.allows(""));
}

TEST(HttpChunk, FramesPayloadsWithHexSizes) {
  EXPECT_EQ(http_chunk("data: x\n\n"), "9\r\ndata: x\n\n\r\n");
  EXPECT_EQ(http_chunk(std::string(300, 'a')), "12c\r\n" + std::string(300, 'a') + "\r\n");
  EXPECT_EQ(http_chunk(""), "");  // an empty chunk would end the body
  EXPECT_EQ(std::string(kLastChunk), "0\r\n\r\n");
  EXPECT_EQ(std::string(kSseKeepAlive), ": keep-alive\n\n");
}

TEST(HttpHead, FormatsStatusHeadersAndFraming) {
  EXPECT_EQ(format_response_head(200, {{"Content-Type", "application/json"}}, 2, true),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(format_response_head(429, {{"Retry-After", "1"}}, 0, false),
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(format_response_head(200, {}, kChunkedBody, true),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(format_response_head(204, {}, 0, true), "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(format_response_head(200, {}, kBodyUntilClose, false), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
}

TEST(HttpQueue, AdmitsWhatCanRunAndUpToMaxQueueWaiting) {
  // 4 can run, 2 may wait.
  EXPECT_TRUE(admits(0, 1, 4, 0, 2));
  EXPECT_TRUE(admits(3, 1, 4, 0, 2));
  EXPECT_TRUE(admits(5, 1, 4, 0, 2));   // 2 waiting then
  EXPECT_FALSE(admits(6, 1, 4, 0, 2));  // 3 waiting
  EXPECT_FALSE(admits(4, 3, 4, 0, 2));  // a request of 3 prompts: 3 would wait
  // The engine holds requests back for lack of KV blocks: newcomers wait behind them.
  EXPECT_TRUE(admits(2, 1, 4, 1, 2));
  EXPECT_FALSE(admits(2, 1, 4, 2, 2));
  // max_queue 0: nothing may wait; < 0: no limit.
  EXPECT_TRUE(admits(3, 1, 4, 0, 0));
  EXPECT_FALSE(admits(4, 1, 4, 0, 0));
  EXPECT_TRUE(admits(1000, 1, 4, 900, -1));
}

}  // namespace
}  // namespace tessera::server
