// src/model/gguf.cpp — the GGUF parser (gguf.h). A cursor over the file's bytes reads each field
// with a bounds check; counts are compared with what the remaining bytes could hold before any
// container is sized from them.
#include "src/model/gguf.h"

#include <algorithm>
#include <cstring>
#include <set>

namespace tessera {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr int kMaxDims = 4;              // ggml's GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 4;      // arrays of arrays: real files use none
constexpr uint64_t kMaxAlignment = 1u << 20;
// Metadata values in all, arrays' elements included. A real file has about a million (a 256k
// vocabulary's tokens, scores and types, and its merges); each costs ~16 bytes as JSON, so this
// bounds what a hostile file can make us allocate well below its own size times 16.
constexpr uint64_t kMaxMetadataValues = 1u << 24;

// Metadata value types, as the format numbers them.
enum ValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// Bytes a value of this type takes at least (its fixed size; 8 for a string's length, 12 for an
// array's header), or 0 for an unknown type.
uint64_t min_value_bytes(uint32_t type) {
  switch (type) {
    case kU8:
    case kI8:
    case kBool:
      return 1;
    case kU16:
    case kI16:
      return 2;
    case kU32:
    case kI32:
    case kF32:
      return 4;
    case kU64:
    case kI64:
    case kF64:
    case kString:
      return 8;
    case kArray:
      return 12;
    default:
      return 0;
  }
}

class Cursor {
 public:
  uint64_t values = 0;  // metadata values read so far (kMaxMetadataValues)

  Cursor(const uint8_t* data, size_t size, const std::string& source)
      : p_(data), size_(size), source_(source) {}

  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  Status error(const std::string& what) const {
    return data_loss(source_ + ": " + what + " (at byte " + std::to_string(pos_) + " of " +
                     std::to_string(size_) + ")");
  }

  template <typename T>
  Expected<T> read(const char* what) {
    if (left() < sizeof(T)) return error(std::string("file ends inside ") + what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  Expected<std::string> string(const std::string& what) {
    TESSERA_ASSIGN_OR_RETURN(uint64_t n, read<uint64_t>(what.c_str()));
    if (n > left())
      return error(what + ": string of " + std::to_string(n) +
                   " bytes runs past the end of the file");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(n));
    pos_ += n;
    return s;
  }

  // A count of items that take at least `min_bytes` each: more than the rest of the file holds is
  // an error before anything is allocated for them.
  Status check_count(uint64_t count, uint64_t min_bytes, const std::string& what) const {
    if (min_bytes > 0 && count > left() / min_bytes)
      return error(what + ": " + std::to_string(count) + " entries cannot fit in the " +
                   std::to_string(left()) + " bytes left");
    return Status::ok();
  }

 private:
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& source_;
};

Expected<Json> read_value(Cursor& c, uint32_t type, const std::string& key, int depth) {
  switch (type) {
    case kU8: {
      TESSERA_ASSIGN_OR_RETURN(uint8_t v, c.read<uint8_t>(key.c_str()));
      return Json(v);
    }
    case kI8: {
      TESSERA_ASSIGN_OR_RETURN(int8_t v, c.read<int8_t>(key.c_str()));
      return Json(v);
    }
    case kU16: {
      TESSERA_ASSIGN_OR_RETURN(uint16_t v, c.read<uint16_t>(key.c_str()));
      return Json(v);
    }
    case kI16: {
      TESSERA_ASSIGN_OR_RETURN(int16_t v, c.read<int16_t>(key.c_str()));
      return Json(v);
    }
    case kU32: {
      TESSERA_ASSIGN_OR_RETURN(uint32_t v, c.read<uint32_t>(key.c_str()));
      return Json(v);
    }
    case kI32: {
      TESSERA_ASSIGN_OR_RETURN(int32_t v, c.read<int32_t>(key.c_str()));
      return Json(v);
    }
    case kU64: {
      TESSERA_ASSIGN_OR_RETURN(uint64_t v, c.read<uint64_t>(key.c_str()));
      return Json(v);
    }
    case kI64: {
      TESSERA_ASSIGN_OR_RETURN(int64_t v, c.read<int64_t>(key.c_str()));
      return Json(v);
    }
    case kF32: {
      TESSERA_ASSIGN_OR_RETURN(float v, c.read<float>(key.c_str()));
      return Json(static_cast<double>(v));
    }
    case kF64: {
      TESSERA_ASSIGN_OR_RETURN(double v, c.read<double>(key.c_str()));
      return Json(v);
    }
    case kBool: {
      TESSERA_ASSIGN_OR_RETURN(uint8_t v, c.read<uint8_t>(key.c_str()));
      if (v > 1)
        return c.error("metadata '" + key + "': a bool must be 0 or 1, got " + std::to_string(v));
      return Json(v == 1);
    }
    case kString: {
      TESSERA_ASSIGN_OR_RETURN(std::string s, c.string("metadata '" + key + "'"));
      return Json(std::move(s));
    }
    case kArray: {
      if (depth >= kMaxArrayNesting)
        return c.error("metadata '" + key + "': arrays nested deeper than " +
                       std::to_string(kMaxArrayNesting));
      TESSERA_ASSIGN_OR_RETURN(uint32_t elem, c.read<uint32_t>(key.c_str()));
      TESSERA_ASSIGN_OR_RETURN(uint64_t count, c.read<uint64_t>(key.c_str()));
      const uint64_t min_bytes = min_value_bytes(elem);
      if (min_bytes == 0)
        return c.error("metadata '" + key + "': unknown array element type " +
                       std::to_string(elem));
      TESSERA_RETURN_IF_ERROR(c.check_count(count, min_bytes, "metadata '" + key + "'"));
      if (count > kMaxMetadataValues - c.values)
        return c.error("metadata '" + key + "': more than " + std::to_string(kMaxMetadataValues) +
                       " metadata values in the file");
      c.values += count;
      Json arr = Json::array();
      arr.get_ref<Json::array_t&>().reserve(static_cast<size_t>(count));
      for (uint64_t i = 0; i < count; ++i) {
        TESSERA_ASSIGN_OR_RETURN(Json v, read_value(c, elem, key, depth + 1));
        arr.push_back(std::move(v));
      }
      return arr;
    }
    default:
      return c.error("metadata '" + key + "': unknown value type " + std::to_string(type));
  }
}

// Minimum bytes of one tensor directory entry: name length, one dim, dims count, type, offset.
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;
// Minimum bytes of one metadata entry: key length, type, a 1-byte value.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;

}  // namespace

std::optional<GgmlTypeInfo> ggml_type_info(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kF32:
      return GgmlTypeInfo{"F32", 1, 4};
    case GgmlType::kF16:
      return GgmlTypeInfo{"F16", 1, 2};
    case GgmlType::kBF16:
      return GgmlTypeInfo{"BF16", 1, 2};
    case GgmlType::kQ4_0:
      return GgmlTypeInfo{"Q4_0", 32, 18};
    case GgmlType::kQ4_1:
      return GgmlTypeInfo{"Q4_1", 32, 20};
    case GgmlType::kQ5_0:
      return GgmlTypeInfo{"Q5_0", 32, 22};
    case GgmlType::kQ5_1:
      return GgmlTypeInfo{"Q5_1", 32, 24};
    case GgmlType::kQ8_0:
      return GgmlTypeInfo{"Q8_0", 32, 34};
    case GgmlType::kQ2_K:
      return GgmlTypeInfo{"Q2_K", 256, 84};
    case GgmlType::kQ3_K:
      return GgmlTypeInfo{"Q3_K", 256, 110};
    case GgmlType::kQ4_K:
      return GgmlTypeInfo{"Q4_K", 256, 144};
    case GgmlType::kQ5_K:
      return GgmlTypeInfo{"Q5_K", 256, 176};
    case GgmlType::kQ6_K:
      return GgmlTypeInfo{"Q6_K", 256, 210};
  }
  return std::nullopt;
}

int64_t GgufTensorInfo::num_elements() const {
  int64_t n = 1;
  for (int64_t e : extent) n *= e;
  return n;
}

const GgufTensorInfo* GgufFile::find(const std::string& name) const {
  for (const GgufTensorInfo& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const Json* GgufFile::meta(const std::string& key) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? nullptr : &*it;
}

bool looks_like_gguf(const uint8_t* data, size_t size) {
  uint32_t magic = 0;
  if (size < 4) return false;
  std::memcpy(&magic, data, 4);
  return magic == kMagic;
}

Expected<GgufFile> parse_gguf(const uint8_t* data, size_t size, const std::string& source) {
  Cursor c(data, size, source);
  GgufFile f;
  TESSERA_ASSIGN_OR_RETURN(uint32_t magic, c.read<uint32_t>("the magic"));
  if (magic != kMagic) return c.error("not a GGUF file (it does not start with \"GGUF\")");
  TESSERA_ASSIGN_OR_RETURN(f.version, c.read<uint32_t>("the version"));
  if (f.version != 2 && f.version != 3)
    return c.error("GGUF version " + std::to_string(f.version) + " is not supported (2 and 3 are)");
  TESSERA_ASSIGN_OR_RETURN(uint64_t tensor_count, c.read<uint64_t>("the tensor count"));
  TESSERA_ASSIGN_OR_RETURN(uint64_t kv_count, c.read<uint64_t>("the metadata count"));
  TESSERA_RETURN_IF_ERROR(c.check_count(kv_count, kMinKvBytes, "metadata"));
  TESSERA_RETURN_IF_ERROR(c.check_count(tensor_count, kMinTensorInfoBytes, "tensor directory"));

  for (uint64_t i = 0; i < kv_count; ++i) {
    TESSERA_ASSIGN_OR_RETURN(std::string key, c.string("metadata key " + std::to_string(i)));
    if (f.metadata.contains(key)) return c.error("metadata key '" + key + "' appears twice");
    TESSERA_ASSIGN_OR_RETURN(uint32_t type, c.read<uint32_t>("a metadata type"));
    TESSERA_ASSIGN_OR_RETURN(Json value, read_value(c, type, key, 0));
    f.metadata[key] = std::move(value);
  }
  if (const Json* a = f.meta("general.alignment")) {
    if (!a->is_number_unsigned() || a->get<uint64_t>() == 0 || a->get<uint64_t>() > kMaxAlignment ||
        (a->get<uint64_t>() & (a->get<uint64_t>() - 1)) != 0)
      return data_loss(source + ": metadata 'general.alignment' must be a power of two in [1, " +
                       std::to_string(kMaxAlignment) + "], got " + json_excerpt(*a));
    f.alignment = a->get<uint64_t>();
  }

  std::set<std::string> names;
  TESSERA_RETURN_IF_ERROR(c.check_count(tensor_count, kMinTensorInfoBytes, "tensor directory"));
  f.tensors.reserve(static_cast<size_t>(tensor_count));
  std::vector<uint64_t> relative;  // offsets from the data section, checked once its start is known
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo t;
    TESSERA_ASSIGN_OR_RETURN(t.name, c.string("tensor " + std::to_string(i) + "'s name"));
    if (!names.insert(t.name).second) return c.error("tensor '" + t.name + "' appears twice");
    TESSERA_ASSIGN_OR_RETURN(uint32_t dims, c.read<uint32_t>("a tensor's dimension count"));
    if (dims < 1 || dims > kMaxDims)
      return c.error("tensor '" + t.name + "': " + std::to_string(dims) +
                     " dimensions (1 to 4 are allowed)");
    int64_t elements = 1;
    for (uint32_t d = 0; d < dims; ++d) {
      TESSERA_ASSIGN_OR_RETURN(uint64_t e, c.read<uint64_t>("a tensor's extent"));
      if (e == 0 || e > static_cast<uint64_t>(INT64_MAX) / static_cast<uint64_t>(elements))
        return c.error("tensor '" + t.name + "': extent " + std::to_string(e) + " of dimension " +
                       std::to_string(d) + " is zero or makes the element count overflow");
      elements *= static_cast<int64_t>(e);
      t.extent.push_back(static_cast<int64_t>(e));
    }
    TESSERA_ASSIGN_OR_RETURN(uint32_t type, c.read<uint32_t>("a tensor's type"));
    const std::optional<GgmlTypeInfo> info = ggml_type_info(type);
    if (!info)
      return c.error("tensor '" + t.name + "': ggml type " + std::to_string(type) +
                     " is not supported");
    t.type = static_cast<GgmlType>(type);
    if (t.extent[0] % info->block_size != 0)
      return c.error("tensor '" + t.name + "': " + info->name + " packs " +
                     std::to_string(info->block_size) + " elements a block, but its rows have " +
                     std::to_string(t.extent[0]));
    const uint64_t blocks = static_cast<uint64_t>(elements) / info->block_size;
    if (blocks > UINT64_MAX / info->block_bytes)
      return c.error("tensor '" + t.name + "': byte size overflows");
    t.bytes = blocks * info->block_bytes;
    TESSERA_ASSIGN_OR_RETURN(uint64_t offset, c.read<uint64_t>("a tensor's offset"));
    if (offset % f.alignment != 0)
      return c.error("tensor '" + t.name + "': offset " + std::to_string(offset) +
                     " is not a multiple of the alignment " + std::to_string(f.alignment));
    relative.push_back(offset);
    f.tensors.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t header_end = c.pos();
  f.data_offset = (header_end + f.alignment - 1) / f.alignment * f.alignment;
  if (f.data_offset > size)
    return data_loss(source + ": the file ends at byte " + std::to_string(size) +
                     ", before its data section (byte " + std::to_string(f.data_offset) + ")");
  const uint64_t data_size = size - f.data_offset;
  std::vector<size_t> order(f.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) {
    GgufTensorInfo& t = f.tensors[i];
    if (relative[i] > data_size || t.bytes > data_size - relative[i])
      return data_loss(source + ": tensor '" + t.name + "' (" + std::to_string(t.bytes) +
                       " bytes at data offset " + std::to_string(relative[i]) +
                       ") runs past the end of the file's " + std::to_string(data_size) +
                       "-byte data section");
    t.offset = f.data_offset + relative[i];
    order[i] = i;
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return f.tensors[a].offset < f.tensors[b].offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    const GgufTensorInfo& prev = f.tensors[order[i - 1]];
    const GgufTensorInfo& t = f.tensors[order[i]];
    if (prev.offset + prev.bytes > t.offset)
      return data_loss(source + ": tensors '" + prev.name + "' and '" + t.name +
                       "' overlap in the data section");
  }
  return f;
}

}  // namespace tessera
