// src/model/gguf_dequant.cpp — ggml's block formats to fp32 (gguf_dequant.h).
//
// Block layouts (bytes, in order; "f16" is an IEEE half, little-endian):
//   Q4_0  (32 elements, 18 B): f16 d, u8 qs[16]             x = (nibble - 8) * d
//   Q4_1  (32, 20 B):  f16 d, f16 m, u8 qs[16]              x = nibble * d + m
//   Q5_0  (32, 22 B):  f16 d, u8 qh[4], u8 qs[16]           x = (nibble | high bit << 4) - 16) * d
//   Q5_1  (32, 24 B):  f16 d, f16 m, u8 qh[4], u8 qs[16]    x = (nibble | high bit << 4) * d + m
//   Q8_0  (32, 34 B):  f16 d, i8 qs[32]                     x = q * d
// In the 32-element formats byte j's low nibble is element j and its high nibble element j + 16;
// bit j of qh is element j's fifth bit, bit j + 16 element j + 16's.
// The K formats have super-blocks of 256 elements in sub-blocks of 16 or 32, whose scales (and
// minimums) are themselves quantized against the super-block's f16 d (and dmin):
//   Q2_K  (84 B):  u8 scales[16] (low nibble scale, high nibble min), u8 qs[64] (2 bits), f16 d, dmin
//   Q3_K  (110 B): u8 hmask[32], u8 qs[64] (2 low bits), u8 scales[12] (sixteen 6-bit scales), f16 d
//   Q4_K  (144 B): f16 d, f16 dmin, u8 scales[12] (eight 6-bit scale/min pairs), u8 qs[128]
//   Q5_K  (176 B): f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
//   Q6_K  (210 B): u8 ql[128], u8 qh[64], i8 scales[16], f16 d
// Each loop below walks its super-block in the order ggml's reference does, element for element.
#include "src/model/gguf_dequant.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "src/core/thread_pool.h"
#include "tessera/dtype.h"

namespace tessera {
namespace {

float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void q4_0(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void q4_1(const uint8_t* b, float* y) {
  const float d = f16_at(b), m = f16_at(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// The 5-bit values of a Q5_0 / Q5_1 block: low nibbles from qs, fifth bits from qh.
void q5_values(const uint8_t* qh_bytes, const uint8_t* qs, int (&v)[32]) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) {
    v[j] = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) << 4) & 0x10);
    v[j + 16] = (qs[j] >> 4) | static_cast<int>((qh >> (j + 12)) & 0x10);
  }
}

void q5_0(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  int v[32];
  q5_values(b + 2, b + 6, v);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(v[j] - 16) * d;
}

void q5_1(const uint8_t* b, float* y) {
  const float d = f16_at(b), m = f16_at(b + 2);
  int v[32];
  q5_values(b + 4, b + 8, v);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(v[j]) * d + m;
}

void q8_0(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  const auto* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

void q2_k(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* q = b + 16;
  const float d = f16_at(b + 80), dmin = f16_at(b + 82);
  int is = 0;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t sc = scales[is++];
        const float dl = d * static_cast<float>(sc & 0x0F), ml = dmin * static_cast<float>(sc >> 4);
        for (int l = 0; l < 16; ++l)
          *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
      }
    }
    q += 32;
  }
}

void q3_k(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* q = b + 32;
  const float d = f16_at(b + 108);
  // Sixteen 6-bit scales: the low 4 bits of scale i in byte i % 8 (low nibble for i < 8, high
  // nibble after), the top 2 bits in bytes 8..11, two bits per scale.
  const uint8_t* s = b + 96;
  int scales[16];
  for (int i = 0; i < 16; ++i) {
    const int low = i < 8 ? s[i] & 0x0F : s[i - 8] >> 4;
    const int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    scales[i] = (low | (high << 4)) - 32;
  }
  int is = 0;
  uint8_t m = 1;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const float dl = d * static_cast<float>(scales[is++]);
        for (int l = 16 * half; l < 16 * half + 16; ++l) {
          const int v = ((q[l] >> shift) & 3) - ((hmask[l] & m) ? 0 : 4);
          *y++ = dl * static_cast<float>(v);
        }
      }
      m = static_cast<uint8_t>(m << 1);
    }
    q += 32;
  }
}

// Scale and minimum j (0..7) of a Q4_K / Q5_K super-block: 6 bits each, packed in 12 bytes.
void scale_min_k4(int j, const uint8_t* s, int& scale, int& min) {
  if (j < 4) {
    scale = s[j] & 63;
    min = s[j + 4] & 63;
  } else {
    scale = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void q4_k(const uint8_t* b, float* y) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int is = 0; is < 8; is += 2) {
    int sc, m;
    scale_min_k4(is, scales, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    scale_min_k4(is + 1, scales, sc, m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0F) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    q += 32;
  }
}

void q5_k(const uint8_t* b, float* y) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int is = 0; is < 8; is += 2) {
    int sc, m;
    scale_min_k4(is, scales, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    scale_min_k4(is + 1, scales, sc, m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; ++l)
      *y++ = d1 * static_cast<float>((ql[l] & 0x0F) + ((qh[l] & u1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l)
      *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    ql += 32;
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
}

void q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = f16_at(b + 208);
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

using BlockFn = void (*)(const uint8_t*, float*);

BlockFn block_fn(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0: return q4_0;
    case GgmlType::kQ4_1: return q4_1;
    case GgmlType::kQ5_0: return q5_0;
    case GgmlType::kQ5_1: return q5_1;
    case GgmlType::kQ8_0: return q8_0;
    case GgmlType::kQ2_K: return q2_k;
    case GgmlType::kQ3_K: return q3_k;
    case GgmlType::kQ4_K: return q4_k;
    case GgmlType::kQ5_K: return q5_k;
    case GgmlType::kQ6_K: return q6_k;
    default: return nullptr;
  }
}

}  // namespace

Status dequantize_blocks(GgmlType type, const uint8_t* src, int64_t num_blocks, float* dst) {
  const auto info = ggml_type_info(static_cast<uint32_t>(type));
  if (!info) return unimplemented("ggml type " + std::to_string(static_cast<uint32_t>(type)) + " cannot be dequantized");
  const size_t n = static_cast<size_t>(num_blocks);
  switch (type) {
    case GgmlType::kF32: std::memcpy(dst, src, n * 4); return Status::ok();
    case GgmlType::kF16: convert_to_f32(DType::kF16, src, dst, n); return Status::ok();
    case GgmlType::kBF16: convert_to_f32(DType::kBF16, src, dst, n); return Status::ok();
    default: break;
  }
  const BlockFn fn = block_fn(type);
  if (!fn) return unimplemented(std::string("ggml type ") + info->name + " cannot be dequantized");
  for (size_t i = 0; i < n; ++i) fn(src + i * info->block_bytes, dst + i * info->block_size);
  return Status::ok();
}

Status dequantize_tensor(const GgufTensorInfo& info, const uint8_t* src, float* dst) {
  const auto type = ggml_type_info(static_cast<uint32_t>(info.type));
  if (!type) return unimplemented(info.name + ": unknown ggml type " + std::to_string(static_cast<uint32_t>(info.type)));
  const int64_t blocks = info.num_elements() / type->block_size;  // whole blocks: parse_gguf checked
  // ~64 KiB of output per chunk: large enough that the pool's overhead vanishes.
  const int64_t grain = std::max<int64_t>(1, (1 << 14) / type->block_size);
  Status first = Status::ok();
  std::mutex mu;
  parallel_for(blocks, grain, [&](int64_t b, int64_t e) {
    Status st = dequantize_blocks(info.type, src + static_cast<size_t>(b) * type->block_bytes, e - b,
                                  dst + static_cast<size_t>(b) * type->block_size);
    if (!st.is_ok()) {
      std::lock_guard<std::mutex> lock(mu);
      if (first.is_ok()) first = st;
    }
  });
  if (!first.is_ok()) return Status(first.code(), info.name + ": " + first.message());
  return Status::ok();
}

}  // namespace tessera
