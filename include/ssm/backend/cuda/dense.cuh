// ssm/backend/cuda/dense.cuh — Linear through cuBLAS and Embedding gather/scatter on the GPU, the Cuda
// overloads of backend/scalar/dense.hpp. Row-major y = x·Wᵀ is column-major yᵀ = W·xᵀ, so each product
// is one cublas<t>gemm with the leading dimensions taken from the views' row strides.
#pragma once

#include <cstdint>
#include <limits>

#include "ssm/backend/cuda/reduce.cuh"
#include "ssm/backend/tags.hpp"
#include "ssm/core/view.hpp"

namespace ssm::backend {

namespace cuda_detail {

inline void gemm(cublasOperation_t ta, cublasOperation_t tb, Index m, Index n, Index k, float alpha, const float* a,
                 Index lda, const float* b, Index ldb, float beta, float* c, Index ldc) {
  SSM_CUBLAS_CHECK(cublasSgemm(cuda::blas(), ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                               &alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), &beta, c,
                               static_cast<int>(ldc)));
}
inline void gemm(cublasOperation_t ta, cublasOperation_t tb, Index m, Index n, Index k, double alpha, const double* a,
                 Index lda, const double* b, Index ldb, double beta, double* c, Index ldc) {
  SSM_CUBLAS_CHECK(cublasDgemm(cuda::blas(), ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                               &alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), &beta, c,
                               static_cast<int>(ldc)));
}

inline Index ld(Index row_stride, Index cols) { return std::max<Index>(row_stride, std::max<Index>(cols, 1)); }

template <class T>
__global__ void add_bias(Index M, Index N, const T* __restrict__ b, T* __restrict__ y, Index ys) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < M * N;
       i += static_cast<Index>(gridDim.x) * blockDim.x)
    y[(i / N) * ys + i % N] += b[i % N];
}

template <class T>
__global__ void gather_rows(Index M, Index D, const std::int32_t* __restrict__ tokens, const T* __restrict__ table,
                            Index V, T* __restrict__ y, int* __restrict__ bad) {
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < M * D;
       i += static_cast<Index>(gridDim.x) * blockDim.x) {
    const Index m = i / D, d = i % D;
    const std::int32_t tok = tokens[m];
    if (tok < 0 || tok >= V) {
      if (d == 0) atomicMin(bad, static_cast<int>(m));  // first bad position, reported by the host
      y[i] = T(0);
      continue;
    }
    y[i] = table[static_cast<Index>(tok) * D + d];
  }
}

/// Thread d owns column d of the table gradient and walks all rows in order: no atomics, fixed order.
template <class T>
__global__ void scatter_add_columns(Index M, Index D, const std::int32_t* __restrict__ tokens,
                                    const T* __restrict__ dy, T* __restrict__ dtable, std::int32_t padding_idx) {
  const Index d = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (d >= D) return;
  for (Index m = 0; m < M; ++m) {
    const std::int32_t tok = tokens[m];
    if (tok != padding_idx) dtable[static_cast<Index>(tok) * D + d] += dy[m * D + d];
  }
}

}  // namespace cuda_detail

/// y: {M, N} = x: {M, K} · wᵀ (w: {N, K}) + b: {N}; all device memory, rows with unit inner stride.
template <Real T>
void linear_forward(Cuda, CView<T, 2> x, CView<T, 2> w, CView<T, 1> b, View<T, 2> y) {
  const Index M = x.extent(0), K = x.extent(1), N = w.extent(0);
  expect_unit_inner_stride(x, "Linear input");
  expect_unit_inner_stride(y, "Linear output");
  if (M == 0) return;
  cuda_detail::gemm(CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, T(1), w.data(), cuda_detail::ld(w.stride(0), K), x.data(),
                    cuda_detail::ld(x.stride(0), K), T(0), y.data(), cuda_detail::ld(y.stride(0), N));
  if (!b.empty()) {
    cuda_detail::add_bias<<<cuda::grid_for(M * N), 256, 0, cuda::current_stream()>>>(M, N, b.data(), y.data(),
                                                                                       y.stride(0));
    SSM_CUDA_CHECK_LAUNCH("add_bias");
  }
}

/// dx = dy·w (overwrites; skipped when empty), dw += dyᵀ·x, db += Σ_rows dy.
template <Real T>
void linear_backward(Cuda, CView<T, 2> x, CView<T, 2> w, CView<T, 2> dy, View<T, 2> dx, View<T, 2> dw,
                     View<T, 1> db) {
  const Index M = x.extent(0), K = x.extent(1), N = w.extent(0);
  if (M == 0) return;
  const Index ldx = cuda_detail::ld(x.stride(0), K), ldw = cuda_detail::ld(w.stride(0), K),
              ldg = cuda_detail::ld(dy.stride(0), N);
  if (!dx.empty())
    cuda_detail::gemm(CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, T(1), w.data(), ldw, dy.data(), ldg, T(0), dx.data(),
                      cuda_detail::ld(dx.stride(0), K));
  cuda_detail::gemm(CUBLAS_OP_N, CUBLAS_OP_T, K, N, M, T(1), x.data(), ldx, dy.data(), ldg, T(1), dw.data(),
                    cuda_detail::ld(dw.stride(0), K));
  if (!db.empty()) {
    const T* g = dy.data();
    const Index gs = dy.stride(0);
    cuda::column_reduce(M, N, [=] __device__(Index m, Index n) { return g[m * gs + n]; }, db.data(), true);
  }
}

/// y[m] = table[tokens[m]]; a token outside the vocabulary throws (after the kernel), naming its position.
template <Real T>
void embedding_forward(Cuda, CView<std::int32_t, 1> tokens, CView<T, 2> table, View<T, 2> y) {
  const Index M = tokens.extent(0), V = table.extent(0), D = table.extent(1);
  if (M == 0) return;
  thread_local cuda::DeviceFlag flag;
  int* bad = flag.reset(std::numeric_limits<int>::max());
  cuda_detail::gather_rows<<<cuda::grid_for(M * D), 256, 0, cuda::current_stream()>>>(M, D, tokens.data(),
                                                                                        table.data(), V, y.data(), bad);
  SSM_CUDA_CHECK_LAUNCH("gather_rows");
  const int first_bad = flag.read();
  SSM_CHECK(first_bad == std::numeric_limits<int>::max(), "embedding: the token at position ", first_bad,
            " is outside the vocabulary [0, ", V, ")");
}

template <Real T>
void embedding_backward(Cuda, CView<std::int32_t, 1> tokens, CView<T, 2> dy, View<T, 2> dtable,
                        std::int32_t padding_idx) {
  const Index M = tokens.extent(0), D = dtable.extent(1);
  if (M == 0) return;
  cuda_detail::scatter_add_columns<<<static_cast<unsigned>((D + 127) / 128), 128, 0, cuda::current_stream()>>>(
      M, D, tokens.data(), dy.data(), dtable.data(), padding_idx);
  SSM_CUDA_CHECK_LAUNCH("scatter_add_columns");
}

}  // namespace ssm::backend
