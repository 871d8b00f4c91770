// ssm/backend/cuda/loss.cuh — softmax cross-entropy with label smoothing, class weights and an ignore index
// on the GPU (Cuda overload of backend/scalar/loss.hpp, same equations): one warp per row computes its
// log-softmax, loss term and gradient; the sums over rows are a fixed-order reduction.
#pragma once

#include <cstdint>
#include <limits>

#include "ssm/backend/cuda/buffer.cuh"
#include "ssm/backend/cuda/reduce.cuh"
#include "ssm/backend/scalar/loss.hpp"

namespace ssm::backend {

namespace cuda_detail {

/// stats[m] = {weighted loss term, target weight, counted, correct} for row m.
template <class T>
__global__ void cross_entropy_rows(Index M, Index C, const T* __restrict__ z, Index zs,
                                   const std::int32_t* __restrict__ targets, const T* __restrict__ w, double eps,
                                   std::int32_t ignore, double* __restrict__ stats, int* __restrict__ bad) {
  const Index m = static_cast<Index>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (m >= M) return;
  const std::int32_t y = targets[m];
  if (y == ignore || y < 0 || y >= C) {
    if (lane == 0) {
      if (y != ignore) atomicMin(bad, static_cast<int>(m));
      stats[m * 4 + 0] = stats[m * 4 + 1] = stats[m * 4 + 2] = stats[m * 4 + 3] = 0;
    }
    return;
  }
  const T* zr = z + m * zs;
  double zmax = -1e300;
  Index arg = 0;
  for (Index c = lane; c < C; c += 32)
    if (static_cast<double>(zr[c]) > zmax) {
      zmax = zr[c];
      arg = c;
    }
  for (int o = 16; o > 0; o >>= 1) {  // max and its (first) index across the warp
    const double oz = __shfl_xor_sync(0xffffffffu, zmax, o);
    const Index oa = __shfl_xor_sync(0xffffffffu, arg, o);
    if (oz > zmax || (oz == zmax && oa < arg)) {
      zmax = oz;
      arg = oa;
    }
  }
  double se = 0;
  for (Index c = lane; c < C; c += 32) se += exp(static_cast<double>(zr[c]) - zmax);
  for (int o = 16; o > 0; o >>= 1) se += __shfl_xor_sync(0xffffffffu, se, o);
  const double lse = zmax + log(se);
  double smooth = 0;
  for (Index c = lane; c < C; c += 32) smooth -= (w ? static_cast<double>(w[c]) : 1.0) * (static_cast<double>(zr[c]) - lse);
  for (int o = 16; o > 0; o >>= 1) smooth += __shfl_xor_sync(0xffffffffu, smooth, o);
  if (lane == 0) {
    const double wy = w ? static_cast<double>(w[y]) : 1.0;
    stats[m * 4 + 0] = (1.0 - eps) * wy * (lse - static_cast<double>(zr[y])) + eps / static_cast<double>(C) * smooth;
    stats[m * 4 + 1] = wy;
    stats[m * 4 + 2] = 1;
    stats[m * 4 + 3] = arg == y ? 1 : 0;
  }
}

template <class T>
__global__ void cross_entropy_grad(Index M, Index C, const T* __restrict__ z, Index zs,
                                   const std::int32_t* __restrict__ targets, const T* __restrict__ w, double wsum_all,
                                   double eps, std::int32_t ignore, const double* __restrict__ totals,
                                   T* __restrict__ dz, Index dzs) {
  const Index m = static_cast<Index>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (m >= M) return;
  const std::int32_t y = targets[m];
  T* dr = dz + m * dzs;
  if (y == ignore || y < 0 || y >= C) {
    for (Index c = lane; c < C; c += 32) dr[c] = T(0);
    return;
  }
  const double norm = totals[1] > 0 ? 1.0 / totals[1] : 0.0;
  const T* zr = z + m * zs;
  double zmax = -1e300;
  for (Index c = lane; c < C; c += 32) zmax = fmax(zmax, static_cast<double>(zr[c]));
  for (int o = 16; o > 0; o >>= 1) zmax = fmax(zmax, __shfl_xor_sync(0xffffffffu, zmax, o));
  double se = 0;
  for (Index c = lane; c < C; c += 32) se += exp(static_cast<double>(zr[c]) - zmax);
  for (int o = 16; o > 0; o >>= 1) se += __shfl_xor_sync(0xffffffffu, se, o);
  const double lse = zmax + log(se);
  const double wy = w ? static_cast<double>(w[y]) : 1.0;
  for (Index c = lane; c < C; c += 32) {
    const double p = exp(static_cast<double>(zr[c]) - lse);
    const double wc = w ? static_cast<double>(w[c]) : 1.0;
    const double g = (1.0 - eps) * wy * (p - (c == y ? 1.0 : 0.0)) + eps / static_cast<double>(C) * (p * wsum_all - wc);
    dr[c] = static_cast<T>(g * norm);
  }
}

}  // namespace cuda_detail

/// logits, targets, dlogits in device memory; class_weights is a host view (C values) on every backend.
template <Real T>
LossStats softmax_cross_entropy(Cuda, CView<T, 2> logits, CView<std::int32_t, 1> targets, CView<T, 1> class_weights,
                                CrossEntropyOptions opt, View<T, 2> dlogits) {
  const Index M = logits.extent(0), C = logits.extent(1);
  LossStats st;
  if (M == 0) return st;
  thread_local DeviceBuffer<double> scratch;
  thread_local DeviceBuffer<T> weights;
  thread_local cuda::DeviceFlag flag;
  scratch.resize(M * 4 + 4);
  double wsum_all = static_cast<double>(C);
  const T* w = nullptr;
  if (!class_weights.empty()) {
    weights.resize(C);
    weights.upload(class_weights.data(), C);
    w = weights.data();
    wsum_all = 0;
    for (Index c = 0; c < C; ++c) wsum_all += static_cast<double>(class_weights(c));
  }
  int* bad = flag.reset(std::numeric_limits<int>::max());
  const unsigned grid = static_cast<unsigned>((M + 7) / 8);
  cuda_detail::cross_entropy_rows<<<grid, 256, 0, cuda::current_stream()>>>(
      M, C, logits.data(), logits.stride(0), targets.data(), w, opt.label_smoothing, opt.ignore_index, scratch.data(), bad);
  SSM_CUDA_CHECK_LAUNCH("cross_entropy_rows");
  const double* s = scratch.data();
  double* totals = scratch.data() + M * 4;
  cuda::column_reduce(M, 4, [=] __device__(Index m, Index k) { return s[m * 4 + k]; }, totals, false);
  if (!dlogits.empty()) {
    cuda_detail::cross_entropy_grad<<<grid, 256, 0, cuda::current_stream()>>>(
        M, C, logits.data(), logits.stride(0), targets.data(), w, wsum_all, opt.label_smoothing, opt.ignore_index,
        totals, dlogits.data(), dlogits.stride(0));
    SSM_CUDA_CHECK_LAUNCH("cross_entropy_grad");
  }
  const int first_bad = flag.read();
  SSM_CHECK(first_bad == std::numeric_limits<int>::max(), "cross-entropy: the target in row ", first_bad,
            " is outside the classes [0, ", C, ")");
  double host[4];
  SSM_CUDA_CHECK(cudaMemcpy(host, totals, sizeof host, cudaMemcpyDeviceToHost));
  st.weight_sum = host[1];
  st.count = static_cast<Index>(host[2] + 0.5);
  st.correct = static_cast<Index>(host[3] + 0.5);
  st.loss = host[1] > 0 ? host[0] / host[1] : 0.0;
  return st;
}

}  // namespace ssm::backend
