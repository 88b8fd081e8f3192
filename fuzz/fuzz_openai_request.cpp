// fuzz/fuzz_openai_request.cpp — libFuzzer target for the OpenAI API layer (src/server/openai_*):
// request parsing and validation of both generation routes, /tokenize and /detokenize, and the
// response assembly of whatever request parses.
//
// Input: one byte choosing the route (completions, chat, tokenize, detokenize), then the body.
// The model is a small byte-level BPE tokenizer built here (so the target needs no files) with a
// ChatML-like template, vocab 300 and a 256-token context. When a generation request parses,
// its choices get made-up events (text, logprobs when asked, every finish reason, sometimes an
// engine error), streamed and not. Any ApiError is fine; a crash, a sanitizer report, a hang, an
// exception escaping, or output that is not valid JSON / SSE is not (checked: abort).
//
// Build and run (clang; not part of the default build): see fuzz/CMakeLists.txt, then
//   build/fuzz/fuzz_openai_request -max_total_time=600 -timeout=10 -rss_limit_mb=2048 \
//     -dict=fuzz/openai_request.dict CORPUS_DIR fuzz/seeds/openai_request
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "src/server/openai_api.h"

namespace {

using tessera::server::ApiError;
using tessera::server::ApiRequest;
using tessera::server::Endpoint;
using tessera::server::ModelContext;
using tessera::server::ResponseBuilder;

constexpr int64_t kVocab = 300;

// GPT-2's byte-to-symbol map: printable bytes stand for themselves, the rest move to U+0100+.
std::string byte_symbol(int b) {
  int cp = b;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    int k = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++k;
    cp = 256 + k;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

ModelContext make_model() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_symbol(b)] = b;
  const std::string sp = byte_symbol(' ');
  const char* pairs[][2] = {{"h", "e"}, {"t", "he"}, {"i", "n"}, {"e", "r"}, {"o", "n"}, {"a", "n"}};
  nlohmann::json merges = nlohmann::json::array();
  int next = 256;
  for (auto& p : pairs) {
    merges.push_back(std::string(p[0]) + " " + p[1]);
    vocab[std::string(p[0]) + p[1]] = next++;
  }
  merges.push_back(sp + " the");
  vocab[sp + "the"] = next++;
  nlohmann::json added = nlohmann::json::array();
  int id = 290;
  for (const char* t : {"<s>", "</s>", "<|im_start|>", "<|im_end|>"})
    added.push_back({{"id", id++}, {"content", t}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
  nlohmann::json tok = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"fuse_unk", false},
                 {"byte_fallback", false}, {"vocab", vocab}, {"merges", merges}}}};
  auto tokenizer = tessera::Tokenizer::from_json(tok.dump(), "fuzz tokenizer.json");
  if (!tokenizer) {
    std::fprintf(stderr, "fuzz tokenizer: %s\n", tokenizer.status().message().c_str());
    std::abort();
  }
  auto tmpl = tessera::ChatTemplate::parse(
      "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
      "{% if m['content'] is string %}{{ m['content'] }}{% elif m['content'] is not none %}{{ m['content'] | tojson }}"
      "{% endif %}{% if m['tool_calls'] is defined %}{{ m['tool_calls'] | tojson }}{% endif %}<|im_end|>\n"
      "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
      "fuzz template");
  if (!tmpl) std::abort();
  ModelContext m;
  m.model_name = "fuzz";
  m.tokenizer = std::make_shared<const tessera::Tokenizer>(std::move(*tokenizer));
  m.chat_template = std::move(*tmpl);
  m.chat_context.bos_token = "<s>";
  m.chat_context.eos_token = "</s>";
  m.max_model_len = 256;
  m.vocab_size = kVocab;
  return m;
}

void require_json(const std::string& text, const char* what) {
  if (!nlohmann::json::accept(text)) {
    std::fprintf(stderr, "%s is not valid JSON: %.200s\n", what, text.c_str());
    std::abort();
  }
}

// Every event must be "data: <one line of JSON or [DONE]>\n\n".
void require_sse(const std::string& text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find("\n\n", pos);
    if (end == std::string::npos || text.compare(pos, 6, "data: ") != 0) {
      std::fprintf(stderr, "malformed SSE at %zu: %.200s\n", pos, text.c_str() + pos);
      std::abort();
    }
    const std::string data = text.substr(pos + 6, end - pos - 6);
    if (data.find('\n') != std::string::npos) std::abort();
    if (data != "[DONE]") require_json(data, "SSE event");
    pos = end + 2;
  }
}

void exercise_response(const ApiRequest& request, const ModelContext& m, uint8_t salt) {
  ResponseBuilder out(request, m, "cmpl-fuzz", 1);
  std::string sent;
  for (size_t p = 0; p < request.prompts.size(); ++p) {
    for (int32_t s = 0; s < request.n; ++s) {
      const int32_t token = static_cast<int32_t>((p * 31 + static_cast<size_t>(s) * 7 + salt) % kVocab);
      tessera::TokenEvent ev;
      ev.index = s;
      ev.token_ids = {token};
      ev.text = m.tokenizer->decode({token});
      ev.usage.completion_tokens = s + 1;
      if (request.logprobs >= 0) {
        tessera::TokenLogprob lp{token, -0.5f * static_cast<float>(salt % 5), 1, {}};
        for (int32_t k = 0; k < request.logprobs; ++k) lp.top.emplace_back((token + k) % kVocab, -1.0f * static_cast<float>(k));
        ev.logprobs.push_back(lp);
      }
      sent += out.on_event(p, ev);
      tessera::TokenEvent last;
      last.index = s;
      const int kind = (salt + s + static_cast<int>(p)) % 4;
      last.finish_reason = kind == 0 ? tessera::FinishReason::kStop
                           : kind == 1 ? tessera::FinishReason::kLength
                           : kind == 2 ? tessera::FinishReason::kCancelled
                                       : (salt & 0x80 ? tessera::FinishReason::kError : tessera::FinishReason::kStop);
      last.error = "fuzz engine error";
      sent += out.on_event(p, last);
    }
  }
  sent += out.finish();
  if (request.stream) require_sse(sent);
  else require_json(sent, "response body");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  static const ModelContext model = make_model();
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const uint8_t salt = static_cast<uint8_t>(size * 131 + data[size - 1]);
  switch (data[0] % 4) {
    case 0:
    case 1: {
      const Endpoint ep = data[0] % 4 == 0 ? Endpoint::kCompletions : Endpoint::kChatCompletions;
      auto r = tessera::server::parse_request(ep, body, model);
      if (auto* e = std::get_if<ApiError>(&r)) {
        require_json(tessera::server::error_body(*e), "error body");
        return 0;
      }
      ApiRequest& req = std::get<ApiRequest>(r);
      tessera::server::assign_request_ids(req, "cmpl-fuzz");
      exercise_response(req, model, salt);
      req.stream = !req.stream;
      req.include_usage = req.stream && (salt & 1);
      exercise_response(req, model, salt);
      return 0;
    }
    case 2:
    case 3: {
      auto r = data[0] % 4 == 2 ? tessera::server::tokenize_body(body, model) : tessera::server::detokenize_body(body, model);
      if (auto* e = std::get_if<ApiError>(&r)) require_json(tessera::server::error_body(*e), "error body");
      else require_json(std::get<std::string>(r), "tokenize body");
      return 0;
    }
  }
  return 0;
}
