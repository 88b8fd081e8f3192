// dev/model/runner_timing.cpp — a quick decode/prefill timer over the CUDA ModelRunner, for the
// development loop (dev/model/gpu_iter.sh builds it by hand); `tessera bench` is the real tool.
//   runner_timing DIR [batch=1] [input_len=512] [steps=64] [graphs=1] [varlen_prefill=1]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "src/model/model_runner.h"

using namespace tessera;

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const int B = argc > 2 ? std::atoi(argv[2]) : 1;
  const int L = argc > 3 ? std::atoi(argv[3]) : 512;
  const int steps = argc > 4 ? std::atoi(argv[4]) : 64;
  RunnerOptions o;
  o.device = "cuda";
  o.max_model_len = L + steps + 8;
  o.max_num_seqs = B;
  o.max_num_batched_tokens = std::max(8192, B * L);
  o.cuda_graphs = argc > 5 ? std::atoi(argv[5]) != 0 : true;
  o.varlen_prefill = argc > 6 ? std::atoi(argv[6]) != 0 : true;
  auto r = create_model_runner(argv[1], o);
  if (!r) { std::fprintf(stderr, "%s\n", r.status().message().c_str()); return 1; }
  ModelRunner& m = **r;
  const int bs = m.block_size(), width = (L + steps + 8 + bs - 1) / bs;
  auto make = [&](std::vector<int32_t> toks, std::vector<int> start, int n) {
    ForwardBatch b;
    b.max_blocks_per_seq = width;
    b.cu_seqlens_q.push_back(0);
    for (int s = 0; s < B; ++s) {
      for (int i = 0; i < n; ++i) {
        b.token_ids.push_back(toks[static_cast<size_t>(s * n + i)]);
        b.positions.push_back(start[static_cast<size_t>(s)] + i);
        b.slot_mapping.push_back(static_cast<int64_t>(s) * width * bs + start[static_cast<size_t>(s)] + i);
      }
      b.cu_seqlens_q.push_back(static_cast<int32_t>(b.token_ids.size()));
      b.seq_lens.push_back(start[static_cast<size_t>(s)] + n);
      for (int j = 0; j < width; ++j) b.block_table.push_back(s * width + j);
    }
    return b;
  };
  for (int rep = 0; rep < 2; ++rep) {
    std::vector<int32_t> prompt(static_cast<size_t>(B * L));
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 7919 + 13) % static_cast<size_t>(m.config().vocab_size));
    std::vector<int> start(static_cast<size_t>(B), 0);
    std::vector<int32_t> next;
    auto t0 = std::chrono::steady_clock::now();
    if (!m.execute_greedy(make(prompt, start, L), next).is_ok()) return 1;
    auto t1 = std::chrono::steady_clock::now();
    for (auto& s : start) s = L;
    for (int i = 0; i < steps; ++i) {
      std::vector<int32_t> cur = next;
      auto st = m.execute_greedy(make(cur, start, 1), next);
      if (!st.is_ok()) { std::fprintf(stderr, "%s\n", st.message().c_str()); return 1; }
      for (auto& s : start) ++s;
    }
    auto t2 = std::chrono::steady_clock::now();
    const double pre = std::chrono::duration<double, std::milli>(t1 - t0).count();
    const double dec = std::chrono::duration<double, std::milli>(t2 - t1).count() / steps;
    std::printf("rep %d B=%d L=%d: prefill %.1f ms, decode %.3f ms/step = %.0f tok/s\n", rep, B, L, pre, dec, B * 1000.0 / dec);
  }
  return 0;
}
