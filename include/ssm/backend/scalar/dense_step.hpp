// ssm/backend/scalar/dense_step.hpp — one recurrent step of a dense discretized SSM (the LSSL and S4 generation step):
//   x ← Ā x + B̄ u,   returns C·x (the new x).   O(N²) per channel and token.
#pragma once

#include "ssm/backend/tags.hpp"
#include "ssm/core/config.hpp"

namespace ssm::backend {

/// a: Ā row-major {N, N}; bbar, c: {N}; x: {N}, updated in place; tmp: {N} scratch. Returns C·x after the update.
template <Real T>
T dense_ssm_step(Scalar, const T* a, const T* bbar, const T* c, T* x, T* tmp, Index N, T u) {
  T acc = 0;
  for (Index i = 0; i < N; ++i) {
    T v = bbar[i] * u;
    for (Index j = 0; j < N; ++j) v += a[i * N + j] * x[j];
    tmp[i] = v;
    acc += c[i] * v;
  }
  for (Index i = 0; i < N; ++i) x[i] = tmp[i];
  return acc;
}

}  // namespace ssm::backend
