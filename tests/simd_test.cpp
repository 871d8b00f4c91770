// tests/simd_test.cpp — the SIMD vector type and its exp against the standard library.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "ssm/backend/simd/vec.hpp"
#include "test_util.hpp"

using namespace ssm;

namespace {
/// Distance in units in the last place between a and the correctly rounded b.
template <class T>
double ulp_distance(T a, T b) {
  if (a == b) return 0;
  const T gap = std::nextafter(std::abs(b), std::numeric_limits<T>::infinity()) - std::abs(b);
  return std::abs(static_cast<double>(a) - static_cast<double>(b)) / static_cast<double>(gap);
}
}  // namespace

TEST_SUITE("simd") {

TEST_CASE_TEMPLATE("Vec: loads, stores with tails, arithmetic, fma, select, horizontal sum", T, float, double) {
  using V = simd::Vec<T>;
  constexpr int W = V::W;
  CHECK(W * sizeof(T) == simd::kBytes);
  T a[W], b[W], out[W];
  for (int i = 0; i < W; ++i) {
    a[i] = T(i) - T(2.5);
    b[i] = T(0.5) * T(i + 1);
  }
  const V va = V::load(a), vb = V::load(b);
  simd::fma(va, vb, V(T(1))).store(out);
  for (int i = 0; i < W; ++i) CHECK(out[i] == doctest::Approx(a[i] * b[i] + 1));
  (va - vb).store(out);
  for (int i = 0; i < W; ++i) CHECK(out[i] == a[i] - b[i]);
  simd::max(va, vb).store(out);
  for (int i = 0; i < W; ++i) CHECK(out[i] == std::max(a[i], b[i]));
  simd::select(va < V::zero(), V(T(-1)), V(T(1))).store(out);
  for (int i = 0; i < W; ++i) CHECK(out[i] == (a[i] < 0 ? T(-1) : T(1)));
  T s = 0;
  for (int i = 0; i < W; ++i) s += a[i];
  CHECK(va.sum() == doctest::Approx(s));

  T tail[W];
  for (int i = 0; i < W; ++i) tail[i] = T(-7);
  constexpr int n = W - 1;  // a tail: fewer than W elements
  const V part = V::load_partial(a, n);
  CHECK(part[n - 1] == a[n - 1]);
  CHECK(part[n] == T(0));
  part.store_partial(tail, n);
  CHECK(tail[n - 1] == a[n - 1]);
  CHECK(tail[n] == T(-7));  // untouched beyond n
}

TEST_CASE_TEMPLATE("exp: within 2 ulp of std::exp over the normal range, exact limits outside it", T, float, double) {
  using V = simd::Vec<T>;
  constexpr int W = V::W;
  const double lo = std::is_same_v<T, float> ? -87.3 : -708.3;
  const double hi = std::is_same_v<T, float> ? 88.3 : 709.4;
  double worst = 0;
  T worst_x = 0;
  const int n = 200000;
  for (int i = 0; i < n; i += W) {
    T x[W], y[W];
    for (int j = 0; j < W; ++j) x[j] = static_cast<T>(lo + (hi - lo) * double(i + j) / n);
    simd::exp(V::load(x)).store(y);
    for (int j = 0; j < W; ++j) {
      const T ref = static_cast<T>(std::exp(static_cast<long double>(x[j])));
      const double u = ulp_distance(y[j], ref);
      if (u > worst) {
        worst = u;
        worst_x = x[j];
      }
    }
  }
  INFO("largest error " << worst << " ulp at x = " << worst_x);
  CHECK(worst <= 2.0);
  // Small arguments, where exp(x) ≈ 1 + x must keep x's digits.
  T x[W], y[W];
  for (int j = 0; j < W; ++j) x[j] = static_cast<T>(1e-7 * (j - W / 2));
  simd::exp(V::load(x)).store(y);
  for (int j = 0; j < W; ++j) CHECK(ulp_distance(y[j], static_cast<T>(std::exp(static_cast<long double>(x[j])))) <= 1);

  const T inf = std::numeric_limits<T>::infinity();
  const T specials[4] = {T(-1000), T(1000), -inf, std::numeric_limits<T>::quiet_NaN()};
  T res[4];
  for (int j = 0; j < 4; ++j) res[j] = simd::exp(V(specials[j]))[0];
  CHECK(res[0] == T(0));
  CHECK(res[1] == inf);
  CHECK(res[2] == T(0));
  CHECK(std::isnan(res[3]));
}

TEST_CASE_TEMPLATE("Vec: a broadcast keeps -0; min and max return b where either is NaN, like select", T, float, double) {
  using V = simd::Vec<T>;
  constexpr int W = V::W;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  CHECK(std::signbit(V(T(-0.0))[W - 1]));
  const V a(nan), b(T(2));
  CHECK(simd::min(a, b)[0] == T(2));
  CHECK(std::isnan(simd::min(b, a)[0]));
  CHECK(simd::max(a, b)[0] == T(2));
  CHECK(std::isnan(simd::max(b, a)[0]));
  CHECK(simd::min(V(T(1)), b)[0] == T(1));
  CHECK(simd::max(V(T(1)), b)[0] == T(2));
}

}  // TEST_SUITE
