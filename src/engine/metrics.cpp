// src/engine/metrics.cpp — fixed-bucket histograms for the engine's latency and batch metrics
// (tessera/engine.h), and the names of finish reasons.
#include <algorithm>
#include <cmath>

#include "tessera/engine.h"

namespace tessera {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "unknown";
}

Histogram Histogram::latency_seconds() {
  Histogram h;
  for (double decade : {1e-3, 1e-2, 1e-1, 1.0, 10.0})
    for (double m : {1.0, 2.5, 5.0}) h.bounds.push_back(decade * m);
  h.bounds.push_back(100.0);
  h.counts.assign(h.bounds.size() + 1, 0);
  return h;
}

Histogram Histogram::token_counts() {
  Histogram h;
  for (double b = 1; b <= 16384; b *= 2) h.bounds.push_back(b);
  h.counts.assign(h.bounds.size() + 1, 0);
  return h;
}

void Histogram::observe(double value) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
  if (counts.size() != bounds.size() + 1) counts.assign(bounds.size() + 1, 0);
  ++counts[i];
  ++count;
  sum += value;
}

double Histogram::quantile(double q) const {
  if (count == 0 || counts.empty()) return 0.0;
  const double target = std::clamp(q, 0.0, 1.0) * static_cast<double>(count);
  double seen = 0.0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double c = static_cast<double>(counts[i]);
    if (c > 0 && seen + c >= target) {
      const double lo = i == 0 ? 0.0 : bounds[i - 1];
      const double hi = i < bounds.size() ? bounds[i] : bounds.back();
      return lo + (hi - lo) * std::clamp((target - seen) / c, 0.0, 1.0);
    }
    seen += c;
  }
  return bounds.empty() ? 0.0 : bounds.back();
}

}  // namespace tessera
