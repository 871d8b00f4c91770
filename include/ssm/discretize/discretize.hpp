// ssm/discretize/discretize.hpp — continuous (A, B) to discrete (Ā, B̄) for x_k = Ā x_{k−1} + B̄ u_k, as policies:
//   Zoh:      Ā = exp(ΔA),                        B̄ = (ΔA)⁻¹(exp(ΔA) − I) ΔB
//   Gbt<α>:   Ā = (I − αΔA)⁻¹(I + (1−α)ΔA),        B̄ = (I − αΔA)⁻¹ ΔB   (α = 0, ½, 1: forward Euler, bilinear, backward Euler)
// for dense A (matrix exponential / LU solve, with their adjoints for training) and diagonal complex A (elementwise).
#pragma once

#include <Eigen/Core>
#include <Eigen/LU>
#include <cmath>
#include <complex>
#include <concepts>
#include <type_traits>
#include <unsupported/Eigen/MatrixFunctions>
#include <utility>

#include "ssm/core/config.hpp"
#include "ssm/core/error.hpp"

namespace ssm::discretize {

/// For a diagonal entry, with u = Δ·a: Ā = ψ(u) and B̄ = Δ·φ(u)·B; d_psi and d_phi are ψ'(u) and φ'(u).
/// ψ and φ are holomorphic, so a layer's backward chains them with ḡ_u = conj(ψ'(u)) ḡ_Ā + ….
template <class C>
struct Coefficients {
  C psi, phi, d_psi, d_phi;
};

/// Gradients of a loss through a dense discretization: d/dA, d/dB, d/dΔ.
template <class M, class V>
struct DenseGrads {
  M a;
  V b;
  double dt = 0;
};

namespace detail {

template <class D>
using PlainOf = typename D::PlainObject;

/// Re Σ conj(x)·y — the real inner product the gradients of real parameters need.
template <class X, class Y>
double real_dot(const Eigen::MatrixBase<X>& x, const Eigen::MatrixBase<Y>& y) {
  return std::real(x.conjugate().cwiseProduct(y).sum());
}

template <class Derived>
constexpr bool is_vector_v = Derived::ColsAtCompileTime == 1;

/// Upper-right block of exp([[X, E], [0, X]]) = the Fréchet derivative L(X, E) of exp at X in direction E.
template <class M>
M expm_frechet(const M& x, const M& e) {
  const Index n = x.rows();
  M big = M::Zero(2 * n, 2 * n);
  big.topLeftCorner(n, n) = x;
  big.topRightCorner(n, n) = e;
  big.bottomRightCorner(n, n) = x;
  const M ex = big.exp();
  return ex.topRightCorner(n, n);
}

}  // namespace detail

/// Zero-order hold: the input is held constant over each step; exact for piecewise-constant inputs.
struct Zoh {
  static constexpr const char* name = "zoh";

  /// ψ(u) = eᵘ, φ(u) = (eᵘ − 1)/u (a Taylor series near 0, where the closed form cancels).
  template <class C>
  static Coefficients<C> diagonal(C u) {
    using R = decltype(std::abs(u));
    const C e = std::exp(u);
    if (std::abs(u) < R(0.5)) {
      // φ(u) = Σ_k u^k/(k+1)!,  φ'(u) = Σ_k k u^{k−1}/(k+1)!; 16 terms reach double's rounding for |u| < ½.
      C phi(0), dphi(0), pw(1), pw_prev(0);
      R fact = 1;  // (k+1)!
      for (int k = 0; k < 16; ++k) {
        fact *= R(k + 1);
        phi += pw / fact;
        if (k > 0) dphi += R(k) * pw_prev / fact;
        pw_prev = pw;
        pw *= u;
      }
      return {e, phi, e, dphi};
    }
    return {e, (e - C(1)) / u, e, (u * e - e + C(1)) / (u * u)};
  }

  /// Dense A {N, N}: Ā = exp(ΔA), B̄ from the block exponential exp(Δ[[A, B], [0, 0]]) = [[Ā, B̄], [0, I]]
  /// (Van Loan), which needs no inverse of A (HiPPO-FouT's A is singular). Diagonal A (a vector {N}):
  /// elementwise. B: {N} or {N, M}.
  template <class DA, class DB>
  static auto apply(const Eigen::MatrixBase<DA>& a, const Eigen::MatrixBase<DB>& b, double dt) {
    using S = typename DA::Scalar;
    if constexpr (detail::is_vector_v<DA>) {
      using V = Eigen::Matrix<S, Eigen::Dynamic, 1>;
      SSM_CHECK(b.rows() == a.rows() && b.cols() == 1, "Zoh::apply (diagonal): B must be {", a.rows(), "}, found {",
                b.rows(), ", ", b.cols(), "}");
      V ab(a.rows()), bb(a.rows());
      for (Index i = 0; i < a.rows(); ++i) {
        const auto c = diagonal(S(dt) * a(i));
        ab(i) = c.psi;
        bb(i) = S(dt) * c.phi * b(i);
      }
      return std::pair<V, V>(std::move(ab), std::move(bb));
    } else {
      using M = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
      using BOut = detail::PlainOf<DB>;
      const Index n = a.rows(), m = b.cols();
      SSM_CHECK(a.cols() == n && b.rows() == n, "Zoh::apply: A must be square and B must have its rows, found A {",
                a.rows(), ", ", a.cols(), "} and B {", b.rows(), ", ", b.cols(), "}");
      M big = M::Zero(n + m, n + m);
      big.topLeftCorner(n, n) = S(dt) * a;
      big.topRightCorner(n, m) = S(dt) * b;
      const M e = big.exp();
      return std::pair<M, BOut>(e.topLeftCorner(n, n), BOut(e.topRightCorner(n, m)));
    }
  }

  /// Adjoint of the dense apply: given ∂L/∂Ā and ∂L/∂B̄, returns ∂L/∂A, ∂L/∂B, ∂L/∂Δ. With X = Δ[[A, B], [0, 0]]
  /// and E = exp(X), ∂L/∂X = L(Xᴴ, ∂L/∂E), the Fréchet derivative at Xᴴ (one exponential of size 2(N+M)).
  template <class DA, class DB, class GA, class GB>
  static auto apply_backward(const Eigen::MatrixBase<DA>& a, const Eigen::MatrixBase<DB>& b, double dt,
                             const Eigen::MatrixBase<GA>& g_abar, const Eigen::MatrixBase<GB>& g_bbar) {
    using S = typename DA::Scalar;
    using M = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
    using BOut = detail::PlainOf<DB>;
    const Index n = a.rows(), m = b.cols();
    M x = M::Zero(n + m, n + m), g = M::Zero(n + m, n + m);
    x.topLeftCorner(n, n) = S(dt) * a;
    x.topRightCorner(n, m) = S(dt) * b;
    g.topLeftCorner(n, n) = g_abar;
    g.topRightCorner(n, m) = g_bbar;
    const M gx = detail::expm_frechet<M>(x.adjoint(), g);
    DenseGrads<M, BOut> out;
    out.a = S(dt) * gx.topLeftCorner(n, n);
    out.b = BOut(S(dt) * gx.topRightCorner(n, m));
    out.dt = detail::real_dot(gx.topLeftCorner(n, n), a) + detail::real_dot(gx.topRightCorner(n, m), b);
    return out;
  }
};

/// Generalised bilinear transform with parameter α ∈ [0, 1].
template <double Alpha>
struct Gbt {
  static_assert(Alpha >= 0.0 && Alpha <= 1.0, "Gbt<alpha>: alpha must lie in [0, 1]");
  static constexpr double alpha = Alpha;
  static constexpr const char* name = Alpha == 0.0 ? "forward_euler"
                                      : Alpha == 0.5 ? "bilinear"
                                      : Alpha == 1.0 ? "backward_euler"
                                                     : "gbt";

  /// ψ(u) = (1 + (1−α)u)/(1 − αu), φ(u) = 1/(1 − αu); ψ' = 1/(1 − αu)², φ' = α/(1 − αu)².
  template <class C>
  static Coefficients<C> diagonal(C u) {
    using R = decltype(std::abs(u));
    const C den = C(1) - R(alpha) * u;
    const C inv = C(1) / den;
    return {(C(1) + R(1 - alpha) * u) * inv, inv, inv * inv, R(alpha) * inv * inv};
  }

  /// Dense A {N, N}: an LU solve of (I − αΔA). Diagonal A (a vector {N}): elementwise. B: {N} or {N, M}.
  template <class DA, class DB>
  static auto apply(const Eigen::MatrixBase<DA>& a, const Eigen::MatrixBase<DB>& b, double dt) {
    using S = typename DA::Scalar;
    if constexpr (detail::is_vector_v<DA>) {
      using V = Eigen::Matrix<S, Eigen::Dynamic, 1>;
      SSM_CHECK(b.rows() == a.rows() && b.cols() == 1, "Gbt::apply (diagonal): B must be {", a.rows(), "}, found {",
                b.rows(), ", ", b.cols(), "}");
      V ab(a.rows()), bb(a.rows());
      for (Index i = 0; i < a.rows(); ++i) {
        const auto c = diagonal(S(dt) * a(i));
        ab(i) = c.psi;
        bb(i) = S(dt) * c.phi * b(i);
      }
      return std::pair<V, V>(std::move(ab), std::move(bb));
    } else {
      using M = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
      using BOut = detail::PlainOf<DB>;
      const Index n = a.rows();
      SSM_CHECK(a.cols() == n && b.rows() == n, "Gbt::apply: A must be square and B must have its rows, found A {",
                a.rows(), ", ", a.cols(), "} and B {", b.rows(), ", ", b.cols(), "}");
      const M id = M::Identity(n, n);
      const Eigen::PartialPivLU<M> lu(id - S(alpha * dt) * a);
      M ab = lu.solve(id + S((1 - alpha) * dt) * a);
      BOut bb = lu.solve(S(dt) * b);
      return std::pair<M, BOut>(std::move(ab), std::move(bb));
    }
  }

  /// Adjoint of the dense apply. With M = I − αΔA, R = I + (1−α)ΔA, Ā = M⁻¹R, B̄ = M⁻¹ΔB:
  /// Y = M⁻ᴴ[∂Ā, ∂B̄];  ∂R = Y_A;  ∂M = −Y_A Āᴴ − Y_B B̄ᴴ;  ∂(ΔA) = (1−α)∂R − α∂M;  ∂(ΔB) = Y_B.
  template <class DA, class DB, class GA, class GB>
  static auto apply_backward(const Eigen::MatrixBase<DA>& a, const Eigen::MatrixBase<DB>& b, double dt,
                             const Eigen::MatrixBase<GA>& g_abar, const Eigen::MatrixBase<GB>& g_bbar) {
    using S = typename DA::Scalar;
    using M = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
    using BOut = detail::PlainOf<DB>;
    const Index n = a.rows();
    const M id = M::Identity(n, n);
    const M mm = id - S(alpha * dt) * a;
    const Eigen::PartialPivLU<M> lu(mm);
    const M abar = lu.solve(id + S((1 - alpha) * dt) * a);
    const BOut bbar = lu.solve(S(dt) * b);
    const Eigen::PartialPivLU<M> lu_h(mm.adjoint());
    const M ya = lu_h.solve(g_abar);
    const BOut yb = lu_h.solve(g_bbar);
    const M g_m = -ya * abar.adjoint() - yb * bbar.adjoint();
    const M g_x = S(1 - alpha) * ya - S(alpha) * g_m;  // ∂L/∂(ΔA)
    DenseGrads<M, BOut> out;
    out.a = S(dt) * g_x;
    out.b = S(dt) * yb;
    out.dt = detail::real_dot(g_x, a) + detail::real_dot(yb, b);
    return out;
  }
};

using ForwardEuler = Gbt<0.0>;
using Bilinear = Gbt<0.5>;
using BackwardEuler = Gbt<1.0>;

/// True for the Gbt family, whose resolvent form lets S4 evaluate its kernel by a Cauchy kernel.
template <class D>
inline constexpr bool is_gbt_v = requires { D::alpha; };

}  // namespace ssm::discretize

namespace ssm {

/// A discretization policy: an empty tag with elementwise coefficients for diagonal complex A and a dense
/// apply (with its adjoint) for full matrices.
template <class D>
concept Discretization =
    std::is_empty_v<D> && requires(std::complex<double> u, Eigen::MatrixXd a, Eigen::VectorXd b, double dt) {
      { D::name } -> std::convertible_to<const char*>;
      { D::diagonal(u) } -> std::same_as<discretize::Coefficients<std::complex<double>>>;
      D::apply(a, b, dt);
      D::apply_backward(a, b, dt, a, b);
    };

static_assert(Discretization<discretize::Zoh> && Discretization<discretize::Bilinear> &&
              Discretization<discretize::ForwardEuler> && Discretization<discretize::BackwardEuler>);

}  // namespace ssm
