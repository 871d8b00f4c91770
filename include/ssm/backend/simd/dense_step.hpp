// ssm/backend/simd/dense_step.hpp — the dense SSM step (backend/scalar/dense_step.hpp) with each row of Ā·x as a
// vector dot product: the scalar loop is one serial chain of adds (a float reduction the compiler may not reorder),
// this one keeps two vector accumulators and sums their lanes at the end of the row.
#pragma once

#include "ssm/backend/scalar/dense_step.hpp"
#include "ssm/backend/simd/vec.hpp"

namespace ssm::backend {

/// Same contract as the Scalar overload.
template <Real T>
T dense_ssm_step(Simd, const T* a, const T* bbar, const T* c, T* x, T* tmp, Index N, T u) {
  using V = simd::Vec<T>;
  constexpr int W = V::W;
  T acc = 0;
  for (Index i = 0; i < N; ++i) {
    const T* row = a + i * N;
    V s0 = V::zero(), s1 = V::zero();
    Index j = 0;
    for (; j + 2 * W <= N; j += 2 * W) {
      s0 = simd::fma(V::load(row + j), V::load(x + j), s0);
      s1 = simd::fma(V::load(row + j + W), V::load(x + j + W), s1);
    }
    for (; j + W <= N; j += W) s0 = simd::fma(V::load(row + j), V::load(x + j), s0);
    if (j < N) {
      const int rest = static_cast<int>(N - j);
      s1 = simd::fma(V::load_partial(row + j, rest), V::load_partial(x + j, rest), s1);
    }
    const T v = bbar[i] * u + (s0 + s1).sum();
    tmp[i] = v;
    acc += c[i] * v;
  }
  for (Index i = 0; i < N; ++i) x[i] = tmp[i];
  return acc;
}

}  // namespace ssm::backend
