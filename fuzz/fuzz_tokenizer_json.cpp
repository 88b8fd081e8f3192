// fuzz/fuzz_tokenizer_json.cpp — libFuzzer target for the tokenizer.json loader, and for encode,
// decode and streaming on whatever loads.
//
// The input is a tokenizer.json text. Any outcome is fine except a crash, a sanitizer report, a
// hang or unbounded memory: a malformed file must come back as one error Status. When it loads,
// a few fixed strings and the input's own bytes are encoded, and the ids (plus some out-of-range
// ones) decoded, whole and streamed.
//
// Build and run (clang from Debian; not part of the default build; fuzz/CMakeLists.txt does the
// same with TESSERA_FUZZ=ON):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. -Iinclude \
//     fuzz/fuzz_tokenizer_json.cpp src/tokenizer/{unicode,pretokenize,bpe,tokenizer_load,tokenizer,decode}.cpp \
//     src/core/status.cpp src/core/json_util.cpp -o build/fuzz_tokenizer_json
//   build/fuzz_tokenizer_json -max_total_time=600 -timeout=10 -rss_limit_mb=2048 \
//     -dict=fuzz/tokenizer_json.dict CORPUS_DIR
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "src/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto tok = tessera::Tokenizer::from_json(text, "fuzz.json");
  if (!tok.has_value()) {
    if (tok.status().message().empty()) __builtin_trap();  // an error must say something
    return 0;
  }
  static const char* kSamples[] = {"", "Hello world's 123 \r\n\t ", "<s> [INST] é 日本 🦙 \xCC\x81" "a",
                                   "  \xE2\x80\x83" "x\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB"};
  std::vector<int32_t> all;
  for (const char* s : kSamples) {
    for (bool special : {false, true}) {
      auto ids = tok->encode(s, special);
      if (!ids) __builtin_trap();  // valid UTF-8 must encode
      all.insert(all.end(), ids->begin(), ids->end());
    }
  }
  if (auto ids = tok->encode(text.substr(0, 256), true)) all.insert(all.end(), ids->begin(), ids->end());
  all.push_back(-1);
  all.push_back(1 << 30);
  (void)tok->decode(all, false);
  (void)tok->decode(all, true);
  tessera::StreamDecoder stream(*tok, false);
  for (int32_t id : all) (void)stream.step(id);
  (void)stream.flush();
  return 0;
}
