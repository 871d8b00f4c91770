// ssm/backend/scalar/elementwise.hpp — pointwise activations and inverted dropout, with the scalar math
// (SSM_HOST_DEVICE, shared with CUDA kernels): SiLU x·σ(x); GELU ½x(1 + erf(x/√2)) and its tanh form;
// softplus log(1 + eˣ), linear above 20 as in PyTorch; ReLU, tanh, sigmoid.
#pragma once

#include <cmath>
#include <cstdint>

#include "ssm/backend/tags.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/core/rng.hpp"
#include "ssm/core/view.hpp"

namespace ssm {

enum class Activation { Identity, Relu, Silu, Gelu, GeluTanh, Softplus, Tanh, Sigmoid };

inline const char* activation_name(Activation a) {
  switch (a) {
    case Activation::Identity: return "identity";
    case Activation::Relu: return "relu";
    case Activation::Silu: return "silu";
    case Activation::Gelu: return "gelu";
    case Activation::GeluTanh: return "gelu_tanh";
    case Activation::Softplus: return "softplus";
    case Activation::Tanh: return "tanh";
    case Activation::Sigmoid: return "sigmoid";
  }
  return "?";
}

namespace math {

template <class T>
SSM_HOST_DEVICE inline T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

/// log(1 + eˣ); returns x for x > 20 (where the difference is below float's and double's rounding of x).
template <class T>
SSM_HOST_DEVICE inline T softplus(T x) {
  return x > T(20) ? x : std::log1p(std::exp(x));
}
template <class T>
SSM_HOST_DEVICE inline T softplus_grad(T x) {
  return x > T(20) ? T(1) : sigmoid(x);
}

/// x such that softplus(x) = y (y > 0): y + log(−expm1(−y)), as Mamba's dt-bias initialisation.
template <class T>
SSM_HOST_DEVICE inline T softplus_inverse(T y) {
  return y > T(20) ? y : y + std::log(-std::expm1(-y));
}

template <class T>
SSM_HOST_DEVICE inline T silu(T x) {
  return x * sigmoid(x);
}
template <class T>
SSM_HOST_DEVICE inline T silu_grad(T x) {
  const T s = sigmoid(x);
  return s * (T(1) + x * (T(1) - s));
}

template <class T>
SSM_HOST_DEVICE inline T gelu(T x) {
  return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
}
template <class T>
SSM_HOST_DEVICE inline T gelu_grad(T x) {
  const T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
  const T pdf = T(0.39894228040143267794) * std::exp(T(-0.5) * x * x);
  return cdf + x * pdf;
}

template <class T>
SSM_HOST_DEVICE inline T gelu_tanh(T x) {
  const T k = T(0.79788456080286535588);  // √(2/π)
  return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
}
template <class T>
SSM_HOST_DEVICE inline T gelu_tanh_grad(T x) {
  const T k = T(0.79788456080286535588);
  const T t = std::tanh(k * (x + T(0.044715) * x * x * x));
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * T(0.044715) * x * x);
}

template <class T>
SSM_HOST_DEVICE inline T activate(Activation a, T x) {
  switch (a) {
    case Activation::Identity: return x;
    case Activation::Relu: return x > T(0) ? x : T(0);
    case Activation::Silu: return silu(x);
    case Activation::Gelu: return gelu(x);
    case Activation::GeluTanh: return gelu_tanh(x);
    case Activation::Softplus: return softplus(x);
    case Activation::Tanh: return std::tanh(x);
    case Activation::Sigmoid: return sigmoid(x);
  }
  return x;
}

/// d activate(a, x) / dx.
template <class T>
SSM_HOST_DEVICE inline T activate_grad(Activation a, T x) {
  switch (a) {
    case Activation::Identity: return T(1);
    case Activation::Relu: return x > T(0) ? T(1) : T(0);
    case Activation::Silu: return silu_grad(x);
    case Activation::Gelu: return gelu_grad(x);
    case Activation::GeluTanh: return gelu_tanh_grad(x);
    case Activation::Softplus: return softplus_grad(x);
    case Activation::Tanh: {
      const T t = std::tanh(x);
      return T(1) - t * t;
    }
    case Activation::Sigmoid: {
      const T s = sigmoid(x);
      return s * (T(1) - s);
    }
  }
  return T(1);
}

}  // namespace math

namespace backend {

namespace detail {
/// Runs f with the activation as a compile-time constant, so the switch stays out of the inner loop.
template <class F>
void with_activation(Activation a, F&& f) {
  switch (a) {
    case Activation::Identity: return f(std::integral_constant<Activation, Activation::Identity>{});
    case Activation::Relu: return f(std::integral_constant<Activation, Activation::Relu>{});
    case Activation::Silu: return f(std::integral_constant<Activation, Activation::Silu>{});
    case Activation::Gelu: return f(std::integral_constant<Activation, Activation::Gelu>{});
    case Activation::GeluTanh: return f(std::integral_constant<Activation, Activation::GeluTanh>{});
    case Activation::Softplus: return f(std::integral_constant<Activation, Activation::Softplus>{});
    case Activation::Tanh: return f(std::integral_constant<Activation, Activation::Tanh>{});
    case Activation::Sigmoid: return f(std::integral_constant<Activation, Activation::Sigmoid>{});
  }
}
}  // namespace detail

/// y = act(x), elementwise over contiguous arrays of equal size (y may alias x).
template <Real T>
void activation_forward(Scalar, Activation act, CView<T, 1> x, View<T, 1> y) {
  const T* const xp = x.data();
  T* const yp = y.data();
  detail::with_activation(act, [=](auto a) {
    parallel_for(x.extent(0), 4096, [=](Index i0, Index i1) {
      for (Index i = i0; i < i1; ++i) yp[i] = math::activate(decltype(a)::value, xp[i]);
    });
  });
}

/// dx = act'(x) ⊙ dy (overwrites; dx may alias dy).
template <Real T>
void activation_backward(Scalar, Activation act, CView<T, 1> x, CView<T, 1> dy, View<T, 1> dx) {
  const T* const xp = x.data();
  const T* const gp = dy.data();
  T* const dxp = dx.data();
  detail::with_activation(act, [=](auto a) {
    parallel_for(x.extent(0), 4096, [=](Index i0, Index i1) {
      for (Index i = i0; i < i1; ++i) dxp[i] = math::activate_grad(decltype(a)::value, xp[i]) * gp[i];
    });
  });
}

/// y = x for contiguous arrays (Cuda overload: a device-to-device copy).
template <Real T>
void copy_elements(Scalar, CView<T, 1> x, View<T, 1> y) {
  if (x.data() != y.data()) copy(x, y);
}

/// Inverted dropout: y_i = x_i / (1 − p) where philox_uniform(seed, stream, i) ≥ p, else 0.
/// The same call with dy, dx is the backward (the mask is recomputed, never stored).
template <Real T>
void dropout_apply(Scalar, CView<T, 1> x, View<T, 1> y, double p, std::uint64_t seed, std::uint64_t stream) {
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  const float pf = static_cast<float>(p);
  const T* const xp = x.data();
  T* const yp = y.data();
  parallel_for(x.extent(0), 4096, [=](Index i0, Index i1) {
    for (Index i = i0; i < i1; ++i)
      yp[i] = philox_uniform(seed, stream, static_cast<std::uint64_t>(i)) >= pf ? xp[i] * scale : T(0);
  });
}

}  // namespace backend
}  // namespace ssm
