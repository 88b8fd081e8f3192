// src/model/safetensors.cpp — the safetensors format: a validating header parser, zero-copy
// reading over a memory map, and a streaming writer.
//
// The parser is the only thing between a downloaded file and pointer arithmetic into a mapping,
// so it trusts nothing: lengths are checked before they are used, sizes are computed with overflow
// checks, and it never throws (nlohmann exceptions are caught and reported). Every message starts
// with the file's path. The writer lays files out as the Python `safetensors` package does:
// tensors back to back in the given order, header padded with spaces to a multiple of 8 bytes.
#include "src/model/safetensors.h"

#include <cstdint>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "src/core/json_util.h"

namespace tessera {
namespace {

// Larger headers exist only in corrupt files; the Rust reference implementation caps at 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct SafetensorsDtype {
  const char* name;
  size_t size;
  std::optional<DType> dtype;  // nullopt: a valid file, but tessera cannot compute with it
};

constexpr SafetensorsDtype kSafetensorsDtypes[] = {
    {"BOOL", 1, std::nullopt},   {"U8", 1, std::nullopt},      {"I8", 1, DType::kI8},
    {"I16", 2, std::nullopt},    {"U16", 2, std::nullopt},     {"F16", 2, DType::kF16},
    {"BF16", 2, DType::kBF16},   {"I32", 4, DType::kI32},      {"U32", 4, std::nullopt},
    {"F32", 4, DType::kF32},     {"F64", 8, std::nullopt},     {"I64", 8, DType::kI64},
    {"U64", 8, std::nullopt},    {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
};

const SafetensorsDtype* find_safetensors_dtype(const std::string& name) {
  for (const auto& d : kSafetensorsDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI8: return "I8";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
  }
  return "F32";
}

std::string range_string(uint64_t begin, uint64_t end) {
  // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "[" + std::to_string(...).
  std::string s = "[";
  s += std::to_string(begin);
  s += ", ";
  s += std::to_string(end);
  s += ")";
  return s;
}

// A JSON integer >= 0 that fits in uint64 (offsets can exceed int64 only in corrupt files, but
// nlohmann stores them as unsigned and a signed read would wrap).
std::optional<uint64_t> json_to_u64(const Json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

// Validates one tensor entry of the header. `data_size` is the length of the data section.
Expected<SafetensorsEntry> parse_entry(const std::string& name, const Json& v, uint64_t data_size,
                                       const std::string& source) {
  const std::string where = source + ": tensor '" + name + "'";
  if (!v.is_object())
    return data_loss(where + " must be a JSON object, got " + json_excerpt(v));
  SafetensorsEntry e;
  e.name = name;

  auto dtype_it = v.find("dtype");
  if (dtype_it == v.end() || !dtype_it->is_string())
    return data_loss(where + ": field 'dtype' must be a string");
  e.dtype_name = dtype_it->get<std::string>();
  const SafetensorsDtype* dt = find_safetensors_dtype(e.dtype_name);
  if (!dt) return data_loss(where + ": unknown dtype '" + e.dtype_name + "'");
  e.dtype = dt->dtype;

  auto shape_it = v.find("shape");
  if (shape_it == v.end() || !shape_it->is_array())
    return data_loss(where + ": field 'shape' must be an array of integers");
  for (const Json& d : *shape_it) {
    const std::optional<uint64_t> dim = json_to_u64(d);
    if (!dim || *dim > static_cast<uint64_t>(INT64_MAX))
      return data_loss(where + ": field 'shape' must hold non-negative integers, got " +
                       json_excerpt(*shape_it));
    e.shape.push_back(static_cast<int64_t>(*dim));
  }

  auto offsets_it = v.find("data_offsets");
  std::optional<uint64_t> begin, end;
  if (offsets_it != v.end() && offsets_it->is_array() && offsets_it->size() == 2) {
    begin = json_to_u64((*offsets_it)[0]);
    end = json_to_u64((*offsets_it)[1]);
  }
  if (!begin || !end || *begin > *end)
    return data_loss(where + ": field 'data_offsets' must be [begin, end] with 0 <= begin <= end, " +
                     "got " + (offsets_it == v.end() ? "nothing" : json_excerpt(*offsets_it)));
  e.begin = *begin;
  e.end = *end;

  // numel x element size, refusing overflow: a shape like [2^40, 2^40] must not wrap around to
  // a small size that happens to match the offsets.
  uint64_t nbytes = dt->size;
  for (int64_t d : e.shape)
    if (__builtin_mul_overflow(nbytes, static_cast<uint64_t>(d), &nbytes))
      return data_loss(where + ": shape " + shape_to_string(e.shape) + " is too large");
  if (nbytes != e.end - e.begin)
    return data_loss(where + " has shape " + shape_to_string(e.shape) + " of " + e.dtype_name +
                     " (" + std::to_string(nbytes) + " bytes) but data_offsets " +
                     range_string(e.begin, e.end) + " span " + std::to_string(e.end - e.begin) +
                     " bytes: size mismatch");
  if (e.end > data_size)
    return data_loss(where + " data_offsets " + range_string(e.begin, e.end) +
                     " lie outside the data section (" + std::to_string(data_size) +
                     " bytes; is the file truncated?)");
  return e;
}

Status parse_metadata(const Json& v, const std::string& source,
                      std::map<std::string, std::string>& metadata) {
  if (!v.is_object())
    return data_loss(source + ": __metadata__ must be an object of strings, got " +
                     json_excerpt(v));
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it->is_string())
      return data_loss(source + ": __metadata__ must be an object of strings, but '" + it.key() +
                       "' is " + json_excerpt(*it));
    metadata[it.key()] = it->get<std::string>();
  }
  return Status::ok();
}

// Sorted by begin, a tensor overlaps an earlier one exactly when it starts before the furthest
// end seen so far. Empty tensors occupy no bytes and may sit anywhere.
Status check_no_overlap(const std::vector<SafetensorsEntry>& entries, const std::string& source) {
  const SafetensorsEntry* furthest = nullptr;
  for (const auto& e : entries) {
    if (e.begin == e.end) continue;
    if (furthest && e.begin < furthest->end)
      return data_loss(source + ": tensors '" + furthest->name + "' " +
                       range_string(furthest->begin, furthest->end) + " and '" + e.name + "' " +
                       range_string(e.begin, e.end) + " overlap");
    if (!furthest || e.end > furthest->end) furthest = &e;
  }
  return Status::ok();
}

Expected<SafetensorsHeader> parse_header_json(const Json& json, SafetensorsHeader header,
                                              uint64_t data_size, const std::string& source) {
  if (!json.is_object())
    return data_loss(source + ": header must be a JSON object, got " + json_excerpt(json));
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (it.key() == "__metadata__") {
      TESSERA_RETURN_IF_ERROR(parse_metadata(*it, source, header.metadata));
      continue;
    }
    TESSERA_ASSIGN_OR_RETURN(SafetensorsEntry e, parse_entry(it.key(), *it, data_size, source));
    header.entries.push_back(std::move(e));
  }
  std::sort(header.entries.begin(), header.entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  TESSERA_RETURN_IF_ERROR(check_no_overlap(header.entries, source));
  return header;
}

// A FILE* that closes itself; write errors carry errno.
class OutputFile {
 public:
  ~OutputFile() {
    if (f_) std::fclose(f_);
  }
  Status open(const std::string& path) {
    path_ = path;
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_) return io_error(path + ": cannot open for writing: " + std::strerror(errno));
    return Status::ok();
  }
  Status write(const void* data, size_t n) {
    if (n != 0 && std::fwrite(data, 1, n, f_) != n)
      return io_error(path_ + ": write failed: " + std::strerror(errno));
    return Status::ok();
  }
  Status close() {
    FILE* f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) return io_error(path_ + ": write failed: " + std::strerror(errno));
    return Status::ok();
  }

 private:
  FILE* f_ = nullptr;
  std::string path_;
};

Status write_safetensors_impl(const std::string& path, const std::vector<TensorSpec>& specs,
                              const TensorFill& fill,
                              const std::map<std::string, std::string>& metadata,
                              bool& created) {
  // ordered_json keeps the specs' order in the header, as the data section has it.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  size_t max_nbytes = 1;
  for (const TensorSpec& s : specs) {
    if (s.name.empty() || s.name == "__metadata__" || !seen.insert(s.name).second)
      return invalid_argument(path + ": tensor name '" + s.name +
                              "' is empty, reserved or used twice");
    const std::optional<int64_t> numel = checked_numel(s.shape);
    uint64_t nbytes = 0;
    if (!numel ||
        __builtin_mul_overflow(static_cast<uint64_t>(*numel), dtype_size(s.dtype), &nbytes))
      return invalid_argument(path + ": tensor '" + s.name + "' has an invalid shape " +
                              shape_to_string(s.shape));
    header[s.name] = {{"dtype", safetensors_dtype_name(s.dtype)},
                      {"shape", s.shape},
                      {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    max_nbytes = std::max<size_t>(max_nbytes, nbytes);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // 8 + N stays a multiple of 8: aligned data

  OutputFile out;
  TESSERA_RETURN_IF_ERROR(out.open(path));
  created = true;
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(uint64_t{text.size()} >> (8 * i));
  TESSERA_RETURN_IF_ERROR(out.write(length, 8));
  TESSERA_RETURN_IF_ERROR(out.write(text.data(), text.size()));

  // One staging buffer, sized for the largest tensor, reused for all (default-initialized: the
  // fill writes every byte, so zeroing gigabytes first would be wasted work).
  std::unique_ptr<uint8_t[]> staging(new (std::nothrow) uint8_t[max_nbytes]);
  if (!staging)
    return out_of_memory(path + ": cannot allocate " + std::to_string(max_nbytes) +
                         " bytes to stage a tensor");
  for (size_t i = 0; i < specs.size(); ++i) {
    const size_t nbytes = specs[i].nbytes();
    Status st = fill(i, staging.get(), nbytes);
    if (!st.is_ok()) return st.with_context(path + ": tensor '" + specs[i].name + "': ");
    TESSERA_RETURN_IF_ERROR(out.write(staging.get(), nbytes));
  }
  return out.close();
}

}  // namespace

size_t TensorSpec::nbytes() const {
  const std::optional<int64_t> numel = checked_numel(shape);
  size_t n = 0;
  if (!numel || __builtin_mul_overflow(static_cast<size_t>(*numel), dtype_size(dtype), &n))
    return 0;  // an invalid shape; write_safetensors reports it
  return n;
}

Expected<SafetensorsHeader> parse_safetensors_header(const uint8_t* bytes, size_t available,
                                                     uint64_t file_size,
                                                     const std::string& source) {
  if (file_size < 8)
    return data_loss(source + ": file is " + std::to_string(file_size) +
                     " bytes, too small for a safetensors header");
  if (available < 8)
    return invalid_argument(source + ": only " + std::to_string(available) +
                            " bytes given, the header length alone needs 8");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{bytes[i]} << (8 * i);  // little-endian on any host
  if (n > file_size - 8)
    return data_loss(source + ": header length " + std::to_string(n) +
                     " is larger than the file (" + std::to_string(file_size) + " bytes)");
  if (n > kMaxHeaderBytes)
    return data_loss(source + ": header length " + std::to_string(n) + " exceeds the " +
                     std::to_string(kMaxHeaderBytes) + "-byte limit");
  if (n > available - 8)
    return invalid_argument(source + ": only " + std::to_string(available) +
                            " bytes given, the header needs " + std::to_string(8 + n));

  SafetensorsHeader header;
  header.header_size = n;
  header.data_offset = 8 + n;
  const uint64_t data_size = file_size - 8 - n;
  const std::string text(reinterpret_cast<const char*>(bytes) + 8, static_cast<size_t>(n));
  try {
    Expected<Json> json = parse_json(text, source + ": header");
    if (!json) return Status(StatusCode::kDataLoss, json.status().message());
    return parse_header_json(*json, std::move(header), data_size, source);
  } catch (const Json::exception& e) {
    // parse_json converts syntax errors; number overflow ("1e999") and the like still throw.
    return data_loss(source + ": header: invalid JSON: " + e.what());
  }
}

Expected<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> mapped, MappedFile::open(path));
  SafetensorsFile f;
  TESSERA_ASSIGN_OR_RETURN(
      f.header_, parse_safetensors_header(static_cast<const uint8_t*>(mapped->data()),
                                          mapped->size_bytes(), mapped->size_bytes(), path));
  f.file_ = std::move(mapped);
  for (size_t i = 0; i < f.header_.entries.size(); ++i) f.index_[f.header_.entries[i].name] = i;
  return f;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.entries[it->second];
}

Expected<Tensor> SafetensorsFile::get(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (!e) return not_found(path() + ": no tensor named '" + name + "'");
  if (!e->dtype)
    return unimplemented(path() + ": tensor '" + name + "' has dtype " + e->dtype_name +
                         ", which tessera cannot compute with (supported: F32, F16, BF16, I8, "
                         "I32, I64)");
  return Tensor(file_, static_cast<size_t>(header_.data_offset + e->begin), *e->dtype, e->shape,
                contiguous_strides(e->shape));
}

Status write_safetensors(const std::string& path, const std::vector<TensorSpec>& specs,
                         const TensorFill& fill,
                         const std::map<std::string, std::string>& metadata) {
  bool created = false;
  Status st = write_safetensors_impl(path, specs, fill, metadata, created);
  // A half-written file would look like a truncated download later; leave nothing behind.
  if (!st.is_ok() && created) std::remove(path.c_str());
  return st;
}

}  // namespace tessera
