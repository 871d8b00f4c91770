// ssm/backend/scalar/conv1d.hpp — depthwise causal convolution over time, channel-last:
//   y[b, t, d] = bias[d] + Σ_{k<K} w[k, d] · x[b, t − (K−1) + k, d]     (x at negative times is 0)
// which is PyTorch's Conv1d(groups=D, padding=K−1) truncated to the first L outputs, with w[k, d] = w_torch[d, 0, k].
#pragma once

#include <algorithm>

#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"
#include "ssm/core/workspace.hpp"

namespace ssm::backend {

/// x, y: {B, L, D} with unit channel stride; w: {K, D}; bias: {D} or empty.
template <Real T>
void conv1d_forward(Scalar, CView<T, 3> x, CView<T, 2> w, CView<T, 1> bias, View<T, 3> y) {
  const Index L = x.extent(1), D = x.extent(2), K = w.extent(0);
  // Raw pointers and strides as locals: the inner loop is then a plain packed FMA the compiler vectorises.
  const T* const xp = x.data();
  const T* const wp = w.data();
  const T* const bp = bias.empty() ? nullptr : bias.data();
  T* const yp = y.data();
  const Index xb = x.stride(0), xt = x.stride(1), yb = y.stride(0), yt = y.stride(1), wk = w.stride(0);
  parallel_for(x.extent(0) * L, 64, [=](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      const Index b = r / L, t = r % L;
      T* SSM_RESTRICT out = yp + b * yb + t * yt;
      for (Index d = 0; d < D; ++d) out[d] = bp ? bp[d] : T(0);
      for (Index k = std::max<Index>(0, K - 1 - t); k < K; ++k) {
        const T* SSM_RESTRICT in = xp + b * xb + (t - (K - 1) + k) * xt;
        const T* SSM_RESTRICT wr = wp + k * wk;
        for (Index d = 0; d < D; ++d) out[d] += wr[d] * in[d];
      }
    }
  });
}

/// dx[b, s, d] = Σ_k w[k, d] · dy[b, s + (K−1) − k, d]  (overwrites; skipped when dx is empty)
/// dw[k, d] += Σ_{b,t} dy[b, t, d] · x[b, t − (K−1) + k, d];  dbias[d] += Σ_{b,t} dy[b, t, d].
/// Scratch for the partial sums comes from `ws`.
template <Real T>
void conv1d_backward(Scalar, CView<T, 3> x, CView<T, 2> w, CView<T, 3> dy, View<T, 3> dx, View<T, 2> dw,
                     View<T, 1> dbias, Workspace& ws) {
  const Index Bn = x.extent(0), L = x.extent(1), D = x.extent(2), K = w.extent(0);
  const T* const xp = x.data();
  const T* const wp = w.data();
  const T* const gp = dy.data();
  const Index xb = x.stride(0), xt = x.stride(1), gb = dy.stride(0), gt = dy.stride(1), wk = w.stride(0);
  if (!dx.empty()) {
    T* const dxp = dx.data();
    const Index db_ = dx.stride(0), dt_ = dx.stride(1);
    parallel_for(Bn * L, 64, [=](Index r0, Index r1) {
      for (Index r = r0; r < r1; ++r) {
        const Index b = r / L, s = r % L;
        T* SSM_RESTRICT out = dxp + b * db_ + s * dt_;
        for (Index d = 0; d < D; ++d) out[d] = T(0);
        for (Index k = std::max<Index>(0, s + K - L); k < K; ++k) {  // t = s + (K−1) − k < L
          const T* SSM_RESTRICT g = gp + b * gb + (s + (K - 1) - k) * gt;
          const T* SSM_RESTRICT wr = wp + k * wk;
          for (Index d = 0; d < D; ++d) out[d] += wr[d] * g[d];
        }
      }
    });
  }
  // Parameter gradients: fixed chunks of rows (boundaries depend only on B·L), each summing its rows into
  // its own partial {K + 1, D} in scratch, then the partials added in chunk order — contiguous rows, all
  // channels vectorised, and the same bits on any thread count.
  const Index rows = Bn * L, grain = 1024, chunks = chunk_count(rows, grain);
  auto part = ws.take<T, 3>({chunks, K + 1, D});
  T* const pp = part.data();
  parallel_chunks(rows, grain, [=](Index c, Index r0, Index r1) {
    T* SSM_RESTRICT pc = pp + c * (K + 1) * D;
    for (Index i = 0; i < (K + 1) * D; ++i) pc[i] = T(0);
    T* SSM_RESTRICT pbias = pc + K * D;
    for (Index r = r0; r < r1; ++r) {
      const Index b = r / L, t = r % L;
      const T* SSM_RESTRICT g = gp + b * gb + t * gt;
      for (Index d = 0; d < D; ++d) pbias[d] += g[d];
      for (Index k = std::max<Index>(0, K - 1 - t); k < K; ++k) {
        const T* SSM_RESTRICT in = xp + b * xb + (t - (K - 1) + k) * xt;
        T* SSM_RESTRICT a = pc + k * D;
        for (Index d = 0; d < D; ++d) a[d] += g[d] * in[d];
      }
    }
  });
  for (Index k = 0; k < K; ++k)
    for (Index d = 0; d < D; ++d) {
      T s = T(0);
      for (Index c = 0; c < chunks; ++c) s += part(c, k, d);
      dw(k, d) += s;
    }
  if (!dbias.empty())
    for (Index d = 0; d < D; ++d) {
      T s = T(0);
      for (Index c = 0; c < chunks; ++c) s += part(c, K, d);
      dbias(d) += s;
    }
}

/// One step of the same convolution for generation. state: {B, K−1, D}, the last K−1 inputs (oldest first);
/// x_t: {B, D} -> y_t: {B, D}; the state shifts by one and takes x_t.
template <Real T>
void conv1d_step(Scalar, View<T, 3> state, CView<T, 2> x_t, CView<T, 2> w, CView<T, 1> bias, View<T, 2> y_t) {
  const Index Bn = x_t.extent(0), D = x_t.extent(1), K = w.extent(0);
  for (Index b = 0; b < Bn; ++b) {
    for (Index d = 0; d < D; ++d) {
      T acc = bias.empty() ? T(0) : bias(d);
      for (Index k = 0; k + 1 < K; ++k) acc += w(k, d) * state(b, k, d);
      acc += w(K - 1, d) * x_t(b, d);
      y_t(b, d) = acc;
    }
    for (Index k = 0; k + 2 < K; ++k)
      for (Index d = 0; d < D; ++d) state(b, k, d) = state(b, k + 1, d);
    if (K > 1)
      for (Index d = 0; d < D; ++d) state(b, K - 2, d) = x_t(b, d);
  }
}

}  // namespace ssm::backend
