// src/tokenizer/scratch.h — per-thread scratch vectors that do not pin memory.
//
// The tokenizer's hot loops reuse thread_local vectors so that encoding allocates nothing in the
// steady state. A vector keeps the capacity of the largest input it ever held, though: one 8 MB
// /tokenize body left ~100 MB of decoded characters and ranges in every server I/O thread for the
// life of the process. A ScratchTrim, made right after the vectors it guards, frees those past
// kMaxKeptScratchBytes when the call returns; everyday prompts stay below it and keep their
// buffers.
#pragma once

#include <cstddef>
#include <tuple>
#include <vector>

namespace tessera {

inline constexpr size_t kMaxKeptScratchBytes = size_t{1} << 20;

template <class... Vectors>
class ScratchTrim {
 public:
  explicit ScratchTrim(Vectors&... vectors) : vectors_(vectors...) {}
  ScratchTrim(const ScratchTrim&) = delete;
  ScratchTrim& operator=(const ScratchTrim&) = delete;
  ~ScratchTrim() {
    std::apply([](auto&... v) { (release_if_large(v), ...); }, vectors_);
  }

 private:
  template <class V>
  static void release_if_large(V& v) {
    if (v.capacity() * sizeof(typename V::value_type) > kMaxKeptScratchBytes) V().swap(v);
  }
  std::tuple<Vectors&...> vectors_;
};

}  // namespace tessera
