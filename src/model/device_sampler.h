// src/model/device_sampler.h — the sampling kernel (kernels/sampling/sampling.h) over a batch the
// engine's Sampler packed on the host. Part of the GPU runtime (built with CUDA only): the engine
// reaches it through ModelRunner::sample_device, so src/engine holds no CUDA code.
//
// Per call: the batch's parameter rows, penalty and ban lists and logits-row map go to the device
// in one copy (packed at 256-byte offsets into an arena that grows and is kept), the kernel runs on
// `stream` over the device logits, the outputs come back in one copy into the batch's own host
// output arrays, and the call waits for them: the step's one host synchronization.
#pragma once

#include <cstddef>
#include <memory>

#include "kernels/sampling/params.h"
#include "tessera/status.h"

namespace tessera {

class Buffer;

class DeviceSampler {
 public:
  DeviceSampler();
  ~DeviceSampler();
  DeviceSampler(const DeviceSampler&) = delete;
  DeviceSampler& operator=(const DeviceSampler&) = delete;

  // host_batch: `logits` in device memory (on the current device); every other array, inputs and
  // outputs, in host memory, as kernels::cpu::sample takes them. Lists with no entries are not
  // uploaded. stream: a cudaStream_t (nullptr: the default stream).
  Status sample(const kernels::SamplingBatch& host_batch, void* stream);

 private:
  std::shared_ptr<Buffer> arena_;      // inputs then outputs of the last batch
  std::shared_ptr<Buffer> workspace_;  // [rows, vocab] fp32 for rows with penalty or ban lists
};

}  // namespace tessera
