// fuzz/fuzz_safetensors_header.cpp — libFuzzer target for the safetensors header parser
// (src/model/safetensors.h), the only code between a downloaded file and pointer arithmetic.
//
// The input is the start of a file: u64 header length, JSON header, data. It is parsed twice: as
// the whole file, and as the prefix of a file 4 KiB longer (the loader's case when only the first
// 8 + N bytes are read). Any error is fine; a crash, a sanitizer report or a hang is not, and
// neither is an accepted header that breaks the format's promises, which are checked here: the
// data section starts at 8 + N inside the file, every tensor lies inside it, sizes match
// numel x dtype size, and the entries are sorted by offset and do not overlap.
//
// Build and run (clang; not part of the default build): see fuzz/CMakeLists.txt, then
//   build/fuzz/fuzz_safetensors_header -max_total_time=600 -timeout=10 -rss_limit_mb=2048 \
//     -dict=fuzz/safetensors.dict CORPUS_DIR fuzz/seeds/safetensors
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "src/model/safetensors.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "accepted header breaks an invariant: %s\n", what);
    std::abort();
  }
}

// Byte size of one element of a safetensors dtype name, or 0 when unknown.
uint64_t dtype_bytes(const std::string& name) {
  if (name == "BOOL" || name == "U8" || name == "I8" || name == "F8_E4M3" || name == "F8_E5M2") return 1;
  if (name == "I16" || name == "U16" || name == "F16" || name == "BF16") return 2;
  if (name == "I32" || name == "U32" || name == "F32") return 4;
  if (name == "I64" || name == "U64" || name == "F64") return 8;
  return 0;
}

void check_header(const tessera::SafetensorsHeader& h, uint64_t file_size) {
  check(h.data_offset == 8 + h.header_size, "data_offset = 8 + N");
  check(h.data_offset <= file_size, "header inside the file");
  const uint64_t data_size = file_size - h.data_offset;
  uint64_t previous_end = 0;
  for (const tessera::SafetensorsEntry& e : h.entries) {
    check(e.begin <= e.end && e.end <= data_size, "tensor inside the data section");
    check(e.begin >= previous_end, "entries sorted and not overlapping");
    previous_end = e.end;
    const uint64_t elem = dtype_bytes(e.dtype_name);
    check(elem != 0, "known dtype");
    // numel * elem == end - begin, computed here with overflow checks of its own.
    uint64_t bytes = elem;
    for (int64_t d : e.shape) {
      check(d >= 0, "non-negative dims");
      const uint64_t ud = static_cast<uint64_t>(d);
      check(ud == 0 || bytes <= UINT64_MAX / ud, "size without overflow");
      bytes *= ud;
    }
    check(bytes == e.end - e.begin, "size = numel x dtype size");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 1 << 20) return 0;
  auto whole = tessera::parse_safetensors_header(data, size, size, "fuzz.safetensors");
  if (whole) check_header(*whole, size);
  auto prefix = tessera::parse_safetensors_header(data, size, size + 4096, "fuzz.safetensors");
  if (prefix) check_header(*prefix, size + 4096);
  return 0;
}
