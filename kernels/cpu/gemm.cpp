// kernels/cpu/gemm.cpp — Linear layers through OpenBLAS (sgemm; sgemv for single-token decode).
#include <cblas.h>

#include <cstring>

#include "kernels/cpu/ops.h"

namespace tessera::kernels::cpu {

void linear(const float* x, int64_t m, int64_t k, const float* w, const float* bias, int64_t n,
            float* y) {
  if (m <= 0 || n <= 0) return;
  float beta = 0.0f;
  if (bias) {
    for (int64_t i = 0; i < m; ++i) std::memcpy(y + i * n, bias, static_cast<size_t>(n) * 4);
    beta = 1.0f;
  }
  if (k == 0) {
    if (!bias) std::memset(y, 0, static_cast<size_t>(m * n) * 4);
    return;
  }
  if (m == 1) {
    // y[n] = w[n, k] · x[k]: the decode case, bound by reading w once.
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(n), static_cast<blasint>(k),
                1.0f, w, static_cast<blasint>(k), x, 1, beta, y, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, x, static_cast<blasint>(k),
              w, static_cast<blasint>(k), beta, y, static_cast<blasint>(n));
}

}  // namespace tessera::kernels::cpu
