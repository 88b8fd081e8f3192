// kernels/attention/decode/plan_detail.h — constants the plan (CPU) and the kernels (CUDA) share.
#pragma once

namespace tessera::kernels::decode {

constexpr int kBlockN = 64;            // keys per pipeline tile (DecodeTraits::kBlockN)
constexpr int kMinTilesPerSplit = 4;   // a split reads at least this many tiles (B=1 L=4096: 16 splits 13.0 us, 31 splits 15.8 us)
constexpr int kSplitWhenWavesBelow = 2;  // split only when the CTAs fill fewer than this many waves

// CTAs of the paged attention kernel the plan counts on per SM at a head dim (shared memory bound;
// launch.cu checks DecodeTraits::kCtasPerSm against it for both row layouts).
constexpr int ctas_per_sm(int head_dim) { return head_dim <= 64 ? 3 : head_dim <= 128 ? 2 : 1; }

}  // namespace tessera::kernels::decode
