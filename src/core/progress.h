// src/core/progress.h — a progress bar on stderr for long work (loading or writing weights).
//
// Redraws in place at most ~10 times a second when stderr is a terminal; otherwise prints one
// line at start and one at the end, so logs stay readable. Not thread-safe: one owner advances it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tessera {

class ProgressBar {
 public:
  ProgressBar(std::string label, uint64_t total, std::string unit = "B");
  ~ProgressBar();
  void advance(uint64_t n);
  void finish();

 private:
  void draw(bool final);
  std::string label_;
  std::string unit_;
  uint64_t total_;
  uint64_t done_ = 0;
  bool is_tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "1.50 GB", "12.0 MB" — decimal units, as disk sizes are quoted.
std::string format_bytes(uint64_t bytes);

}  // namespace tessera
