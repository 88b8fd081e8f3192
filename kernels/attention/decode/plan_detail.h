// kernels/attention/decode/plan_detail.h — constants the plan (CPU) and the kernels (CUDA) share.
#pragma once

namespace tessera::kernels::decode {

constexpr int kBlockN = 64;            // keys per pipeline tile (DecodeTraits::kBlockN)
// A split reads at least this many tiles. Below one wave, the split count minimizes the latency
// model of plan.cpp, in sixteenths of a tile: 16 per tile of the longest split, 16 * kCombineTiles
// for the combine pass, and kCombinePerSplit per split (the combine reads every split's partial
// rows). Fitted to same-run A/B on the H200 (dev/kernels/decode_check.py --splits, Hq 32 / Hkv 8 /
// D 128, after the combine kernel began loading its splits in one round trip): B=1 L=512 4 splits
// 5.9 us, 8 5.1; L=1024 8 6.1, 16 5.6; L=2048 16 7.0, 32 7.3; L=4096 16 9.6, 32 9.3, 64 13.4 (two
// waves); B=4 L=1024 4 9.3, 8 8.8; B=2 L=4096 8 13.8, 16 13.1. The model picks each best count.
constexpr int kMinTilesPerSplit = 1;
constexpr int kCombineTiles = 2;       // the combine pass: ~1.4 us at B=1 (dev/kernels/decode_check.py)
constexpr int kCombinePerSplit = 1;    // sixteenths of a tile per split
constexpr int kSplitWhenWavesBelow = 2;  // split only when the CTAs fill fewer than this many waves

// CTAs of the paged attention kernel the plan counts on per SM at a head dim (shared memory bound;
// launch.cu checks DecodeTraits::kCtasPerSm against it for both row layouts).
constexpr int ctas_per_sm(int head_dim) { return head_dim <= 64 ? 3 : head_dim <= 128 ? 2 : 1; }

}  // namespace tessera::kernels::decode
