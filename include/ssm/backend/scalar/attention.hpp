// ssm/backend/scalar/attention.hpp — scaled dot-product attention per (sequence, head) with a padding mask:
// for sequence b of length n and head h (Q, K, V: {n, d_h}, the first n rows only),
//   P = softmax(Q Kᵀ / √d_h) row by row,  O = P V;   rows of O at positions ≥ n are zero.
// Causal (language models): row i's softmax runs over keys j ≤ i only and P[i, j > i] = 0, so the backward below
// needs no change (its products with those zeros vanish).
// Backward:  dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ = dS K / √d_h,  dK = dSᵀ Q / √d_h.
#pragma once

#include <cmath>
#include <cstdint>

#include "ssm/backend/scalar/dense.hpp"

namespace ssm::backend {

namespace detail {
template <class T>
ConstMatMap<T> head_block(const T* base, Index rows, Index cols, Index row_stride) {
  return ConstMatMap<T>(base, rows, cols, Eigen::OuterStride<>(row_stride));
}
template <class T>
MatMap<T> head_block(T* base, Index rows, Index cols, Index row_stride) {
  return MatMap<T>(base, rows, cols, Eigen::OuterStride<>(row_stride));
}
}  // namespace detail

/// qkv: {B, L, 3D} (Q at columns [0, D), K at [D, 2D), V at [2D, 3D); head h owns columns h·d_h … of each);
/// p: {B, H, L, L} receives the attention weights (top-left n × n block); o: {B, L, D} (overwritten).
template <Real T>
void attention_forward(Scalar, CView<T, 3> qkv, CView<std::int32_t, 1> lengths, Index heads, View<T, 4> p,
                       View<T, 3> o, bool causal = false) {
  const Index Bn = qkv.extent(0), L = qkv.extent(1), D = qkv.extent(2) / 3, dh = D / heads;
  const T scale = T(1) / std::sqrt(static_cast<T>(dh));
  const T* const qp = qkv.data();
  T* const pp = p.data();
  T* const op = o.data();
  const Index qs0 = qkv.stride(0), qs1 = qkv.stride(1), os0 = o.stride(0), os1 = o.stride(1);
  const Index ps0 = p.stride(0), ps1 = p.stride(1), ps2 = p.stride(2);
  const std::int32_t* const len = lengths.data();
  const Index ls = lengths.stride(0);
  detail::gemm_blocks(Bn * heads, 1, [=](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      const Index b = r / heads, h = r % heads, n = len[b * ls];
      const T* base = qp + b * qs0;
      auto Q = detail::head_block<T>(base + h * dh, n, dh, qs1);
      auto K = detail::head_block<T>(base + D + h * dh, n, dh, qs1);
      auto V = detail::head_block<T>(base + 2 * D + h * dh, n, dh, qs1);
      T* pb = pp + b * ps0 + h * ps1;
      auto P = detail::head_block<T>(pb, n, n, ps2);
      P.noalias() = (Q * K.transpose()) * scale;
      for (Index i = 0; i < n; ++i) {
        T* row = pb + i * ps2;
        const Index keys = causal ? i + 1 : n;
        T m = row[0];
        for (Index j = 1; j < keys; ++j) m = std::max(m, row[j]);
        T s = 0;
        for (Index j = 0; j < keys; ++j) s += (row[j] = std::exp(row[j] - m));
        const T inv = T(1) / s;
        for (Index j = 0; j < keys; ++j) row[j] *= inv;
        for (Index j = keys; j < n; ++j) row[j] = T(0);
      }
      T* ob = op + b * os0 + h * dh;
      detail::head_block<T>(ob, n, dh, os1).noalias() = P * V;
      for (Index t = n; t < L; ++t)
        for (Index j = 0; j < dh; ++j) ob[t * os1 + j] = T(0);
    }
  });
}

/// dqkv: {B, L, 3D} overwritten (zero at padded rows). scratch: {threads, L, L} (one dP block per thread).
template <Real T>
void attention_backward(Scalar, CView<T, 3> qkv, CView<std::int32_t, 1> lengths, Index heads, CView<T, 4> p,
                        CView<T, 3> dout, View<T, 3> dqkv, View<T, 3> scratch) {
  const Index Bn = qkv.extent(0), L = qkv.extent(1), D = qkv.extent(2) / 3, dh = D / heads;
  const T scale = T(1) / std::sqrt(static_cast<T>(dh));
  const T* const qp = qkv.data();
  const T* const pp = p.data();
  const T* const gp = dout.data();
  T* const dp = dqkv.data();
  T* const sp = scratch.data();
  const Index qs0 = qkv.stride(0), qs1 = qkv.stride(1), gs0 = dout.stride(0), gs1 = dout.stride(1);
  const Index ds0 = dqkv.stride(0), ds1 = dqkv.stride(1);
  const Index ps0 = p.stride(0), ps1 = p.stride(1), ps2 = p.stride(2), ss0 = scratch.stride(0), ss1 = scratch.stride(1);
  const Index nscratch = scratch.extent(0);
  const std::int32_t* const len = lengths.data();
  const Index ls = lengths.stride(0);
  detail::gemm_blocks(Bn * heads, 1, [=](Index r0, Index r1) {
#if defined(_OPENMP)
    const Index slot = std::min<Index>(omp_get_thread_num(), nscratch - 1);
#else
    const Index slot = 0;
#endif
    for (Index r = r0; r < r1; ++r) {
      const Index b = r / heads, h = r % heads, n = len[b * ls];
      const T* base = qp + b * qs0;
      auto Q = detail::head_block<T>(base + h * dh, n, dh, qs1);
      auto K = detail::head_block<T>(base + D + h * dh, n, dh, qs1);
      auto V = detail::head_block<T>(base + 2 * D + h * dh, n, dh, qs1);
      auto P = detail::head_block<T>(pp + b * ps0 + h * ps1, n, n, ps2);
      auto dO = detail::head_block<T>(gp + b * gs0 + h * dh, n, dh, gs1);
      T* db = dp + b * ds0;
      auto dQ = detail::head_block<T>(db + h * dh, n, dh, ds1);
      auto dK = detail::head_block<T>(db + D + h * dh, n, dh, ds1);
      auto dV = detail::head_block<T>(db + 2 * D + h * dh, n, dh, ds1);
      T* sb = sp + slot * ss0;
      auto dS = detail::head_block<T>(sb, n, n, ss1);
      dV.noalias() = P.transpose() * dO;
      dS.noalias() = dO * V.transpose();  // dP
      for (Index i = 0; i < n; ++i) {
        const T* prow = pp + b * ps0 + h * ps1 + i * ps2;
        T* row = sb + i * ss1;
        T dot = 0;
        for (Index j = 0; j < n; ++j) dot += row[j] * prow[j];
        for (Index j = 0; j < n; ++j) row[j] = prow[j] * (row[j] - dot) * scale;  // dS · scale
      }
      dQ.noalias() = dS * K;
      dK.noalias() = dS.transpose() * Q;
      for (Index t = n; t < L; ++t)
        for (Index c : {h * dh, D + h * dh, 2 * D + h * dh})
          for (Index j = 0; j < dh; ++j) db[t * ds1 + c + j] = T(0);
    }
  });
}

}  // namespace ssm::backend
