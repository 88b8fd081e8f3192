// python/src/attention_bindings.cpp — tessera._C: the nanobind layer over the attention launchers
// of kernels/attention/params.h. It holds no logic (docs/architecture.md, seam 5): Python (tessera/_ops.py)
// validates, allocates every tensor (outputs, lse, workspace) and passes raw device addresses,
// int64 element strides and the CUDA stream as plain ints; this file copies them into the params
// structs, launches on that stream and turns a failed launch into a Python exception.
//
// Why raw addresses and not nb::ndarray / DLPack: torch's __dlpack__ may record an event and make
// another stream wait on it, which is not allowed inside CUDA graph capture, and it costs
// microseconds per tensor on a path whose kernels can take a few. torch owns every tensor here.
//
// Invariants: nothing allocates, nothing synchronizes (capturable); the GIL is released around the
// launch; a cudaErrorInvalidValue carries attention_last_error()'s reason (raised as ValueError),
// any other error cudaGetErrorString's (raised as RuntimeError).
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>

#include "kernels/attention/params.h"
#include "python/src/bindings_util.h"

namespace nb = nanobind;
namespace tk = tessera::kernels;
using tessera::bindings::to_dtype;
using tessera::bindings::to_ptr;

namespace {

// (batch, row, head) element strides of one [batch, seq, heads, head_dim] tensor.
using StrideTuple = std::tuple<int64_t, int64_t, int64_t>;

tk::AttentionStrides to_strides(const StrideTuple& s) {
  tk::AttentionStrides out;
  out.batch = std::get<0>(s);
  out.row = std::get<1>(s);
  out.head = std::get<2>(s);
  return out;
}

// shape: (batch, num_heads, num_kv_heads, head_dim, seqlen_q, seqlen_k, cu_seqlens_q address,
//         cu_seqlens_k address, total_q, softmax_scale, is_causal, dtype code). Addresses are 0
//         for fixed-length batches.
using ShapeTuple =
    std::tuple<int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, uintptr_t, uintptr_t, int64_t,
               float, bool, int>;

tk::AttentionShape to_shape(const ShapeTuple& t) {
  tk::AttentionShape s;
  s.batch = std::get<0>(t);
  s.num_heads = std::get<1>(t);
  s.num_kv_heads = std::get<2>(t);
  s.head_dim = std::get<3>(t);
  s.seqlen_q = std::get<4>(t);
  s.seqlen_k = std::get<5>(t);
  s.cu_seqlens_q = to_ptr<const int32_t>(std::get<6>(t));
  s.cu_seqlens_k = to_ptr<const int32_t>(std::get<7>(t));
  s.total_q = std::get<8>(t);
  s.softmax_scale = std::get<9>(t);
  s.is_causal = std::get<10>(t);
  s.dtype = to_dtype(std::get<11>(t));
  return s;
}

void raise_on_error(cudaError_t err, const char* what) {
  tessera::bindings::raise_on_error(err, what, tk::attention_last_error);
}

// q/k/v/o addresses: [batch, seq, heads, head_dim] (or packed [total, heads, head_dim]) device
// memory of the shape's dtype; lse: fp32 [batch, num_heads, seqlen_q] or [num_heads, total_q].
void attention_fwd(const ShapeTuple& shape, uintptr_t q, uintptr_t k, uintptr_t v, uintptr_t o,
                   uintptr_t lse, const StrideTuple& q_strides, const StrideTuple& k_strides,
                   const StrideTuple& v_strides, const StrideTuple& o_strides, uintptr_t stream) {
  tk::AttentionFwdParams p;
  p.shape = to_shape(shape);
  p.q = to_ptr<const void>(q);
  p.k = to_ptr<const void>(k);
  p.v = to_ptr<const void>(v);
  p.o = to_ptr<void>(o);
  p.lse = to_ptr<float>(lse);
  p.q_strides = to_strides(q_strides);
  p.k_strides = to_strides(k_strides);
  p.v_strides = to_strides(v_strides);
  p.o_strides = to_strides(o_strides);
  cudaError_t err;
  {
    nb::gil_scoped_release release;
    err = tk::attention_fwd(p, reinterpret_cast<cudaStream_t>(stream));
  }
  raise_on_error(err, "tessera attention forward");
}

void attention_bwd(const ShapeTuple& shape, uintptr_t q, uintptr_t k, uintptr_t v, uintptr_t o,
                   uintptr_t dout, uintptr_t lse, uintptr_t dq, uintptr_t dk, uintptr_t dv,
                   uintptr_t workspace, const StrideTuple& q_strides, const StrideTuple& k_strides,
                   const StrideTuple& v_strides, const StrideTuple& o_strides,
                   const StrideTuple& dout_strides, const StrideTuple& dq_strides,
                   const StrideTuple& dk_strides, const StrideTuple& dv_strides,
                   bool deterministic, uintptr_t stream) {
  tk::AttentionBwdParams p;
  p.shape = to_shape(shape);
  p.q = to_ptr<const void>(q);
  p.k = to_ptr<const void>(k);
  p.v = to_ptr<const void>(v);
  p.o = to_ptr<const void>(o);
  p.dout = to_ptr<const void>(dout);
  p.lse = to_ptr<const float>(lse);
  p.dq = to_ptr<void>(dq);
  p.dk = to_ptr<void>(dk);
  p.dv = to_ptr<void>(dv);
  p.workspace = to_ptr<void>(workspace);
  p.q_strides = to_strides(q_strides);
  p.k_strides = to_strides(k_strides);
  p.v_strides = to_strides(v_strides);
  p.o_strides = to_strides(o_strides);
  p.dout_strides = to_strides(dout_strides);
  p.dq_strides = to_strides(dq_strides);
  p.dk_strides = to_strides(dk_strides);
  p.dv_strides = to_strides(dv_strides);
  p.deterministic = deterministic;
  cudaError_t err;
  {
    nb::gil_scoped_release release;
    err = tk::attention_bwd(p, reinterpret_cast<cudaStream_t>(stream));
  }
  raise_on_error(err, "tessera attention backward");
}

}  // namespace

void register_decode(nb::module_& m);  // decode_bindings.cpp

NB_MODULE(_C, m) {
  m.doc() = "tessera CUDA kernels (low level; use the tessera package, not this module)";
  m.attr("kF16") = static_cast<int>(tk::FloatType::kF16);
  m.attr("kBF16") = static_cast<int>(tk::FloatType::kBF16);

  m.def("attention_fwd", &attention_fwd, nb::arg("shape"), nb::arg("q"), nb::arg("k"),
        nb::arg("v"), nb::arg("o"), nb::arg("lse"), nb::arg("q_strides"), nb::arg("k_strides"),
        nb::arg("v_strides"), nb::arg("o_strides"), nb::arg("stream"),
        "Launch the attention forward on `stream` (addresses and strides as ints).");
  m.def("attention_bwd", &attention_bwd, nb::arg("shape"), nb::arg("q"), nb::arg("k"),
        nb::arg("v"), nb::arg("o"), nb::arg("dout"), nb::arg("lse"), nb::arg("dq"), nb::arg("dk"),
        nb::arg("dv"), nb::arg("workspace"), nb::arg("q_strides"), nb::arg("k_strides"),
        nb::arg("v_strides"), nb::arg("o_strides"), nb::arg("dout_strides"),
        nb::arg("dq_strides"), nb::arg("dk_strides"), nb::arg("dv_strides"),
        nb::arg("deterministic"), nb::arg("stream"),
        "Launch the attention backward on `stream` (workspace from attention_bwd_workspace).");
  m.def(
      "attention_bwd_workspace",
      [](const ShapeTuple& shape) { return tk::attention_bwd_workspace(to_shape(shape)); },
      nb::arg("shape"), "Bytes of fp32 workspace attention_bwd needs for this shape.");
  m.def("attention_fwd_supports_head_dim", &tk::attention_fwd_supports_head_dim,
        nb::arg("head_dim"));
  m.def("attention_bwd_supports_head_dim", &tk::attention_bwd_supports_head_dim,
        nb::arg("head_dim"));
  register_decode(m);
}
