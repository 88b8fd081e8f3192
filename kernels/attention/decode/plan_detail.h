// kernels/attention/decode/plan_detail.h — constants the plan (CPU) and the kernels (CUDA) share.
#pragma once

namespace tessera::kernels::decode {

constexpr int kBlockN = 64;            // keys per pipeline tile (DecodeTraits::kBlockN)
// A split reads at least this many tiles. Same-run A/B on the H200 (dev/kernels/decode_check.py,
// forced splits, Hq 32 / Hkv 8 / D 128): B=1 L=4096 16 splits 13.0 us, 32 splits 12.3 us, 64 17.9;
// B=1 L=2048 8 splits 12.1, 16 10.0, 32 11.3; B=1 L=512 2 splits 10.6, 4 7.4, 8 6.1. One tile per
// split pays the combine for no gain; two keep every SM's slots busy without it.
constexpr int kMinTilesPerSplit = 2;
constexpr int kCombineTiles = 2;       // the combine pass costs about two tiles of one CTA (B=1: ~3 us)
constexpr int kSplitWhenWavesBelow = 2;  // split only when the CTAs fill fewer than this many waves

// CTAs of the paged attention kernel the plan counts on per SM at a head dim (shared memory bound;
// launch.cu checks DecodeTraits::kCtasPerSm against it for both row layouts).
constexpr int ctas_per_sm(int head_dim) { return head_dim <= 64 ? 3 : head_dim <= 128 ? 2 : 1; }

}  // namespace tessera::kernels::decode
