// ssm/backend/cuda/reduce.cuh — deterministic reductions. out[d] (+)= Σ_m f(m, d) over M rows: each block
// owns 32 columns, its 8 row-lanes stride over the rows, and the 8 partial sums are added in a fixed order,
// so the result is the same bits on every run (no atomics). Also the sum of a whole array, in double.
#pragma once

#include "ssm/backend/cuda/device.cuh"

namespace ssm::cuda {

namespace kernels {

template <class T, class F>
__global__ void column_reduce(Index M, Index D, F f, T* out, bool accumulate) {
  __shared__ double part[8][33];
  const Index d = static_cast<Index>(blockIdx.x) * 32 + threadIdx.x;
  double s = 0;
  if (d < D)
    for (Index m = threadIdx.y; m < M; m += 8) s += static_cast<double>(f(m, d));
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && d < D) {
    double t = 0;
    for (int r = 0; r < 8; ++r) t += part[r][threadIdx.x];
    out[d] = accumulate ? out[d] + static_cast<T>(t) : static_cast<T>(t);
  }
}

/// Stage 1 of a full sum: block b sums its grid-stride share into part[b] (fixed grid, fixed order).
template <class T, class F>
__global__ void sum_stage1(Index n, F f, double* part) {
  __shared__ double s[256];
  double acc = 0;
  for (Index i = static_cast<Index>(blockIdx.x) * 256 + threadIdx.x; i < n; i += static_cast<Index>(gridDim.x) * 256)
    acc += static_cast<double>(f(i));
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = 128; w > 0; w >>= 1) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) part[blockIdx.x] = s[0];
}

__global__ inline void sum_stage2(int parts, const double* part, double* out) {
  if (threadIdx.x == 0 && blockIdx.x == 0) {
    double t = 0;
    for (int i = 0; i < parts; ++i) t += part[i];
    *out = t;
  }
}

}  // namespace kernels

/// out[d] = (accumulate ? out[d] : 0) + Σ_{m<M} f(m, d), deterministic. f is a __device__ functor.
template <class T, class F>
void column_reduce(Index M, Index D, F f, T* out, bool accumulate) {
  if (D == 0) return;
  const dim3 block(32, 8);
  const dim3 grid(static_cast<unsigned>((D + 31) / 32));
  kernels::column_reduce<T><<<grid, block, 0, current_stream()>>>(M, D, f, out, accumulate);
  SSM_CUDA_CHECK_LAUNCH("column_reduce");
}

/// Σ_{i<n} f(i) in double, deterministic (fixed grid of 128 blocks); returns to the host (synchronises).
template <class F>
double sum(Index n, F f, Workspace& ws) {
  constexpr int kParts = 128;
  auto part = ws.take<double>(kParts + 1);
  kernels::sum_stage1<double><<<kParts, 256, 0, current_stream()>>>(n, f, part.data());
  SSM_CUDA_CHECK_LAUNCH("sum_stage1");
  kernels::sum_stage2<<<1, 32, 0, current_stream()>>>(kParts, part.data(), part.data() + kParts);
  SSM_CUDA_CHECK_LAUNCH("sum_stage2");
  double result = 0;
  SSM_CUDA_CHECK(cudaMemcpyAsync(&result, part.data() + kParts, sizeof(double), cudaMemcpyDeviceToHost, current_stream()));
  synchronize();
  return result;
}

}  // namespace ssm::cuda
