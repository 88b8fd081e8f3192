// Host, mapped-file and device buffers.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "src/core/mapped_file.h"
#include "tessera/tensor.h"

#ifdef TESSERA_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace tessera {
namespace {

class HostBuffer final : public Buffer {
 public:
  HostBuffer(void* p, size_t n) : p_(p), n_(n) {}
  ~HostBuffer() override { std::free(p_); }
  void* data() override { return p_; }
  size_t size_bytes() const override { return n_; }
  Device device() const override { return Device::cpu(); }

 private:
  void* p_;
  size_t n_;
};

#ifdef TESSERA_WITH_CUDA
class DeviceBuffer final : public Buffer {
 public:
  DeviceBuffer(void* p, size_t n, Device d) : p_(p), n_(n), d_(d) {}
  ~DeviceBuffer() override { cudaFree(p_); }
  void* data() override { return p_; }
  size_t size_bytes() const override { return n_; }
  Device device() const override { return d_; }

 private:
  void* p_;
  size_t n_;
  Device d_;
};
#endif

}  // namespace

Expected<std::shared_ptr<Buffer>> allocate_host(size_t bytes) {
  constexpr size_t kAlign = 64;
  const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
  if (!p) return out_of_memory("host allocation of " + std::to_string(bytes) + " bytes failed");
  return std::shared_ptr<Buffer>(std::make_shared<HostBuffer>(p, bytes));
}

Expected<std::shared_ptr<Buffer>> allocate_device(size_t bytes, Device device) {
#ifdef TESSERA_WITH_CUDA
  if (cudaSetDevice(device.index) != cudaSuccess)
    return invalid_argument("no CUDA device " + device.to_string());
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (err != cudaSuccess)
    return out_of_memory("cudaMalloc of " + std::to_string(bytes) + " bytes on " +
                         device.to_string() + " failed: " + cudaGetErrorString(err));
  return std::shared_ptr<Buffer>(std::make_shared<DeviceBuffer>(p, bytes, device));
#else
  return unimplemented("this tessera build has no CUDA support (configure with --preset cuda)");
#endif
}

Expected<std::shared_ptr<MappedFile>> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot open: " + std::strerror(e));
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error(path + ": not a regular file");
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return io_error(path + ": mmap failed: " + std::strerror(e));
    }
    f->data_ = p;
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(data_, size_);
}

Expected<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return not_found(path + ": no such file");
    return io_error(path + ": cannot read");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status write_text_file(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return io_error(path + ": cannot open for writing");
  out << contents;
  out.close();
  if (!out) return io_error(path + ": write failed");
  return Status::ok();
}

}  // namespace tessera
