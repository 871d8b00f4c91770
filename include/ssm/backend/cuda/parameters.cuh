// ssm/backend/cuda/parameters.cuh — a model's parameters and gradients in device memory: the same layout as
// Parameters<T> on the host (one flat buffer each), so the same layer bind() makes device views of them.
#pragma once

#include "ssm/backend/cuda/buffer.cuh"
#include "ssm/nn/parameters.hpp"

namespace ssm {

template <Real T>
class Parameters<T, memory::Device> {
 public:
  explicit Parameters(ParamLayout layout)
      : layout_(std::move(layout)), values_(layout_.size(), T(0)), grads_(layout_.size(), T(0)) {}

  const ParamLayout& layout() const { return layout_; }
  T* values() { return values_.data(); }
  const T* values() const { return values_.data(); }
  T* grads() { return grads_.data(); }
  const T* grads() const { return grads_.data(); }
  View<T, 1> value_view() { return values_.view(); }
  View<const T, 1> value_view() const { return values_.view(); }
  View<T, 1> grad_view() { return grads_.view(); }
  View<const T, 1> grad_view() const { return grads_.view(); }
  Index size() const { return layout_.size(); }
  Index count() const { return layout_.count(); }

  void zero_grad() {
    if (size()) SSM_CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0, static_cast<std::size_t>(size()) * sizeof(T), cuda::current_stream()));
  }

  /// Values from (to) host parameters of the same layout.
  void upload(const Parameters<T, memory::Host>& host) {
    SSM_CHECK(host.size() == size(), "uploading ", host.size(), " parameters into a device model of ", size());
    values_.upload(host.values(), size());
  }
  void download(Parameters<T, memory::Host>& host) const {
    SSM_CHECK(host.size() == size(), "downloading ", size(), " parameters into a host model of ", host.size());
    values_.download(host.values(), size());
  }
  void download_grads(Parameters<T, memory::Host>& host) const {
    SSM_CHECK(host.size() == size(), "downloading ", size(), " gradients into a host model of ", host.size());
    grads_.download(host.grads(), size());
  }

 private:
  ParamLayout layout_;
  Buffer<T, memory::Device> values_;
  Buffer<T, memory::Device> grads_;
};

}  // namespace ssm
