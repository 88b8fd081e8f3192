// src/model/device_sampler.cpp — one sampling batch on the GPU (device_sampler.h).
#include "src/model/device_sampler.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/sampling/sampling.h"
#include "tessera/tensor.h"

namespace tessera {
namespace {

// Host arrays packed into one staging buffer at 256-byte offsets, so one copy moves them all.
struct Packer {
  std::vector<char> bytes;
  size_t add(const void* data, size_t size) {
    const size_t at = (bytes.size() + 255) & ~size_t{255};
    bytes.resize(at + std::max<size_t>(1, size));
    if (data && size) std::memcpy(bytes.data() + at, data, size);
    return at;
  }
  size_t reserve(size_t size) { return add(nullptr, size); }  // room only (outputs)
};

Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::ok();
  return internal_error(std::string("sampler: ") + what + ": " + cudaGetErrorString(e));
}

// Grows `buf` to at least `bytes` of device memory on the current device.
Status reserve_device(std::shared_ptr<Buffer>& buf, size_t bytes) {
  if (buf && buf->size_bytes() >= bytes) return Status::ok();
  int device = 0;
  TESSERA_RETURN_IF_ERROR(cuda_status(cudaGetDevice(&device), "cudaGetDevice"));
  buf.reset();
  TESSERA_ASSIGN_OR_RETURN(buf, allocate_device(bytes + bytes / 4, Device::cuda(device)));
  return Status::ok();
}

// Entries of a CSR list of num_rows rows (0 when the list is absent).
size_t list_size(const int32_t* offsets, int64_t num_rows) {
  return offsets ? static_cast<size_t>(std::max<int32_t>(0, offsets[num_rows])) : 0;
}

}  // namespace

DeviceSampler::DeviceSampler() = default;
DeviceSampler::~DeviceSampler() = default;

Status DeviceSampler::sample(const kernels::SamplingBatch& host, void* stream_handle) {
  if (host.num_rows <= 0) return Status::ok();
  const auto stream = static_cast<cudaStream_t>(stream_handle);
  const auto n = static_cast<size_t>(host.num_rows);
  const size_t top = n * static_cast<size_t>(std::max(0, host.top_logprobs_stride));
  const size_t num_penalties = list_size(host.penalty_offsets, host.num_rows);
  const size_t num_banned = list_size(host.banned_offsets, host.num_rows);
  const bool lists = num_penalties + num_banned > 0;

  Packer in;
  const size_t at_rows = in.add(host.rows, n * sizeof(kernels::SamplingRowParams));
  const size_t at_lr = host.logits_rows ? in.add(host.logits_rows, n * sizeof(int32_t)) : 0;
  size_t at_po = 0, at_pt = 0, at_pc = 0, at_bo = 0, at_bt = 0;
  if (lists) {  // the kernel takes lists only with a workspace for the rows they change
    at_po = in.add(host.penalty_offsets, host.penalty_offsets ? (n + 1) * sizeof(int32_t) : 0);
    at_pt = in.add(host.penalty_tokens, num_penalties * sizeof(int32_t));
    at_pc = in.add(host.penalty_counts, num_penalties * sizeof(int32_t));
    at_bo = in.add(host.banned_offsets, host.banned_offsets ? (n + 1) * sizeof(int32_t) : 0);
    at_bt = in.add(host.banned_tokens, num_banned * sizeof(int32_t));
    TESSERA_RETURN_IF_ERROR(reserve_device(workspace_, n * static_cast<size_t>(host.vocab) * sizeof(float)));
  }
  const size_t in_bytes = in.bytes.size();
  Packer out;  // the outputs follow the inputs in the arena
  const size_t at_tok = out.reserve(n * sizeof(int32_t)), at_rank = out.reserve(n * sizeof(int32_t)),
               at_lp = out.reserve(n * sizeof(float)), at_ids = out.reserve(top * sizeof(int32_t)),
               at_tlp = out.reserve(top * sizeof(float));
  const size_t out_at = (in_bytes + 255) & ~size_t{255};
  TESSERA_RETURN_IF_ERROR(reserve_device(arena_, out_at + out.bytes.size()));
  char* arena = static_cast<char*>(arena_->data());
  char* outs = arena + out_at;

  kernels::SamplingBatch b = host;  // logits, sizes and strides as given; arrays re-pointed
  b.rows = reinterpret_cast<const kernels::SamplingRowParams*>(arena + at_rows);
  b.logits_rows = host.logits_rows ? reinterpret_cast<const int32_t*>(arena + at_lr) : nullptr;
  b.penalty_offsets = b.penalty_tokens = b.penalty_counts = b.banned_offsets = b.banned_tokens = nullptr;
  b.workspace = nullptr;
  if (lists) {
    if (host.penalty_offsets) {
      b.penalty_offsets = reinterpret_cast<const int32_t*>(arena + at_po);
      b.penalty_tokens = reinterpret_cast<const int32_t*>(arena + at_pt);
      b.penalty_counts = reinterpret_cast<const int32_t*>(arena + at_pc);
    }
    if (host.banned_offsets) {
      b.banned_offsets = reinterpret_cast<const int32_t*>(arena + at_bo);
      b.banned_tokens = reinterpret_cast<const int32_t*>(arena + at_bt);
    }
    b.workspace = static_cast<float*>(workspace_->data());
  }
  b.out_tokens = reinterpret_cast<int32_t*>(outs + at_tok);
  b.out_ranks = reinterpret_cast<int32_t*>(outs + at_rank);
  b.out_logprobs = reinterpret_cast<float*>(outs + at_lp);
  b.out_top_ids = reinterpret_cast<int32_t*>(outs + at_ids);
  b.out_top_logprobs = reinterpret_cast<float*>(outs + at_tlp);

  TESSERA_RETURN_IF_ERROR(
      cuda_status(cudaMemcpyAsync(arena, in.bytes.data(), in_bytes, cudaMemcpyHostToDevice, stream), "upload"));
  TESSERA_RETURN_IF_ERROR(cuda_status(kernels::sample(b, stream), "sampling kernel launch"));
  TESSERA_RETURN_IF_ERROR(cuda_status(
      cudaMemcpyAsync(out.bytes.data(), outs, out.bytes.size(), cudaMemcpyDeviceToHost, stream), "download"));
  TESSERA_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream), "sampling kernel"));
  // Back into the caller's arrays; absent (optional) outputs are skipped.
  auto copy_out = [&](void* dst, size_t at, size_t size) {
    if (dst && size) std::memcpy(dst, out.bytes.data() + at, size);
  };
  copy_out(host.out_tokens, at_tok, n * sizeof(int32_t));
  copy_out(host.out_ranks, at_rank, n * sizeof(int32_t));
  copy_out(host.out_logprobs, at_lp, n * sizeof(float));
  copy_out(host.out_top_ids, at_ids, top * sizeof(int32_t));
  copy_out(host.out_top_logprobs, at_tlp, top * sizeof(float));
  return Status::ok();
}

}  // namespace tessera
