#include "src/core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace tessera {

std::string format_bytes(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000.0 && u < 4) {
    v /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

ProgressBar::ProgressBar(std::string label, uint64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      is_tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  if (!is_tty_) std::fprintf(stderr, "%s ...\n", label_.c_str());
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::advance(uint64_t n) {
  done_ += n;
  if (!is_tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ > std::chrono::milliseconds(100)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void ProgressBar::draw(bool final) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  auto amount = [&](uint64_t v) {
    return unit_ == "B" ? format_bytes(v) : std::to_string(v) + " " + unit_;
  };
  if (is_tty_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(frac * kWidth + 0.5);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r%s [%s] %3.0f%% %s / %s  %.1fs%s", label_.c_str(), bar.c_str(),
                 frac * 100.0, amount(done_).c_str(), amount(total_).c_str(), secs,
                 final ? "\n" : "");
  } else if (final) {
    std::fprintf(stderr, "%s: %s in %.1fs\n", label_.c_str(), amount(done_).c_str(), secs);
  }
  std::fflush(stderr);
}

}  // namespace tessera
