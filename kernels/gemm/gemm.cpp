// kernels/gemm/gemm.cpp — cuBLASLt behind Gemm (gemm.h).
//
// cuBLASLt is column-major. A row-major [r, c] matrix with leading dimension ld is the column-major
// [c, r] one, so y[m, n] = x[m, k] · w[n, k]ᵀ is, column-major, yᵀ[n, m] = w'ᵀ · x' with w' the
// [k, n] view of w (transposed: op A = T) and x' the [k, m] view of x (op B = N): the "TN" layout
// cuBLAS is fastest in. The bias epilogue adds bias[row] of the column-major result, i.e. bias[n].
#include "kernels/gemm/gemm.h"

#include <cublasLt.h>

#include <map>
#include <tuple>

namespace tessera::kernels {

namespace {

cudaDataType_t cuda_type(FloatType t) {
  switch (t) {
    case FloatType::kF32: return CUDA_R_32F;
    case FloatType::kF16: return CUDA_R_16F;
    case FloatType::kBF16: return CUDA_R_16BF;
  }
  return CUDA_R_32F;
}

// Everything that selects an algorithm and its descriptors.
using ShapeKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, bool>;

// The cuBLASLt objects of one shape, built once.
struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

}  // namespace

struct Gemm::Impl {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::map<ShapeKey, std::unique_ptr<Plan>> plans;
  ~Impl() {
    plans.clear();
    if (workspace) cudaFree(workspace);
    if (handle) cublasLtDestroy(handle);
  }
};

Gemm::Gemm(std::unique_ptr<Impl> impl, size_t workspace_bytes)
    : impl_(std::move(impl)), workspace_bytes_(workspace_bytes) {}
Gemm::~Gemm() = default;

std::unique_ptr<Gemm> Gemm::create(size_t workspace_bytes, std::string* error) {
  auto impl = std::make_unique<Impl>();
  if (cublasStatus_t s = cublasLtCreate(&impl->handle); s != CUBLAS_STATUS_SUCCESS) {
    if (error) *error = std::string("cublasLtCreate failed: ") + cublasLtGetStatusString(s);
    return nullptr;
  }
  if (workspace_bytes > 0) {
    if (cudaError_t e = cudaMalloc(&impl->workspace, workspace_bytes); e != cudaSuccess) {
      if (error) *error = std::string("cuBLASLt workspace: cudaMalloc failed: ") + cudaGetErrorString(e);
      return nullptr;
    }
  }
  return std::unique_ptr<Gemm>(new Gemm(std::move(impl), workspace_bytes));
}

cudaError_t Gemm::run(const GemmParams& p, cudaStream_t stream) {
  const auto fail = [&](const std::string& why, cudaError_t code = cudaErrorInvalidValue) {
    error_ = "gemm [" + std::to_string(p.m) + "x" + std::to_string(p.k) + "] x [" + std::to_string(p.n) + "x" +
             std::to_string(p.k) + "]^T: " + why;
    return code;
  };
  if (p.m == 0 || p.n == 0) return cudaSuccess;
  if (p.m < 0 || p.n < 0 || p.k <= 0 || !p.x || !p.w || !p.y) return fail("bad sizes or null pointer");
  if (p.ldx < p.k || p.ldw < p.k || p.ldy < p.n) return fail("a leading dimension is smaller than its row");
  if (p.dtype != FloatType::kBF16 && p.dtype != FloatType::kF16) return fail("inputs must be bf16 or fp16");
  if (p.out_dtype != p.dtype && p.out_dtype != FloatType::kF32) return fail("output must be the input type or fp32");
  // cuBLASLt has no bf16/fp16 bias epilogue into an fp32 output.
  if (p.bias && p.out_dtype != p.dtype) return fail("a bias needs the output in the input type");

  const ShapeKey key{p.m, p.n, p.k, p.ldx, p.ldw, p.ldy, static_cast<int>(p.dtype), static_cast<int>(p.out_dtype),
                     p.bias != nullptr};
  auto it = impl_->plans.find(key);
  if (it == impl_->plans.end()) {
    auto plan = std::make_unique<Plan>();
    const auto check = [&](cublasStatus_t s, const char* what) {
      if (s == CUBLAS_STATUS_SUCCESS) return true;
      fail(std::string(what) + ": " + cublasLtGetStatusString(s), cudaErrorUnknown);
      return false;
    };
    const cudaDataType_t in = cuda_type(p.dtype), out = cuda_type(p.out_dtype);
    if (!check(cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate"))
      return cudaErrorUnknown;
    const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
    check(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)), "TRANSA");
    check(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)), "TRANSB");
    if (p.bias) {
      const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
      check(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)), "EPILOGUE");
      check(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &in, sizeof(in)), "BIAS_DATA_TYPE");
    }
    if (!check(cublasLtMatrixLayoutCreate(&plan->a, in, static_cast<uint64_t>(p.k), static_cast<uint64_t>(p.n), p.ldw), "layout A") ||
        !check(cublasLtMatrixLayoutCreate(&plan->b, in, static_cast<uint64_t>(p.k), static_cast<uint64_t>(p.m), p.ldx), "layout B") ||
        !check(cublasLtMatrixLayoutCreate(&plan->d, out, static_cast<uint64_t>(p.n), static_cast<uint64_t>(p.m), p.ldy), "layout D"))
      return cudaErrorUnknown;
    cublasLtMatmulPreference_t pref = nullptr;
    if (!check(cublasLtMatmulPreferenceCreate(&pref), "preference")) return cudaErrorUnknown;
    const uint64_t ws = workspace_bytes_;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t s =
        cublasLtMatmulAlgoGetHeuristic(impl_->handle, plan->op, plan->a, plan->b, plan->d, plan->d, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s != CUBLAS_STATUS_SUCCESS || found == 0)
      return fail(std::string("no cuBLASLt algorithm: ") + cublasLtGetStatusString(s), cudaErrorNotSupported);
    plan->algo = result.algo;
    it = impl_->plans.emplace(key, std::move(plan)).first;
  }
  Plan& plan = *it->second;
  if (p.bias) {
    const void* bias = p.bias;
    cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
  }
  const float alpha = 1.f, beta = 0.f;
  const cublasStatus_t s = cublasLtMatmul(impl_->handle, plan.op, &alpha, p.w, plan.a, p.x, plan.b, &beta, p.y, plan.d, p.y,
                                          plan.d, &plan.algo, impl_->workspace, workspace_bytes_, stream);
  if (s != CUBLAS_STATUS_SUCCESS) return fail(std::string("cublasLtMatmul: ") + cublasLtGetStatusString(s), cudaErrorUnknown);
  return cudaSuccess;
}

}  // namespace tessera::kernels
