// ssm/backend/scalar/dense.hpp — host kernels of the dense layers: Linear (y = x Wᵀ + b, GEMM through
// Eigen, which threads over OpenMP) and Embedding (y[b, t] = E[token[b, t]]).
#pragma once

#include <algorithm>
#include <Eigen/Core>
#include <cstdint>

#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ssm::backend {

namespace detail {
template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMatMap = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MatMap = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class T>
ConstMatMap<T> as_matrix(const View<const T, 2>& v) {
  expect_unit_inner_stride(v, "matrix");
  return ConstMatMap<T>(v.data(), v.extent(0), v.extent(1), Eigen::OuterStride<>(std::max<Index>(v.stride(0), 1)));
}
template <class T>
MatMap<T> as_matrix(const View<T, 2>& v) {
  expect_unit_inner_stride(v, "matrix");
  return MatMap<T>(v.data(), v.extent(0), v.extent(1), Eigen::OuterStride<>(std::max<Index>(v.stride(0), 1)));
}

/// Rows per GEMM task. Eigen's own threading picks its blocking from the thread count, which changes the
/// summation order; we cut the product into fixed row blocks instead and run each block's GEMM on one
/// thread (Eigen does not thread inside a parallel region), so results are the same bits on any thread count.
inline constexpr Index kGemmRows = 128;

/// Block size for cutting n rows into GEMM tasks: at least `lo`, at most `hi`, about n/8 rounded up to a
/// multiple of `multiple` — a function of the shape only, never of the thread count, for the reason above.
/// Large blocks matter for wide layers (the language model's {V, D} output layer): every block packs the
/// whole other operand again, and Eigen's 48-row micro-kernel idles on blocks narrower than 48.
inline Index gemm_block(Index n, Index lo, Index hi, Index multiple) {
  const Index eighth = (n + 7) / 8;
  const Index rounded = (eighth + multiple - 1) / multiple * multiple;
  return std::clamp(rounded, lo, hi);
}

/// f(begin, end) over fixed blocks of [0, n), always inside an OpenMP region (see kGemmRows).
template <class F>
void gemm_blocks(Index n, Index block, F&& f) {
  const Index chunks = chunk_count(n, block);
#if defined(_OPENMP)
  if (!omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (Index c = 0; c < chunks; ++c) f(c * block, std::min(n, (c + 1) * block));
    return;
  }
#endif
  for (Index c = 0; c < chunks; ++c) f(c * block, std::min(n, (c + 1) * block));
}
}  // namespace detail

/// y: {M, N} = x: {M, K} · wᵀ (w: {N, K}) + b: {N} (b may be empty).
template <Real T>
void linear_forward(Scalar, CView<T, 2> x, CView<T, 2> w, CView<T, 1> b, View<T, 2> y) {
  const auto W = detail::as_matrix<T>(w);
  detail::gemm_blocks(x.extent(0), detail::gemm_block(x.extent(0), detail::kGemmRows, 512, 16), [&](Index r0, Index r1) {
    auto Y = detail::as_matrix<T>(y.slice(0, r0, r1));
    Y.noalias() = detail::as_matrix<T>(x.slice(0, r0, r1)) * W.transpose();
    if (!b.empty())
      for (Index i = r0; i < r1; ++i)
        for (Index j = 0; j < y.extent(1); ++j) y(i, j) += b(j);
  });
}

/// dx = dy · w (overwrites; skipped when dx is empty), dw += dyᵀ · x, db += Σ_rows dy.
template <Real T>
void linear_backward(Scalar, CView<T, 2> x, CView<T, 2> w, CView<T, 2> dy, View<T, 2> dx, View<T, 2> dw,
                     View<T, 1> db) {
  if (!dx.empty()) {
    const auto W = detail::as_matrix<T>(w);
    detail::gemm_blocks(dy.extent(0), detail::gemm_block(dy.extent(0), detail::kGemmRows, 512, 16), [&](Index r0, Index r1) {
      detail::as_matrix<T>(dx.slice(0, r0, r1)).noalias() = detail::as_matrix<T>(dy.slice(0, r0, r1)) * W;
    });
  }
  // dw: {N, K}; each block of its rows (output features) sums over all M input rows by itself.
  const auto X = detail::as_matrix<T>(x);
  detail::gemm_blocks(dw.extent(0), detail::gemm_block(dw.extent(0), 48, 384, 48), [&](Index n0, Index n1) {
    detail::as_matrix<T>(dw.slice(0, n0, n1)).noalias() +=
        detail::as_matrix<T>(dy.slice(1, n0, n1)).transpose() * X;
  });
  if (!db.empty()) {
    // Column sums, parallel over columns: each thread owns its db entries.
    parallel_for(dy.extent(1), 64, [&](Index j0, Index j1) {
      for (Index i = 0; i < dy.extent(0); ++i)
        for (Index j = j0; j < j1; ++j) db(j) += dy(i, j);
    });
  }
}

/// y[m, :] = table[tokens[m], :] for m in the rows of tokens (flattened {B·L}).
template <Real T>
void embedding_forward(Scalar, CView<std::int32_t, 1> tokens, CView<T, 2> table, View<T, 2> y) {
  const Index V = table.extent(0), D = table.extent(1);
  for (Index m = 0; m < tokens.extent(0); ++m) {
    const std::int32_t tok = tokens(m);
    SSM_CHECK(tok >= 0 && tok < V, "embedding: token ", tok, " at position ", m, " is outside the vocabulary [0, ",
              V, ")");
  }
  parallel_for(tokens.extent(0), 256, [&](Index m0, Index m1) {
    for (Index m = m0; m < m1; ++m) {
      const T* src = &table(tokens(m), 0);
      T* dst = &y(m, 0);
      for (Index d = 0; d < D; ++d) dst[d] = src[d];
    }
  });
}

/// dtable[tokens[m]] += dy[m] for every row whose token is not `padding_idx`. Parallel over columns, so
/// two rows with the same token never race and the sum order is fixed.
template <Real T>
void embedding_backward(Scalar, CView<std::int32_t, 1> tokens, CView<T, 2> dy, View<T, 2> dtable,
                        std::int32_t padding_idx) {
  const Index D = dtable.extent(1);
  parallel_for(D, 16, [&](Index d0, Index d1) {
    for (Index m = 0; m < tokens.extent(0); ++m) {
      const std::int32_t tok = tokens(m);
      if (tok == padding_idx) continue;
      for (Index d = d0; d < d1; ++d) dtable(tok, d) += dy(m, d);
    }
  });
}

}  // namespace ssm::backend
