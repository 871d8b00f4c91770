// ssm/backend/simd/elementwise.hpp — the activations whose scalar form calls erf or exp per element (GELU, SiLU,
// sigmoid), vectorised for float with simd::exp; every other activation, and double, runs the scalar loop.
//
// GELU(x) = ½x(1 + erf(x/√2)) is evaluated through erfc so that the left tail keeps its relative accuracy
// (there 1 + erf(z) = erfc(|z|) is tiny and 1 + erf would cancel):
//   erfc(z) ≈ t · exp(−z² + P(t)),  t = 1 / (1 + z/2),  z ≥ 0,
// with the degree-9 polynomial P of Press et al., Numerical Recipes (2nd ed., §6.2, "erfcc"), whose fractional
// error is below 1.2e-7 for every z ≥ 0; then 1 + erf(z) = 2 − erfc(z) for z ≥ 0 and erfc(−z) for z < 0.
// GELU'(x) = Φ(x) + x φ(x) with φ(x) = exp(−x²/2)/√(2π). tests/simd_test.cpp holds the results to the scalar
// ones (std::erf, std::exp) on random and extreme inputs.
#pragma once

#include <type_traits>

#include "ssm/backend/scalar/elementwise.hpp"
#include "ssm/backend/simd/vec.hpp"
#include "ssm/core/parallel.hpp"

namespace ssm::simd {

/// 1 + erf(z), lane by lane (float), through erfc as in the header comment.
SSM_ALWAYS_INLINE Vec<float> one_plus_erf(Vec<float> z) {
  using V = Vec<float>;
  const V a = max(z, V(0.0f) - z);  // |z|
  const V t = V(1.0f) / fma(a, V(0.5f), V(1.0f));
  V p(0.17087277f);
  p = fma(p, t, V(-0.82215223f));
  p = fma(p, t, V(1.48851587f));
  p = fma(p, t, V(-1.13520398f));
  p = fma(p, t, V(0.27886807f));
  p = fma(p, t, V(-0.18628806f));
  p = fma(p, t, V(0.09678418f));
  p = fma(p, t, V(0.37409196f));
  p = fma(p, t, V(1.00002368f));
  p = fma(p, t, V(-1.26551223f));
  const V erfc = t * exp(p - a * a);
  return select(z < V(0.0f), erfc, V(2.0f) - erfc);
}

/// σ(x) = 1 / (1 + e⁻ˣ) (float lanes); 0 where e⁻ˣ overflows.
SSM_ALWAYS_INLINE Vec<float> sigmoid(Vec<float> x) {
  return Vec<float>(1.0f) / (Vec<float>(1.0f) + exp(Vec<float>(0.0f) - x));
}

template <Activation A>
SSM_ALWAYS_INLINE Vec<float> activate(Vec<float> x) {
  using V = Vec<float>;
  if constexpr (A == Activation::Gelu) {
    return V(0.5f) * x * one_plus_erf(x * V(0.70710678118654752440f));
  } else if constexpr (A == Activation::Silu) {
    return x * sigmoid(x);
  } else {
    static_assert(A == Activation::Sigmoid);
    return sigmoid(x);
  }
}

template <Activation A>
SSM_ALWAYS_INLINE Vec<float> activate_grad(Vec<float> x) {
  using V = Vec<float>;
  if constexpr (A == Activation::Gelu) {
    const V cdf = V(0.5f) * one_plus_erf(x * V(0.70710678118654752440f));
    const V pdf = V(0.39894228040143267794f) * exp(V(-0.5f) * x * x);
    return fma(x, pdf, cdf);
  } else if constexpr (A == Activation::Silu) {
    const V s = sigmoid(x);
    return s * fma(x, V(1.0f) - s, V(1.0f));
  } else {
    static_assert(A == Activation::Sigmoid);
    const V s = sigmoid(x);
    return s * (V(1.0f) - s);
  }
}

template <Activation A>
inline constexpr bool kVectorised = A == Activation::Gelu || A == Activation::Silu || A == Activation::Sigmoid;

}  // namespace ssm::simd

namespace ssm::backend {

/// y = act(x) (y may alias x): vector lanes for float GELU, SiLU and sigmoid, the Scalar loop otherwise.
template <Real T>
void activation_forward(Simd, Activation act, CView<T, 1> x, View<T, 1> y) {
  if constexpr (std::is_same_v<T, float>) {
    const float* const xp = x.data();
    float* const yp = y.data();
    bool done = false;
    detail::with_activation(act, [&](auto a) {
      constexpr Activation A = decltype(a)::value;
      if constexpr (simd::kVectorised<A>) {
        using V = simd::Vec<float>;
        parallel_for(x.extent(0), 4096, [=](Index i0, Index i1) {
          Index i = i0;
          for (; i + V::W <= i1; i += V::W) simd::activate<A>(V::load(xp + i)).store(yp + i);
          if (i < i1) {
            const int n = static_cast<int>(i1 - i);
            simd::activate<A>(V::load_partial(xp + i, n)).store_partial(yp + i, n);
          }
        });
        done = true;
      }
    });
    if (done) return;
  }
  activation_forward(Scalar{}, act, x, y);
}

/// dx = act'(x) ⊙ dy (overwrites; dx may alias dy), vectorised as activation_forward.
template <Real T>
void activation_backward(Simd, Activation act, CView<T, 1> x, CView<T, 1> dy, View<T, 1> dx) {
  if constexpr (std::is_same_v<T, float>) {
    const float* const xp = x.data();
    const float* const gp = dy.data();
    float* const dxp = dx.data();
    bool done = false;
    detail::with_activation(act, [&](auto a) {
      constexpr Activation A = decltype(a)::value;
      if constexpr (simd::kVectorised<A>) {
        using V = simd::Vec<float>;
        parallel_for(x.extent(0), 4096, [=](Index i0, Index i1) {
          Index i = i0;
          for (; i + V::W <= i1; i += V::W)
            (simd::activate_grad<A>(V::load(xp + i)) * V::load(gp + i)).store(dxp + i);
          if (i < i1) {
            const int n = static_cast<int>(i1 - i);
            (simd::activate_grad<A>(V::load_partial(xp + i, n)) * V::load_partial(gp + i, n)).store_partial(dxp + i, n);
          }
        });
        done = true;
      }
    });
    if (done) return;
  }
  activation_backward(Scalar{}, act, x, dy, dx);
}

}  // namespace ssm::backend
