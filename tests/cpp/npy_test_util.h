// tests/cpp/npy_test_util.h — the values of a .npy fixture as a vector (golden logits, ids).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "src/core/npy.h"

namespace tessera {

// The file's elements as T (the caller knows the dtype); empty, with a test failure, when unreadable.
template <typename T>
std::vector<T> npy_values(const std::string& path) {
  auto a = read_npy(path);
  EXPECT_TRUE(a.has_value()) << a.status().message();
  if (!a) return {};
  std::vector<T> v(a->data.size() / sizeof(T));
  std::memcpy(v.data(), a->data.data(), v.size() * sizeof(T));
  return v;
}

}  // namespace tessera
