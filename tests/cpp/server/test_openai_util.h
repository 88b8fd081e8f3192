// tests/cpp/server/test_openai_util.h — shared helpers of the OpenAI API layer's tests: the demo
// model's context (its tokenizer and plain chat template, made on first use by ensure_demo_model),
// contexts over the real tokenizers and templates in ../shared/data (tests skip when absent), and
// JSON access to bodies and server-sent events.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "src/model/config.h"
#include "src/model/demo.h"
#include "src/server/openai_api.h"

namespace tessera::server::testing {

using nlohmann::json;

// The demo model (vocab 4096, context 2048, bos 1, eos 2) as `tessera serve` would see it.
inline const ModelContext& demo_context() {
  static const ModelContext ctx = [] {
    auto dir = ensure_demo_model();
    if (!dir) return ModelContext{};
    auto config = load_model_config(*dir);
    if (!config) return ModelContext{};
    EngineInfo info;
    info.max_model_len = config->max_position_embeddings;
    info.vocab_size = config->vocab_size;
    auto m = load_model_context(*dir, "demo", info);
    return m ? std::move(*m) : ModelContext{};
  }();
  return ctx;
}

inline std::string shared_data() { return TESSERA_SHARED_DATA; }

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A context over ../shared/data/tokenizers/<tokenizer> with chat_templates/<tmpl>.jinja, or an
// empty optional when the data is absent.
inline std::optional<ModelContext> real_context(const std::string& tokenizer, const std::string& tmpl,
                                                int64_t vocab_size, int64_t max_model_len = 4096) {
  const std::string dir = shared_data() + "/tokenizers/" + tokenizer;
  const std::string tpath = shared_data() + "/chat_templates/" + tmpl + ".jinja";
  if (!std::filesystem::exists(dir + "/tokenizer.json") || !std::filesystem::exists(tpath)) return std::nullopt;
  EngineInfo info;
  info.max_model_len = max_model_len;
  info.vocab_size = vocab_size;
  // The data is there: failing to load it is a test failure, not a skip.
  auto m = load_model_context(dir, tokenizer, info);
  if (!m) {
    ADD_FAILURE() << dir << ": " << m.status().message();
    return std::nullopt;
  }
  auto t = ChatTemplate::parse(slurp(tpath), tmpl);
  if (!t) {
    ADD_FAILURE() << tpath << ": " << t.status().message();
    return std::nullopt;
  }
  m->chat_template = std::move(*t);
  return std::move(*m);
}

// The JSON of a body, or of the error when the call failed (then "status" is added).
inline json body_json(const std::variant<std::string, ApiError>& r) {
  if (const auto* e = std::get_if<ApiError>(&r)) {
    json j = json::parse(error_body(*e));
    j["status"] = e->status;
    return j;
  }
  return json::parse(std::get<std::string>(r));
}

// The error a parse gives (fails the test when it succeeded).
inline ApiError parse_error(Endpoint ep, const std::string& body, const ModelContext& m = demo_context(),
                            const ApiLimits& limits = {}) {
  auto r = parse_request(ep, body, m, limits);
  if (const auto* e = std::get_if<ApiError>(&r)) return *e;
  ADD_FAILURE() << "expected an error for " << body;
  return ApiError::internal("no error");
}

inline ApiRequest parse_ok(Endpoint ep, const std::string& body, const ModelContext& m = demo_context(),
                           const ApiLimits& limits = {}) {
  auto r = parse_request(ep, body, m, limits);
  if (const auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << "unexpected error for " << body << ": " << e->message;
    return ApiRequest{};
  }
  return std::get<ApiRequest>(std::move(r));
}

// Splits server-sent events text into the JSON of each "data: {...}" event; "[DONE]" becomes the
// string "[DONE]". Fails the test on anything that is not "data: ...\n\n".
inline std::vector<json> sse_events(const std::string& text) {
  std::vector<json> out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find("\n\n", pos);
    if (end == std::string::npos || text.compare(pos, 6, "data: ") != 0) {
      ADD_FAILURE() << "malformed SSE at byte " << pos << ": " << text.substr(pos, 80);
      break;
    }
    const std::string data = text.substr(pos + 6, end - pos - 6);
    EXPECT_EQ(data.find('\n'), std::string::npos) << "an event's data must be one line";
    out.push_back(data == "[DONE]" ? json("[DONE]") : json::parse(data));
    pos = end + 2;
  }
  return out;
}

}  // namespace tessera::server::testing
