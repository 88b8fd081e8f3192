// kernels/sampling/sampling.cu — the sampling kernel: one CTA of 512 threads per row.
//
// The CPU twin defines each threshold by sorting; here a row of 128k logits is never sorted.
//   pass A   reads the raw row once: raw log-sum-exp (logprobs), x = logit / temperature (to the
//            workspace when the row has penalties, which are then patched in), max x and argmax.
//   greedy   is the argmax. Otherwise, with no filter, one pass sums the masses per warp-sized
//            segment and one segment is rescanned to find the drawn token (draw_from_vocab).
//   filters  a 256-bin histogram of (count, mass) by distance below max x tells which bins hold
//            the top-k / top-p / min-p candidates; when those are at most kCap tokens (the usual
//            case: top-k 50, top-p 0.9 on a peaked distribution) they are gathered into shared
//            memory, sorted there, and top-k, top-p, min-p and the draw all happen in shared memory.
//            Otherwise only the bin each threshold falls in is gathered (the bins before it are
//            kept whole) and draw_from_vocab draws under the thresholds; when even one bin holds
//            more than kCap tokens (a flat distribution), radix selection over the row (4 passes of
//            8 bits) finds them.
// Every sum is of integer masses and every float operation is the shared one (sampling_math.h),
// so each route reaches the same threshold and the same token as the CPU.
#include <cuda_runtime.h>

#include "kernels/sampling/block_ops.cuh"
#include "kernels/sampling/sampling.h"
#include "kernels/sampling/sampling_math.h"

namespace tessera::kernels {
namespace {

using namespace sampling_detail;

constexpr float kRawRange = 64.0f;  // top-n logprobs look this far (in nats) below the max first

struct KeyOfValue {
  __device__ bool operator()(float v, int64_t, uint32_t& key) const {
    key = order_key(v);
    return true;
  }
};
struct UnitWeight {
  __device__ u64 operator()(float) const { return 1; }
};

// x of token i: from the workspace when the row has penalties, else the raw logit scaled on the fly.
struct RowX {
  const float* raw;
  const float* xbuf;
  float inv_t;
  __device__ __forceinline__ float operator()(int64_t i) const {
    return xbuf ? xbuf[i] : mul_rn(canonical(raw[i]), inv_t);
  }
};
struct RowRaw {
  const float* raw;
  __device__ __forceinline__ float operator()(int64_t i) const { return canonical(raw[i]); }
};

// The first token, in id order, at which the running mass of the kept tokens (x >= tau, min-p)
// exceeds bits * total / 2^64. Each warp sums one contiguous segment of the row; then the whole
// block rescans the one segment the target falls in.
__device__ int32_t draw_from_vocab(const RowX& xf, int64_t vocab, float x_max, float tau, float min_p, uint64_t bits,
                                   Shared& s) {
  const int64_t seg = (vocab + kWarps - 1) / kWarps;
  const int64_t w0 = min(vocab, warp_id() * seg), w1 = min(vocab, w0 + seg);
  u64 local = 0;
  for_each_strided(w0, w1, lane_id(), 32, xf, [&](int64_t, float v) {
    if (v >= tau) local += token_mass(v, x_max, min_p);
  });
  local = warp_sum(local);
  if (lane_id() == 0) s.red[warp_id()] = local;
  __syncthreads();
  u64 total = 0;
  for (int w = 0; w < kWarps; ++w) total += s.red[w];
  const u64 target = mul_hi64(bits, total);
  int chosen = kWarps - 1;
  u64 before = 0;
  for (int w = 0; w < kWarps; ++w) {
    if (target < before + s.red[w]) {
      chosen = w;
      break;
    }
    before += s.red[w];
  }
  __syncthreads();
  const int64_t base = min(vocab, chosen * seg);
  const int len = static_cast<int>(min(vocab, base + seg) - base);
  const int j = first_crossing(
      len,
      [&](int j) -> u64 {
        const float v = xf(base + j);
        return v >= tau ? token_mass(v, x_max, min_p) : 0;
      },
      target - before, true, s);
  return j == kNone ? -1 : static_cast<int32_t>(base + j);
}

// Top-k, top-p and min-p over candidates 0..n-1 in shared memory, sorted by value (descending),
// then the draw. `total_mass` is the mass of the whole row (top-p's base when top-k is off).
__device__ int32_t draw_from_candidates(int n, const SamplingRowParams& p, bool top_k_on, float x_max, float min_p,
                                        u64 total_mass, uint64_t bits, Shared& s) {
  const float tau_k = top_k_on ? s.cand_x[p.top_k - 1] : -INFINITY;
  float tau = tau_k;
  if (p.top_p < 1.0f) {
    u64 mass_k = total_mass;
    if (top_k_on) {
      u64 local = 0;
      for (int j = threadIdx.x; j < n; j += kThreads) {
        if (s.cand_x[j] >= tau_k) local += token_mass(s.cand_x[j], x_max, 0.0f);
      }
      mass_k = block_sum(local, s);
    }
    const int j = first_crossing(
        n, [&](int j) -> u64 { return s.cand_x[j] >= tau_k ? token_mass(s.cand_x[j], x_max, 0.0f) : 0; },
        top_p_target(p.top_p, mass_k), false, s);
    if (j != kNone) tau = fmaxf(tau, s.cand_x[j]);
  }
  // The kept prefix, re-sorted into token-id order for the draw.
  u64 local = 0;
  for (int j = threadIdx.x; j < n; j += kThreads) local += s.cand_x[j] >= tau ? 1 : 0;
  const int m = static_cast<int>(block_sum(local, s));
  const int m_pow2 = next_pow2(m);
  pad_candidates(m, m_pow2, s);
  bitonic_sort(m_pow2, ByIdAsc(), s);
  local = 0;
  for (int j = threadIdx.x; j < m; j += kThreads) local += token_mass(s.cand_x[j], x_max, min_p);
  const u64 target = mul_hi64(bits, block_sum(local, s));
  const int j = first_crossing(
      m, [&](int j) -> u64 { return token_mass(s.cand_x[j], x_max, min_p); }, target, true, s);
  return j == kNone ? -1 : s.cand_id[j];
}

// The value at which the running weight (1 each, or masses) of the row's values in `bin` that are
// >= floor, in descending order, brings `before` up to `target`. NaN when the bin holds more than
// kCap values: the caller falls back to radix selection.
__device__ float threshold_in_bin(const RowX& xf, int64_t vocab, DistanceBins bins, int bin, float floor, bool by_mass,
                                  float x_max, u64 before, u64 target, Shared& s) {
  if (s.bin_count[bin] > static_cast<uint32_t>(kCap)) return NAN;
  const int n = gather(vocab, xf, [&](float v, int64_t) { return v >= floor && bins(v) == bin; }, s);
  const int n_pow2 = next_pow2(n);
  pad_candidates(n, n_pow2, s);
  bitonic_sort(n_pow2, ByValueDesc(), s);
  const int j = first_crossing(
      n, [&](int j) -> u64 { return by_mass ? token_mass(s.cand_x[j], x_max, 0.0f) : 1; }, target - before, false, s);
  return j == kNone ? NAN : s.cand_x[j];
}

// A token drawn under top-k, top-p and min-p from a row whose largest x is x_max (> -inf).
__device__ int32_t draw_filtered(const SamplingRowParams& p, const RowX& xf, int64_t vocab, float x_max, Shared& s) {
  const uint64_t bits = draw_bits(p.seed, p.counter);
  const bool top_p_on = p.top_p < 1.0f;
  const float min_p = p.min_p > 0.0f ? p.min_p : 0.0f;
  bool top_k_on = p.top_k > 0 && p.top_k < vocab;
  if (!top_k_on && !top_p_on && min_p == 0.0f) return draw_from_vocab(xf, vocab, x_max, -INFINITY, 0.0f, bits, s);

  const DistanceBins bins{x_max, kMassRange};
  // Masses per bin (a det_exp per token) only when top-p needs them: with top-k on, top-p's base is
  // summed over the tokens above the top-k threshold instead.
  bool has_mass = top_p_on && !top_k_on;
  distance_histogram(vocab, xf, bins, has_mass, x_max, s);
  const int t = static_cast<int>(threadIdx.x);
  const u64 in_range = block_sum(t < kBins ? s.bin_count[t] : 0u, s);
  // Fewer than k tokens have any mass: the k-th largest is below all of them and top-k keeps them all.
  if (top_k_on && in_range < static_cast<u64>(p.top_k)) top_k_on = false;
  if (top_p_on && !top_k_on && !has_mass) {
    distance_histogram(vocab, xf, bins, true, x_max, s);
    has_mass = true;
  }
  const u64 total_mass = has_mass ? block_sum(t < kBins ? s.bin_mass[t] : 0ull, s) : 0;

  // The last bin that the filters may need: enough count for top-k (whose set then also holds
  // top-p's), else enough mass for top-p, else everything min-p can keep (with a margin for
  // det_exp's error).
  int last_bin;
  if (top_k_on) {
    last_bin = first_crossing(kBins, [&](int j) -> u64 { return s.bin_count[j]; }, static_cast<u64>(p.top_k), false, s);
  } else if (top_p_on) {
    last_bin = first_crossing(kBins, [&](int j) -> u64 { return s.bin_mass[j]; }, top_p_target(p.top_p, total_mass),
                              false, s);
  } else {
    const float reach = fminf(kMassRange, -logf(min_p) * 1.001f + 1e-3f);  // distance min-p may keep
    last_bin = min(kBins - 1, static_cast<int>(__fmul_rn(reach, static_cast<float>(kBins) / kMassRange)));
  }
  if (last_bin == kNone) last_bin = kBins - 1;
  const u64 n_cand = block_sum(t <= last_bin && t < kBins ? s.bin_count[t] : 0u, s);

  if (n_cand <= static_cast<u64>(kCap)) {
    const int n = gather(
        vocab, xf, [&](float v, int64_t) { const int b = bins(v); return b >= 0 && b <= last_bin; }, s);
    const int n_pow2 = next_pow2(n);
    pad_candidates(n, n_pow2, s);
    bitonic_sort(n_pow2, ByValueDesc(), s);
    return draw_from_candidates(n, p, top_k_on, x_max, min_p, total_mass, bits, s);
  }

  // Too many candidates for shared memory. Each threshold lies in one bin, and the bins before it
  // are kept whole, so gather just that bin; then draw over the row under the thresholds.
  float tau = -INFINITY;
  u64 mass_k = total_mass;
  bool found = true;
  const int k_bin = top_k_on ? last_bin : kBins;  // the bins before it lie wholly above tau_k
  if (top_k_on) {
    const u64 count_before = block_sum(t < k_bin ? s.bin_count[t] : 0u, s);
    tau = threshold_in_bin(xf, vocab, bins, k_bin, -INFINITY, false, x_max, count_before, p.top_k, s);
    found = !isnan(tau);
    if (found && top_p_on) {
      u64 local = 0;  // the top-k bin's part of top-p's base; the bins before it follow
      for (int j = t; j < s.n_cand; j += kThreads) {
        if (s.cand_x[j] >= tau) local += token_mass(s.cand_x[j], x_max, 0.0f);
      }
      mass_k = block_sum(local, s);
      if (!has_mass) {
        distance_histogram(vocab, xf, bins, true, x_max, s);
        has_mass = true;
      }
      mass_k += block_sum(t < k_bin ? s.bin_mass[t] : 0ull, s);
    }
  }
  if (found && top_p_on) {
    const u64 target = top_p_target(p.top_p, mass_k);
    int b = first_crossing(kBins, [&](int j) -> u64 { return j < k_bin ? s.bin_mass[j] : 0; }, target, false, s);
    if (b == kNone) b = k_bin;  // within the top-k bin, above tau_k
    const u64 before = block_sum(t < b ? s.bin_mass[t] : 0ull, s);
    const float tau_p = threshold_in_bin(xf, vocab, bins, b, tau, true, x_max, before, target, s);
    found = !isnan(tau_p);
    tau = fmaxf(tau, tau_p);
  }
  if (found) return draw_from_vocab(xf, vocab, x_max, tau, min_p, bits, s);

  // A bin too crowded even for that (a flat distribution): radix selection over the row.
  tau = -INFINITY;
  mass_k = total_mass;
  if (top_k_on) {
    const RadixResult r = radix_select(vocab, xf, KeyOfValue(), UnitWeight(), static_cast<u64>(p.top_k), s);
    tau = key_float(r.key);
    u64 local = 0;
    for_each_in_row(vocab, xf, [&](int64_t, float v) {
      if (v >= tau) local += token_mass(v, x_max, 0.0f);
    });
    mass_k = block_sum(local, s);
  }
  if (top_p_on) {
    const float tau_k = tau;
    const RadixResult r = radix_select(
        vocab, xf,
        [&](float v, int64_t, uint32_t& key) {
          key = order_key(v);
          return v >= tau_k;
        },
        [&](float v) -> u64 { return token_mass(v, x_max, 0.0f); }, top_p_target(p.top_p, mass_k), s);
    tau = fmaxf(tau, key_float(r.key));
  }
  return draw_from_vocab(xf, vocab, x_max, tau, min_p, bits, s);
}

// The n best raw logits (n <= kMaxTopLogprobs), best first, ties to the lower id, into the first n
// candidate slots. Usually one histogram and one gather; radix selection when the n-th is more
// than kRawRange below the max or too many tokens crowd the bins above it.
__device__ void select_top_raw(const float* raw, int64_t vocab, int n, float raw_max, Shared& s) {
  const RowRaw rf{raw};
  int count = -1;
  if (raw_max > -INFINITY) {
    const DistanceBins bins{raw_max, kRawRange};
    distance_histogram(vocab, rf, bins, false, 0.0f, s);
    u64 reached = 0;
    const int b = first_crossing(kBins, [&](int j) -> u64 { return s.bin_count[j]; }, static_cast<u64>(n), false, s,
                                 &reached);
    if (b != kNone && reached <= static_cast<u64>(kCap)) {
      count = gather(
          vocab, rf, [&](float v, int64_t) { const int bin = bins(v); return bin >= 0 && bin <= b; }, s);
    }
  }
  if (count < 0) {
    const RadixResult r = radix_select(vocab, rf, KeyOfValue(), UnitWeight(), static_cast<u64>(n), s);
    // Ties at the n-th value: the (n - above) lowest ids among them (largest ~id).
    const uint32_t cut_key = r.key;
    const RadixResult ties = radix_select(
        vocab, rf,
        [&](float v, int64_t i, uint32_t& key) {
          key = ~static_cast<uint32_t>(i);
          return order_key(v) == cut_key;
        },
        UnitWeight(), static_cast<u64>(n) - r.above, s);
    const int64_t last_tie = static_cast<int64_t>(~ties.key);
    count = gather(
        vocab, rf,
        [&](float v, int64_t i) {
          const uint32_t k = order_key(v);
          return k > cut_key || (k == cut_key && i <= last_tie);
        },
        s);
  }
  const int n_pow2 = next_pow2(min(count, kCap));
  pad_candidates(min(count, kCap), n_pow2, s);
  bitonic_sort(n_pow2, ByValueDesc(), s);
}

__global__ void __launch_bounds__(kThreads) sample_kernel(const SamplingBatch b) {
  __shared__ Shared s;
  const int64_t row = blockIdx.x;
  const SamplingRowParams p = b.rows[row];
  const int64_t vocab = b.vocab;
  const float* raw = b.logits + (b.logits_rows ? b.logits_rows[row] : row) * b.logits_row_stride;
  const bool greedy = p.temperature <= 0.0f || p.top_k == 1;
  const float inv_t = inverse_temperature(greedy ? 0.0f : p.temperature);
  const int32_t pen_begin = b.penalty_offsets ? b.penalty_offsets[row] : 0;
  const int32_t pen_end = b.penalty_offsets ? b.penalty_offsets[row + 1] : 0;
  const int32_t ban_begin = b.banned_offsets ? b.banned_offsets[row] : 0;
  const int32_t ban_end = b.banned_offsets ? b.banned_offsets[row + 1] : 0;
  const bool patched = pen_end > pen_begin || ban_end > ban_begin;
  float* xbuf = patched ? b.workspace + row * vocab : nullptr;
  const bool want_logprobs = p.num_logprobs >= 0;

  // Pass A.
  MaxArg best{-INFINITY, kNone};
  LogSumExp lse;
  for_each_in_row(vocab, RowRaw{raw}, [&](int64_t i, float r) {
    if (want_logprobs) lse.add(r);
    const float x = mul_rn(r, inv_t);
    if (patched) {
      xbuf[i] = x;
    } else {
      best = better(best, MaxArg{x, static_cast<int32_t>(i)});
    }
  });
  if (patched) {
    __syncthreads();  // the dense writes land before the penalty patches
    for (int32_t j = pen_begin + static_cast<int32_t>(threadIdx.x); j < pen_end; j += kThreads) {
      const int32_t t = b.penalty_tokens[j];
      if (t < 0 || t >= vocab) continue;
      const float v = penalize(canonical(raw[t]), b.penalty_counts[j], p.repetition_penalty, p.presence_penalty,
                               p.frequency_penalty);
      xbuf[t] = mul_rn(v, inv_t);
    }
    __syncthreads();
    for (int32_t j = ban_begin + static_cast<int32_t>(threadIdx.x); j < ban_end; j += kThreads) {
      const int32_t t = b.banned_tokens[j];
      if (t >= 0 && t < vocab) xbuf[t] = -INFINITY;
    }
    __syncthreads();
    for_each_in_row(vocab, RowX{raw, xbuf, inv_t},
                    [&](int64_t i, float x) { best = better(best, MaxArg{x, static_cast<int32_t>(i)}); });
  }
  best = block_max_arg(best, s);
  const float log_z = want_logprobs ? block_log_sum_exp(lse, s) : 0.0f;

  int32_t token = best.index;
  if (!greedy && best.value > -INFINITY) {
    token = draw_filtered(p, RowX{raw, xbuf, inv_t}, vocab, best.value, s);
    if (token < 0) token = best.index;  // unreachable: the max always carries mass
  }
  const float chosen = canonical(raw[token]);
  if (threadIdx.x == 0) {
    b.out_tokens[row] = token;
    if (b.out_logprobs) b.out_logprobs[row] = want_logprobs ? chosen - log_z : __int_as_float(0x7fc00000);
  }
  if (b.out_ranks) {
    u64 local = 0;
    if (want_logprobs) for_each_in_row(vocab, RowRaw{raw}, [&](int64_t, float r) { local += r >= chosen ? 1 : 0; });
    const u64 rank = block_sum(local, s);
    if (threadIdx.x == 0) b.out_ranks[row] = static_cast<int32_t>(rank);
  }
  if (b.out_top_ids) {
    const int stride = b.top_logprobs_stride;
    const int n = want_logprobs ? static_cast<int>(min(static_cast<int64_t>(min(p.num_logprobs, stride)), vocab)) : 0;
    if (n > 0) {
      float raw_max = -INFINITY;
      for_each_in_row(vocab, RowRaw{raw}, [&](int64_t, float r) { raw_max = fmaxf(raw_max, r); });
      raw_max = block_max_arg(MaxArg{raw_max, 0}, s).value;
      select_top_raw(raw, vocab, n, raw_max, s);
    }
    for (int j = threadIdx.x; j < stride; j += kThreads) {
      b.out_top_ids[row * stride + j] = j < n ? s.cand_id[j] : -1;
      if (b.out_top_logprobs)
        b.out_top_logprobs[row * stride + j] = j < n ? s.cand_x[j] - log_z : __int_as_float(0x7fc00000);
    }
  }
}

}  // namespace

cudaError_t sample(const SamplingBatch& b, cudaStream_t stream) {
  if (b.num_rows == 0) return cudaSuccess;
  if (b.num_rows < 0 || b.num_rows > 0x7fffffff || b.vocab <= 0 || b.vocab > (int64_t{1} << 23) || !b.logits ||
      !b.rows || !b.out_tokens || b.logits_row_stride < b.vocab)
    return cudaErrorInvalidValue;
  if ((b.penalty_offsets && (!b.penalty_tokens || !b.penalty_counts)) || (b.banned_offsets && !b.banned_tokens))
    return cudaErrorInvalidValue;
  if ((b.penalty_offsets || b.banned_offsets) && !b.workspace) return cudaErrorInvalidValue;
  if (b.logits_rows && b.logits_num_rows < 1) return cudaErrorInvalidValue;
  if (b.top_logprobs_stride < 0 || b.top_logprobs_stride > kMaxTopLogprobs) return cudaErrorInvalidValue;
  sample_kernel<<<static_cast<unsigned>(b.num_rows), kThreads, 0, stream>>>(b);
  return cudaGetLastError();
}

}  // namespace tessera::kernels
