// tests/test_util.hpp — helpers shared by the test files: random fills, poisoning, the tolerance check
// that reports the largest difference, and the finite-difference harness every layer's backward goes through.
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "ssm/core/rng.hpp"
#include "ssm/core/view.hpp"
#include "ssm/train/gradient_check.hpp"

namespace ssm::test {

/// A fresh directory under the system's temporary directory, removed with everything in it at scope exit. Its name
/// carries the tag, the process id and a counter, so no two (in this process or another) share one.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(std::string_view tag) {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("ssm_" + std::string(tag) + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  /// The path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path / name).string(); }
  /// Writes `content` to `name` (creating subdirectories) and returns its path.
  std::string write(const std::string& name, const std::string& content) const {
    const auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
};

template <class T>
std::vector<T> random_vector(Index n, Rng& rng, double lo = -1.0, double hi = 1.0) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(rng.uniform<double>(lo, hi));
  return v;
}

template <class T>
void poison(std::vector<T>& v) {
  for (auto& x : v) x = std::numeric_limits<T>::quiet_NaN();
}

template <class T>
View<T, 1> view1(std::vector<T>& v) {
  return View<T, 1>(v.data(), {static_cast<Index>(v.size())});
}
template <class T>
View<const T, 1> view1(const std::vector<T>& v) {
  return View<const T, 1>(v.data(), {static_cast<Index>(v.size())});
}

/// CHECKs |a − b| ≤ atol + rtol·|b| elementwise and prints the largest difference on failure.
template <class U, class V>
void check_close(const std::vector<U>& a, const std::vector<V>& b, double rtol, double atol,
                 const std::string& what = "values") {
  REQUIRE(a.size() == b.size());
  const Difference d = compare(view1(a), view1(b), rtol, atol);
  INFO(d.report(what));
  CHECK(d.ok());
}

template <class U, class V, int R>
void check_close(View<U, R> a, View<V, R> b, double rtol, double atol, const std::string& what = "values") {
  const Difference d = compare(a, b, rtol, atol);
  INFO(d.report(what));
  CHECK(d.ok());
}

/// One array whose gradient a backward produced: the values (perturbed by the check) and backward's gradient.
struct GradTarget {
  std::string name;
  View<double, 1> values;
  View<double, 1> grad;
};

/// Checks backward against central differences of L = Σᵢ wᵢ·outᵢ with fixed random w.
/// forward(out) computes the outputs from the current values of the targets; backward(dy) must fill every
/// target's grad (the harness zeroes them first) given dy = w.
inline void check_gradients(Index out_size, const std::function<void(std::vector<double>&)>& forward,
                            const std::function<void(const std::vector<double>&)>& backward,
                            const std::vector<GradTarget>& targets, GradCheckOptions opt = {}, std::uint64_t seed = 99) {
  Rng rng(seed);
  const std::vector<double> w = random_vector<double>(out_size, rng);
  std::vector<double> out(static_cast<std::size_t>(out_size));
  forward(out);
  for (auto& t : targets) fill(t.grad, 0.0);
  backward(w);
  const auto loss = [&] {
    forward(out);
    double s = 0;
    for (std::size_t i = 0; i < out.size(); ++i) s += w[i] * out[i];
    return s;
  };
  for (auto& t : targets) {
    const Difference d = check_gradient(t.values, View<const double, 1>(t.grad), loss, opt);
    INFO(d.report("d/d" + t.name + " (analytic vs finite differences)"));
    CHECK(d.ok());
  }
}

}  // namespace ssm::test

#include "ssm/core/context.hpp"
#include "ssm/core/parallel.hpp"
#include "ssm/nn/parameters.hpp"

namespace ssm::test {

/// Runs the checks every layer owes, given an adaptor Op<T> with:
///   explicit Op(Rng& rng)   builds the layer and a Parameters<T> member `params`, initialised from rng
///   Index in_size, out_size flat sizes of the input and the output (in_size = 0: no input gradient)
///   void forward(View<const T, 1> x, View<T, 1> y, const Context&)
///   void backward(View<const T, 1> dy, View<T, 1> dx, const Context&)   (params grads +=, dx =)
/// Checks: (1) gradients of input and parameters against finite differences in double; (2) outputs and dx are
/// fully written (poisoned first, workspace poisoned too); (3) parameter gradients accumulate, dx overwrites;
/// (4) float agrees with double; (5) 1 and 2 threads give the same bits.
template <template <class> class Op>
void check_layer(const std::string& name, GradCheckOptions opt = {}, double float_rtol = 2e-4,
                 double float_atol = 2e-5, std::uint64_t seed = 1) {
  INFO("layer: " << name);
  Rng rng_d(seed), rng_f(seed);
  Op<double> d(rng_d);
  Op<float> f(rng_f);
  REQUIRE(d.params.size() == f.params.size());
  for (Index i = 0; i < d.params.size(); ++i) f.params.values()[i] = static_cast<float>(d.params.values()[i]);

  Rng data(seed + 1000);
  std::vector<double> x = random_vector<double>(d.in_size, data);
  std::vector<float> xf(x.begin(), x.end());
  std::vector<double> y(static_cast<std::size_t>(d.out_size)), dx(x.size());
  const std::vector<double> w = random_vector<double>(d.out_size, data);

  Workspace ws;
  ws.set_poison(true);
  Context ctx(ws, /*training=*/true, /*seed=*/777);

  // (1) gradients
  std::vector<GradTarget> targets{{"params", d.params.value_view(), d.params.grad_view()}};
  if (d.in_size > 0) targets.push_back({"x", view1(x), view1(dx)});
  check_gradients(
      d.out_size,
      [&](std::vector<double>& out) {
        ws.reset();
        d.forward(view1(std::as_const(x)), view1(out), ctx);
      },
      [&](const std::vector<double>& dy) { d.backward(view1(dy), view1(dx), ctx); }, targets, opt);

  // (2) + (3): poisoned outputs get written; grads accumulate; dx overwrites
  ws.reset();
  poison(y);
  d.forward(view1(std::as_const(x)), view1(y), ctx);
  for (double v : y) REQUIRE(std::isfinite(v));
  d.params.zero_grad();
  poison(dx);
  d.backward(view1(w), view1(dx), ctx);
  for (double v : dx) REQUIRE(std::isfinite(v));
  const std::vector<double> g1(d.params.grads(), d.params.grads() + d.params.size());
  const std::vector<double> dx1 = dx;
  d.backward(view1(w), view1(dx), ctx);
  std::vector<double> g2(d.params.grads(), d.params.grads() + d.params.size()), twice_g1 = g1;
  for (auto& g : twice_g1) g *= 2;
  check_close(g2, twice_g1, 1e-12, 1e-14, name + ": a second backward adds to the parameter gradients");
  CHECK(dx == dx1);  // and overwrites dx

  // (4) float against double
  std::vector<float> yf(y.size()), dxf(x.size());
  const std::vector<float> wf(w.begin(), w.end());
  ws.reset();
  f.forward(view1(std::as_const(xf)), view1(yf), ctx);
  f.params.zero_grad();
  f.backward(view1(wf), view1(dxf), ctx);
  check_close(yf, y, float_rtol, float_atol, name + " output, float vs double");
  check_close(dxf, dx1, float_rtol, float_atol, name + " dx, float vs double");
  std::vector<float> gf(f.params.grads(), f.params.grads() + f.params.size());
  check_close(gf, g1, float_rtol, float_atol, name + " parameter gradients, float vs double");

  // (5) thread count does not change the bits (same buffers both times: Eigen's vector path depends on alignment)
  const int saved = num_threads();
  std::vector<double> y1, y2, dx_1, dx_2, g_1, g_2;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    ws.reset();
    d.forward(view1(std::as_const(x)), view1(y), ctx);
    d.params.zero_grad();
    d.backward(view1(w), view1(dx), ctx);
    (threads == 1 ? y1 : y2) = y;
    (threads == 1 ? dx_1 : dx_2) = dx;
    (threads == 1 ? g_1 : g_2).assign(d.params.grads(), d.params.grads() + d.params.size());
  }
  set_num_threads(saved);
  CHECK(y1 == y2);
  CHECK(dx_1 == dx_2);
  CHECK(g_1 == g_2);
}

}  // namespace ssm::test
