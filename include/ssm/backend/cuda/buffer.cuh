// ssm/backend/cuda/buffer.cuh — device memory: Buffer<T, memory::Device> (owning, cudaMalloc) and copies
// between host and device views. Host ↔ device copies happen only at the edges of a step.
#pragma once

#include <vector>

#include "ssm/backend/cuda/device.cuh"
#include "ssm/core/buffer.hpp"

namespace ssm {

template <class T>
class Buffer<T, memory::Device> {
  static_assert(std::is_trivially_copyable_v<T>, "ssm::Buffer holds trivially copyable elements");

 public:
  using value_type = T;
  using memory_space = memory::Device;

  Buffer() = default;
  explicit Buffer(Index n) { resize(n); }
  Buffer(Index n, const T& value) {
    resize(n);
    fill(value);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    swap(o);
    return *this;
  }
  ~Buffer() { cuda::device_release(data_); }

  void swap(Buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
  }

  /// Grows (keeping contents) when needed; never shrinks.
  void resize(Index n) {
    SSM_CHECK(n >= 0, "buffer size must be >= 0, found ", n);
    if (n > capacity_) {
      T* p = static_cast<T*>(cuda::device_allocate(static_cast<std::size_t>(n) * sizeof(T)));
      if (size_) SSM_CUDA_CHECK(cudaMemcpy(p, data_, static_cast<std::size_t>(size_) * sizeof(T), cudaMemcpyDeviceToDevice));
      cuda::device_release(data_);
      data_ = p;
      capacity_ = n;
    }
    size_ = n;
  }

  /// Every element = value (zero and all-ones byte patterns by memset, others through the host).
  void fill(const T& value) {
    if (size_ == 0) return;
    if (value == T(0)) {
      SSM_CUDA_CHECK(cudaMemset(data_, 0, static_cast<std::size_t>(size_) * sizeof(T)));
      return;
    }
    std::vector<T> host(static_cast<std::size_t>(size_), value);
    SSM_CUDA_CHECK(cudaMemcpy(data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  Index size() const { return size_; }
  bool empty() const { return size_ == 0; }

  View<T, 1> view() { return View<T, 1>(data_, {size_}); }
  View<const T, 1> view() const { return View<const T, 1>(data_, {size_}); }
  template <int R>
  View<T, R> view(const std::array<Index, R>& extents) {
    return view().template reshape<R>(extents);
  }

  /// Copies of the whole buffer to and from host memory (sizes must match).
  void upload(const T* host, Index n) {
    SSM_CHECK(n == size_, "upload of ", n, " elements into a device buffer of ", size_);
    if (n) SSM_CUDA_CHECK(cudaMemcpy(data_, host, static_cast<std::size_t>(n) * sizeof(T), cudaMemcpyHostToDevice));
  }
  void download(T* host, Index n) const {
    SSM_CHECK(n == size_, "download of ", n, " elements from a device buffer of ", size_);
    if (n) SSM_CUDA_CHECK(cudaMemcpy(host, data_, static_cast<std::size_t>(n) * sizeof(T), cudaMemcpyDeviceToHost));
  }
  std::vector<T> to_host() const {
    std::vector<T> h(static_cast<std::size_t>(size_));
    download(h.data(), size_);
    return h;
  }

 private:
  T* data_ = nullptr;
  Index size_ = 0;
  Index capacity_ = 0;
};

template <class T>
using DeviceBuffer = Buffer<T, memory::Device>;

namespace cuda {

/// Copies a contiguous host view into a contiguous device view of the same size (or back).
template <class T, class U, int R>
void copy_to_device(const View<U, R>& host, const View<T, R>& device) {
  SSM_CHECK(host.is_contiguous() && device.is_contiguous() && host.size() == device.size(),
            "copy_to_device: contiguous views of equal size, found ", shape_string(host), " and ", shape_string(device));
  static_assert(std::is_same_v<std::remove_const_t<U>, T>, "copy_to_device: element types must match");
  if (host.size())
    SSM_CUDA_CHECK(cudaMemcpyAsync(device.data(), host.data(), static_cast<std::size_t>(host.size()) * sizeof(T),
                                   cudaMemcpyHostToDevice, current_stream()));
}
template <class T, class U, int R>
void copy_to_host(const View<U, R>& device, const View<T, R>& host) {
  SSM_CHECK(host.is_contiguous() && device.is_contiguous() && host.size() == device.size(),
            "copy_to_host: contiguous views of equal size, found ", shape_string(device), " and ", shape_string(host));
  if (host.size())
    SSM_CUDA_CHECK(cudaMemcpyAsync(host.data(), device.data(), static_cast<std::size_t>(host.size()) * sizeof(T),
                                   cudaMemcpyDeviceToHost, current_stream()));
  synchronize();
}

}  // namespace cuda
}  // namespace ssm
