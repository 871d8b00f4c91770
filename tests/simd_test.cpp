// tests/simd_test.cpp — the SIMD vector type, its exp and the vectorised activations against the standard library.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>
#include <limits>

#include "ssm/backend/simd/elementwise.hpp"
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

#ifdef SSM_EXPECT_ISA
TEST_CASE("the binary runs the instruction set its name says (tests/CMakeLists.txt builds one per set)") {
  CHECK(std::string(simd::kIsa) == SSM_EXPECT_ISA);
}
#endif

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

TEST_CASE("Simd GELU, SiLU, sigmoid and their derivatives (float) against double-precision truth") {
  // Truth in double from float inputs. The bound, 5e-7 (the erfc fit's 1.2e-7 plus a few float roundings of
  // 6e-8) times (1 + x²), is relative to `scale` (the value, or for a derivative the sum of its terms' magnitudes,
  // where cancellation is inherent); x² is the conditioning of e^(−x²/2) in x, which a float x already carries.
  // Inputs span [−13, 13] (outputs stay normal floats).
  const auto phi = [](double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi); };
  const auto cdf = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  const auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  const Index n = 100003;  // not a multiple of any vector width: the tail runs too
  Rng rng(11);
  std::vector<float> x(static_cast<std::size_t>(n)), dy(x.size());
  for (auto& v : x) v = rng.uniform(-13.0f, 13.0f);
  x[0] = 0.0f;
  x[1] = -0.0f;
  x[2] = 1e-30f;
  for (auto& v : dy) v = rng.uniform(0.5f, 2.0f);
  for (Activation act : {Activation::Gelu, Activation::Silu, Activation::Sigmoid}) {
    INFO("activation: " << std::string(activation_name(act)));
    std::vector<float> y(x.size(), std::numeric_limits<float>::quiet_NaN()), dx = y;  // poisoned
    backend::activation_forward(backend::Simd{}, act, CView<float, 1>(x.data(), {n}), View<float, 1>(y.data(), {n}));
    backend::activation_backward(backend::Simd{}, act, CView<float, 1>(x.data(), {n}), CView<float, 1>(dy.data(), {n}),
                                 View<float, 1>(dx.data(), {n}));
    double worst_f = 0, worst_g = 0, at_f = 0, at_g = 0;
    for (Index i = 0; i < n; ++i) {
      const double X = x[static_cast<std::size_t>(i)], s = sig(X);
      double f, g, f_scale, g_scale;
      if (act == Activation::Gelu) {
        f = X * cdf(X), g = cdf(X) + X * phi(X), f_scale = std::abs(f), g_scale = cdf(X) + std::abs(X) * phi(X);
      } else if (act == Activation::Silu) {
        f = X * s, g = s * (1 + X * (1 - s)), f_scale = std::abs(f), g_scale = s + std::abs(X) * s * (1 - s);
      } else {
        f = s, g = s * (1 - s), f_scale = s, g_scale = s;
      }
      const double tol = 5e-7 * (1 + X * X), d = dy[static_cast<std::size_t>(i)];
      const double ef = std::abs(y[static_cast<std::size_t>(i)] - f) / (tol * f_scale + 1e-37),
                   eg = std::abs(dx[static_cast<std::size_t>(i)] - g * d) / (tol * g_scale * d + 1e-37);
      if (ef > worst_f) worst_f = ef, at_f = X;
      if (eg > worst_g) worst_g = eg, at_g = X;
    }
    INFO("worst value at x = " << at_f << ", worst derivative at x = " << at_g);
    CHECK(worst_f <= 1.0);  // error over its bound, at the worst input
    CHECK(worst_g <= 1.0);
    // In place (y aliases x), and NaN and ±inf where the function has a limit.
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> z = {std::numeric_limits<float>::quiet_NaN(), inf, -1e4f, 1e4f};
    backend::activation_forward(backend::Simd{}, act, CView<float, 1>(z.data(), {4}), View<float, 1>(z.data(), {4}));
    CHECK(std::isnan(z[0]));
    CHECK(z[1] == (act == Activation::Sigmoid ? 1.0f : inf));
    CHECK(z[2] == 0.0f);
    CHECK(z[3] == (act == Activation::Sigmoid ? 1.0f : 1e4f));
  }
  // Double (and every other activation) runs the scalar loop: equal bit for bit.
  std::vector<double> xd(x.begin(), x.begin() + 999), a(xd.size()), b(xd.size());
  for (Activation act : {Activation::Gelu, Activation::Softplus}) {
    const CView<double, 1> in(xd.data(), {999});
    backend::activation_forward(backend::Simd{}, act, in, View<double, 1>(a.data(), {999}));
    backend::activation_forward(backend::Scalar{}, act, in, View<double, 1>(b.data(), {999}));
    CHECK(a == b);
  }
}

}  // TEST_SUITE
