// src/core/npy.h — NumPy .npy files (format 1.0/2.0/3.0, little-endian, C order) for logits
// output and golden test data. Reading checks the header length, the dtype, and that the data
// size matches the shape.
#pragma once

#include <string>
#include <vector>

#include "tessera/status.h"
#include "tessera/tensor.h"

namespace tessera {

struct NpyArray {
  std::string descr;  // "<f4", "<i4", "<i8", "<f2"
  Shape shape;
  std::vector<char> data;
};

Expected<NpyArray> read_npy(const std::string& path);
Status write_npy_f32(const std::string& path, const float* data, const Shape& shape);
Status write_npy_i64(const std::string& path, const int64_t* data, const Shape& shape);

}  // namespace tessera
