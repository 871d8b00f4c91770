// ssm/backend/cuda/conv1d.cuh — depthwise causal Conv1d on the GPU (Cuda overloads of
// backend/scalar/conv1d.hpp): y[b,t,d] = bias[d] + Σ_k w[k,d]·x[b, t−K+1+k, d]. One thread per output
// element; the weight and bias gradients are deterministic column reductions over the B·L rows.
#pragma once

#include "ssm/backend/cuda/reduce.cuh"
#include "ssm/backend/tags.hpp"
#include "ssm/core/view.hpp"
#include "ssm/core/workspace.hpp"

namespace ssm::backend {

namespace cuda_detail {

template <class T>
__global__ void conv1d_forward(Index Bn, Index L, Index D, Index K, const T* __restrict__ x, Index xb, Index xt,
                               const T* __restrict__ w, Index wk, const T* __restrict__ bias, T* __restrict__ y,
                               Index yb, Index yt) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < Bn * L * D;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index d = i % D, t = (i / D) % L, b = i / (D * L);
    T acc = bias ? bias[d] : T(0);
    for (Index k = (K - 1 - t > 0 ? K - 1 - t : 0); k < K; ++k) acc += w[k * wk + d] * x[b * xb + (t - (K - 1) + k) * xt + d];
    y[b * yb + t * yt + d] = acc;
  }
}

template <class T>
__global__ void conv1d_backward_input(Index Bn, Index L, Index D, Index K, const T* __restrict__ g, Index gb,
                                      Index gt, const T* __restrict__ w, Index wk, T* __restrict__ dx, Index db,
                                      Index dt) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < Bn * L * D;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index d = i % D, s = (i / D) % L, b = i / (D * L);
    T acc = T(0);
    for (Index k = (s + K - L > 0 ? s + K - L : 0); k < K; ++k) acc += w[k * wk + d] * g[b * gb + (s + (K - 1) - k) * gt + d];
    dx[b * db + s * dt + d] = acc;
  }
}

}  // namespace cuda_detail

template <Real T>
void conv1d_forward(Cuda, CView<T, 3> x, CView<T, 2> w, CView<T, 1> bias, View<T, 3> y) {
  const Index Bn = x.extent(0), L = x.extent(1), D = x.extent(2), K = w.extent(0);
  if (Bn * L * D == 0) return;
  cuda_detail::conv1d_forward<<<cuda::grid_for(Bn * L * D), 256, 0, cuda::current_stream()>>>(
      Bn, L, D, K, x.data(), x.stride(0), x.stride(1), w.data(), w.stride(0), bias.empty() ? nullptr : bias.data(),
      y.data(), y.stride(0), y.stride(1));
  SSM_CUDA_CHECK_LAUNCH("conv1d_forward");
}

template <Real T>
void conv1d_backward(Cuda, CView<T, 3> x, CView<T, 2> w, CView<T, 3> dy, View<T, 3> dx, View<T, 2> dw,
                     View<T, 1> dbias, Workspace&) {
  const Index Bn = x.extent(0), L = x.extent(1), D = x.extent(2), K = w.extent(0);
  if (Bn * L * D == 0) return;
  if (!dx.empty()) {
    cuda_detail::conv1d_backward_input<<<cuda::grid_for(Bn * L * D), 256, 0, cuda::current_stream()>>>(
        Bn, L, D, K, dy.data(), dy.stride(0), dy.stride(1), w.data(), w.stride(0), dx.data(), dx.stride(0),
        dx.stride(1));
    SSM_CUDA_CHECK_LAUNCH("conv1d_backward_input");
  }
  const T* xp = x.data();
  const T* gp = dy.data();
  const Index xb = x.stride(0), xt = x.stride(1), gb = dy.stride(0), gt = dy.stride(1);
  for (Index k = 0; k < K; ++k) {
    // dw[k, d] += Σ_{b,t} dy[b,t,d] · x[b, t−K+1+k, d]
    cuda::column_reduce(
        Bn * L, D,
        [=] __device__(Index r, Index d) {
          const Index b = r / L, t = r % L, s = t - (K - 1) + k;
          return s >= 0 ? gp[b * gb + t * gt + d] * xp[b * xb + s * xt + d] : T(0);
        },
        dw.data() + k * dw.stride(0), true);
  }
  if (!dbias.empty())
    cuda::column_reduce(
        Bn * L, D, [=] __device__(Index r, Index d) { return gp[(r / L) * gb + (r % L) * gt + d]; }, dbias.data(), true);
}

}  // namespace ssm::backend
