// ssm/backend/scalar/complex_ops.hpp — complex products and reciprocals written out in real arithmetic.
// std::complex's operator* and operator/ make GCC emit a call to __mulsc3/__divsc3 (NaN/∞ recovery per C Annex G)
// that blocks vectorisation; the SSM kernels never see infinities, so they use these instead.
#pragma once

#include <cmath>
#include <complex>

#include "ssm/core/config.hpp"

namespace ssm::backend::detail {

/// a·b
template <class T>
SSM_ALWAYS_INLINE std::complex<T> cmul(std::complex<T> a, std::complex<T> b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}
/// a·conj(b)
template <class T>
SSM_ALWAYS_INLINE std::complex<T> cmul_conj(std::complex<T> a, std::complex<T> b) {
  return {a.real() * b.real() + a.imag() * b.imag(), a.imag() * b.real() - a.real() * b.imag()};
}
/// 1/a
template <class T>
SSM_ALWAYS_INLINE std::complex<T> crecip(std::complex<T> a) {
  const T s = T(1) / (a.real() * a.real() + a.imag() * a.imag());
  return {a.real() * s, -a.imag() * s};
}
/// eᶻ from a z given in double, rounded to T.
template <class T>
SSM_ALWAYS_INLINE std::complex<T> cexp_to(std::complex<double> z) {
  const double m = std::exp(z.real());
  return {static_cast<T>(m * std::cos(z.imag())), static_cast<T>(m * std::sin(z.imag()))};
}

}  // namespace ssm::backend::detail
