// tessera/tensor.h — a typed, strided view over a reference-counted buffer on a device.
//
// A Tensor never owns raw memory itself: it holds a shared Buffer (host heap, a memory-mapped
// file, or device memory) plus a byte offset, so slicing and views are free and a mapped
// checkpoint stays mapped for as long as any tensor looks at it. Shapes and strides are in
// elements, int64. Kernels never see Tensor (docs/architecture.md, seam 1): callers pass data_ptr() and
// strides into a params struct.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tessera/dtype.h"
#include "tessera/status.h"

namespace tessera {

enum class DeviceKind : uint8_t { kCpu, kCuda };

struct Device {
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;
  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {DeviceKind::kCuda, i}; }
  bool is_cpu() const { return kind == DeviceKind::kCpu; }
  bool operator==(const Device&) const = default;
  std::string to_string() const;
};

// Memory that a Tensor views. Subclasses: host allocation, mmap of a file, cudaMalloc.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual size_t size_bytes() const = 0;
  virtual Device device() const = 0;
};

// 64-byte aligned host memory.
Expected<std::shared_ptr<Buffer>> allocate_host(size_t bytes);
// Device memory (cudaMalloc); an error on a build without CUDA.
Expected<std::shared_ptr<Buffer>> allocate_device(size_t bytes, Device device);

using Shape = std::vector<int64_t>;

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Buffer> buffer, size_t byte_offset, DType dtype, Shape shape,
         Shape strides);

  // A new contiguous tensor; contents uninitialized.
  static Expected<Tensor> empty(Shape shape, DType dtype, Device device = Device::cpu());
  static Expected<Tensor> zeros(Shape shape, DType dtype, Device device = Device::cpu());

  bool defined() const { return buffer_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return buffer_ ? buffer_->device() : Device::cpu(); }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;

  void* data_ptr() const;
  template <typename T>
  T* data() const {
    return static_cast<T*>(data_ptr());
  }
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }

  // Views (no copy). Indices are bounds-checked; a bad index is an invalid_argument error.
  Expected<Tensor> view(Shape new_shape) const;  // contiguous only
  Expected<Tensor> select(int64_t d, int64_t index) const;
  Expected<Tensor> narrow(int64_t d, int64_t start, int64_t length) const;

  // Copy to a contiguous tensor of another dtype (host only; f32/f16/bf16).
  Expected<Tensor> to_dtype(DType dtype) const;

  std::string shape_string() const;  // "[2, 3, 4]"

 private:
  std::shared_ptr<Buffer> buffer_;
  size_t byte_offset_ = 0;
  DType dtype_ = DType::kF32;
  Shape shape_;
  Shape strides_;
};

Shape contiguous_strides(const Shape& shape);
std::string shape_to_string(const Shape& shape);
// numel of a shape; nullopt on a negative dimension or int64 overflow.
std::optional<int64_t> checked_numel(const Shape& shape);

}  // namespace tessera
