// ssm/core/buffer.hpp — owning, 64-byte-aligned storage, parameterised by the memory space it lives in.
// Buffer<T, memory::Host> is defined here; Buffer<T, memory::Device> lives in backend/cuda/buffer.cuh.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <new>
#include <utility>

#include "ssm/core/config.hpp"
#include "ssm/core/error.hpp"
#include "ssm/core/view.hpp"

namespace ssm {

/// Where a buffer's bytes live. A backend names its memory space (backend/tags.hpp).
namespace memory {
struct Host {};
struct Device {};
}  // namespace memory

template <class T, class Space = memory::Host>
class Buffer;

namespace detail {
inline void* aligned_allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  SSM_CHECK(p != nullptr, "host allocation of ", bytes, " bytes failed");
  return p;
}
}  // namespace detail

/// A host array of `size()` elements of T, aligned to kAlignment bytes. Contents start uninitialised
/// (first touch is what costs here, so callers fill exactly what they use). Copy is a deep copy.
template <class T>
class Buffer<T, memory::Host> {
  static_assert(std::is_trivially_copyable_v<T>, "ssm::Buffer holds trivially copyable elements");

 public:
  using value_type = T;
  using memory_space = memory::Host;

  Buffer() = default;
  explicit Buffer(Index n) { resize(n); }
  Buffer(Index n, const T& value) {
    resize(n);
    std::fill_n(data_, n, value);
  }
  Buffer(const Buffer& o) {
    resize(o.size_);
    if (size_) std::copy_n(o.data_, size_, data_);
  }
  Buffer& operator=(const Buffer& o) {
    if (this != &o) {
      Buffer tmp(o);
      swap(tmp);
    }
    return *this;
  }
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    swap(o);
    return *this;
  }
  ~Buffer() { std::free(data_); }

  void swap(Buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
  }

  /// Grows the capacity when needed (old contents are kept); never shrinks the allocation.
  void resize(Index n) {
    SSM_CHECK(n >= 0, "buffer size must be >= 0, found ", n);
    if (n > capacity_) {
      T* p = static_cast<T*>(detail::aligned_allocate(static_cast<std::size_t>(n) * sizeof(T)));
      if (size_) std::copy_n(data_, size_, p);
      std::free(data_);
      data_ = p;
      capacity_ = n;
    }
    size_ = n;
  }

  void fill(const T& value) { std::fill_n(data_, size_, value); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  Index size() const { return size_; }
  Index capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  T& operator[](Index i) { return data_[i]; }
  const T& operator[](Index i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

  /// The whole buffer as a flat view, or seen with `extents` (their product must equal size()).
  View<T, 1> view() { return View<T, 1>(data_, {size_}); }
  View<const T, 1> view() const { return View<const T, 1>(data_, {size_}); }
  template <int R>
  View<T, R> view(const std::array<Index, R>& extents) {
    return view().template reshape<R>(extents);
  }
  template <int R>
  View<const T, R> view(const std::array<Index, R>& extents) const {
    return view().template reshape<R>(extents);
  }

 private:
  T* data_ = nullptr;
  Index size_ = 0;
  Index capacity_ = 0;
};

}  // namespace ssm
