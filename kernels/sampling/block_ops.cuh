// kernels/sampling/block_ops.cuh — block-wide building blocks of the sampling kernel: one CTA of
// kThreads threads owns one row of logits, and these are its collective operations.
//
// Every function here is called by all threads of the block (it synchronizes), returns the same
// value to all of them, and leaves shared memory free for the next call. Sums are uint64 (integer
// masses, counts), so no result depends on which thread added what first. The candidate arrays
// (cand_x, cand_id) hold up to kCap (value, token id) pairs: the few tokens a filter can keep,
// gathered from the vocabulary so that sorting and scanning happen in shared memory.
#pragma once

#include <climits>
#include <cstdint>

#include "kernels/sampling/sampling_math.h"

namespace tessera::kernels::sampling_detail {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kCap = 4096;  // candidate slots (a power of two): 32 KiB of shared memory
constexpr int kBins = 256;  // histogram bins (by distance from the max, or one radix digit)
constexpr int kNone = INT_MAX;
using u64 = unsigned long long;

struct Shared {
  float cand_x[kCap];
  int32_t cand_id[kCap];
  uint32_t bin_count[kBins];
  u64 bin_mass[kBins];
  u64 red[kWarps];
  float red_m[kWarps];
  float red_s[kWarps];
  int32_t red_i[kWarps];
  int32_t n_cand;
  int32_t first;
  u64 first_prefix;
};

__device__ __forceinline__ int lane_id() { return static_cast<int>(threadIdx.x & 31u); }
__device__ __forceinline__ int warp_id() { return static_cast<int>(threadIdx.x >> 5); }

// Calls body(i, value(i)) for i = begin + offset + k * step < end, loading kUnroll values before
// using any: one thread per SM-slot otherwise waits a full memory latency per element. `begin` and
// `step` are the same for every thread of the group, so all of them run the same iterations.
constexpr int kUnroll = 8;
template <class Value, class Body>
__device__ __forceinline__ void for_each_strided(int64_t begin, int64_t end, int64_t offset, int64_t step, Value value,
                                                 Body body) {
  for (int64_t base = begin; base < end; base += step * kUnroll) {
    float v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + offset + u * step;
      v[u] = i < end ? value(i) : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + offset + u * step;
      if (i < end) body(i, v[u]);
    }
  }
}
// The common case: every thread of the block, over [0, n).
template <class Value, class Body>
__device__ __forceinline__ void for_each_in_row(int64_t n, Value value, Body body) {
  for_each_strided(0, n, threadIdx.x, kThreads, value, body);
}

__device__ __forceinline__ u64 warp_sum(u64 v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ u64 block_sum(u64 v, Shared& s) {
  v = warp_sum(v);
  if (lane_id() == 0) s.red[warp_id()] = v;
  __syncthreads();
  u64 total = 0;
  for (int w = 0; w < kWarps; ++w) total += s.red[w];
  __syncthreads();
  return total;
}

// Sum of v over the threads before this one.
__device__ __forceinline__ u64 block_exclusive_scan(u64 v, Shared& s) {
  const int lane = lane_id(), warp = warp_id();
  u64 inclusive = v;
  for (int o = 1; o < 32; o <<= 1) {
    const u64 n = __shfl_up_sync(0xffffffffu, inclusive, o);
    if (lane >= o) inclusive += n;
  }
  if (lane == 31) s.red[warp] = inclusive;
  __syncthreads();
  u64 before = 0;
  for (int w = 0; w < warp; ++w) before += s.red[w];
  __syncthreads();
  return before + inclusive - v;
}

// Largest value, ties to the lowest index (torch.argmax); an empty thread holds (-inf, kNone).
struct MaxArg {
  float value;
  int32_t index;
};
__device__ __forceinline__ MaxArg better(MaxArg a, MaxArg b) {
  return (b.value > a.value || (b.value == a.value && b.index < a.index)) ? b : a;
}
__device__ __forceinline__ MaxArg block_max_arg(MaxArg m, Shared& s) {
  for (int o = 16; o > 0; o >>= 1) {
    const MaxArg other{__shfl_xor_sync(0xffffffffu, m.value, o), __shfl_xor_sync(0xffffffffu, m.index, o)};
    m = better(m, other);
  }
  if (lane_id() == 0) {
    s.red_m[warp_id()] = m.value;
    s.red_i[warp_id()] = m.index;
  }
  __syncthreads();
  MaxArg total{s.red_m[0], s.red_i[0]};
  for (int w = 1; w < kWarps; ++w) total = better(total, MaxArg{s.red_m[w], s.red_i[w]});
  __syncthreads();
  return total;
}

// Online log-sum-exp: sum of exp(v - max) next to max (the logprob denominator, in fp32).
struct LogSumExp {
  float max = -INFINITY;
  float sum = 0.0f;
  __device__ __forceinline__ void add(float v) {
    if (v == -INFINITY) return;
    if (v > max) {
      sum = sum * expf(max - v) + 1.0f;
      max = v;
    } else {
      sum += expf(v - max);
    }
  }
  __device__ __forceinline__ void merge(float m, float s) {
    if (m == -INFINITY) return;
    if (m > max) {
      sum = sum * expf(max - m) + s;
      max = m;
    } else {
      sum += s * expf(m - max);
    }
  }
  __device__ __forceinline__ float value() const { return max + logf(sum); }
};
__device__ __forceinline__ float block_log_sum_exp(LogSumExp l, Shared& s) {
  for (int o = 16; o > 0; o >>= 1) {
    const float m = __shfl_xor_sync(0xffffffffu, l.max, o), sum = __shfl_xor_sync(0xffffffffu, l.sum, o);
    l.merge(m, sum);
  }
  if (lane_id() == 0) {
    s.red_m[warp_id()] = l.max;
    s.red_s[warp_id()] = l.sum;
  }
  __syncthreads();
  LogSumExp total;
  for (int w = 0; w < kWarps; ++w) total.merge(s.red_m[w], s.red_s[w]);
  __syncthreads();
  return total.value();
}

// The first j in [0, n) whose running sum weight(0) + ... + weight(j) exceeds `target` (strict) or
// reaches it; kNone if none does. *prefix (optional) gets that running sum. Each thread scans a
// contiguous slice, so "first" is in index order whatever the thread count.
template <class Weight>
__device__ int first_crossing(int n, Weight weight, u64 target, bool strict, Shared& s, u64* prefix = nullptr) {
  const int per = (n + kThreads - 1) / kThreads;
  const int begin = min(n, static_cast<int>(threadIdx.x) * per), end = min(n, begin + per);
  u64 local = 0;
  for (int j = begin; j < end; ++j) local += weight(j);
  u64 cum = block_exclusive_scan(local, s);
  if (threadIdx.x == 0) s.first = kNone;
  __syncthreads();
  int found = kNone;
  for (int j = begin; j < end; ++j) {
    cum += weight(j);
    if (strict ? cum > target : cum >= target) {
      found = j;
      break;
    }
  }
  if (found != kNone) atomicMin(&s.first, found);
  __syncthreads();
  const int first = s.first;
  if (found != kNone && found == first) s.first_prefix = cum;
  __syncthreads();
  if (prefix) *prefix = s.first_prefix;
  return first;
}

// Histogram bins by distance below the maximum: bin = floor((vmax - v) * kBins / range), or -1
// beyond `range`. Monotone: a larger value never lands in a later bin, so "bins 0..b" is always
// the set of values above some threshold.
struct DistanceBins {
  float vmax;
  float range;
  __device__ __forceinline__ int operator()(float v) const {
    const float d = v == vmax ? 0.0f : __fsub_rn(vmax, v);  // 0 also for vmax = +inf
    if (!(d <= range)) return -1;
    return min(kBins - 1, static_cast<int>(__fmul_rn(d, static_cast<float>(kBins) / range)));
  }
};

// Counts (and, with_mass, integer masses relative to mass_max) of value(i), i < n, per bin. A
// thread adds up runs of one bin in registers before touching shared memory: hot bins would
// otherwise serialize every thread on one atomic.
template <class Value>
__device__ void distance_histogram(int64_t n, Value value, DistanceBins bins, bool with_mass, float mass_max,
                                   Shared& s) {
  for (int b = threadIdx.x; b < kBins; b += kThreads) {
    s.bin_count[b] = 0;
    s.bin_mass[b] = 0;
  }
  __syncthreads();
  int cur = -1;
  uint32_t count = 0;
  u64 mass = 0;
  for_each_in_row(n, value, [&](int64_t, float v) {
    const int b = bins(v);
    if (b < 0) return;
    if (b != cur) {
      if (cur >= 0) {
        atomicAdd(&s.bin_count[cur], count);
        if (mass) atomicAdd(&s.bin_mass[cur], mass);
      }
      cur = b;
      count = 0;
      mass = 0;
    }
    ++count;
    if (with_mass) mass += token_mass(v, mass_max, 0.0f);
  });
  if (cur >= 0) {
    atomicAdd(&s.bin_count[cur], count);
    if (mass) atomicAdd(&s.bin_mass[cur], mass);
  }
  __syncthreads();
}

// Appends (value(i), i) for every i < n with keep(value(i), i) to the candidate arrays, in no
// particular order; returns how many there were (only the first kCap are stored).
template <class Value, class Keep>
__device__ int gather(int64_t n, Value value, Keep keep, Shared& s) {
  if (threadIdx.x == 0) s.n_cand = 0;
  __syncthreads();
  const int lane = lane_id();
  for (int64_t base = 0; base < n; base += kThreads * kUnroll) {
    float v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * kThreads + threadIdx.x;
      v[u] = i < n ? value(i) : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * kThreads + threadIdx.x;
      const bool take = i < n && keep(v[u], i);
      const unsigned ballot = __ballot_sync(0xffffffffu, take);
      if (ballot == 0) continue;
      int slot = 0;
      if (lane == 0) slot = atomicAdd(&s.n_cand, __popc(ballot));
      slot = __shfl_sync(0xffffffffu, slot, 0) + __popc(ballot & ((1u << lane) - 1u));
      if (take && slot < kCap) {
        s.cand_x[slot] = v[u];
        s.cand_id[slot] = static_cast<int32_t>(i);
      }
    }
  }
  __syncthreads();
  const int count = s.n_cand;
  __syncthreads();
  return count;
}

__device__ __forceinline__ int next_pow2(int n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

// Fills candidate slots [from, to) with (-inf, INT_MAX), which sort after every real candidate.
__device__ __forceinline__ void pad_candidates(int from, int to, Shared& s) {
  for (int i = from + static_cast<int>(threadIdx.x); i < to; i += kThreads) {
    s.cand_x[i] = -INFINITY;
    s.cand_id[i] = INT_MAX;
  }
  __syncthreads();
}

// Bitonic sort of candidate slots [0, n_pow2) so that before(a, b) holds for a before b.
template <class Before>
__device__ void bitonic_sort(int n_pow2, Before before, Shared& s) {
  for (int k = 2; k <= n_pow2; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = threadIdx.x; i < n_pow2; i += kThreads) {
        const int l = i ^ j;
        if (l <= i) continue;
        const float xi = s.cand_x[i], xl = s.cand_x[l];
        const int32_t ii = s.cand_id[i], il = s.cand_id[l];
        const bool ascending = (i & k) == 0;
        if (ascending ? before(xl, il, xi, ii) : before(xi, ii, xl, il)) {
          s.cand_x[i] = xl;
          s.cand_x[l] = xi;
          s.cand_id[i] = il;
          s.cand_id[l] = ii;
        }
      }
      __syncthreads();
    }
  }
}

struct ByValueDesc {  // larger value first, ties to the lower id
  __device__ bool operator()(float xa, int32_t ia, float xb, int32_t ib) const {
    return xa > xb || (xa == xb && ia < ib);
  }
};
struct ByIdAsc {
  __device__ bool operator()(float, int32_t ia, float, int32_t ib) const { return ia < ib; }
};

// Radix selection over the whole row, 8 bits a pass from the top: the largest 32-bit key v such
// that the weight of eligible items with key >= v reaches `target`, and the weight strictly above
// it. key(v, i, &k) gives item i's key (false: ineligible), weight(v) its weight, computed only for
// the items still in the running. With weight 1 this is the target-th largest key; with masses it
// is the top-p threshold.
struct RadixResult {
  uint32_t key;
  u64 above;
};
template <class Value, class Key, class Weight>
__device__ RadixResult radix_select(int64_t n, Value value, Key key_of, Weight weight, u64 target, Shared& s) {
  uint32_t prefix = 0, mask = 0;
  u64 above = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < kBins; b += kThreads) s.bin_mass[b] = 0;
    __syncthreads();
    int cur = -1;
    u64 acc = 0;
    for_each_in_row(n, value, [&](int64_t i, float v) {
      uint32_t key;
      if (!key_of(v, i, key) || (key & mask) != prefix) return;
      const u64 w = weight(v);
      if (w == 0) return;
      const int d = static_cast<int>((key >> shift) & 0xffu);
      if (d != cur) {
        if (cur >= 0) atomicAdd(&s.bin_mass[cur], acc);
        cur = d;
        acc = 0;
      }
      acc += w;
    });
    if (cur >= 0) atomicAdd(&s.bin_mass[cur], acc);
    __syncthreads();
    u64 reached = 0;  // weight of this digit and all above it, within the prefix
    const int j = first_crossing(
        kBins, [&](int j) -> u64 { return s.bin_mass[kBins - 1 - j]; }, target - above, false, s, &reached);
    if (j == kNone) return {prefix, above};  // target is more than the total: a caller bug
    const int digit = kBins - 1 - j;
    above += reached - s.bin_mass[digit];
    prefix |= static_cast<uint32_t>(digit) << shift;
    mask |= 0xffu << shift;
    __syncthreads();
  }
  return {prefix, above};
}

}  // namespace tessera::kernels::sampling_detail
