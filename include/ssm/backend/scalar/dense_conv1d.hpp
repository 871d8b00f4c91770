// ssm/backend/scalar/dense_conv1d.hpp — the unfold / fold pair behind the dense ("valid") 1-D convolution of
// nn/dense_conv1d.hpp:  U[b, t, k·C + i] = x[b, t + k, i] when t + k < n_b, else 0  (x: {B, L, C}, U: {B, L, K·C}),
// so the convolution is one GEMM y = U Wᵀ + b, and its input gradient is the fold dx[b, s] = Σ_k dU[b, s − k, k].
#pragma once

#include <cstdint>

#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/view.hpp"

namespace ssm::backend {

/// u: {B, L, K·C} (overwritten). Rows t ≥ out_len(b) = max(n_b − K + 1, 1) are zero too.
template <Real T>
void conv_unfold(Scalar, CView<T, 3> x, CView<std::int32_t, 1> lengths, Index K, View<T, 3> u) {
  const Index L = x.extent(1), C = x.extent(2);
  parallel_for(x.extent(0) * L, 64, [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      const Index b = r / L, t = r % L, n = lengths(b);
      const Index out_len = std::max<Index>(n - K + 1, 1);
      T* dst = &u(b, t, 0);
      for (Index k = 0; k < K; ++k) {
        if (t < out_len && t + k < n) {
          const T* src = &x(b, t + k, 0);
          for (Index i = 0; i < C; ++i) dst[k * C + i] = src[i];
        } else {
          for (Index i = 0; i < C; ++i) dst[k * C + i] = T(0);
        }
      }
    }
  });
}

/// dx[b, s, i] = Σ_k du[b, s − k, k·C + i] over rows s − k < out_len(b), for s < n_b; zero at padded positions
/// (overwrites).
template <Real T>
void conv_fold(Scalar, CView<T, 3> du, CView<std::int32_t, 1> lengths, Index K, View<T, 3> dx) {
  const Index L = dx.extent(1), C = dx.extent(2);
  parallel_for(dx.extent(0) * L, 64, [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      const Index b = r / L, s = r % L, n = lengths(b);
      const Index out_len = std::max<Index>(n - K + 1, 1);
      T* out = &dx(b, s, 0);
      for (Index i = 0; i < C; ++i) out[i] = T(0);
      if (s >= n) continue;
      for (Index k = 0; k < K; ++k) {
        const Index t = s - k;
        if (t < 0 || t >= out_len) continue;
        const T* g = &du(b, t, k * C);
        for (Index i = 0; i < C; ++i) out[i] += g[i];
      }
    }
  });
}

}  // namespace ssm::backend
