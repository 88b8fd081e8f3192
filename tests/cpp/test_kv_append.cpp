// The CPU twin of the fused KV append (paged_kv_append) and the RoPE pieces it is built from
// (rope_cos_sin_table, rope_rotate_row through apply_rope), against references written here:
//   - the decode.h contract evaluated independently: products of two floats are exact in double,
//     so float(double(x) * c) is the fp32-rounded product whatever the compiler contracts, and the
//     difference of two such floats rounded to float is the contract's result, bit for bit;
//   - the rotation in double from the fp32 angle, within a few fp32 ulps of the inputs' scale;
//   - cache slots and q_out padding nobody should write stay as poisoned NaN bits (memcmp).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>

#include "kernels/cpu/ops.h"

namespace tessera::kernels::cpu {
namespace {

constexpr uint32_t kPoisonBits = 0x7fa5a5a5u;  // a quiet NaN with a payload no computation makes

float poison() { return std::bit_cast<float>(kPoisonBits); }
bool is_poison(float x) { return std::bit_cast<uint32_t>(x) == kPoisonBits; }
bool same_bits(float a, float b) { return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }

RopeSpec default_spec(int32_t rotary_dim) {
  RopeSpec s;
  s.rotary_dim = rotary_dim;
  return s;
}
RopeSpec linear_spec(int32_t rotary_dim) {
  RopeSpec s;
  s.kind = RopeKind::kLinear;
  s.factor = 4.0;
  s.rotary_dim = rotary_dim;
  return s;
}
RopeSpec llama3_spec(int32_t rotary_dim) {
  RopeSpec s;
  s.kind = RopeKind::kLlama3;
  s.theta = 500000.0;
  s.factor = 8.0;
  s.low_freq_factor = 1.0;
  s.high_freq_factor = 4.0;
  s.original_max_position_embeddings = 8192.0;
  s.rotary_dim = rotary_dim;
  return s;
}

// Pair i of a rotated head: element indices (first, second).
std::pair<int32_t, int32_t> pair_of(RopeLayout layout, int32_t rotary_dim, int32_t i) {
  if (layout == RopeLayout::kInterleaved) return {2 * i, 2 * i + 1};
  return {i, i + rotary_dim / 2};
}

// The contract of decode.h for one pair, with no fp32 arithmetic the compiler could fuse.
std::pair<float, float> contract_rotate(float x, float y, float c, float s) {
  const double xc = static_cast<float>(static_cast<double>(x) * c);
  const double ys = static_cast<float>(static_cast<double>(y) * s);
  const double yc = static_cast<float>(static_cast<double>(y) * c);
  const double xs = static_cast<float>(static_cast<double>(x) * s);
  return {static_cast<float>(xc - ys), static_cast<float>(yc + xs)};
}

// Checks one rotated head `out` against its input `in`:
//   bits equal to the contract on cos/sin from `table_cos/sin` row, elements past rotary_dim copied,
//   and close to the rotation by the exact cos/sin of the fp32 angle pos * inv_freq[i].
void check_rotated_row(const float* in, const float* out, int32_t head_dim, int32_t rotary_dim,
                       RopeLayout layout, const float* table_cos, const float* table_sin,
                       const std::vector<float>& inv_freq, int32_t pos, const std::string& where) {
  const int32_t rotated = layout == RopeLayout::kNone ? 0 : rotary_dim;
  for (int32_t i = 0; i < rotated / 2; ++i) {
    const auto [a, b] = pair_of(layout, rotated, i);
    const auto [ea, eb] = contract_rotate(in[a], in[b], table_cos[i], table_sin[i]);
    ASSERT_TRUE(same_bits(out[a], ea) && same_bits(out[b], eb))
        << where << " pair " << i << ": got " << out[a] << ", " << out[b] << " want " << ea << ", " << eb;
    const double angle = static_cast<float>(static_cast<double>(pos) * inv_freq[static_cast<size_t>(i)]);
    const double x = in[a], y = in[b];
    const double ra = x * std::cos(angle) - y * std::sin(angle);
    const double rb = y * std::cos(angle) + x * std::sin(angle);
    // cos/sin rounded once, each product once, the sum once: three fp32 roundings of terms no
    // larger than |x| + |y|.
    const double tol = 4.0 * std::ldexp(std::abs(x) + std::abs(y), -24);
    ASSERT_NEAR(out[a], ra, tol) << where << " pair " << i;
    ASSERT_NEAR(out[b], rb, tol) << where << " pair " << i;
  }
  for (int32_t e = rotated; e < head_dim; ++e)
    ASSERT_TRUE(same_bits(out[e], in[e])) << where << " element " << e << " past rotary_dim";
}

struct AppendCase {
  RopeLayout rope = RopeLayout::kRotateHalf;
  RopeSpec spec;              // spec.rotary_dim is the rotary_dim under test (0 means head_dim)
  int32_t head_dim = 64;
  int32_t block_size = 16;
  int32_t num_blocks = 9;
  int32_t num_kv_heads = 2;
  int32_t num_heads = 8;
  int64_t num_tokens = 37;
  int64_t num_q_tokens = 37;
  int32_t max_position = 2048;
  bool q_in_place = false;
  bool q_positions_null = false;
  // >= 0: K and V in one allocation, block stride 2 * block + kv_pad (the gaps must stay poison).
  int64_t kv_pad = -1;
  // Head-major blocks: token stride head_dim, head stride block_size * head_dim.
  bool head_major = false;
};

std::string describe(const AppendCase& c) {
  return "rope " + std::to_string(static_cast<int>(c.rope)) + " kind " +
         std::to_string(static_cast<int>(c.spec.kind)) + " head_dim " + std::to_string(c.head_dim) +
         " rotary_dim " + std::to_string(c.spec.rotary_dim) + " block_size " + std::to_string(c.block_size) +
         " kv_pad " + std::to_string(c.kv_pad) + (c.head_major ? " head-major" : "");
}

// One append with padded strides, shuffled slots with padding tokens, poisoned caches and q_out,
// checked element by element.
void run_append(const AppendCase& c, uint32_t seed) {
  SCOPED_TRACE(describe(c));
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  const int32_t d = c.head_dim;
  const int32_t rotary_dim = c.spec.rotary_dim == 0 ? d : c.spec.rotary_dim;
  RopeSpec spec = c.spec;
  spec.rotary_dim = rotary_dim;
  const int64_t half = rotary_dim / 2;

  PagedKvLayout layout{c.num_blocks, c.block_size, c.num_kv_heads, d};
  if (c.head_major) {
    layout.token_stride_elems = d;
    layout.head_stride_elems = static_cast<int64_t>(c.block_size) * d;
  }
  if (c.kv_pad >= 0) layout.block_stride_elems = 2 * layout.block_extent() + c.kv_pad;
  ASSERT_LE(c.num_tokens, layout.num_slots());
  // Inputs with gaps between heads and tokens, so strides are really used.
  const int64_t k_hs = d + 3, k_ts = c.num_kv_heads * k_hs + 5;
  const int64_t v_hs = d + 1, v_ts = c.num_kv_heads * v_hs + 2;
  const int64_t q_hs = d + 2, q_ts = c.num_heads * q_hs + 7;
  std::vector<float> k(static_cast<size_t>(c.num_tokens * k_ts)), v(static_cast<size_t>(c.num_tokens * v_ts));
  std::vector<float> q(static_cast<size_t>(c.num_q_tokens * q_ts));
  for (auto* buf : {&k, &v, &q})
    for (float& x : *buf) x = nd(rng);
  const std::vector<float> q_in = q;

  // Slots: distinct, in shuffled order; every fifth token is padding (-1).
  std::vector<int64_t> all_slots(static_cast<size_t>(layout.num_slots()));
  std::iota(all_slots.begin(), all_slots.end(), 0);
  std::shuffle(all_slots.begin(), all_slots.end(), rng);
  std::vector<int64_t> slots(all_slots.begin(), all_slots.begin() + c.num_tokens);
  for (size_t t = 3; t < slots.size(); t += 5) slots[t] = -1;
  std::uniform_int_distribution<int32_t> pos_dist(0, c.max_position - 1);
  std::vector<int32_t> k_pos(static_cast<size_t>(c.num_tokens)), q_pos(static_cast<size_t>(c.num_q_tokens));
  for (auto& p : k_pos) p = pos_dist(rng);
  for (auto& p : q_pos) p = pos_dist(rng);
  if (!k_pos.empty()) k_pos[0] = 0;

  std::vector<float> cos(static_cast<size_t>(c.max_position * half)), sin(cos.size());
  rope_cos_sin_table(spec, c.max_position, cos.data(), sin.data());
  const std::vector<float> inv_freq = rope_inv_freq(spec);

  const bool shared = c.kv_pad >= 0;
  std::vector<float> k_store(static_cast<size_t>(layout.cache_elements() + (shared ? layout.block_extent() : 0)),
                             poison());
  std::vector<float> v_store(shared ? 0 : k_store.size(), poison());
  float* k_cache = k_store.data();
  float* v_cache = shared ? k_cache + layout.block_extent() : v_store.data();
  const int64_t qo_hs = d + 1, qo_ts = c.num_heads * qo_hs + 3;
  std::vector<float> q_out(static_cast<size_t>(c.num_q_tokens * qo_ts), poison());

  KvAppendCpuParams p;
  p.k = k.data();
  p.v = v.data();
  p.k_token_stride = k_ts;
  p.k_head_stride = k_hs;
  p.v_token_stride = v_ts;
  p.v_head_stride = v_hs;
  p.slot_mapping = slots.data();
  p.num_tokens = c.num_tokens;
  p.k_cache = k_cache;
  p.v_cache = v_cache;
  p.layout = layout;
  p.q = q.data();
  p.q_out = c.q_in_place ? q.data() : q_out.data();
  p.q_token_stride = q_ts;
  p.q_head_stride = q_hs;
  p.q_out_token_stride = c.q_in_place ? q_ts : qo_ts;
  p.q_out_head_stride = c.q_in_place ? q_hs : qo_hs;
  p.num_q_tokens = c.num_q_tokens;
  p.num_heads = c.num_heads;
  p.rope = c.rope;
  p.rotary_dim = c.spec.rotary_dim;
  p.cos = cos.data();
  p.sin = sin.data();
  p.max_position = c.max_position;
  p.k_positions = k_pos.data();
  p.q_positions = c.q_positions_null ? nullptr : q_pos.data();
  ASSERT_EQ(paged_kv_append(p), nullptr);

  // Every slot: written by exactly the token that maps to it, or still poison.
  std::vector<int64_t> token_of_slot(static_cast<size_t>(layout.num_slots()), -1);
  for (int64_t t = 0; t < c.num_tokens; ++t)
    if (slots[static_cast<size_t>(t)] >= 0) token_of_slot[static_cast<size_t>(slots[static_cast<size_t>(t)])] = t;
  const int64_t hs = layout.head_stride();
  for (int64_t slot = 0; slot < layout.num_slots(); ++slot) {
    const float* kc = k_cache + layout.slot_offset(slot);
    const float* vc = v_cache + layout.slot_offset(slot);
    const int64_t t = token_of_slot[static_cast<size_t>(slot)];
    if (t < 0) {
      for (int32_t h = 0; h < c.num_kv_heads; ++h) {
        ASSERT_TRUE(std::all_of(kc + h * hs, kc + h * hs + d, is_poison)) << "k slot " << slot << " written";
        ASSERT_TRUE(std::all_of(vc + h * hs, vc + h * hs + d, is_poison)) << "v slot " << slot << " written";
      }
      continue;
    }
    const int32_t pos = k_pos[static_cast<size_t>(t)];
    for (int32_t h = 0; h < c.num_kv_heads; ++h) {
      const float* kin = k.data() + t * k_ts + h * k_hs;
      check_rotated_row(kin, kc + h * hs, d, rotary_dim, c.rope, cos.data() + pos * half,
                        sin.data() + pos * half, inv_freq, pos,
                        "k token " + std::to_string(t) + " head " + std::to_string(h));
      if (::testing::Test::HasFatalFailure()) return;
      ASSERT_EQ(std::memcmp(vc + h * hs, v.data() + t * v_ts + h * v_hs, static_cast<size_t>(d) * 4), 0)
          << "v token " << t << " head " << h;
    }
  }
  // With K and V in one allocation, the pad between one block's values and the next block is
  // never written (the allocation ends with the last block's values).
  for (int32_t b = 0; shared && b + 1 < layout.num_blocks; ++b) {
    const float* gap = k_cache + b * layout.block_stride() + 2 * layout.block_extent();
    ASSERT_TRUE(std::all_of(gap, gap + c.kv_pad, is_poison)) << "pad after block " << b << " written";
  }
  // q_out rows rotated; the gaps between q_out heads and tokens untouched.
  const float* qo = c.q_in_place ? q.data() : q_out.data();
  const int64_t out_ts = c.q_in_place ? q_ts : qo_ts, out_hs = c.q_in_place ? q_hs : qo_hs;
  for (int64_t t = 0; t < c.num_q_tokens; ++t) {
    const int32_t pos = c.q_positions_null ? k_pos[static_cast<size_t>(t)] : q_pos[static_cast<size_t>(t)];
    for (int32_t h = 0; h < c.num_heads; ++h) {
      check_rotated_row(q_in.data() + t * q_ts + h * q_hs, qo + t * out_ts + h * out_hs, d, rotary_dim,
                        c.rope, cos.data() + pos * half, sin.data() + pos * half, inv_freq, pos,
                        "q token " + std::to_string(t) + " head " + std::to_string(h));
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  if (c.q_in_place) {
    for (size_t i = 0; i < q.size(); ++i) {
      const int64_t in_token = static_cast<int64_t>(i) % q_ts, h = in_token / q_hs, e = in_token % q_hs;
      if (h >= c.num_heads || e >= d) {
        ASSERT_TRUE(same_bits(q[i], q_in[i])) << "q gap element " << i << " changed";
      }
    }
  } else {
    for (size_t i = 0; i < q_out.size(); ++i) {
      const int64_t in_token = static_cast<int64_t>(i) % qo_ts, h = in_token / qo_hs, e = in_token % qo_hs;
      if (h >= c.num_heads || e >= d) {
        ASSERT_TRUE(is_poison(q_out[i])) << "q_out gap element " << i << " written";
      }
    }
    ASSERT_EQ(std::memcmp(q.data(), q_in.data(), q.size() * 4), 0) << "q changed although q_out is apart";
  }
}

TEST(CpuKvAppend, LayoutsSpecsAndBlockSizes) {
  uint32_t seed = 100;
  for (RopeLayout rope : {RopeLayout::kNone, RopeLayout::kRotateHalf, RopeLayout::kInterleaved})
    for (int32_t head_dim : {64, 128})
      for (int32_t block_size : {5, 16, 32, 64, 128}) {
        AppendCase c;
        c.rope = rope;
        c.head_dim = head_dim;
        c.block_size = block_size;
        c.num_blocks = (48 + block_size - 1) / block_size + 1;
        c.spec = (seed % 3 == 0) ? default_spec(0) : (seed % 3 == 1) ? linear_spec(0) : llama3_spec(0);
        run_append(c, seed++);
        if (HasFatalFailure()) return;
      }
}

TEST(CpuKvAppend, EveryRopeTypeLongPositions) {
  uint32_t seed = 200;
  for (const RopeSpec& spec : {default_spec(0), linear_spec(0), llama3_spec(0)})
    for (RopeLayout rope : {RopeLayout::kRotateHalf, RopeLayout::kInterleaved}) {
      AppendCase c;
      c.rope = rope;
      c.spec = spec;
      c.head_dim = 128;
      c.max_position = 40000;  // llama3's low frequencies only act past its original 8192
      run_append(c, seed++);
      if (HasFatalFailure()) return;
    }
}

TEST(CpuKvAppend, PartialRotary) {
  // rotary_dim < head_dim: the tail of each head is copied (e.g. partial_rotary_factor 0.5 or 0.25).
  uint32_t seed = 300;
  for (RopeLayout rope : {RopeLayout::kRotateHalf, RopeLayout::kInterleaved})
    for (auto [head_dim, rotary_dim] : {std::pair{64, 32}, std::pair{128, 32}, std::pair{64, 2}, std::pair{64, 62}}) {
      AppendCase c;
      c.rope = rope;
      c.head_dim = head_dim;
      c.spec = (seed % 2 == 0) ? default_spec(rotary_dim) : llama3_spec(rotary_dim);
      run_append(c, seed++);
      if (HasFatalFailure()) return;
    }
}

TEST(CpuKvAppend, QueryInPlaceFewerQueryRowsAndSharedPositions) {
  AppendCase c;
  c.q_in_place = true;
  run_append(c, 400);
  c.q_in_place = false;
  c.num_q_tokens = 5;  // only some of the new tokens are queries (e.g. the rest are padding)
  c.q_positions_null = true;
  run_append(c, 401);
  c.q_in_place = true;
  c.rope = RopeLayout::kInterleaved;
  run_append(c, 402);
  c.num_q_tokens = 0;
  run_append(c, 403);
}

TEST(CpuKvAppend, KeysAndValuesInOneAllocation) {
  // [num_blocks, 2, block_size, kv_heads, head_dim] (the CUDA engine's layout) and a wider stride.
  uint32_t seed = 450;
  for (int64_t pad : {0, 40})
    for (int32_t block_size : {1, 16}) {
      AppendCase c;
      c.kv_pad = pad;
      c.block_size = block_size;
      c.num_blocks = 64 / block_size + 2;
      run_append(c, seed++);
      if (HasFatalFailure()) return;
    }
  PagedKvLayout narrow{4, 16, 2, 64};
  narrow.block_stride_elems = narrow.block_extent() - 8;  // blocks would overlap
  KvAppendCpuParams p;
  p.layout = narrow;
  const char* why = paged_kv_append_check(p);
  ASSERT_NE(why, nullptr);
  EXPECT_NE(std::string(why).find("cache strides (block 2040, token 128, head 64 elements) overlap"), std::string::npos)
      << why;
}

TEST(CpuKvAppend, HeadMajorBlocks) {
  // [num_blocks, kv_heads, block_size, head_dim] viewed through strides, alone and with K and V in
  // one allocation (whose pads must stay poison).
  uint32_t seed = 470;
  for (int64_t pad : {-1, 0, 40})
    for (int32_t block_size : {1, 16}) {
      AppendCase c;
      c.head_major = true;
      c.kv_pad = pad;
      c.block_size = block_size;
      c.num_blocks = 64 / block_size + 2;
      run_append(c, seed++);
      if (HasFatalFailure()) return;
    }
}

TEST(CpuKvAppend, OneTokenAndNoTokens) {
  AppendCase c;
  c.num_tokens = 1;
  c.num_q_tokens = 1;
  c.num_blocks = 1;
  c.block_size = 1;
  run_append(c, 500);
  c.num_tokens = 0;
  c.num_q_tokens = 0;
  run_append(c, 501);
}

// Fills a table the way apply_rope computes its angles (std::cos/std::sin in fp32), so the fused
// append and apply_rope see the same cos/sin values and must agree bit for bit.
void fp32_libm_table(const RopeSpec& spec, int32_t max_position, std::vector<float>& cos, std::vector<float>& sin) {
  const std::vector<float> inv = rope_inv_freq(spec);
  cos.resize(static_cast<size_t>(max_position) * inv.size());
  sin.resize(cos.size());
  for (int32_t p = 0; p < max_position; ++p)
    for (size_t i = 0; i < inv.size(); ++i) {
      const float angle = static_cast<float>(p) * inv[i];
      cos[static_cast<size_t>(p) * inv.size() + i] = std::cos(angle);
      sin[static_cast<size_t>(p) * inv.size() + i] = std::sin(angle);
    }
}

TEST(CpuKvAppend, EqualsApplyRopeThenReshapeAndCache) {
  std::mt19937 rng(600);
  std::normal_distribution<float> nd;
  const int32_t d = 64, kv_heads = 2, heads = 6, max_position = 600;
  const int64_t T = 23;
  PagedKvLayout layout{4, 8, kv_heads, d};
  const int64_t kv_row = layout.token_stride(), q_row = static_cast<int64_t>(heads) * d;
  struct Variant {
    RopeLayout rope;
    int32_t rotary_dim;
  };
  for (Variant var : {Variant{RopeLayout::kRotateHalf, 0}, Variant{RopeLayout::kInterleaved, 0},
                      Variant{RopeLayout::kRotateHalf, 16}, Variant{RopeLayout::kInterleaved, 48}}) {
    const RopeSpec spec = llama3_spec(var.rotary_dim == 0 ? d : var.rotary_dim);
    std::vector<float> cos, sin;
    fp32_libm_table(spec, max_position, cos, sin);
    const std::vector<float> inv = rope_inv_freq(spec);
    std::vector<float> k(static_cast<size_t>(T * kv_row)), v(k.size()), q(static_cast<size_t>(T * q_row));
    for (auto* buf : {&k, &v, &q})
      for (float& x : *buf) x = nd(rng);
    std::vector<int32_t> pos(static_cast<size_t>(T));
    for (auto& x : pos) x = std::uniform_int_distribution<int32_t>(0, max_position - 1)(rng);
    std::vector<int64_t> slots(static_cast<size_t>(layout.num_slots()));
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), rng);
    slots.resize(static_cast<size_t>(T));
    slots[4] = -1;

    // Two steps: apply_rope on copies, then reshape_and_cache.
    const size_t cache_elems = static_cast<size_t>(layout.num_slots() * kv_row);
    std::vector<float> kc_ref(cache_elems, poison()), vc_ref(cache_elems, poison());
    std::vector<float> k_rot = k, q_rot = q;
    apply_rope(k_rot.data(), T, kv_row, kv_heads, d, pos.data(), inv.data(), var.rope, var.rotary_dim);
    apply_rope(q_rot.data(), T, q_row, heads, d, pos.data(), inv.data(), var.rope, var.rotary_dim);
    reshape_and_cache(k_rot.data(), kv_row, v.data(), kv_row, slots.data(), T, layout, kc_ref.data(), vc_ref.data());

    // One fused append.
    std::vector<float> kc(cache_elems, poison()), vc(cache_elems, poison()), q_out(q.size(), poison());
    KvAppendCpuParams p;
    p.k = k.data();
    p.v = v.data();
    p.k_token_stride = p.v_token_stride = kv_row;
    p.k_head_stride = p.v_head_stride = d;
    p.slot_mapping = slots.data();
    p.num_tokens = T;
    p.k_cache = kc.data();
    p.v_cache = vc.data();
    p.layout = layout;
    p.q = q.data();
    p.q_out = q_out.data();
    p.q_token_stride = p.q_out_token_stride = q_row;
    p.q_head_stride = p.q_out_head_stride = d;
    p.num_q_tokens = T;
    p.num_heads = heads;
    p.rope = var.rope;
    p.rotary_dim = var.rotary_dim;
    p.cos = cos.data();
    p.sin = sin.data();
    p.max_position = max_position;
    p.k_positions = pos.data();
    ASSERT_EQ(paged_kv_append(p), nullptr);
    EXPECT_EQ(std::memcmp(kc.data(), kc_ref.data(), cache_elems * 4), 0) << "rope " << static_cast<int>(var.rope);
    EXPECT_EQ(std::memcmp(vc.data(), vc_ref.data(), cache_elems * 4), 0);
    EXPECT_EQ(std::memcmp(q_out.data(), q_rot.data(), q.size() * 4), 0);
  }
}

TEST(CpuKvAppend, PositionsAreClampedIntoTheTable) {
  const int32_t d = 16, max_position = 10;
  PagedKvLayout layout{1, 4, 1, d};
  const RopeSpec spec = default_spec(d);
  std::vector<float> cos(static_cast<size_t>(max_position * d / 2)), sin(cos.size());
  rope_cos_sin_table(spec, max_position, cos.data(), sin.data());
  std::vector<float> k(static_cast<size_t>(4 * d)), v(k.size());
  for (int i = 0; i < 4 * d; ++i) k[static_cast<size_t>(i)] = static_cast<float>(i % d) - 3.5f;
  const std::vector<int64_t> slots = {0, 1, 2, 3};
  // -7 reads row 0 like 0 does; 10 and 1000000 read row 9 like 9 does.
  auto append = [&](std::vector<int32_t> pos) {
    std::vector<float> kc(static_cast<size_t>(4 * d), poison()), vc(kc.size(), poison());
    KvAppendCpuParams p;
    p.k = k.data();
    p.v = v.data();
    p.k_token_stride = p.v_token_stride = d;
    p.k_head_stride = p.v_head_stride = d;
    p.slot_mapping = slots.data();
    p.num_tokens = 4;
    p.k_cache = kc.data();
    p.v_cache = vc.data();
    p.layout = layout;
    p.rope = RopeLayout::kRotateHalf;
    p.cos = cos.data();
    p.sin = sin.data();
    p.max_position = max_position;
    p.k_positions = pos.data();
    EXPECT_EQ(paged_kv_append(p), nullptr);
    return kc;
  };
  const auto clamped = append({-7, 10, 1000000, std::numeric_limits<int32_t>::min()});
  const auto in_range = append({0, 9, 9, 0});
  EXPECT_EQ(std::memcmp(clamped.data(), in_range.data(), clamped.size() * 4), 0);
  // Position 0 is the identity, 9 is not.
  EXPECT_EQ(std::memcmp(in_range.data(), k.data(), static_cast<size_t>(d) * 4), 0);
  EXPECT_NE(std::memcmp(in_range.data() + d, k.data() + d, static_cast<size_t>(d) * 4), 0);
}

TEST(CpuKvAppend, CheckNamesTheBadField) {
  const int32_t d = 64;
  std::vector<float> k(static_cast<size_t>(4 * d)), v(k.size()), q(k.size()), kc(static_cast<size_t>(64 * d)), vc(kc.size());
  std::vector<float> cos(static_cast<size_t>(8 * d / 2)), sin(cos.size());
  std::vector<int64_t> slots = {0, 5, -1, 63};
  std::vector<int32_t> pos = {0, 1, 2, 3};
  KvAppendCpuParams good;
  good.k = k.data();
  good.v = v.data();
  good.k_token_stride = good.v_token_stride = d;
  good.k_head_stride = good.v_head_stride = d;
  good.slot_mapping = slots.data();
  good.num_tokens = 4;
  good.k_cache = kc.data();
  good.v_cache = vc.data();
  good.layout = {4, 16, 1, d};
  good.q = q.data();
  good.q_out = q.data();
  good.q_token_stride = good.q_out_token_stride = d;
  good.q_head_stride = good.q_out_head_stride = d;
  good.num_q_tokens = 4;
  good.num_heads = 1;
  good.rope = RopeLayout::kRotateHalf;
  good.cos = cos.data();
  good.sin = sin.data();
  good.max_position = 8;
  good.k_positions = pos.data();
  ASSERT_EQ(paged_kv_append_check(good), nullptr);

  auto reason = [&](auto&& change) {
    KvAppendCpuParams p = good;
    change(p);
    const char* r = paged_kv_append_check(p);
    return std::string(r ? r : "(accepted)");
  };
  using P = KvAppendCpuParams;
  EXPECT_EQ(reason([](P& p) { p.rotary_dim = 7; }), "rotary_dim 7 must be even and <= head_dim 64");
  EXPECT_EQ(reason([](P& p) { p.rotary_dim = 66; }), "rotary_dim 66 must be even and <= head_dim 64");
  EXPECT_EQ(reason([](P& p) { p.rotary_dim = -2; }), "rotary_dim -2 must be even and <= head_dim 64");
  EXPECT_EQ(reason([](P& p) {
              p.layout.head_dim = 63;
              p.layout.num_blocks = 5;
            }),
            "rotary_dim 0 must be even and <= head_dim 63 (0 means head_dim)");
  EXPECT_EQ(reason([&](P& p) { slots[1] = 1234; p.layout.num_blocks = 64; p.layout.block_size = 16; }), "slot 1234 >= num_slots 1024 at token 1");
  slots[1] = 5;
  EXPECT_EQ(reason([](P& p) { p.layout.num_blocks = 2; }), "slot 63 >= num_slots 32 at token 3");
  EXPECT_EQ(reason([](P& p) { p.layout.block_size = 0; }),
            "layout: num_blocks 4, block_size 0, num_kv_heads 1 and head_dim 64 must all be > 0");
  EXPECT_EQ(reason([](P& p) { p.num_tokens = -1; }), "num_tokens -1 must be >= 0");
  EXPECT_EQ(reason([](P& p) { p.k = nullptr; }), "k is null with num_tokens 4");
  EXPECT_EQ(reason([](P& p) { p.v_cache = nullptr; }), "v_cache is null with num_tokens 4");
  EXPECT_EQ(reason([](P& p) { p.slot_mapping = nullptr; }), "slot_mapping is null with num_tokens 4");
  EXPECT_EQ(reason([](P& p) { p.rope = static_cast<RopeLayout>(3); }),
            "rope 3 is not kNone (0), kRotateHalf (1) or kInterleaved (2)");
  EXPECT_EQ(reason([](P& p) { p.sin = nullptr; }), "cos and sin tables must be set for rope 1");
  EXPECT_EQ(reason([](P& p) { p.max_position = 0; }), "max_position 0 must be > 0 (rows of cos/sin)");
  EXPECT_EQ(reason([](P& p) { p.k_positions = nullptr; }), "k_positions is null with num_tokens 4");
  EXPECT_EQ(reason([](P& p) {
              p.k_positions = nullptr;
              p.num_tokens = 0;
            }),
            "q_positions and k_positions are both null");
  EXPECT_EQ(reason([](P& p) { p.num_q_tokens = 5; }),
            "num_q_tokens 5 > num_tokens 4 while q_positions is null (q would read k_positions past its end)");
  EXPECT_EQ(reason([](P& p) { p.q_out = nullptr; }), "q_out is null while q is set");
  EXPECT_EQ(reason([](P& p) { p.num_heads = 0; }), "num_heads 0 must be > 0 while q is set");
  EXPECT_EQ(reason([](P& p) { p.num_q_tokens = -2; }), "num_q_tokens -2 must be >= 0");
  EXPECT_EQ(reason([](P& p) { p.q_out_head_stride = 65; }),
            "q_out is q, so q_out_token_stride 64 and q_out_head_stride 65 must equal q_token_stride 64 and "
            "q_head_stride 64");

  // What is fine: no rope needs no tables or positions; no q needs no q fields; nothing to do.
  EXPECT_EQ(reason([](P& p) {
              p.rope = RopeLayout::kNone;
              p.cos = p.sin = nullptr;
              p.k_positions = nullptr;
              p.rotary_dim = 7;
            }),
            "(accepted)");
  EXPECT_EQ(reason([](P& p) {
              p.q = nullptr;
              p.q_out = nullptr;
              p.num_heads = 0;
            }),
            "(accepted)");
  EXPECT_EQ(reason([](P& p) {
              p.num_tokens = 0;
              p.num_q_tokens = 0;
              p.k = p.v = nullptr;
              p.k_cache = nullptr;
            }),
            "(accepted)");

  // A rejected append writes nothing and returns the same reason.
  std::fill(kc.begin(), kc.end(), poison());
  KvAppendCpuParams bad = good;
  bad.rotary_dim = 7;
  const char* r = paged_kv_append(bad);
  ASSERT_NE(r, nullptr);
  EXPECT_STREQ(r, "rotary_dim 7 must be even and <= head_dim 64");
  EXPECT_TRUE(std::all_of(kc.begin(), kc.end(), is_poison));
}

TEST(CpuRopeTable, CorrectlyRoundedCosSinOfTheFp32Angle) {
  const int32_t max_position = 3000;
  for (const RopeSpec& spec : {default_spec(64), llama3_spec(128)}) {
    const std::vector<float> inv = rope_inv_freq(spec);
    const size_t half = inv.size();
    std::vector<float> cos(max_position * half, poison()), sin(cos.size(), poison());
    rope_cos_sin_table(spec, max_position, cos.data(), sin.data());
    int64_t off_by_one_cosf = 0;
    for (int32_t p = 0; p < max_position; ++p)
      for (size_t i = 0; i < half; ++i) {
        const float angle = static_cast<float>(p) * inv[i];
        const size_t at = static_cast<size_t>(p) * half + i;
        // long double: a wider evaluation than the implementation's double.
        ASSERT_TRUE(same_bits(cos[at], static_cast<float>(std::cos(static_cast<long double>(angle)))))
            << "pos " << p << " pair " << i;
        ASSERT_TRUE(same_bits(sin[at], static_cast<float>(std::sin(static_cast<long double>(angle)))))
            << "pos " << p << " pair " << i;
        // The fp32 libm is at most an ulp away.
        ASSERT_LE(std::abs(cos[at] - std::cos(angle)), std::ldexp(1.0f, -24)) << p << " " << i;
        off_by_one_cosf += cos[at] != std::cos(angle);
      }
    EXPECT_EQ(cos[0], 1.0f);
    EXPECT_EQ(sin[0], 0.0f);
    RecordProperty("cosf_differs", std::to_string(off_by_one_cosf));
  }
}

TEST(CpuRope, InterleavedAndPartialApplyRopeMatchTheRowRotation) {
  // apply_rope with the new layout arguments rotates each head as rope_rotate_row does; the default
  // arguments keep HF Llama's rotate-half over the whole head.
  std::mt19937 rng(700);
  std::normal_distribution<float> nd;
  const int32_t d = 32, heads = 3;
  const int64_t T = 5, stride = heads * d + 4;
  std::vector<float> x(static_cast<size_t>(T * stride));
  for (float& e : x) e = nd(rng);
  std::vector<int32_t> pos = {0, 3, 17, 250, 4095};
  for (auto [layout, rotary_dim] : {std::pair{RopeLayout::kRotateHalf, 0}, std::pair{RopeLayout::kInterleaved, 0},
                                    std::pair{RopeLayout::kInterleaved, 12}, std::pair{RopeLayout::kRotateHalf, 20}}) {
    const RopeSpec spec = default_spec(rotary_dim == 0 ? d : rotary_dim);
    const std::vector<float> inv = rope_inv_freq(spec);
    std::vector<float> y = x;
    if (layout == RopeLayout::kRotateHalf && rotary_dim == 0)
      apply_rope(y.data(), T, stride, heads, d, pos.data(), inv.data());
    else
      apply_rope(y.data(), T, stride, heads, d, pos.data(), inv.data(), layout, rotary_dim);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<float> c(inv.size()), s(inv.size());
      for (size_t i = 0; i < inv.size(); ++i) {
        c[i] = std::cos(static_cast<float>(pos[static_cast<size_t>(t)]) * inv[i]);
        s[i] = std::sin(static_cast<float>(pos[static_cast<size_t>(t)]) * inv[i]);
      }
      for (int32_t h = 0; h < heads; ++h)
        check_rotated_row(x.data() + t * stride + h * d, y.data() + t * stride + h * d, d,
                          rotary_dim == 0 ? d : rotary_dim, layout, c.data(), s.data(), inv,
                          pos[static_cast<size_t>(t)], "token " + std::to_string(t));
      for (int64_t e = heads * d; e < stride; ++e)
        ASSERT_TRUE(same_bits(y[static_cast<size_t>(t * stride + e)], x[static_cast<size_t>(t * stride + e)]));
    }
  }
}

TEST(CpuRope, Llama3InvFreqIsTransformersFp32) {
  // Llama 3.1's rope (theta 500000, head_dim 128, factor 8, low 1, high 4, original 8192) as
  // transformers' _compute_llama3_parameters evaluates it: every step on fp32 tensors (wavelen,
  // smooth_factor and the blend included). Literals from Python, each op rounded to fp32 through
  // struct.pack('f'), pow taken as correctly rounded:
  //   inv = f32(1 / f32(500000 ** f32(2i / 128))); wavelen = f32(f32(2 pi) / inv);
  //   wavelen > 8192: f32(inv / 8); wavelen < 2048: inv;
  //   else s = f32(f32(f32(8192 / wavelen) - 1) / 3), f32(f32(f32(f32(1 - s) * inv) / 8) + f32(s * inv)).
  // The medium band (pairs 29..34) is where a double-precision blend would differ by an ulp (33 and
  // 34; against exact math HF's value at 33 is 3.5 ulps low, which is what the model was run with).
  const std::vector<float> inv = rope_inv_freq(llama3_spec(128));
  ASSERT_EQ(inv.size(), 64u);
  const std::pair<int, float> hf[] = {
      {0, 0x1p+0f},             {10, 0x1.078d4p-3f},      {28, 0x1.a4ee4p-9f},
      {29, 0x1.1bfa0cp-9f},     {31, 0x1.c12f3cp-11f},    {33, 0x1.47e21p-12f},
      {34, 0x1.765ba4p-13f},    {35, 0x1.90d10cp-14f},    {63, 0x1.4985fep-22f},
  };
  for (auto [i, want] : hf) EXPECT_EQ(inv[static_cast<size_t>(i)], want) << "pair " << i;
}

}  // namespace
}  // namespace tessera::kernels::cpu
