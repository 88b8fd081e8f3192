// fuzz/fuzz_gguf.cpp — libFuzzer target for the GGUF reader (src/model/gguf.h), which stands
// between a downloaded .gguf file and pointer arithmetic over its data section.
//
// The input is a whole file. Any error is fine (it must say something and be kDataLoss); a crash,
// a sanitizer report, a hang or an allocation the input cannot back is not, and neither is an
// accepted file that breaks the promises gguf.h makes, which are checked here: the data section
// starts at an aligned offset inside the file, every tensor has 1 to 4 positive extents, lies
// inside the data section at an aligned offset with bytes = elements / block x block bytes, names
// are unique and no two tensors overlap. An accepted file then goes through everything tessera
// does with one: the config from its metadata (and config.json's checks), the tokenizer.json and
// tokenizer_config.json built from its vocabulary (loaded and used to encode a string), and the
// dequantization of its tensors; each may fail with a message, none may crash.
//
// Build and run (clang; not part of the default build): see fuzz/CMakeLists.txt, then
//   python3 fuzz/make_seeds.py --gguf /tmp/fuzz_seeds/gguf
//   build/fuzz/fuzz_gguf -max_total_time=600 -timeout=10 -rss_limit_mb=2048 -dict=fuzz/gguf.dict \
//     CORPUS_DIR /tmp/fuzz_seeds/gguf
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <utility>
#include <vector>

#include "src/model/config.h"
#include "src/model/gguf.h"
#include "src/model/gguf_dequant.h"
#include "src/model/gguf_model.h"
#include "src/model/gguf_tokenizer.h"
#include "src/tokenizer/tokenizer.h"
#include "src/tokenizer/tokenizer_config.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "accepted file breaks an invariant: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (4u << 20)) return 0;
  auto f = tessera::parse_gguf(data, size, "fuzz.gguf");
  if (!f) {
    check(!f.status().message().empty(), "an error says something");
    check(f.status().code() == tessera::StatusCode::kDataLoss, "errors are kDataLoss");
    return 0;
  }
  check(f->alignment >= 1 && (f->alignment & (f->alignment - 1)) == 0, "alignment a power of two");
  check(f->data_offset % f->alignment == 0 && f->data_offset <= size,
        "data section aligned, inside the file");
  std::set<std::string> names;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (const tessera::GgufTensorInfo& t : f->tensors) {
    check(names.insert(t.name).second, "unique names");
    check(!t.extent.empty() && t.extent.size() <= 4, "1 to 4 dims");
    uint64_t elements = 1;
    for (int64_t e : t.extent) {
      check(e >= 1, "positive extents");
      check(elements <= UINT64_MAX / static_cast<uint64_t>(e), "element count without overflow");
      elements *= static_cast<uint64_t>(e);
    }
    const auto info = tessera::ggml_type_info(static_cast<uint32_t>(t.type));
    check(info.has_value(), "known type");
    check(static_cast<uint64_t>(t.extent[0]) % info->block_size == 0, "whole blocks per row");
    check(t.bytes == elements / info->block_size * info->block_bytes,
          "bytes = blocks x block bytes");
    check(t.offset >= f->data_offset && (t.offset - f->data_offset) % f->alignment == 0,
          "aligned offset");
    check(t.offset <= size && t.bytes <= size - t.offset, "inside the file");
    spans.emplace_back(t.offset, t.offset + t.bytes);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    check(spans[i - 1].second <= spans[i].first, "no overlap");

  auto c = tessera::gguf_model_config(*f, "fuzz.gguf");
  check(c.has_value() || !c.status().message().empty(), "config errors say something");
  if (auto tj = tessera::gguf_tokenizer_json(*f, "fuzz.gguf")) {
    if (auto tok = tessera::Tokenizer::from_json(*tj, "fuzz.gguf")) {
      auto ids = tok->encode("Hello world! 123 \xC3\xA9<s>", true);
      if (ids) (void)tok->decode(*ids);
    }
  }
  if (auto tc = tessera::gguf_tokenizer_config_json(*f, "fuzz.gguf"))
    (void)tessera::parse_tokenizer_config(*tc, "fuzz.gguf");
  for (const tessera::GgufTensorInfo& t : f->tensors) {
    if (t.num_elements() > (1 << 20)) continue;
    std::vector<float> out(static_cast<size_t>(t.num_elements()));
    (void)tessera::dequantize_tensor(t, data + t.offset, out.data());
  }
  return 0;
}
