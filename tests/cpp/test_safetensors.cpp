// tests/cpp/test_safetensors.cpp — the safetensors writer and reader round-trip every dtype, and
// the header parser rejects each kind of corrupt file with a message naming the file and the
// problem (and never crashes: a fuzz loop mutates a valid file 2,000 times).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "src/model/safetensors.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// A fresh folder per test under the system temp dir, removed afterwards.
class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("tessera_st_" + std::string(info->name()) + "_" +
                                        std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// A safetensors file from a header text and a data section, bypassing the writer's checks.
std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  for (size_t i = 0; i < data_bytes; ++i) out[8 + header.size() + i] = static_cast<uint8_t>(i);
  return out;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

Expected<SafetensorsHeader> parse_bytes(const std::vector<uint8_t>& b,
                                        const std::string& source = "bad.safetensors") {
  return parse_safetensors_header(b.data(), b.size(), b.size(), source);
}

// Asserts that parsing fails with `code` and a message naming the file and containing `what`.
void expect_header_error(const std::vector<uint8_t>& bytes, StatusCode code,
                         const std::string& what) {
  Expected<SafetensorsHeader> h = parse_bytes(bytes);
  ASSERT_FALSE(h.has_value()) << "parsed a corrupt header";
  EXPECT_EQ(h.status().code(), code) << h.status().to_string();
  EXPECT_EQ(h.status().message().rfind("bad.safetensors: ", 0), 0u) << h.status().message();
  EXPECT_CONTAINS(h.status().message(), what);
}

// Byte i of tensor t: distinct per tensor so a swapped or shifted tensor is caught.
uint8_t pattern(size_t t, size_t i) { return static_cast<uint8_t>(i * 7 + t * 31 + 1); }

std::vector<TensorSpec> sample_specs() {
  return {{"model.embed_tokens.weight", DType::kBF16, {5, 3}},
          {"model.norm.weight", DType::kF32, {3}},
          {"ids", DType::kI64, {2, 2}},
          {"half", DType::kF16, {7}},  // odd byte count: the next tensor starts unaligned
          {"bytes", DType::kI8, {3, 1, 2}},
          {"ints", DType::kI32, {4}},
          {"empty", DType::kF32, {0, 4}},
          {"scalar", DType::kF32, {}}};
}

Status fill_pattern(size_t index, void* dst, size_t nbytes) {
  auto* p = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < nbytes; ++i) p[i] = pattern(index, i);
  return Status::ok();
}

TEST_F(SafetensorsTest, WriteThenReadBack) {
  const auto specs = sample_specs();
  const std::string file = path("model.safetensors");
  ASSERT_TRUE(write_safetensors(file, specs, fill_pattern, {{"format", "pt"}, {"note", "hi"}})
                  .is_ok());

  Expected<SafetensorsFile> f = SafetensorsFile::open(file);
  ASSERT_TRUE(f.has_value()) << f.status().to_string();
  EXPECT_EQ(f->path(), file);
  const SafetensorsHeader& h = f->header();
  EXPECT_EQ(h.data_offset % 8, 0u);  // header padded so the data section is 8-aligned
  EXPECT_EQ(h.data_offset, 8 + h.header_size);
  EXPECT_EQ(h.metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "hi"}}));
  ASSERT_EQ(h.entries.size(), specs.size());
  for (size_t i = 1; i < h.entries.size(); ++i)
    EXPECT_LE(h.entries[i - 1].begin, h.entries[i].begin);
  EXPECT_EQ(fs::file_size(file), h.data_offset + h.entries.back().end);

  const char* names[] = {"BF16", "F32", "I64", "F16", "I8", "I32", "F32", "F32"};
  for (size_t t = 0; t < specs.size(); ++t) {
    const SafetensorsEntry* e = f->find(specs[t].name);
    ASSERT_NE(e, nullptr) << specs[t].name;
    EXPECT_EQ(e->dtype_name, names[t]);
    EXPECT_EQ(e->dtype, specs[t].dtype);
    EXPECT_EQ(e->shape, specs[t].shape);
    EXPECT_EQ(e->end - e->begin, specs[t].nbytes());
    Expected<Tensor> tensor = f->get(specs[t].name);
    ASSERT_TRUE(tensor.has_value()) << tensor.status().to_string();
    EXPECT_EQ(tensor->dtype(), specs[t].dtype);
    EXPECT_EQ(tensor->shape(), specs[t].shape);
    EXPECT_TRUE(tensor->is_contiguous());
    ASSERT_EQ(tensor->nbytes(), specs[t].nbytes());
    const auto* bytes = static_cast<const uint8_t*>(tensor->data_ptr());
    for (size_t i = 0; i < tensor->nbytes(); ++i)
      ASSERT_EQ(bytes[i], pattern(t, i)) << specs[t].name << " byte " << i;
  }
  EXPECT_EQ(sample_specs()[0].nbytes(), 30u);
  EXPECT_EQ(sample_specs()[6].nbytes(), 0u);
  EXPECT_EQ(sample_specs()[7].nbytes(), 4u);
}

TEST_F(SafetensorsTest, TensorKeepsTheMappingAlive) {
  const std::string file = path("a.safetensors");
  ASSERT_TRUE(write_safetensors(file, {{"w", DType::kF32, {4}}}, [](size_t, void* dst, size_t) {
                const float v[4] = {1.5f, -2.0f, 3.25f, 0.0f};
                std::memcpy(dst, v, sizeof v);
                return Status::ok();
              }).is_ok());
  Tensor t;
  {
    Expected<SafetensorsFile> f = SafetensorsFile::open(file);
    ASSERT_TRUE(f.has_value());
    Expected<Tensor> got = f->get("w");
    ASSERT_TRUE(got.has_value());
    t = *got;
  }  // the SafetensorsFile is gone; the tensor still holds the mapping
  EXPECT_EQ(t.data<float>()[0], 1.5f);
  EXPECT_EQ(t.data<float>()[2], 3.25f);
}

TEST_F(SafetensorsTest, GetErrors) {
  // U8 is a valid safetensors dtype that tessera cannot compute with.
  const std::vector<uint8_t> bytes = make_file(
      R"({"mask":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"__metadata__":{}})", 4);
  const std::string file = path("u8.safetensors");
  write_bytes(file, bytes);
  Expected<SafetensorsFile> f = SafetensorsFile::open(file);
  ASSERT_TRUE(f.has_value()) << f.status().to_string();
  ASSERT_NE(f->find("mask"), nullptr);
  EXPECT_FALSE(f->find("mask")->dtype.has_value());
  Expected<Tensor> t = f->get("mask");
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.status().code(), StatusCode::kUnimplemented);
  EXPECT_CONTAINS(t.status().message(), file);
  EXPECT_CONTAINS(t.status().message(), "U8");
  t = f->get("nope");
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_CONTAINS(t.status().message(), file + ": no tensor named 'nope'");

  Expected<SafetensorsFile> missing = SafetensorsFile::open(path("absent.safetensors"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_CONTAINS(missing.status().message(), "absent.safetensors");
}

TEST_F(SafetensorsTest, TruncatedFile) {
  const std::string file = path("cut.safetensors");
  ASSERT_TRUE(write_safetensors(file, sample_specs(), fill_pattern).is_ok());
  fs::resize_file(file, fs::file_size(file) - 3);  // cut into the last tensor's bytes
  Expected<SafetensorsFile> f = SafetensorsFile::open(file);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.status().code(), StatusCode::kDataLoss);
  EXPECT_CONTAINS(f.status().message(), file + ": tensor '");
  EXPECT_CONTAINS(f.status().message(), "lie outside the data section");
}

TEST_F(SafetensorsTest, FileShorterThanEightBytes) {
  for (size_t n : {0, 1, 7}) {
    const std::string file = path("tiny.safetensors");
    write_bytes(file, std::vector<uint8_t>(n, 0));
    Expected<SafetensorsFile> f = SafetensorsFile::open(file);
    ASSERT_FALSE(f.has_value());
    EXPECT_EQ(f.status().code(), StatusCode::kDataLoss);
    EXPECT_CONTAINS(f.status().message(), file + ": file is " + std::to_string(n) +
                                              " bytes, too small for a safetensors header");
  }
}

TEST_F(SafetensorsTest, HeaderLengthLargerThanFile) {
  std::vector<uint8_t> bytes = make_file(R"({})", 0);
  bytes[0] = 200;  // N = 200 in a 10-byte file
  expect_header_error(bytes, StatusCode::kDataLoss,
                      "header length 200 is larger than the file (10 bytes)");
  for (int i = 0; i < 8; ++i) bytes[i] = 0xff;  // N = 2^64 - 1: must not wrap around
  expect_header_error(bytes, StatusCode::kDataLoss, "is larger than the file");
  // A header within the file but past the sane cap.
  std::vector<uint8_t> big(8, 0);
  const uint64_t n = 200'000'000;
  for (int i = 0; i < 8; ++i) big[i] = static_cast<uint8_t>(n >> (8 * i));
  Expected<SafetensorsHeader> h = parse_safetensors_header(big.data(), big.size(), n + 8, "x");
  ASSERT_FALSE(h.has_value());
  EXPECT_CONTAINS(h.status().message(), "limit");
  // The caller gave fewer bytes than the header needs.
  const std::vector<uint8_t> ok = make_file(R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})", 4);
  h = parse_safetensors_header(ok.data(), 20, ok.size(), "x");
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SafetensorsTest, InvalidJsonHeader) {
  expect_header_error(make_file(R"({"a": {"dtype": )", 0), StatusCode::kDataLoss, "invalid JSON");
  expect_header_error(make_file(R"({"a": 1e999})", 0), StatusCode::kDataLoss, "JSON");
  expect_header_error(make_file("[1, 2, 3]", 0), StatusCode::kDataLoss, "must be a JSON object");
  expect_header_error(make_file(R"({"a": 5})", 0), StatusCode::kDataLoss,
                      "tensor 'a' must be a JSON object");
  expect_header_error(make_file(std::string("{\"\xff\": 1}"), 0), StatusCode::kDataLoss, "JSON");
  expect_header_error(make_file(R"({"__metadata__": {"format": 1}})", 0), StatusCode::kDataLoss,
                      "__metadata__ must be an object of strings");
  expect_header_error(make_file(R"({"__metadata__": []})", 0), StatusCode::kDataLoss,
                      "__metadata__");
}

TEST_F(SafetensorsTest, OverlappingOffsets) {
  expect_header_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                    "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                12),
                      StatusCode::kDataLoss, "tensors 'a' [0, 8) and 'b' [4, 12) overlap");
  // One tensor nested inside a longer one, with a third after both.
  expect_header_error(make_file(R"({"big":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},
                                    "c":{"dtype":"U8","shape":[4],"data_offsets":[16,20]},
                                    "in":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
                                20),
                      StatusCode::kDataLoss, "overlap");
  // Empty tensors take no bytes and may share an offset.
  Expected<SafetensorsHeader> h =
      parse_bytes(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                               "e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                            8));
  EXPECT_TRUE(h.has_value()) << h.status().to_string();
}

TEST_F(SafetensorsTest, OutOfRangeOffsets) {
  expect_header_error(
      make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16),
      StatusCode::kDataLoss, "tensor 'a' data_offsets [8, 24) lie outside the data section (16 bytes");
  expect_header_error(
      make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 16),
      StatusCode::kDataLoss, "data_offsets");
  expect_header_error(
      make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 16),
      StatusCode::kDataLoss, "data_offsets");
  expect_header_error(
      make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 16),
      StatusCode::kDataLoss, "data_offsets");
  expect_header_error(
      make_file(R"({"a":{"dtype":"U8","shape":[0],
                        "data_offsets":[18446744073709551615,18446744073709551615]}})", 16),
      StatusCode::kDataLoss, "outside the data section");
}

TEST_F(SafetensorsTest, SizeMismatch) {
  expect_header_error(
      make_file(R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})", 16),
      StatusCode::kDataLoss, "tensor 'w' has shape [2, 3] of BF16 (12 bytes) but data_offsets");
  // numel x size overflows uint64: must be caught, not wrapped to a matching size.
  expect_header_error(
      make_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
      StatusCode::kDataLoss, "too large");
}

TEST_F(SafetensorsTest, UnknownDtype) {
  expect_header_error(make_file(R"({"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16),
                      StatusCode::kDataLoss, "tensor 'w': unknown dtype 'F128'");
  expect_header_error(make_file(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 16),
                      StatusCode::kDataLoss, "dtype");
  expect_header_error(make_file(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 16),
                      StatusCode::kDataLoss, "dtype");
}

TEST_F(SafetensorsTest, NegativeShape) {
  expect_header_error(make_file(R"({"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,0]}})", 16),
                      StatusCode::kDataLoss, "tensor 'w': field 'shape' must hold non-negative");
  expect_header_error(make_file(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 16),
                      StatusCode::kDataLoss, "shape");
  expect_header_error(make_file(R"({"w":{"dtype":"F32","shape":"4","data_offsets":[0,16]}})", 16),
                      StatusCode::kDataLoss, "shape");
}

TEST_F(SafetensorsTest, WriterRejectsBadSpecsAndReportsFillErrors) {
  const std::string file = path("w.safetensors");
  Status st = write_safetensors(file, {{"a", DType::kF32, {1}}, {"a", DType::kF32, {1}}},
                                fill_pattern);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(st.message(), file);
  EXPECT_CONTAINS(st.message(), "'a'");
  EXPECT_FALSE(fs::exists(file));

  st = write_safetensors(file, {{"neg", DType::kF32, {-2}}}, fill_pattern);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(st.message(), "neg");

  st = write_safetensors(file, sample_specs(), [](size_t i, void* dst, size_t n) {
    if (i == 2) return io_error("source ran dry");
    return fill_pattern(i, dst, n);
  });
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_CONTAINS(st.message(), file);
  EXPECT_CONTAINS(st.message(), "'ids'");
  EXPECT_CONTAINS(st.message(), "source ran dry");
  EXPECT_FALSE(fs::exists(file)) << "a half-written file was left behind";

  st = write_safetensors(path("no/such/dir/x.safetensors"), sample_specs(), fill_pattern);
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_CONTAINS(st.message(), "no/such/dir/x.safetensors");

  // No tensors at all is still a valid file.
  ASSERT_TRUE(write_safetensors(file, {}, fill_pattern, {}).is_ok());
  Expected<SafetensorsFile> f = SafetensorsFile::open(file);
  ASSERT_TRUE(f.has_value()) << f.status().to_string();
  EXPECT_TRUE(f->header().entries.empty());
}

TEST_F(SafetensorsTest, FuzzedHeadersNeverCrash) {
  const std::string file = path("fuzz.safetensors");
  ASSERT_TRUE(write_safetensors(file, sample_specs(), fill_pattern).is_ok());
  const std::vector<uint8_t> valid = read_bytes(file);
  ASSERT_TRUE(parse_bytes(valid).has_value());
  const size_t header_end = 8 + static_cast<size_t>(parse_bytes(valid)->header_size);

  std::mt19937_64 rng(1234);
  int ok = 0, rejected = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<uint8_t> bytes = valid;
    const int mode = static_cast<int>(rng() % 4);
    if (mode == 0) {  // truncate anywhere
      bytes.resize(rng() % (bytes.size() + 1));
    } else {  // flip a few bytes, mostly inside the length field and the JSON
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) {
        const size_t limit = mode == 3 ? bytes.size() : header_end;
        const size_t at = rng() % limit;
        bytes[at] = mode == 1 ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(bytes[at] ^ (1u << (rng() % 8)));
      }
    }
    // An exact-size copy so ASan catches any read past the end.
    std::unique_ptr<uint8_t[]> exact(new uint8_t[bytes.size() + 1]);
    std::memcpy(exact.get(), bytes.data(), bytes.size());
    Expected<SafetensorsHeader> h =
        parse_safetensors_header(exact.get(), bytes.size(), bytes.size(), "fuzz.safetensors");
    if (!h.has_value()) {
      ++rejected;
      EXPECT_EQ(h.status().message().rfind("fuzz.safetensors: ", 0), 0u) << h.status().message();
      continue;
    }
    ++ok;
    // Whatever was accepted must be safe to index.
    const uint64_t data_size = bytes.size() - h->data_offset;
    uint64_t prev_end = 0;
    for (const SafetensorsEntry& e : h->entries) {
      ASSERT_LE(e.begin, e.end);
      ASSERT_LE(e.end, data_size);
      if (e.begin != e.end) {
        ASSERT_GE(e.begin, prev_end);
        prev_end = e.end;
      }
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(ok, 0);  // flips in tensor bytes or inside names leave a valid header
}

}  // namespace
}  // namespace tessera
