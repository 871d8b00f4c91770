// ssm/backend/cuda/elementwise.cuh — activations and inverted dropout on the GPU (Cuda overloads of
// backend/scalar/elementwise.hpp), with the same SSM_HOST_DEVICE math and the same Philox draws, so a
// dropout mask is bit-identical to the CPU's.
#pragma once

#include <cstdint>

#include "ssm/backend/cuda/device.cuh"
#include "ssm/backend/scalar/elementwise.hpp"

namespace ssm::backend {

namespace cuda_detail {

template <Activation A, class T>
__global__ void activation_forward(Index n, const T* __restrict__ x, T* __restrict__ y) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<Index>(gridDim.x) * blockDim.x)
    y[i] = math::activate(A, x[i]);
}

template <Activation A, class T>
__global__ void activation_backward(Index n, const T* __restrict__ x, const T* dy, T* dx) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<Index>(gridDim.x) * blockDim.x)
    dx[i] = math::activate_grad(A, x[i]) * dy[i];
}

template <class T>
__global__ void dropout_apply(Index n, const T* x, T* y, float p, T scale, std::uint64_t seed, std::uint64_t stream) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<Index>(gridDim.x) * blockDim.x)
    y[i] = philox_uniform(seed, stream, static_cast<std::uint64_t>(i)) >= p ? x[i] * scale : T(0);
}

}  // namespace cuda_detail

template <Real T>
void activation_forward(Cuda, Activation act, CView<T, 1> x, View<T, 1> y) {
  const Index n = x.extent(0);
  if (n == 0) return;
  detail::with_activation(act, [&](auto a) {
    cuda_detail::activation_forward<decltype(a)::value, T><<<cuda::grid_for(n), 256, 0, cuda::current_stream()>>>(n, x.data(), y.data());
  });
  SSM_CUDA_CHECK_LAUNCH("activation_forward");
}

template <Real T>
void activation_backward(Cuda, Activation act, CView<T, 1> x, CView<T, 1> dy, View<T, 1> dx) {
  const Index n = x.extent(0);
  if (n == 0) return;
  detail::with_activation(act, [&](auto a) {
    cuda_detail::activation_backward<decltype(a)::value, T>
        <<<cuda::grid_for(n), 256, 0, cuda::current_stream()>>>(n, x.data(), dy.data(), dx.data());
  });
  SSM_CUDA_CHECK_LAUNCH("activation_backward");
}

template <Real T>
void dropout_apply(Cuda, CView<T, 1> x, View<T, 1> y, double p, std::uint64_t seed, std::uint64_t stream) {
  const Index n = x.extent(0);
  if (n == 0) return;
  cuda_detail::dropout_apply<<<cuda::grid_for(n), 256, 0, cuda::current_stream()>>>(
      n, x.data(), y.data(), static_cast<float>(p), static_cast<T>(1.0 / (1.0 - p)), seed, stream);
  SSM_CUDA_CHECK_LAUNCH("dropout_apply");
}

}  // namespace ssm::backend

namespace ssm::backend {

template <Real T>
void copy_elements(Cuda, CView<T, 1> x, View<T, 1> y) {
  if (x.data() == y.data() || x.extent(0) == 0) return;
  SSM_CUDA_CHECK(cudaMemcpyAsync(y.data(), x.data(), static_cast<std::size_t>(x.extent(0)) * sizeof(T),
                                 cudaMemcpyDeviceToDevice, cuda::current_stream()));
}

}  // namespace ssm::backend
