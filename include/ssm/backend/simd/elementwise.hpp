// ssm/backend/simd/elementwise.hpp — the activations whose scalar form calls erf or exp per element (GELU, SiLU,
// sigmoid), vectorised for float with simd::exp; every other activation, and double, runs the scalar loop.
//
// GELU(x) = ½x(1 + erf(x/√2)) is evaluated through erfc so that the left tail keeps its relative accuracy
// (there 1 + erf(z) = erfc(|z|) is tiny and 1 + erf would cancel):
//   erfc(z) ≈ t · exp(−z² + P(t)),  t = 1 / (1 + z/2),  z ≥ 0,
// with the degree-9 polynomial P of Press et al., Numerical Recipes (2nd ed., §6.2, "erfcc"), whose fractional
// error is below 1.2e-7 for every z ≥ 0; then 1 + erf(z) = 2 − erfc(z) for z ≥ 0 and erfc(−z) for z < 0.
// GELU'(x) = Φ(x) + x φ(x) with φ(x) = exp(−x²/2)/√(2π). tests/simd_test.cpp holds the results to the exact
// values (erfc, exp in double) on random and extreme inputs.
#pragma once

#include <type_traits>

#include "ssm/backend/scalar/elementwise.hpp"
#include "ssm/backend/simd/vec.hpp"
#include "ssm/core/parallel.hpp"

namespace ssm::simd {

// Templates, though only float is used: nvcc's front end (which sees these headers through ssm/ssm.hpp) aborts on
// vector-extension code it has to compile, and a template it never instantiates is only parsed.

/// 1 + erf(z), lane by lane (float), through erfc as in the header comment.
template <class T>
  requires std::is_same_v<T, float>
SSM_ALWAYS_INLINE Vec<T> one_plus_erf(Vec<T> z) {
  using V = Vec<T>;
  const V a = max(z, V(0.0f) - z);  // |z|
  const V t = V(1.0f) / fma(a, V(0.5f), V(1.0f));
  // P(t) = Σ cᵢ tⁱ, i = 0 … 9, by Estrin's scheme (four dependent FMA levels instead of Horner's nine).
  const V t2 = t * t, t4 = t2 * t2, t8 = t4 * t4;
  const V q0 = fma(V(1.00002368f), t, V(-1.26551223f)), q1 = fma(V(0.09678418f), t, V(0.37409196f)),
          q2 = fma(V(0.27886807f), t, V(-0.18628806f)), q3 = fma(V(1.48851587f), t, V(-1.13520398f)),
          q4 = fma(V(0.17087277f), t, V(-0.82215223f));
  const V p = fma(q4, t8, fma(fma(q3, t2, q2), t4, fma(q1, t2, q0)));
  const V erfc = t * exp(p - a * a);
  return select(z < V(0.0f), erfc, V(2.0f) - erfc);
}

/// σ(x) = 1 / (1 + e⁻ˣ), lane by lane; 0 where e⁻ˣ overflows. (Also the selective scan's gate.)
template <Real T>
SSM_ALWAYS_INLINE Vec<T> sigmoid(Vec<T> x) {
  return Vec<T>(T(1)) / (Vec<T>(T(1)) + exp(-x));
}

template <Activation A, class T>
  requires std::is_same_v<T, float>
SSM_ALWAYS_INLINE Vec<T> activate(Vec<T> x) {
  using V = Vec<T>;
  if constexpr (A == Activation::Gelu) {
    return V(0.5f) * x * one_plus_erf(x * V(0.70710678118654752440f));
  } else if constexpr (A == Activation::Silu) {
    return x * sigmoid(x);
  } else {
    static_assert(A == Activation::Sigmoid);
    return sigmoid(x);
  }
}

template <Activation A, class T>
  requires std::is_same_v<T, float>
SSM_ALWAYS_INLINE Vec<T> activate_grad(Vec<T> x) {
  using V = Vec<T>;
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

}  // namespace ssm::simd

namespace ssm::backend {

namespace detail {
/// The lane loops of activation_forward / activation_backward below for one activation (float).
template <Activation A>
void simd_activation_forward(const float* xp, float* yp, Index n) {
  using V = simd::Vec<float>;
  parallel_for(n, 4096, [=](Index i0, Index i1) {
    Index i = i0;
    for (; i + V::W <= i1; i += V::W) simd::activate<A>(V::load(xp + i)).store(yp + i);
    if (i < i1) {
      const int r = static_cast<int>(i1 - i);
      simd::activate<A>(V::load_partial(xp + i, r)).store_partial(yp + i, r);
    }
  });
}

template <Activation A>
void simd_activation_backward(const float* xp, const float* gp, float* dxp, Index n) {
  using V = simd::Vec<float>;
  parallel_for(n, 4096, [=](Index i0, Index i1) {
    Index i = i0;
    for (; i + V::W <= i1; i += V::W) (simd::activate_grad<A>(V::load(xp + i)) * V::load(gp + i)).store(dxp + i);
    if (i < i1) {
      const int r = static_cast<int>(i1 - i);
      (simd::activate_grad<A>(V::load_partial(xp + i, r)) * V::load_partial(gp + i, r)).store_partial(dxp + i, r);
    }
  });
}
}  // namespace detail

/// y = act(x) (y may alias x): vector lanes for float GELU, SiLU and sigmoid, the Scalar loop otherwise.
template <Real T>
void activation_forward(Simd, Activation act, CView<T, 1> x, View<T, 1> y) {
  if constexpr (std::is_same_v<T, float>) {
    const Index n = x.extent(0);
    switch (act) {
      case Activation::Gelu: return detail::simd_activation_forward<Activation::Gelu>(x.data(), y.data(), n);
      case Activation::Silu: return detail::simd_activation_forward<Activation::Silu>(x.data(), y.data(), n);
      case Activation::Sigmoid: return detail::simd_activation_forward<Activation::Sigmoid>(x.data(), y.data(), n);
      default: break;
    }
  }
  activation_forward(Scalar{}, act, x, y);
}

/// dx = act'(x) ⊙ dy (overwrites; dx may alias dy), vectorised as activation_forward.
template <Real T>
void activation_backward(Simd, Activation act, CView<T, 1> x, CView<T, 1> dy, View<T, 1> dx) {
  if constexpr (std::is_same_v<T, float>) {
    const Index n = x.extent(0);
    switch (act) {
      case Activation::Gelu:
        return detail::simd_activation_backward<Activation::Gelu>(x.data(), dy.data(), dx.data(), n);
      case Activation::Silu:
        return detail::simd_activation_backward<Activation::Silu>(x.data(), dy.data(), dx.data(), n);
      case Activation::Sigmoid:
        return detail::simd_activation_backward<Activation::Sigmoid>(x.data(), dy.data(), dx.data(), n);
      default: break;
    }
  }
  activation_backward(Scalar{}, act, x, dy, dx);
}

}  // namespace ssm::backend
