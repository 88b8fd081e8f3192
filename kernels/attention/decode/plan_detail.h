// kernels/attention/decode/plan_detail.h — constants the plan (CPU) and the kernels (CUDA) share.
#pragma once

namespace tessera::kernels::decode {

constexpr int kBlockN = 64;            // keys per pipeline tile (DecodeTraits::kBlockN)
constexpr int kMinTilesPerSplit = 2;   // a split reads at least this many tiles
constexpr int kSplitWhenWavesBelow = 2;  // split only when the CTAs fill fewer than this many waves

// CTAs of the paged attention kernel resident per SM at a head dim (shared memory bound).
int ctas_per_sm(int head_dim, int rows_per_cta);

}  // namespace tessera::kernels::decode
