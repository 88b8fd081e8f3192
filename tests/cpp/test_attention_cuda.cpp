// CUDA FlashAttention forward/backward (kernels/attention/params.h) against a float64 CPU reference
// computed from the same fp16/bf16-rounded inputs: every head dim and dtype, causal and not,
// MHA/GQA/MQA, Sq != Sk both ways, varlen with an empty sequence, fully masked rows, poisoned (NaN)
// outputs, deterministic mode bitwise repeatable. Sizes stay small so compute-sanitizer can run the
// whole suite; the strict "2x PyTorch's error" comparison and the large shapes are in tests/gpu.
// Skips (does not fail) without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/attention/params.h"
#include "tessera/dtype.h"
#include "tests/cpp/cuda_test_util.h"

namespace tessera::kernels {
namespace {

using test::from_bits;
using test::has_gpu;
using test::to_bits;

// A device buffer of 16-bit values with its rounded host copy.
struct Array16 {
  FloatType t;
  std::vector<float> host;
  void* dev = nullptr;
  Array16(FloatType type, size_t n) : t(type), host(n) {
    EXPECT_EQ(cudaMalloc(&dev, std::max<size_t>(n, 1) * 2), cudaSuccess);
    EXPECT_EQ(cudaMemset(dev, 0xff, std::max<size_t>(n, 1) * 2), cudaSuccess);  // NaN in fp16 and bf16
  }
  Array16(FloatType type, size_t n, std::mt19937& rng, float scale) : Array16(type, n) {
    std::normal_distribution<float> nd(0.f, scale);
    std::vector<uint16_t> bits(n);
    for (size_t i = 0; i < n; ++i) {
      bits[i] = to_bits(nd(rng), t);
      host[i] = from_bits(bits[i], t);
    }
    EXPECT_EQ(cudaMemcpy(dev, bits.data(), n * 2, cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~Array16() { cudaFree(dev); }
  Array16(const Array16&) = delete;
  Array16& operator=(const Array16&) = delete;
  std::vector<float> read() const {
    std::vector<uint16_t> bits(host.size());
    EXPECT_EQ(cudaMemcpy(bits.data(), dev, bits.size() * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    std::vector<float> out(bits.size());
    for (size_t i = 0; i < bits.size(); ++i) out[i] = from_bits(bits[i], t);
    return out;
  }
  std::vector<uint16_t> read_bits() const {
    std::vector<uint16_t> bits(host.size());
    EXPECT_EQ(cudaMemcpy(bits.data(), dev, bits.size() * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    return bits;
  }
};

// One attention problem: packed varlen layout [total, heads, d] for everything (fixed-length batches
// use the same host math with cu_seqlens = multiples of the length).
struct Problem {
  FloatType t;
  int heads, kv_heads, d;
  std::vector<int> lens_q, lens_k;
  bool causal, varlen;
  int total_q() const { int s = 0; for (int l : lens_q) s += l; return s; }
  int total_k() const { int s = 0; for (int l : lens_k) s += l; return s; }
  std::string name() const {
    std::ostringstream n;
    n << (t == FloatType::kF16 ? "f16" : "bf16") << " d=" << d << " h=" << heads << "/" << kv_heads
      << (causal ? " causal" : "") << (varlen ? " varlen" : "") << " q/k lens:";
    for (size_t b = 0; b < lens_q.size(); ++b) n << " " << lens_q[b] << "/" << lens_k[b];
    return n.str();
  }
};

struct Reference {
  std::vector<double> o, lse, dq, dk, dv;
};

// float64 attention and its gradients for upstream gradient `dout`.
Reference reference(const Problem& pr, const std::vector<float>& q, const std::vector<float>& k,
                    const std::vector<float>& v, const std::vector<float>& dout) {
  const int h = pr.heads, hk = pr.kv_heads, d = pr.d;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  Reference r;
  r.o.assign(q.size(), 0.0);
  r.dq.assign(q.size(), 0.0);
  r.dk.assign(k.size(), 0.0);
  r.dv.assign(v.size(), 0.0);
  r.lse.assign(static_cast<size_t>(h) * pr.total_q(), INFINITY);
  int q0 = 0, k0 = 0;
  for (size_t b = 0; b < pr.lens_q.size(); ++b) {
    const int sq = pr.lens_q[b], sk = pr.lens_k[b];
    for (int hh = 0; hh < h; ++hh) {
      const int kh = hh / (h / hk);
      for (int i = 0; i < sq; ++i) {
        auto qa = [&](int c) { return static_cast<double>(q[(static_cast<size_t>(q0 + i) * h + hh) * d + c]); };
        std::vector<double> s(sk, -INFINITY), p(sk, 0.0);
        double mx = -INFINITY;
        for (int j = 0; j < sk; ++j) {
          if (pr.causal && j > i + sk - sq) continue;
          double acc = 0;
          for (int c = 0; c < d; ++c) acc += qa(c) * k[(static_cast<size_t>(k0 + j) * hk + kh) * d + c];
          s[j] = acc * scale;
          mx = std::max(mx, s[j]);
        }
        if (mx == -INFINITY) continue;  // no visible key: O = 0, lse = +inf, no gradient
        double sum = 0;
        for (int j = 0; j < sk; ++j) sum += (p[j] = std::exp(s[j] - mx));
        r.lse[static_cast<size_t>(hh) * pr.total_q() + q0 + i] = mx + std::log(sum);
        const size_t orow = (static_cast<size_t>(q0 + i) * h + hh) * d;
        for (int j = 0; j < sk; ++j) {
          p[j] /= sum;
          for (int c = 0; c < d; ++c) r.o[orow + c] += p[j] * v[(static_cast<size_t>(k0 + j) * hk + kh) * d + c];
        }
        // Backward of this row: dP = dO V^T, dS = P (dP - sum(dO * O)).
        double dsum = 0;
        for (int c = 0; c < d; ++c) dsum += dout[orow + c] * r.o[orow + c];
        for (int j = 0; j < sk; ++j) {
          if (p[j] == 0) continue;
          const size_t krow = (static_cast<size_t>(k0 + j) * hk + kh) * d;
          double dp = 0;
          for (int c = 0; c < d; ++c) dp += dout[orow + c] * v[krow + c];
          const double ds = p[j] * (dp - dsum);
          for (int c = 0; c < d; ++c) {
            r.dv[krow + c] += p[j] * dout[orow + c];
            r.dq[orow + c] += scale * ds * k[krow + c];
            r.dk[krow + c] += scale * ds * qa(c);
          }
        }
      }
    }
    q0 += sq;
    k0 += sk;
  }
  return r;
}

double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double x : a) m = std::max(m, std::abs(x));
  return m;
}

// Max |got - want| relative to max(1, max|want|); NaN anywhere counts as infinite.
double rel_error(const std::vector<float>& got, const std::vector<double>& want) {
  double e = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    e = std::max(e, std::abs(got[i] - want[i]));
  }
  return e / std::max(1.0, max_abs(want));
}

struct Case {
  Problem pr;
  std::mt19937 rng;
  Array16 q, k, v, o, dout;
  float* lse = nullptr;
  int32_t* cu_q = nullptr;
  int32_t* cu_k = nullptr;
  AttentionShape shape;

  explicit Case(const Problem& p, uint32_t seed)
      : pr(p), rng(seed), q(p.t, size_t(p.total_q()) * p.heads * p.d, rng, 1.f),
        k(p.t, size_t(p.total_k()) * p.kv_heads * p.d, rng, 1.f), v(p.t, size_t(p.total_k()) * p.kv_heads * p.d, rng, 1.f),
        o(p.t, size_t(p.total_q()) * p.heads * p.d), dout(p.t, size_t(p.total_q()) * p.heads * p.d, rng, 1.f) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&lse), std::max<size_t>(size_t(p.total_q()) * p.heads, 1) * 4), cudaSuccess);
    EXPECT_EQ(cudaMemset(lse, 0xff, std::max<size_t>(size_t(p.total_q()) * p.heads, 1) * 4), cudaSuccess);
    shape.batch = static_cast<int>(p.lens_q.size());
    shape.num_heads = p.heads;
    shape.num_kv_heads = p.kv_heads;
    shape.head_dim = p.d;
    shape.softmax_scale = 1.f / std::sqrt(static_cast<float>(p.d));
    shape.is_causal = p.causal;
    shape.dtype = p.t;
    shape.seqlen_q = *std::max_element(p.lens_q.begin(), p.lens_q.end());
    shape.seqlen_k = *std::max_element(p.lens_k.begin(), p.lens_k.end());
    if (p.varlen) {
      std::vector<int32_t> cq{0}, ck{0};
      for (size_t b = 0; b < p.lens_q.size(); ++b) {
        cq.push_back(cq.back() + p.lens_q[b]);
        ck.push_back(ck.back() + p.lens_k[b]);
      }
      EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&cu_q), cq.size() * 4), cudaSuccess);
      EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&cu_k), ck.size() * 4), cudaSuccess);
      cudaMemcpy(cu_q, cq.data(), cq.size() * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(cu_k, ck.data(), ck.size() * 4, cudaMemcpyHostToDevice);
      shape.cu_seqlens_q = cu_q;
      shape.cu_seqlens_k = cu_k;
      shape.total_q = p.total_q();
    }
  }
  ~Case() {
    cudaFree(lse);
    cudaFree(cu_q);
    cudaFree(cu_k);
  }
  AttentionStrides strides(int heads, int len) const {
    return {static_cast<int64_t>(len) * heads * pr.d, static_cast<int64_t>(heads) * pr.d, pr.d};
  }
  AttentionFwdParams fwd() const {
    AttentionFwdParams f;
    f.shape = shape;
    f.q = q.dev, f.k = k.dev, f.v = v.dev, f.o = o.dev, f.lse = lse;
    f.q_strides = f.o_strides = strides(pr.heads, shape.seqlen_q);
    f.k_strides = f.v_strides = strides(pr.kv_heads, shape.seqlen_k);
    return f;
  }
  // Fixed-length lse is [batch, heads, seqlen_q]; varlen [heads, total_q]. Returned as the latter.
  std::vector<float> read_lse() const {
    const size_t n = size_t(pr.total_q()) * pr.heads;
    std::vector<float> raw(n), out(n);
    cudaMemcpy(raw.data(), lse, n * 4, cudaMemcpyDeviceToHost);
    if (pr.varlen) return raw;
    const int sq = shape.seqlen_q;
    for (int b = 0; b < shape.batch; ++b)
      for (int hh = 0; hh < pr.heads; ++hh)
        for (int i = 0; i < sq; ++i) out[size_t(hh) * pr.total_q() + b * sq + i] = raw[(size_t(b) * pr.heads + hh) * sq + i];
    return out;
  }
};

std::vector<Problem> problems(bool backward) {
  std::vector<Problem> out;
  const std::vector<int> dims = backward ? std::vector<int>{64, 96, 128} : std::vector<int>{64, 96, 128, 256};
  const std::vector<std::pair<int, int>> lens = {{1, 1}, {17, 17}, {97, 130}, {128, 33}, {200, 200}};
  const std::vector<std::pair<int, int>> heads = {{4, 4}, {4, 2}, {3, 1}};
  int i = 0;
  for (FloatType t : {FloatType::kF16, FloatType::kBF16})
    for (int d : dims)
      for (auto [sq, sk] : lens)
        for (bool causal : {false, true}) {
          auto [h, hk] = heads[i++ % heads.size()];
          out.push_back({t, h, hk, d, {sq, sq}, {sk, sk}, causal, false});
        }
  for (FloatType t : {FloatType::kF16, FloatType::kBF16})
    for (int d : dims)
      for (bool causal : {false, true})
        out.push_back({t, 4, 2, d, {5, 0, 70, 1, 130}, {9, 3, 64, 1, 129}, causal, true});
  return out;
}

double fwd_tolerance(FloatType t) { return t == FloatType::kF16 ? 4e-3 : 3e-2; }
double bwd_tolerance(FloatType t) { return t == FloatType::kF16 ? 1e-2 : 6e-2; }

TEST(CudaAttention, ForwardMatchesReference) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 1;
  for (const Problem& pr : problems(false)) {
    SCOPED_TRACE(pr.name());
    Case run(pr, seed++);
    ASSERT_EQ(attention_fwd(run.fwd(), nullptr), cudaSuccess) << attention_last_error();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const Reference ref = reference(pr, run.q.host, run.k.host, run.v.host, run.dout.host);
    EXPECT_LE(rel_error(run.o.read(), ref.o), fwd_tolerance(pr.t));
    const std::vector<float> lse = run.read_lse();
    for (size_t i = 0; i < lse.size(); ++i) {
      if (std::isinf(ref.lse[i])) {
        ASSERT_TRUE(std::isinf(lse[i]) && lse[i] > 0) << "row " << i << " has no visible key: lse must be +inf";
      } else {
        ASSERT_NEAR(lse[i], ref.lse[i], 1e-3 * std::max(1.0, std::abs(ref.lse[i]))) << "lse row " << i;
      }
    }
  }
}

TEST(CudaAttention, FullyMaskedRowsAreZero) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  // Causal with Sq > Sk: the first Sq - Sk query rows see no key at all.
  Problem pr{FloatType::kBF16, 2, 2, 128, {300}, {40}, true, false};
  Case run(pr, 7);
  ASSERT_EQ(attention_fwd(run.fwd(), nullptr), cudaSuccess) << attention_last_error();
  const std::vector<float> o = run.o.read();
  for (int i = 0; i < 300 - 40; ++i)
    for (int c = 0; c < 2 * 128; ++c) ASSERT_EQ(o[size_t(i) * 2 * 128 + c], 0.f) << "row " << i;
}

struct Grads {
  std::vector<uint16_t> dq, dk, dv;
};

Grads run_bwd(Case& run, bool deterministic, double* errors, const Reference* ref) {
  const Problem& pr = run.pr;
  Array16 dq(pr.t, run.q.host.size()), dk(pr.t, run.k.host.size()), dv(pr.t, run.v.host.size());
  AttentionBwdParams b;
  const AttentionFwdParams f = run.fwd();
  b.shape = f.shape;
  b.q = f.q, b.k = f.k, b.v = f.v, b.o = f.o, b.dout = run.dout.dev, b.lse = run.lse;
  b.dq = dq.dev, b.dk = dk.dev, b.dv = dv.dev;
  b.q_strides = b.o_strides = b.dout_strides = b.dq_strides = f.q_strides;
  b.k_strides = b.v_strides = b.dk_strides = b.dv_strides = f.k_strides;
  b.deterministic = deterministic;
  void* ws = nullptr;
  EXPECT_EQ(cudaMalloc(&ws, attention_bwd_workspace(b.shape)), cudaSuccess);
  cudaMemset(ws, 0xff, attention_bwd_workspace(b.shape));  // contents on entry must not matter
  b.workspace = ws;
  EXPECT_EQ(attention_bwd(b, nullptr), cudaSuccess) << attention_last_error();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  cudaFree(ws);
  if (ref != nullptr) {
    errors[0] = rel_error(dq.read(), ref->dq);
    errors[1] = rel_error(dk.read(), ref->dk);
    errors[2] = rel_error(dv.read(), ref->dv);
  }
  return {dq.read_bits(), dk.read_bits(), dv.read_bits()};
}

TEST(CudaAttention, BackwardMatchesReference) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 100;
  for (const Problem& pr : problems(true)) {
    for (bool deterministic : {false, true}) {
      SCOPED_TRACE(pr.name() + (deterministic ? " deterministic" : ""));
      Case run(pr, seed++);
      ASSERT_EQ(attention_fwd(run.fwd(), nullptr), cudaSuccess) << attention_last_error();
      // Reference gradients from the float64 forward of the same rounded inputs.
      const Reference ref = reference(pr, run.q.host, run.k.host, run.v.host, run.dout.host);
      double err[3];
      run_bwd(run, deterministic, err, &ref);
      EXPECT_LE(err[0], bwd_tolerance(pr.t)) << "dq";
      EXPECT_LE(err[1], bwd_tolerance(pr.t)) << "dk";
      EXPECT_LE(err[2], bwd_tolerance(pr.t)) << "dv";
    }
  }
}

TEST(CudaAttention, DeterministicBackwardIsBitwiseRepeatable) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  Problem pr{FloatType::kBF16, 4, 1, 128, {257, 300}, {257, 300}, true, true};
  Case run(pr, 9);
  ASSERT_EQ(attention_fwd(run.fwd(), nullptr), cudaSuccess);
  const Grads first = run_bwd(run, true, nullptr, nullptr);
  for (int i = 0; i < 10; ++i) {
    const Grads again = run_bwd(run, true, nullptr, nullptr);
    ASSERT_EQ(again.dq, first.dq);
    ASSERT_EQ(again.dk, first.dk);
    ASSERT_EQ(again.dv, first.dv);
  }
}

TEST(CudaAttention, RejectsBadParamsWithAReason) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  Problem pr{FloatType::kF16, 4, 4, 64, {16}, {16}, false, false};
  Case run(pr, 3);
  AttentionFwdParams f = run.fwd();
  f.shape.head_dim = 80;
  EXPECT_EQ(attention_fwd(f, nullptr), cudaErrorInvalidValue);
  EXPECT_NE(std::string(attention_last_error()).find("head_dim 80"), std::string::npos);
  f = run.fwd();
  f.shape.num_kv_heads = 3;
  EXPECT_EQ(attention_fwd(f, nullptr), cudaErrorInvalidValue);
  EXPECT_NE(std::string(attention_last_error()).find("multiple of num_kv_heads"), std::string::npos);
}

}  // namespace
}  // namespace tessera::kernels
