// ssm/backend/cuda/pooling.cuh — mean / last-token / max pooling over each sequence's length on the GPU
// (Cuda overloads of backend/scalar/pooling.hpp). One thread per (b, d); padded positions get zero gradient.
#pragma once

#include <cstdint>
#include <limits>

#include "ssm/backend/cuda/device.cuh"
#include "ssm/backend/scalar/pooling.hpp"

namespace ssm::backend {

namespace cuda_detail {

template <class T>
__global__ void pool_forward(Pooling kind, Index Bn, Index L, Index D, const T* __restrict__ x, Index xb, Index xt,
                             const std::int32_t* __restrict__ lengths, T* __restrict__ y, Index ys,
                             std::int32_t* __restrict__ argmax, int* __restrict__ bad) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < Bn * D; i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index b = i / D, d = i % D;
    const Index n = lengths[b];
    if (n < 1 || n > L) {
      if (d == 0) atomicMin(bad, static_cast<int>(b));
      y[b * ys + d] = T(0);
      continue;
    }
    const T* xb_ = x + b * xb + d;
    if (kind == Pooling::Mean) {
      T s = 0;
      for (Index t = 0; t < n; ++t) s += xb_[t * xt];
      y[b * ys + d] = s * (T(1) / static_cast<T>(n));
    } else if (kind == Pooling::Last) {
      y[b * ys + d] = xb_[(n - 1) * xt];
    } else {
      T best = xb_[0];
      std::int32_t arg = 0;
      for (Index t = 1; t < n; ++t)
        if (xb_[t * xt] > best) {
          best = xb_[t * xt];
          arg = static_cast<std::int32_t>(t);
        }
      y[b * ys + d] = best;
      argmax[b * D + d] = arg;
    }
  }
}

template <class T>
__global__ void pool_backward(Pooling kind, Index Bn, Index L, Index D, const std::int32_t* __restrict__ lengths,
                              const std::int32_t* __restrict__ argmax, const T* __restrict__ dy, Index gs,
                              T* __restrict__ dx, Index db, Index dt) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < Bn * L * D; i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index d = i % D, t = (i / D) % L, b = i / (D * L);
    const Index n = lengths[b];
    T v = T(0);
    if (t < n) {
      if (kind == Pooling::Mean) v = dy[b * gs + d] / static_cast<T>(n);
      else if (kind == Pooling::Last) v = t == n - 1 ? dy[b * gs + d] : T(0);
      else v = argmax[b * D + d] == t ? dy[b * gs + d] : T(0);
    }
    dx[b * db + t * dt + d] = v;
  }
}

}  // namespace cuda_detail

/// lengths (device) must lie in [1, L]; a bad one throws after the kernel, naming the sequence.
template <Real T>
void pool_forward(Cuda, Pooling kind, CView<T, 3> x, CView<std::int32_t, 1> lengths, View<T, 2> y,
                  View<std::int32_t, 2> argmax) {
  const Index Bn = x.extent(0), L = x.extent(1), D = x.extent(2);
  if (Bn * D == 0) return;
  thread_local cuda::DeviceFlag flag;
  int* bad = flag.reset(std::numeric_limits<int>::max());
  cuda_detail::pool_forward<<<cuda::grid_for(Bn * D), 256, 0, cuda::current_stream()>>>(
      kind, Bn, L, D, x.data(), x.stride(0), x.stride(1), lengths.data(), y.data(), y.stride(0),
      argmax.empty() ? nullptr : argmax.data(), bad);
  SSM_CUDA_CHECK_LAUNCH("pool_forward");
  const int b = flag.read();
  SSM_CHECK(b == std::numeric_limits<int>::max(), "pooling: sequence ", b, " has a length outside 1..", L);
}

template <Real T>
void pool_backward(Cuda, Pooling kind, CView<std::int32_t, 1> lengths, CView<std::int32_t, 2> argmax, CView<T, 2> dy,
                   View<T, 3> dx) {
  const Index Bn = dx.extent(0), L = dx.extent(1), D = dx.extent(2);
  if (Bn * L * D == 0) return;
  cuda_detail::pool_backward<<<cuda::grid_for(Bn * L * D), 256, 0, cuda::current_stream()>>>(
      kind, Bn, L, D, lengths.data(), argmax.empty() ? nullptr : argmax.data(), dy.data(), dy.stride(0), dx.data(),
      dx.stride(0), dx.stride(1));
  SSM_CUDA_CHECK_LAUNCH("pool_backward");
}

}  // namespace ssm::backend
