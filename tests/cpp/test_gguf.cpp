// src/model/gguf: a GGUF file written here byte by byte (every metadata type, nested arrays, plain
// and quantized tensors, a custom alignment) parses to what was written; every prefix of it and
// each malformed variant (the shapes of the GGUF parser CVEs: counts and lengths past the end,
// huge dims, unknown types, misaligned, out-of-range and overlapping tensors, duplicates) is one
// error naming the file, never a crash or an allocation the file cannot back.
#include "src/model/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tests/cpp/gguf_test_writer.h"

namespace tessera {
namespace {

// A valid file: every metadata type, an array of strings, an array of arrays, alignment 64, an F32
// [3, 5] tensor at 0 and a Q8_0 [64, 2] tensor (4 blocks of 34 bytes) at 64.
std::vector<uint8_t> valid_file() {
  GgufWriter w;
  w.header(2, 16);
  w.kv_str("general.architecture", "llama");
  w.kv_u32("general.alignment", 64);
  w.str("u8"), w.put<uint32_t>(0), w.put<uint8_t>(200);
  w.str("i8"), w.put<uint32_t>(1), w.put<int8_t>(-5);
  w.str("u16"), w.put<uint32_t>(2), w.put<uint16_t>(60000);
  w.str("i16"), w.put<uint32_t>(3), w.put<int16_t>(-30000);
  w.str("i32"), w.put<uint32_t>(5), w.put<int32_t>(-7);
  w.str("f32"), w.put<uint32_t>(6), w.put<float>(0.5f);
  w.str("bool"), w.put<uint32_t>(7), w.put<uint8_t>(1);
  w.str("u64"), w.put<uint32_t>(10), w.put<uint64_t>(1ull << 40);
  w.str("i64"), w.put<uint32_t>(11), w.put<int64_t>(-(1ll << 40));
  w.str("f64"), w.put<uint32_t>(12), w.put<double>(1e-6);
  w.str("tokens"), w.put<uint32_t>(9), w.put<uint32_t>(8), w.put<uint64_t>(3);
  w.str("a"), w.str("bc"), w.str("");
  w.str("nested"), w.put<uint32_t>(9), w.put<uint32_t>(9), w.put<uint64_t>(2);
  w.put<uint32_t>(4), w.put<uint64_t>(1), w.put<uint32_t>(9);
  w.put<uint32_t>(4), w.put<uint64_t>(0);
  w.str("empty"), w.put<uint32_t>(9), w.put<uint32_t>(6), w.put<uint64_t>(0);
  w.kv_u32("llama.block_count", 2);
  w.tensor("a", {3, 5}, 0, 0);
  w.tensor("q", {64, 2}, 8, 64);
  return w.data(64, 64 + 4 * 34);
}

std::string error_of(const std::vector<uint8_t>& bytes) {
  auto f = parse_gguf(bytes.data(), bytes.size(), "m.gguf");
  EXPECT_FALSE(f.has_value());
  if (f.has_value()) return "";
  EXPECT_EQ(f.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(f.status().message().find("m.gguf"), std::string::npos) << f.status().message();
  return f.status().message();
}

#define EXPECT_ERROR_HAS(bytes, text)                                 \
  do {                                                                \
    const std::string m_ = error_of(bytes);                           \
    EXPECT_NE(m_.find(text), std::string::npos) << "message: " << m_; \
  } while (0)

TEST(Gguf, ParsesWhatWasWritten) {
  const std::vector<uint8_t> bytes = valid_file();
  ASSERT_TRUE(looks_like_gguf(bytes.data(), bytes.size()));
  auto f = parse_gguf(bytes.data(), bytes.size(), "m.gguf");
  ASSERT_TRUE(f.has_value()) << f.status().message();
  EXPECT_EQ(f->version, 3u);
  EXPECT_EQ(f->alignment, 64u);
  EXPECT_EQ(f->data_offset % 64, 0u);
  EXPECT_EQ(*f->meta("general.architecture"), "llama");
  EXPECT_EQ(*f->meta("u8"), 200);
  EXPECT_EQ(*f->meta("i8"), -5);
  EXPECT_EQ(*f->meta("u16"), 60000);
  EXPECT_EQ(*f->meta("i16"), -30000);
  EXPECT_EQ(*f->meta("i32"), -7);
  EXPECT_EQ(*f->meta("f32"), 0.5);
  EXPECT_EQ(*f->meta("bool"), true);
  EXPECT_EQ(*f->meta("u64"), 1ull << 40);
  EXPECT_EQ(*f->meta("i64"), -(1ll << 40));
  EXPECT_EQ(*f->meta("f64"), 1e-6);
  EXPECT_EQ(*f->meta("tokens"), Json::array({"a", "bc", ""}));
  EXPECT_EQ(*f->meta("nested"), Json::parse("[[9], []]"));
  EXPECT_EQ(*f->meta("empty"), Json::array());
  EXPECT_EQ(f->meta("absent"), nullptr);
  ASSERT_EQ(f->tensors.size(), 2u);
  const GgufTensorInfo* a = f->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->extent, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(a->type, GgmlType::kF32);
  EXPECT_EQ(a->offset, f->data_offset);
  EXPECT_EQ(a->bytes, 60u);
  const GgufTensorInfo* q = f->find("q");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->num_elements(), 128);
  EXPECT_EQ(q->bytes, 4u * 34u);
  EXPECT_EQ(q->offset, f->data_offset + 64);
  EXPECT_EQ(ggml_type_info(12)->block_bytes, 144u);  // Q4_K
  EXPECT_FALSE(ggml_type_info(99).has_value());
}

TEST(Gguf, EveryPrefixIsOneError) {
  const std::vector<uint8_t> bytes = valid_file();
  auto whole = parse_gguf(bytes.data(), bytes.size(), "m.gguf");
  ASSERT_TRUE(whole.has_value());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto f = parse_gguf(bytes.data(), n, "m.gguf");
    ASSERT_FALSE(f.has_value()) << "a prefix of " << n << " bytes parsed";
    ASSERT_FALSE(f.status().message().empty());
  }
}

TEST(Gguf, MalformedHeaders) {
  GgufWriter w;
  w.put<uint32_t>(0x12345678);
  EXPECT_ERROR_HAS(w.raw(), "not a GGUF file");
  for (uint32_t version : {1u, 4u}) {
    GgufWriter v;
    v.header(0, 0, version);
    EXPECT_ERROR_HAS(v.raw(), "GGUF version " + std::to_string(version) + " is not supported");
  }
  GgufWriter huge_kv;  // a count no file could hold: refused before any allocation
  huge_kv.header(0, 1ull << 60);
  EXPECT_ERROR_HAS(huge_kv.raw(), "entries cannot fit");
  GgufWriter huge_tensors;
  huge_tensors.header(1ull << 62, 0);
  EXPECT_ERROR_HAS(huge_tensors.raw(), "entries cannot fit");
}

TEST(Gguf, MalformedMetadata) {
  GgufWriter long_key;
  long_key.header(0, 1);
  long_key.put<uint64_t>(~0ull);                         // key length
  long_key.put<uint64_t>(0), long_key.put<uint64_t>(0);  // enough bytes left for one entry
  EXPECT_ERROR_HAS(long_key.raw(), "runs past the end of the file");
  GgufWriter long_value;
  long_value.header(0, 1);
  long_value.str("k"), long_value.put<uint32_t>(8), long_value.put<uint64_t>(1ull << 40);
  EXPECT_ERROR_HAS(long_value.raw(), "runs past the end of the file");
  GgufWriter unknown;
  unknown.header(0, 1);
  unknown.str("k"), unknown.put<uint32_t>(13), unknown.put<uint64_t>(0);
  EXPECT_ERROR_HAS(unknown.raw(), "unknown value type 13");
  GgufWriter huge_array;
  huge_array.header(0, 1);
  huge_array.str("k"), huge_array.put<uint32_t>(9), huge_array.put<uint32_t>(4),
      huge_array.put<uint64_t>(1ull << 61);
  EXPECT_ERROR_HAS(huge_array.raw(), "entries cannot fit");
  GgufWriter deep;  // arrays of arrays of ... of arrays
  deep.header(0, 1);
  deep.str("k");
  deep.put<uint32_t>(9);
  for (int i = 0; i < 6; ++i) deep.put<uint32_t>(9), deep.put<uint64_t>(1);
  deep.put<uint32_t>(4), deep.put<uint64_t>(0);
  EXPECT_ERROR_HAS(deep.raw(), "arrays nested deeper than 4");
  GgufWriter bad_bool;
  bad_bool.header(0, 1);
  bad_bool.str("k"), bad_bool.put<uint32_t>(7), bad_bool.put<uint8_t>(2);
  EXPECT_ERROR_HAS(bad_bool.raw(), "a bool must be 0 or 1");
  GgufWriter twice;
  twice.header(0, 2);
  twice.kv_u32("k", 1);
  twice.kv_u32("k", 2);
  EXPECT_ERROR_HAS(twice.raw(), "metadata key 'k' appears twice");
  for (uint32_t alignment : {0u, 3u, 1u << 21}) {
    GgufWriter a;
    a.header(0, 1);
    a.kv_u32("general.alignment", alignment);
    EXPECT_ERROR_HAS(a.raw(), "'general.alignment' must be a power of two");
  }
}

// A file with one tensor entry written by `entry` over 256 bytes of data.
std::vector<uint8_t> one_tensor(const std::function<void(GgufWriter&)>& entry,
                                size_t data_bytes = 256) {
  GgufWriter w;
  w.header(1, 0);
  entry(w);
  return w.data(32, data_bytes);
}

TEST(Gguf, MalformedTensors) {
  EXPECT_ERROR_HAS(one_tensor([](GgufWriter& w) { w.tensor("t", {}, 0, 0); }), "0 dimensions");
  EXPECT_ERROR_HAS(one_tensor([](GgufWriter& w) {
                     w.tensor("t", {1, 1, 1, 1, 1}, 0, 0);
                   }),
                   "5 dimensions");
  EXPECT_ERROR_HAS(one_tensor([](GgufWriter& w) {
                     w.tensor("t", {4, 0}, 0, 0);
                   }),
                   "extent 0 of dimension 1");
  EXPECT_ERROR_HAS(one_tensor([](GgufWriter& w) {
                     w.tensor("t", {1ull << 40, 1ull << 40}, 0, 0);
                   }),
                   "makes the element count overflow");
  EXPECT_ERROR_HAS(one_tensor([](GgufWriter& w) { w.tensor("t", {4}, 99, 0); }),
                   "ggml type 99 is not supported");
  EXPECT_ERROR_HAS(one_tensor([](GgufWriter& w) { w.tensor("t", {33}, 2, 0); }),
                   "Q4_0 packs 32 elements a block, but its rows have 33");
  EXPECT_ERROR_HAS(one_tensor([](GgufWriter& w) { w.tensor("t", {4}, 0, 8); }),
                   "offset 8 is not a multiple of the alignment 32");
  EXPECT_ERROR_HAS(one_tensor([](GgufWriter& w) { w.tensor("t", {64}, 0, 32); }),
                   "runs past the end");  // 256 > 224
  EXPECT_ERROR_HAS(one_tensor([](GgufWriter& w) { w.tensor("t", {4}, 0, 1ull << 63); }),
                   "runs past the end");
  EXPECT_ERROR_HAS(one_tensor([](GgufWriter& w) { w.tensor("t", {1ull << 60}, 0, 0); }),
                   "runs past the end");
  EXPECT_ERROR_HAS(one_tensor([](GgufWriter& w) { w.tensor("t", {1ull << 62}, 0, 0); }),
                   "byte size overflows");
  GgufWriter two;  // overlapping, and duplicated
  two.header(2, 0);
  two.tensor("a", {16}, 0, 0);
  two.tensor("b", {16}, 0, 64);
  auto ok = two.data(32, 128);
  EXPECT_TRUE(parse_gguf(ok.data(), ok.size(), "m.gguf").has_value());
  GgufWriter overlap;
  overlap.header(2, 0);
  overlap.tensor("a", {16}, 0, 32);
  overlap.tensor("b", {16}, 0, 0);  // 64 bytes at 0 run into a's
  EXPECT_ERROR_HAS(overlap.data(32, 128), "tensors 'b' and 'a' overlap");
  GgufWriter dup;
  dup.header(2, 0);
  dup.tensor("a", {4}, 0, 0);
  dup.tensor("a", {4}, 0, 32);
  EXPECT_ERROR_HAS(dup.data(32, 128), "tensor 'a' appears twice");
}

}  // namespace
}  // namespace tessera
