// tests/hippo_test.cpp — the HiPPO policies and the discretizations: entries against the closed forms, the
// NPLR/DPLR structure, online polynomial reconstruction, stability (and where forward Euler loses it), ZOH
// against the exponential series, the orders at which the discretizations agree as Δ → 0, and the dense
// discretizations' adjoints against finite differences.
#include <doctest/doctest.h>

#include <cmath>
#include <complex>
#include <numbers>

#include "ssm/discretize/discretize.hpp"
#include "ssm/hippo/hippo.hpp"
#include "test_util.hpp"

using namespace ssm;
using Eigen::MatrixXd;
using Eigen::VectorXd;
using Cd = std::complex<double>;

namespace {

double spectral_radius(const MatrixXd& m) { return m.eigenvalues().cwiseAbs().maxCoeff(); }

/// Legendre P_0..P_{n−1} at x.
VectorXd legendre(Index n, double x) {
  VectorXd p(n);
  p(0) = 1;
  if (n > 1) p(1) = x;
  for (Index k = 1; k + 1 < n; ++k) p(k + 1) = ((2 * k + 1) * x * p(k) - k * p(k - 1)) / (k + 1);
  return p;
}

/// Gauss–Legendre nodes and weights on [−1, 1] (Golub–Welsch): exact for polynomials of degree < 2m.
std::pair<VectorXd, VectorXd> gauss_legendre(Index m) {
  MatrixXd j = MatrixXd::Zero(m, m);
  for (Index k = 1; k < m; ++k) j(k, k - 1) = j(k - 1, k) = k / std::sqrt(4.0 * k * k - 1.0);
  Eigen::SelfAdjointEigenSolver<MatrixXd> eig(j);
  VectorXd w(m);
  for (Index k = 0; k < m; ++k) w(k) = 2 * eig.eigenvectors()(0, k) * eig.eigenvectors()(0, k);
  return {eig.eigenvalues(), w};
}

/// A random polynomial of degree deg (coefficients in [−1, 1]), evaluated by Horner.
struct Poly {
  std::vector<double> c;
  double operator()(double s) const {
    double v = 0;
    for (auto it = c.rbegin(); it != c.rend(); ++it) v = v * s + *it;
    return v;
  }
};

/// Projection coefficients c_n = (1/(b−a)) ∫_a^b u(s) √(2n+1) P_n(2(s−a)/(b−a) − 1) ds.
VectorXd project(const Poly& u, Index n, double a, double b) {
  auto [x, w] = gauss_legendre(n + 8);
  VectorXd c = VectorXd::Zero(n);
  for (Index q = 0; q < x.size(); ++q) {
    const double s = a + (x(q) + 1) * (b - a) / 2;
    const VectorXd p = legendre(n, x(q));
    for (Index k = 0; k < n; ++k) c(k) += 0.5 * w(q) * u(s) * std::sqrt(2.0 * k + 1) * p(k);
  }
  return c;
}

/// Largest |u(s) − Σ c_n √(2n+1) P_n(2(s−a)/(b−a) − 1)| over [a, b].
double reconstruction_error(const Poly& u, const VectorXd& c, double a, double b) {
  double worst = 0;
  for (int q = 0; q <= 200; ++q) {
    const double s = a + (b - a) * q / 200.0;
    const VectorXd p = legendre(c.size(), 2 * (s - a) / (b - a) - 1);
    double v = 0;
    for (Index k = 0; k < c.size(); ++k) v += c(k) * std::sqrt(2.0 * k + 1) * p(k);
    worst = std::max(worst, std::abs(v - u(s)));
  }
  return worst;
}

/// Runs x' = A x + B u(time(τ)) from τ0 to τ1 with the bilinear rule (trapezoidal input), `steps` steps.
template <class Time>
VectorXd integrate(const MatrixXd& a, const VectorXd& b, VectorXd x, const Poly& u, Time time, double tau0,
                   double tau1, int steps) {
  const double h = (tau1 - tau0) / steps;
  auto [ab, bb] = discretize::Bilinear::apply(a, b, h);
  for (int k = 0; k < steps; ++k) {
    const double u0 = u(time(tau0 + k * h)), u1 = u(time(tau0 + (k + 1) * h));
    x = ab * x + bb * (0.5 * (u0 + u1));
  }
  return x;
}

template <class H>
void check_dplr_reconstructs(Index n) {
  INFO("HiPPO-" << H::name << ", N = " << n);
  const hippo::Nplr f = H::nplr(n);
  const hippo::Dplr d = H::dplr(n);
  using MC = Eigen::MatrixXcd;
  MC v(n, n), p(n, f.p.cols());
  Eigen::VectorXcd lam(n), b(n);
  v << d.v, d.v.conjugate();
  p << d.p, d.p.conjugate();
  lam << d.lambda, d.lambda.conjugate();
  b << d.b, d.b.conjugate();
  CHECK((v.adjoint() * v - MC::Identity(n, n)).cwiseAbs().maxCoeff() < 1e-10);  // unitary
  const MC a = v * (MC(lam.asDiagonal()) - p * p.adjoint()) * v.adjoint();
  CHECK((a.real() - f.a).cwiseAbs().maxCoeff() < 1e-9 * (1 + f.a.cwiseAbs().maxCoeff()));
  CHECK(a.imag().cwiseAbs().maxCoeff() < 1e-9 * (1 + f.a.cwiseAbs().maxCoeff()));
  CHECK(((v * b).real() - f.b).cwiseAbs().maxCoeff() < 1e-10 * (1 + f.b.cwiseAbs().maxCoeff()));
  for (Index i = 0; i < d.lambda.size(); ++i) CHECK(d.lambda(i).imag() >= -1e-12);
}

}  // namespace

TEST_SUITE("hippo") {

TEST_CASE_TEMPLATE("HiPPO entries against the closed forms", T, float, double) {
  const Index n = 6;
  const auto sq = [](double x) { return std::sqrt(x); };
  {
    auto [a, b] = hippo::LegS::matrices<T>(n);
    for (Index i = 0; i < n; ++i) {
      CHECK(b(i) == doctest::Approx(sq(2 * i + 1)));
      for (Index k = 0; k < n; ++k) {
        const double want = i > k ? -sq(2 * i + 1) * sq(2 * k + 1) : i == k ? -(i + 1.0) : 0.0;
        CHECK(a(i, k) == doctest::Approx(want));
      }
    }
    CHECK(a(3, 1) == doctest::Approx(-std::sqrt(21.0)));
  }
  {
    auto [a, b] = hippo::LegT::matrices<T>(n);
    for (Index i = 0; i < n; ++i) {
      CHECK(b(i) == doctest::Approx(0.5 * sq(2 * i + 1)));
      for (Index k = 0; k < n; ++k) {
        const double sign = i >= k ? 1.0 : std::pow(-1.0, double(i - k));
        CHECK(a(i, k) == doctest::Approx(-0.5 * sq(2 * i + 1) * sq(2 * k + 1) * sign));
      }
    }
    CHECK(a(0, 1) == doctest::Approx(0.5 * std::sqrt(3.0)));  // above the diagonal, odd distance: sign flips
  }
  {
    auto [a, b] = hippo::LagT::matrices<T>(n);
    for (Index i = 0; i < n; ++i) {
      CHECK(b(i) == T(1));
      for (Index k = 0; k < n; ++k) CHECK(a(i, k) == (i > k ? T(-1) : i == k ? T(-0.5) : T(0)));
    }
  }
  {
    auto [a, b] = hippo::FouT::matrices<T>(n);
    const double bb[] = {1, 0, std::sqrt(2.0), 0, std::sqrt(2.0), 0};
    for (Index i = 0; i < n; ++i) {
      CHECK(b(i) == doctest::Approx(bb[i]));
      for (Index k = 0; k < n; ++k) {
        double want = -bb[i] * bb[k];
        if (i % 2 == 0 && k == i + 1) want -= std::numbers::pi * (i / 2);
        if (i % 2 == 1 && k == i - 1) want += std::numbers::pi * (i / 2);
        CHECK(a(i, k) == doctest::Approx(want));
      }
    }
  }
  CHECK_THROWS_AS(hippo::FouT::matrices<double>(5), Error);
}

TEST_CASE("LegS: A + P Pᵀ is normal, equal to −½ I plus a skew-symmetric matrix, eigenvalues on Re = −½") {
  for (Index n : {4, 16, 64}) {
    const hippo::Nplr f = hippo::LegS::nplr(n);
    const MatrixXd m = f.a + f.p * f.p.transpose();
    CHECK((m * m.transpose() - m.transpose() * m).cwiseAbs().maxCoeff() < 1e-9 * n * n);
    CHECK(((m + m.transpose()) / 2 + 0.5 * MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff() < 1e-12);
    const Eigen::VectorXcd ev = m.eigenvalues();
    for (Index i = 0; i < n; ++i) CHECK(ev(i).real() == doctest::Approx(-0.5).epsilon(1e-9));
    const hippo::Dplr d = hippo::LegS::dplr(n);
    for (Index i = 0; i < n / 2; ++i) CHECK(d.lambda(i).real() == doctest::Approx(-0.5).epsilon(1e-12));
  }
  // The other measures: normal too (LegT and LagT with real part 0 and −½·0 … as their traces say).
  for (const hippo::Nplr& f : {hippo::LegT::nplr(8), hippo::LagT::nplr(8), hippo::FouT::nplr(8)}) {
    const MatrixXd m = f.a + f.p * f.p.transpose();
    CHECK((m * m.transpose() - m.transpose() * m).cwiseAbs().maxCoeff() < 1e-9 * 64);
  }
}

TEST_CASE("DPLR form: V (Λ − P̃ P̃*) V* rebuilds A and V B̃ rebuilds B, for every measure") {
  for (Index n : {2, 8, 32}) {
    check_dplr_reconstructs<hippo::LegS>(n);
    check_dplr_reconstructs<hippo::LegT>(n);
    check_dplr_reconstructs<hippo::LagT>(n);
    check_dplr_reconstructs<hippo::FouT>(n);  // has a zero pair: the real null space is paired by hand
  }
  CHECK_THROWS_AS(hippo::LegS::dplr(7), Error);
}

TEST_CASE("LegS and LegT follow a polynomial of degree < N online and reconstruct it") {
  const Index n = 8;
  Rng rng(5);
  Poly u;
  for (Index j = 0; j < n; ++j) u.c.push_back(rng.uniform(-1.0, 1.0));
  {
    // LegS projects onto [0, t] with measure dt/t; in τ = log t the system is x' = A x + B u(eᵗ).
    auto [a, b] = hippo::LegS::matrices<double>(n);
    const double t0 = 0.5, t1 = 1.0;
    const VectorXd x = integrate(a, b, project(u, n, 0, t0), u, [](double tau) { return std::exp(tau); },
                                 std::log(t0), std::log(t1), 4000);
    const VectorXd exact = project(u, n, 0, t1);
    INFO("LegS coefficients " << x.transpose() << "\nexact " << exact.transpose());
    CHECK((x - exact).cwiseAbs().maxCoeff() < 1e-6);
    CHECK(reconstruction_error(u, x, 0, t1) < 1e-5);
  }
  {
    // LegT (s4's scaling) projects onto the sliding window [t − 2, t].
    auto [a, b] = hippo::LegT::matrices<double>(n);
    const VectorXd x = integrate(a, b, project(u, n, -2, 0), u, [](double t) { return t; }, 0, 1, 4000);
    const VectorXd exact = project(u, n, -1, 1);
    INFO("LegT coefficients " << x.transpose() << "\nexact " << exact.transpose());
    CHECK((x - exact).cwiseAbs().maxCoeff() < 1e-6);
    CHECK(reconstruction_error(u, x, -1, 1) < 1e-5);
  }
}

TEST_CASE("stability: every discretization of a stable A stays stable, except forward Euler past 2|Re λ|/|λ|²") {
  const Index n = 8;
  struct Case {
    std::string name;
    MatrixXd a;
    VectorXd b;
  };
  std::vector<Case> cases;
  {
    auto [a, b] = hippo::LegS::matrices<double>(n);
    cases.push_back({"legs", a, b});
  }
  {
    auto [a, b] = hippo::LegT::matrices<double>(n);
    cases.push_back({"legt", a, b});
  }
  {
    auto [a, b] = hippo::LagT::matrices<double>(n);
    cases.push_back({"lagt", a, b});
  }
  for (auto& c : cases) {
    INFO("HiPPO-" << c.name);
    const Eigen::VectorXcd ev = c.a.eigenvalues();
    double breaking = 1e300;
    for (Index i = 0; i < n; ++i) {
      CHECK(ev(i).real() < 0);
      breaking = std::min(breaking, -2 * ev(i).real() / std::norm(ev(i)));
    }
    for (double dt : {1e-3, 1e-1, 1.0, 10.0, 100.0}) {
      CHECK(spectral_radius(discretize::Zoh::apply(c.a, c.b, dt).first) < 1);
      CHECK(spectral_radius(discretize::Bilinear::apply(c.a, c.b, dt).first) < 1);
      CHECK(spectral_radius(discretize::BackwardEuler::apply(c.a, c.b, dt).first) < 1);
      CHECK(spectral_radius(discretize::Gbt<0.75>::apply(c.a, c.b, dt).first) < 1);
    }
    const double below = spectral_radius(discretize::ForwardEuler::apply(c.a, c.b, 0.9 * breaking).first);
    const double above = spectral_radius(discretize::ForwardEuler::apply(c.a, c.b, 1.1 * breaking).first);
    MESSAGE("HiPPO-" << c.name << " N=" << n << ": forward Euler is stable up to dt = " << breaking
                     << " (spectral radius " << below << " at 0.9x, " << above << " at 1.1x)");
    CHECK(below < 1);
    CHECK(above > 1);
  }
}

TEST_CASE("ZOH is the matrix exponential; the diagonal path equals the dense one") {
  auto [a, b] = hippo::LegS::matrices<double>(6);
  const double dt = 0.1;
  // Ā = Σ (ΔA)^k / k!,  B̄ = Σ Δ^{k+1} A^k B / (k+1)!  (‖ΔA‖ < 1: 40 terms are plenty).
  MatrixXd term = MatrixXd::Identity(6, 6), series = MatrixXd::Zero(6, 6), bseries = MatrixXd::Zero(6, 1);
  for (int k = 0; k < 40; ++k) {
    series += term;
    bseries += term * b * dt / (k + 1);
    term = term * (dt * a) / (k + 1);
  }
  auto [ab, bb] = discretize::Zoh::apply(a, b, dt);
  CHECK((ab - series).cwiseAbs().maxCoeff() < 1e-13);
  CHECK((bb - bseries).cwiseAbs().maxCoeff() < 1e-13);

  // Diagonal complex A: elementwise formulas against the dense ones on diag(λ).
  Eigen::VectorXcd lam(4), bc(4);
  lam << Cd(-0.5, 3.0), Cd(-0.5, 0.0), Cd(-2.0, -1.0), Cd(-1e-6, 1e-6);  // the last one exercises the series
  bc << Cd(1, 0), Cd(0.5, -1), Cd(2, 1), Cd(-1, 0.25);
  for (double h : {1e-3, 0.3, 2.0}) {
    auto [zd, zb] = discretize::Zoh::apply(lam, bc, h);
    auto [zd2, zb2] = discretize::Zoh::apply(Eigen::MatrixXcd(lam.asDiagonal()), bc, h);
    CHECK((Eigen::MatrixXcd(zd.asDiagonal()) - zd2).cwiseAbs().maxCoeff() < 1e-13);
    CHECK((zb - zb2).cwiseAbs().maxCoeff() < 1e-13);
    auto [gd, gb] = discretize::Bilinear::apply(lam, bc, h);
    auto [gd2, gb2] = discretize::Bilinear::apply(Eigen::MatrixXcd(lam.asDiagonal()), bc, h);
    CHECK((Eigen::MatrixXcd(gd.asDiagonal()) - gd2).cwiseAbs().maxCoeff() < 1e-13);
    CHECK((gb - gb2).cwiseAbs().maxCoeff() < 1e-13);
  }
  // The coefficient derivatives against central differences (holomorphic, so one direction suffices).
  for (Cd u : {Cd(-0.3, 2.0), Cd(1e-3, -2e-3), Cd(-4.0, 0.5)}) {
    const double h = 1e-6;
    const auto z = discretize::Zoh::diagonal(u), zp = discretize::Zoh::diagonal(u + h), zm = discretize::Zoh::diagonal(u - h);
    CHECK(std::abs((zp.phi - zm.phi) / (2 * h) - z.d_phi) < 1e-8);
    CHECK(std::abs((zp.psi - zm.psi) / (2 * h) - z.d_psi) < 1e-8);
    const auto g = discretize::Bilinear::diagonal(u), gp = discretize::Bilinear::diagonal(u + h),
               gm = discretize::Bilinear::diagonal(u - h);
    CHECK(std::abs((gp.phi - gm.phi) / (2 * h) - g.d_phi) < 1e-8);
    CHECK(std::abs((gp.psi - gm.psi) / (2 * h) - g.d_psi) < 1e-8);
  }
}

TEST_CASE("as dt -> 0 the discretizations agree with ZOH at their orders: Euler O(dt^2), bilinear O(dt^3) per step") {
  auto [a, b] = hippo::LegS::matrices<double>(8);
  const auto local_error = [&](auto policy, double dt) {
    auto [ab, bb] = decltype(policy)::apply(a, b, dt);
    auto [az, bz] = discretize::Zoh::apply(a, b, dt);
    return (ab - az).norm();
  };
  const auto order = [&](auto policy) {
    const double e1 = local_error(policy, 1e-3), e2 = local_error(policy, 5e-4);
    return std::log2(e1 / e2);
  };
  const double fe = order(discretize::ForwardEuler{}), be = order(discretize::BackwardEuler{}),
               bl = order(discretize::Bilinear{}), g = order(discretize::Gbt<0.25>{});
  MESSAGE("local error orders (log2 of the ratio when dt halves): forward Euler " << fe << ", backward Euler " << be
                                                                                  << ", bilinear " << bl
                                                                                  << ", GBT(1/4) " << g);
  CHECK(fe == doctest::Approx(2).epsilon(0.03));
  CHECK(be == doctest::Approx(2).epsilon(0.03));
  CHECK(g == doctest::Approx(2).epsilon(0.03));
  CHECK(bl == doctest::Approx(3).epsilon(0.03));
  // And B̄: Euler's ΔB against ZOH's ΔB + Δ²AB/2 + …: also O(dt²); bilinear's O(dt³).
  const auto b_error = [&](auto policy, double dt) {
    return (decltype(policy)::apply(a, b, dt).second - discretize::Zoh::apply(a, b, dt).second).norm();
  };
  CHECK(std::log2(b_error(discretize::ForwardEuler{}, 1e-3) / b_error(discretize::ForwardEuler{}, 5e-4)) ==
        doctest::Approx(2).epsilon(0.03));
  CHECK(std::log2(b_error(discretize::Bilinear{}, 1e-3) / b_error(discretize::Bilinear{}, 5e-4)) ==
        doctest::Approx(3).epsilon(0.03));
}

TEST_CASE("dense discretizations: the adjoints against finite differences") {
  Rng rng(3);
  const Index n = 4;
  MatrixXd a(n, n);
  VectorXd b(n);
  for (Index i = 0; i < n; ++i) {
    b(i) = rng.uniform(-1.0, 1.0);
    for (Index k = 0; k < n; ++k) a(i, k) = rng.uniform(-1.0, 1.0) - (i == k ? 1.5 : 0.0);
  }
  MatrixXd wa(n, n);
  VectorXd wb(n);
  for (Index i = 0; i < n; ++i) {
    wb(i) = rng.uniform(-1.0, 1.0);
    for (Index k = 0; k < n; ++k) wa(i, k) = rng.uniform(-1.0, 1.0);
  }
  const auto run = [&](auto policy) {
    using P = decltype(policy);
    INFO("policy " << P::name);
    std::vector<double> theta(n * n + n + 1);
    for (Index i = 0; i < n * n; ++i) theta[i] = a.data()[i];
    for (Index i = 0; i < n; ++i) theta[n * n + i] = b(i);
    theta.back() = 0.7;
    const auto loss = [&] {
      const Eigen::Map<const MatrixXd> ma(theta.data(), n, n);
      const Eigen::Map<const VectorXd> mb(theta.data() + n * n, n);
      auto [ab, bb] = P::apply(MatrixXd(ma), VectorXd(mb), theta.back());
      return (wa.cwiseProduct(ab)).sum() + wb.dot(bb);
    };
    auto g = P::apply_backward(a, b, 0.7, wa, wb);
    std::vector<double> analytic(theta.size());
    for (Index i = 0; i < n * n; ++i) analytic[i] = g.a.data()[i];
    for (Index i = 0; i < n; ++i) analytic[n * n + i] = g.b(i);
    analytic.back() = g.dt;
    const Difference d = check_gradient(test::view1(theta), test::view1(std::as_const(analytic)), loss);
    INFO(d.report("dense discretization gradient"));
    CHECK(d.ok());
  };
  run(discretize::Zoh{});
  run(discretize::Bilinear{});
  run(discretize::ForwardEuler{});
  run(discretize::BackwardEuler{});
}

}  // TEST_SUITE
