// Tensor views, dtype names and host dtype conversion.
#include "tessera/tensor.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace tessera {

std::string Device::to_string() const {
  return kind == DeviceKind::kCpu ? "cpu" : "cuda:" + std::to_string(index);
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kI8: return "i8";
    case DType::kI32: return "i32";
    case DType::kI64: return "i64";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  std::string s(name);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "f32" || s == "float32" || s == "float") return DType::kF32;
  if (s == "f16" || s == "float16" || s == "half") return DType::kF16;
  if (s == "bf16" || s == "bfloat16") return DType::kBF16;
  if (s == "i8" || s == "int8") return DType::kI8;
  if (s == "i32" || s == "int32") return DType::kI32;
  if (s == "i64" || s == "int64") return DType::kI64;
  return std::nullopt;
}

void convert_to_f32(DType src_dtype, const void* src, float* dst, size_t n) {
  switch (src_dtype) {
    case DType::kF32: std::memcpy(dst, src, n * 4); return;
    // Elements are loaded through memcpy: safetensors packs tensors back to back, so a mapped
    // tensor may start at an odd address.
    case DType::kBF16: {
      const auto* s = static_cast<const char*>(src);
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, s + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    }
    case DType::kF16: {
      const auto* s = static_cast<const char*>(src);
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, s + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return;
    }
    default: break;
  }
  std::fill(dst, dst + n, std::numeric_limits<float>::quiet_NaN());
}

void convert_from_f32(const float* src, DType dst_dtype, void* dst, size_t n) {
  switch (dst_dtype) {
    case DType::kF32: std::memcpy(dst, src, n * 4); return;
    case DType::kBF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::kF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    default: break;
  }
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

std::string shape_to_string(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

std::optional<int64_t> checked_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return std::nullopt;
    n *= d;
  }
  return n;
}

Tensor::Tensor(std::shared_ptr<Buffer> buffer, size_t byte_offset, DType dtype, Shape shape,
               Shape strides)
    : buffer_(std::move(buffer)),
      byte_offset_(byte_offset),
      dtype_(dtype),
      shape_(std::move(shape)),
      strides_(std::move(strides)) {}

Expected<Tensor> Tensor::empty(Shape shape, DType dtype, Device device) {
  auto n = checked_numel(shape);
  if (!n) return invalid_argument("tensor shape " + shape_to_string(shape) + " is invalid");
  const size_t bytes = static_cast<size_t>(*n) * dtype_size(dtype);
  auto buf = device.is_cpu() ? allocate_host(bytes) : allocate_device(bytes, device);
  if (!buf) return buf.status();
  Shape strides = contiguous_strides(shape);
  return Tensor(std::move(buf).value(), 0, dtype, std::move(shape), std::move(strides));
}

Expected<Tensor> Tensor::zeros(Shape shape, DType dtype, Device device) {
  if (!device.is_cpu()) return unimplemented("Tensor::zeros on " + device.to_string());
  TESSERA_ASSIGN_OR_RETURN(Tensor t, empty(std::move(shape), dtype, device));
  std::memset(t.data_ptr(), 0, t.nbytes());
  return t;
}

int64_t Tensor::size(int64_t d) const {
  if (d < 0) d += dim();
  return (d >= 0 && d < dim()) ? shape_[static_cast<size_t>(d)] : 0;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

void* Tensor::data_ptr() const {
  if (!buffer_) return nullptr;
  return static_cast<char*>(buffer_->data()) + byte_offset_;
}

std::string Tensor::shape_string() const { return shape_to_string(shape_); }

Expected<Tensor> Tensor::view(Shape new_shape) const {
  if (!is_contiguous()) return invalid_argument("view() of a non-contiguous tensor");
  auto n = checked_numel(new_shape);
  if (!n || *n != numel())
    return invalid_argument("cannot view " + shape_string() + " as " + shape_to_string(new_shape));
  Shape strides = contiguous_strides(new_shape);
  return Tensor(buffer_, byte_offset_, dtype_, std::move(new_shape), std::move(strides));
}

Expected<Tensor> Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  if (d < 0 || d >= dim()) return invalid_argument("narrow: dimension " + std::to_string(d) + " out of range");
  if (start < 0 || length < 0 || start + length > shape_[d])
    return invalid_argument("narrow: [" + std::to_string(start) + ", " +
                            std::to_string(start + length) + ") outside dimension of size " +
                            std::to_string(shape_[d]));
  Shape shape = shape_;
  shape[d] = length;
  const size_t off = byte_offset_ + static_cast<size_t>(start * strides_[d]) * dtype_size(dtype_);
  return Tensor(buffer_, off, dtype_, std::move(shape), strides_);
}

Expected<Tensor> Tensor::select(int64_t d, int64_t index) const {
  TESSERA_ASSIGN_OR_RETURN(Tensor t, narrow(d, index, 1));
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Expected<Tensor> Tensor::to_dtype(DType dtype) const {
  if (!device().is_cpu()) return unimplemented("to_dtype on " + device().to_string());
  if (!is_contiguous()) return unimplemented("to_dtype of a non-contiguous tensor");
  auto is_float = [](DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; };
  if (!is_float(dtype_) || !is_float(dtype))
    return unimplemented("to_dtype from " + std::string(dtype_name(dtype_)) + " to " +
                         std::string(dtype_name(dtype)));
  TESSERA_ASSIGN_OR_RETURN(Tensor out, empty(shape_, dtype));
  const size_t n = static_cast<size_t>(numel());
  if (dtype_ == dtype) {
    std::memcpy(out.data_ptr(), data_ptr(), nbytes());
  } else if (dtype == DType::kF32) {
    convert_to_f32(dtype_, data_ptr(), out.data<float>(), n);
  } else if (dtype_ == DType::kF32) {
    convert_from_f32(data<float>(), dtype, out.data_ptr(), n);
  } else {
    std::vector<float> tmp(n);
    convert_to_f32(dtype_, data_ptr(), tmp.data(), n);
    convert_from_f32(tmp.data(), dtype, out.data_ptr(), n);
  }
  return out;
}

}  // namespace tessera
