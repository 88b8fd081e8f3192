#include "src/core/npy.h"

#include <cstring>
#include <fstream>
#include <regex>

#include "src/core/mapped_file.h"

namespace tessera {
namespace {

size_t descr_size(const std::string& d) {
  if (d == "<f4" || d == "<i4" || d == "<u4") return 4;
  if (d == "<f8" || d == "<i8" || d == "<u8") return 8;
  if (d == "<f2" || d == "<i2" || d == "<u2") return 2;
  if (d == "|i1" || d == "|u1" || d == "|b1") return 1;
  return 0;
}

Status write_npy(const std::string& path, const char* descr, const void* data, size_t elem,
                 const Shape& shape) {
  std::string shape_str = "(";
  for (size_t i = 0; i < shape.size(); ++i) shape_str += std::to_string(shape[i]) + ",";
  if (shape.size() > 1) shape_str.pop_back();
  shape_str += ")";
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + shape_str + ", }";
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return io_error(path + ": cannot open for writing");
  const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.write(reinterpret_cast<const char*>(magic), 8);
  const uint16_t hlen = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&hlen), 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n * elem));
  out.close();
  if (!out) return io_error(path + ": write failed");
  return Status::ok();
}

}  // namespace

Expected<NpyArray> read_npy(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  const auto* p = static_cast<const unsigned char*>(file->data());
  const size_t size = file->size_bytes();
  if (size < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) return data_loss(path + ": not a .npy file");
  const int major = p[6];
  size_t header_len, header_start;
  if (major == 1) {
    header_len = p[8] | (p[9] << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return data_loss(path + ": truncated .npy header");
    header_len = p[8] | (p[9] << 8) | (static_cast<size_t>(p[10]) << 16) |
                 (static_cast<size_t>(p[11]) << 24);
    header_start = 12;
  } else {
    return data_loss(path + ": unsupported .npy version " + std::to_string(major));
  }
  if (header_len > size - header_start) return data_loss(path + ": .npy header longer than the file");
  const std::string header(reinterpret_cast<const char*>(p + header_start), header_len);
  std::smatch m;
  NpyArray arr;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'")))
    return data_loss(path + ": .npy header has no descr");
  arr.descr = m[1];
  if (std::regex_search(header, m, std::regex("'fortran_order':\\s*True")))
    return unimplemented(path + ": Fortran-order .npy arrays are not supported");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")))
    return data_loss(path + ": .npy header has no shape");
  std::string dims = m[1];
  std::regex num("\\d+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it)
    arr.shape.push_back(std::stoll(it->str()));
  const size_t elem = descr_size(arr.descr);
  if (elem == 0) return unimplemented(path + ": .npy dtype " + arr.descr + " is not supported");
  auto n = checked_numel(arr.shape);
  const size_t data_start = header_start + header_len;
  if (!n || static_cast<size_t>(*n) > (size - data_start) / elem)
    return data_loss(path + ": .npy data is shorter than its shape " + shape_to_string(arr.shape));
  arr.data.assign(reinterpret_cast<const char*>(p + data_start),
                  reinterpret_cast<const char*>(p + data_start + static_cast<size_t>(*n) * elem));
  return arr;
}

Status write_npy_f32(const std::string& path, const float* data, const Shape& shape) {
  return write_npy(path, "<f4", data, 4, shape);
}

Status write_npy_i64(const std::string& path, const int64_t* data, const Shape& shape) {
  return write_npy(path, "<i8", data, 8, shape);
}

}  // namespace tessera
