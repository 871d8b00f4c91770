// ssm/backend/scalar/lstm.hpp — the recurrence of one LSTM direction over right-padded sequences, in step
// order (step s of sequence b reads position s forwards, n_b − 1 − s backwards; steps s ≥ n_b are inactive):
//   z = Xw[b, pos] + W_hh h_{s−1},  i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o)   (PyTorch's gate order)
//   c_s = f ⊙ c_{s−1} + i ⊙ g,       h_s = o ⊙ tanh(c_s)
// The input projection Xw = x W_ihᵀ + b is one GEMM done by the caller (nn/lstm.hpp).
#pragma once

#include <algorithm>
#include <cmath>

#include "ssm/backend/scalar/dense.hpp"
#include "ssm/backend/scalar/elementwise.hpp"

namespace ssm::backend {

namespace detail {
/// y = x · wᵀ (x: {M, K}, w: {N, K}, y: {M, N}) in fixed blocks of output columns, each run on one thread inside
/// an OpenMP region, so the bits never depend on the thread count.
template <class T>
void gemm_nt_by_columns(CView<T, 2> x, CView<T, 2> w, View<T, 2> y) {
  const auto X = as_matrix<T>(x);
  gemm_blocks(w.extent(0), 64, [&](Index n0, Index n1) {
    as_matrix<T>(y.slice(1, n0, n1)).noalias() = X * as_matrix<T>(w.slice(0, n0, n1)).transpose();
  });
}
/// y = x · w (x: {M, K}, w: {K, N}, y: {M, N}), blocked by output columns as above.
template <class T>
void gemm_nn_by_columns(CView<T, 2> x, CView<T, 2> w, View<T, 2> y) {
  const auto X = as_matrix<T>(x);
  gemm_blocks(w.extent(1), 64, [&](Index n0, Index n1) {
    as_matrix<T>(y.slice(1, n0, n1)).noalias() = X * as_matrix<T>(w.slice(1, n0, n1));
  });
}
/// Rows per task of the gate nonlinearities: one step's pointwise work is small, and a parallel region per time
/// step costs more than it saves (much more when other processes share the cores), so split only large batches.
inline Index lstm_row_grain(Index H) { return std::max<Index>(1, 16384 / std::max<Index>(H, 1)); }
}  // namespace detail

/// One direction. xw: {B, L, G} with this direction's 4H gate inputs at columns [col, col + 4H); whh: {4H, H};
/// rec: {B, 4H} scratch. Writes, in step order, gates {B, L, 4H} (i, f, g, o after their nonlinearity),
/// c and h {B, L, H} (zero at inactive steps), and h into y[b, pos, ycol + j] (y is zeroed by the caller).
template <Real T>
void lstm_direction_forward(Scalar, CView<T, 3> xw, Index col, CView<std::int32_t, 1> lengths, CView<T, 2> whh,
                            bool reverse, View<T, 3> gates, View<T, 3> c, View<T, 3> h, View<T, 2> rec,
                            View<T, 3> y, Index ycol) {
  const Index Bn = xw.extent(0), L = xw.extent(1), H = whh.extent(1);
  const Index grain = detail::lstm_row_grain(H);
  for (Index s = 0; s < L; ++s) {
    if (s > 0) {  // rec = h_{s−1} W_hhᵀ, h_{s−1} seen as a strided {B, H} view
      View<const T, 2> hp(&h(0, s - 1, 0), {Bn, H}, {h.stride(0), 1});
      detail::gemm_nt_by_columns<T>(hp, whh, rec);
    }
    parallel_for(Bn, grain, [&](Index b0, Index b1) {
      for (Index b = b0; b < b1; ++b) {
        const Index n = lengths(b);
        T* gt = &gates(b, s, 0);
        T* ct = &c(b, s, 0);
        T* ht = &h(b, s, 0);
        if (s >= n) {
          for (Index j = 0; j < 4 * H; ++j) gt[j] = T(0);
          for (Index j = 0; j < H; ++j) ct[j] = ht[j] = T(0);
          continue;
        }
        const Index pos = reverse ? n - 1 - s : s;
        const T* z = &xw(b, pos, col);
        const T* cp = s > 0 ? &c(b, s - 1, 0) : nullptr;
        T* yt = &y(b, pos, ycol);
        for (Index j = 0; j < H; ++j) {
          const T zi = z[j] + (s > 0 ? rec(b, j) : T(0));
          const T zf = z[H + j] + (s > 0 ? rec(b, H + j) : T(0));
          const T zg = z[2 * H + j] + (s > 0 ? rec(b, 2 * H + j) : T(0));
          const T zo = z[3 * H + j] + (s > 0 ? rec(b, 3 * H + j) : T(0));
          const T i = math::sigmoid(zi), f = math::sigmoid(zf), g = std::tanh(zg), o = math::sigmoid(zo);
          gt[j] = i;
          gt[H + j] = f;
          gt[2 * H + j] = g;
          gt[3 * H + j] = o;
          const T cv = f * (cp ? cp[j] : T(0)) + i * g;
          ct[j] = cv;
          ht[j] = yt[j] = o * std::tanh(cv);
        }
      }
    });
  }
}

/// Backpropagation through time for one direction. dy: {B, L, ·} (this direction's h gradient at columns
/// [ycol, ycol + H) of each position); writes dgates {B, L, 4H} in step order (pre-activation gradients, zero at
/// inactive steps). dc, rec: {B, H} scratch.
///   dh_s = dy_s + W_hhᵀ dz_{s+1};  dc_s = dc_{s+1} ⊙ f_{s+1} + dh_s ⊙ o ⊙ (1 − tanh² c_s)
///   dz_i = dc ⊙ g ⊙ i(1−i),  dz_f = dc ⊙ c_{s−1} ⊙ f(1−f),  dz_g = dc ⊙ i ⊙ (1−g²),  dz_o = dh ⊙ tanh c ⊙ o(1−o)
template <Real T>
void lstm_direction_backward(Scalar, CView<std::int32_t, 1> lengths, CView<T, 2> whh, bool reverse,
                             CView<T, 3> gates, CView<T, 3> c, CView<T, 3> dy, Index ycol, View<T, 3> dgates,
                             View<T, 2> dc, View<T, 2> rec) {
  const Index Bn = gates.extent(0), L = gates.extent(1), H = whh.extent(1);
  const Index grain = detail::lstm_row_grain(H);
  fill(dc, T(0));
  fill(rec, T(0));
  for (Index s = L - 1; s >= 0; --s) {
    parallel_for(Bn, grain, [&](Index b0, Index b1) {
      for (Index b = b0; b < b1; ++b) {
        const Index n = lengths(b);
        T* dz = &dgates(b, s, 0);
        if (s >= n) {
          for (Index j = 0; j < 4 * H; ++j) dz[j] = T(0);
          for (Index j = 0; j < H; ++j) dc(b, j) = T(0);
          continue;
        }
        const Index pos = reverse ? n - 1 - s : s;
        const T* gt = &gates(b, s, 0);
        const T* ct = &c(b, s, 0);
        const T* cp = s > 0 ? &c(b, s - 1, 0) : nullptr;
        const T* g_out = &dy(b, pos, ycol);
        const bool has_next = s + 1 < n;  // a later active step fed W_hh h_s
        for (Index j = 0; j < H; ++j) {
          const T i = gt[j], f = gt[H + j], g = gt[2 * H + j], o = gt[3 * H + j];
          const T dhv = g_out[j] + (has_next ? rec(b, j) : T(0));
          const T tc = std::tanh(ct[j]);
          const T dcv = (has_next ? dc(b, j) : T(0)) + dhv * o * (T(1) - tc * tc);
          dz[j] = dcv * g * i * (T(1) - i);
          dz[H + j] = dcv * (cp ? cp[j] : T(0)) * f * (T(1) - f);
          dz[2 * H + j] = dcv * i * (T(1) - g * g);
          dz[3 * H + j] = dhv * tc * o * (T(1) - o);
          dc(b, j) = dcv * f;  // carried to step s − 1
        }
      }
    });
    if (s > 0) {
      // rec = dz_s · W_hh: the gradient reaching h_{s−1} through the recurrence.
      View<const T, 2> dzs(&dgates(0, s, 0), {Bn, 4 * H}, {dgates.stride(0), 1});
      detail::gemm_nn_by_columns<T>(dzs, whh, rec);
    }
  }
}

}  // namespace ssm::backend
