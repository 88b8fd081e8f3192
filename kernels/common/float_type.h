// kernels/common/float_type.h — the element type a kernel's params name for its floating-point
// tensors (attention, decode, norm, elementwise, GEMM). Plain C++: no CUDA header, so the CPU side
// of a seam (the engine's runners, the Python bindings) includes it without the toolkit.
#pragma once

namespace tessera::kernels {

enum class FloatType : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

}  // namespace tessera::kernels
