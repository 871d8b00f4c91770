// ssm/backend/cuda/norm.cuh — RMSNorm and LayerNorm on the GPU (Cuda overloads of backend/scalar/norm.hpp):
// one warp per row for the statistics and dx, deterministic column reductions for the gains and biases.
#pragma once

#include <cmath>

#include "ssm/backend/cuda/reduce.cuh"
#include "ssm/backend/tags.hpp"
#include "ssm/core/view.hpp"
#include "ssm/core/workspace.hpp"

namespace ssm::backend {

namespace cuda_detail {

template <class T>
__device__ inline T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T>
__global__ void rmsnorm_forward(Index M, Index D, const T* __restrict__ x, Index xs, const T* __restrict__ w, T eps,
                                T* __restrict__ y, Index ys, T* __restrict__ rstd) {
  const Index m = static_cast<Index>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (m >= M) return;
  const T* xi = x + m * xs;
  T ss = 0;
  for (Index d = lane; d < D; d += 32) ss += xi[d] * xi[d];
  ss = warp_sum(ss);
  const T r = T(1) / sqrt(ss / static_cast<T>(D) + eps);
  if (lane == 0) rstd[m] = r;
  for (Index d = lane; d < D; d += 32) y[m * ys + d] = w[d] * xi[d] * r;
}

template <class T>
__global__ void rmsnorm_backward_input(Index M, Index D, const T* __restrict__ x, Index xs, const T* __restrict__ w,
                                       const T* __restrict__ rstd, const T* __restrict__ g, Index gs,
                                       T* __restrict__ dx, Index dxs) {
  const Index m = static_cast<Index>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (m >= M) return;
  const T* xi = x + m * xs;
  const T* gi = g + m * gs;
  const T r = rstd[m];
  T dot = 0;
  for (Index d = lane; d < D; d += 32) dot += w[d] * gi[d] * xi[d];
  dot = warp_sum(dot);
  const T c = r * r * r * dot / static_cast<T>(D);
  for (Index d = lane; d < D; d += 32) dx[m * dxs + d] = r * w[d] * gi[d] - xi[d] * c;
}

template <class T>
__global__ void layernorm_forward(Index M, Index D, const T* __restrict__ x, Index xs, const T* __restrict__ gamma,
                                  const T* __restrict__ beta, T eps, T* __restrict__ y, Index ys,
                                  T* __restrict__ mean, T* __restrict__ rstd) {
  const Index m = static_cast<Index>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (m >= M) return;
  const T* xi = x + m * xs;
  T s = 0;
  for (Index d = lane; d < D; d += 32) s += xi[d];
  const T mu = warp_sum(s) / static_cast<T>(D);
  T v = 0;
  for (Index d = lane; d < D; d += 32) v += (xi[d] - mu) * (xi[d] - mu);
  const T r = T(1) / sqrt(warp_sum(v) / static_cast<T>(D) + eps);
  if (lane == 0) {
    mean[m] = mu;
    rstd[m] = r;
  }
  for (Index d = lane; d < D; d += 32) {
    const T xhat = (xi[d] - mu) * r;
    y[m * ys + d] = gamma ? gamma[d] * xhat + beta[d] : xhat;
  }
}

template <class T>
__global__ void layernorm_backward_input(Index M, Index D, const T* __restrict__ x, Index xs,
                                         const T* __restrict__ gamma, const T* __restrict__ mean,
                                         const T* __restrict__ rstd, const T* __restrict__ g, Index gs,
                                         T* __restrict__ dx, Index dxs) {
  const Index m = static_cast<Index>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (m >= M) return;
  const T* xi = x + m * xs;
  const T* gi = g + m * gs;
  const T mu = mean[m], r = rstd[m];
  T sg = 0, sgx = 0;
  for (Index d = lane; d < D; d += 32) {
    const T gg = (gamma ? gamma[d] : T(1)) * gi[d];
    sg += gg;
    sgx += gg * (xi[d] - mu) * r;
  }
  sg = warp_sum(sg) / static_cast<T>(D);
  sgx = warp_sum(sgx) / static_cast<T>(D);
  for (Index d = lane; d < D; d += 32)
    dx[m * dxs + d] = r * ((gamma ? gamma[d] : T(1)) * gi[d] - sg - (xi[d] - mu) * r * sgx);
}

inline unsigned rows_grid(Index M) { return static_cast<unsigned>((M + 7) / 8); }  // 8 warps per block

}  // namespace cuda_detail

template <Real T>
void rmsnorm_forward(Cuda, CView<T, 2> x, CView<T, 1> w, T eps, View<T, 2> y, View<T, 1> rstd) {
  const Index M = x.extent(0), D = x.extent(1);
  if (M == 0) return;
  cuda_detail::rmsnorm_forward<<<cuda_detail::rows_grid(M), 256, 0, cuda::current_stream()>>>(
      M, D, x.data(), x.stride(0), w.data(), eps, y.data(), y.stride(0), rstd.data());
  SSM_CUDA_CHECK_LAUNCH("rmsnorm_forward");
}

template <Real T>
void rmsnorm_backward(Cuda, CView<T, 2> x, CView<T, 1> w, CView<T, 1> rstd, CView<T, 2> dy, View<T, 2> dx,
                      View<T, 1> dw, Workspace&) {
  const Index M = x.extent(0), D = x.extent(1);
  if (M == 0) return;
  if (!dx.empty()) {
    cuda_detail::rmsnorm_backward_input<<<cuda_detail::rows_grid(M), 256, 0, cuda::current_stream()>>>(
        M, D, x.data(), x.stride(0), w.data(), rstd.data(), dy.data(), dy.stride(0), dx.data(), dx.stride(0));
    SSM_CUDA_CHECK_LAUNCH("rmsnorm_backward_input");
  }
  const T *xp = x.data(), *gp = dy.data(), *rp = rstd.data();
  const Index xs = x.stride(0), gs = dy.stride(0);
  cuda::column_reduce(M, D, [=] __device__(Index m, Index d) { return gp[m * gs + d] * xp[m * xs + d] * rp[m]; },
                      dw.data(), true);
}

template <Real T>
void layernorm_forward(Cuda, CView<T, 2> x, CView<T, 1> gamma, CView<T, 1> beta, T eps, View<T, 2> y,
                       View<T, 1> mean, View<T, 1> rstd) {
  const Index M = x.extent(0), D = x.extent(1);
  if (M == 0) return;
  cuda_detail::layernorm_forward<<<cuda_detail::rows_grid(M), 256, 0, cuda::current_stream()>>>(
      M, D, x.data(), x.stride(0), gamma.empty() ? nullptr : gamma.data(), beta.empty() ? nullptr : beta.data(), eps,
      y.data(), y.stride(0), mean.data(), rstd.data());
  SSM_CUDA_CHECK_LAUNCH("layernorm_forward");
}

template <Real T>
void layernorm_backward(Cuda, CView<T, 2> x, CView<T, 1> gamma, CView<T, 1> mean, CView<T, 1> rstd, CView<T, 2> dy,
                        View<T, 2> dx, View<T, 1> dgamma, View<T, 1> dbeta, Workspace&) {
  const Index M = x.extent(0), D = x.extent(1);
  if (M == 0) return;
  if (!dx.empty()) {
    cuda_detail::layernorm_backward_input<<<cuda_detail::rows_grid(M), 256, 0, cuda::current_stream()>>>(
        M, D, x.data(), x.stride(0), gamma.empty() ? nullptr : gamma.data(), mean.data(), rstd.data(), dy.data(),
        dy.stride(0), dx.data(), dx.stride(0));
    SSM_CUDA_CHECK_LAUNCH("layernorm_backward_input");
  }
  if (dgamma.empty()) return;
  const T *xp = x.data(), *gp = dy.data(), *mp = mean.data(), *rp = rstd.data();
  const Index xs = x.stride(0), gs = dy.stride(0);
  cuda::column_reduce(
      M, D, [=] __device__(Index m, Index d) { return gp[m * gs + d] * (xp[m * xs + d] - mp[m]) * rp[m]; },
      dgamma.data(), true);
  cuda::column_reduce(M, D, [=] __device__(Index m, Index d) { return gp[m * gs + d]; }, dbeta.data(), true);
}

}  // namespace ssm::backend
