// src/engine/model_runner.h — the device side of a step: turns a SchedulerOutput into the paged-KV
// batch (kernels/attention/paged_kv.h) and runs the model over the KV cache it owns.
//
// ModelRunner (src/model/model_runner.h) owns the KV cache (host or device memory) and gets the
// same host-side ForwardBatch on every backend; it returns one row of logits per scheduled request,
// in the scheduler's order, whether or not that request samples this step. build_forward_batch is
// plain bookkeeping and shared by every backend.
#pragma once

#include <memory>
#include <vector>

#include "src/engine/scheduler.h"
#include "src/model/model_runner.h"

namespace tessera::engine {

// The runner interface and the CPU runner live in src/model (model_runner.h), where the CLI's
// single-sequence driver uses them too.
using tessera::CpuModelRunner;
using tessera::kv_blocks_for_bytes;
using tessera::ModelRunner;

// The scheduled tokens packed back to back: token ids, absolute positions, the slot of each (its
// block from the request's block list, its offset in the block), cu_seqlens_q, seq_lens (computed
// + new) and the block table padded with block 0 to the longest list in the batch.
ForwardBatch build_forward_batch(const SchedulerOutput& output, int32_t block_size);

}  // namespace tessera::engine
