// ssm/hippo/hippo.hpp — the HiPPO state matrices as policies: x'(t) = A x(t) + B u(t) keeps x the coefficients
// of an online projection of u onto an orthogonal polynomial basis (Gu et al., HiPPO 2020). Entries follow
// state-spaces/s4 hippo.py transition() (row n, column k, 0-based); see docs/theory.md and ../shared/ALGORITHMS.md.
// Each policy also gives the NPLR form A = (normal) − P Pᵀ and the DPLR form S4 uses, A = V (Λ − P̃ P̃*) V*.
#pragma once

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <complex>
#include <concepts>
#include <numbers>
#include <type_traits>
#include <utility>
#include <vector>

#include "ssm/core/config.hpp"
#include "ssm/core/error.hpp"

namespace ssm::hippo {

template <class T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

/// Normal plus low rank: A + P Pᵀ is a normal matrix (skew-symmetric plus a multiple of I).
struct Nplr {
  Matrix<double> a;  // {N, N}
  Vector<double> b;  // {N}
  Matrix<double> p;  // {N, r}
};

/// Diagonal plus low rank in the basis that diagonalises the normal part, with one half of each conjugate
/// pair kept: with V_full = [V, conj(V)] (unitary), A = V_full (diag(Λ, Λ̄) − P̃_full P̃_fullᴴ) V_fullᴴ where
/// P̃_full = [P̃; conj(P̃)] = V_fullᴴ P, and B̃ = Vᴴ B likewise. Every Im Λ is ≥ 0.
struct Dplr {
  Vector<std::complex<double>> lambda;  // {N/2}
  Matrix<std::complex<double>> p;       // {N/2, r}
  Vector<std::complex<double>> b;       // {N/2}
  Matrix<std::complex<double>> v;       // {N, N/2}
};

namespace detail {

/// Splits the normal matrix M = c·I + S (S skew-symmetric) into eigenpairs, one of each conjugate pair.
inline Dplr dplr_from_nplr(const Nplr& f) {
  using C = std::complex<double>;
  const Index N = f.a.rows();
  SSM_CHECK(N % 2 == 0, "the DPLR form keeps one half of each conjugate pair, so N must be even, found N = ", N);
  const Matrix<double> m = f.a + f.p * f.p.transpose();
  const double c = m.trace() / static_cast<double>(N);
  const Matrix<double> s = m - c * Matrix<double>::Identity(N, N);
  SSM_CHECK((s + s.transpose()).cwiseAbs().maxCoeff() < 1e-9 * (1.0 + s.cwiseAbs().maxCoeff()),
            "A + P Pᵀ is not a multiple of I plus a skew-symmetric matrix; the low-rank term does not fit A");
  // −i S is Hermitian: −i S = U diag(w) Uᴴ, so S = U diag(i w) Uᴴ with real w in ± pairs.
  const Matrix<C> h = C(0, -1) * s.cast<C>();
  Eigen::SelfAdjointEigenSolver<Matrix<C>> eig(h);
  SSM_CHECK(eig.info() == Eigen::Success, "DPLR: the eigensolver did not converge for N = ", N);
  const Vector<double> w = eig.eigenvalues();  // ascending
  const Matrix<C> u = eig.eigenvectors();
  const double tol = 1e-8 * (1.0 + w.cwiseAbs().maxCoeff());
  Dplr out;
  out.lambda.resize(N / 2);
  out.v.resize(N, N / 2);
  // The largest N/2 eigenvalues are the halves with Im λ ≥ 0 (their partners −w have eigenvector conj(u)).
  Index zero = 0;
  for (Index j = N / 2; j < N; ++j) zero += std::abs(w(j)) < tol;
  SSM_CHECK(zero <= 1, "DPLR: more than one zero conjugate pair in the normal part (", zero, ")");
  for (Index j = 0; j < N / 2; ++j) {
    const Index src = N - 1 - j;  // descending imaginary part
    out.lambda(j) = C(c, w(src));
    out.v.col(j) = u.col(src);
  }
  if (zero == 1) {
    // The eigenvalue 0 of S is double (w and −w coincide): pick v = (e₁ + i e₂)/√2 from a real orthonormal
    // basis {e₁, e₂} of the null space, so that v and conj(v) are orthonormal and span it.
    std::vector<Vector<double>> basis;
    for (Index j = 0; j < N; ++j) {
      if (std::abs(w(j)) >= tol) continue;
      for (const Vector<double>& cand : {Vector<double>(u.col(j).real()), Vector<double>(u.col(j).imag())}) {
        Vector<double> e = cand;
        for (auto& q : basis) e -= q.dot(e) * q;
        if (e.norm() > 1e-6 && basis.size() < 2) basis.push_back(e / e.norm());
      }
    }
    SSM_CHECK(basis.size() == 2, "DPLR: could not find a real basis of the zero eigenspace");
    const Index last = N / 2 - 1;
    out.lambda(last) = C(c, 0.0);
    out.v.col(last) = (basis[0].cast<C>() + C(0, 1) * basis[1].cast<C>()) / std::sqrt(2.0);
  }
  out.p = out.v.adjoint() * f.p.cast<C>();
  out.b = out.v.adjoint() * f.b.cast<C>();
  return out;
}

/// What every policy shares: the NPLR and DPLR forms from matrices() and low_rank().
template <class Derived>
struct HippoBase {
  /// A, B and P with A + P Pᵀ normal, in double.
  static Nplr nplr(Index n) {
    auto [a, b] = Derived::template matrices<double>(n);
    return {std::move(a), std::move(b), Derived::low_rank(n)};
  }
  /// Λ, P̃, B̃ in the basis diagonalising A + P Pᵀ (computed in double), as S4 initialises them.
  static Dplr dplr(Index n) { return dplr_from_nplr(nplr(n)); }
};

inline void check_size(Index n, const char* name) {
  SSM_CHECK(n >= 1, "HiPPO-", name, ": the state size N must be >= 1, found ", n);
}

}  // namespace detail

/// HiPPO-LegT (translated Legendre, window θ = 2 in these units):
/// A_nk = −½ √(2n+1) √(2k+1) · (1 if n ≥ k else (−1)^{n−k}),  B_n = ½ √(2n+1).  Low rank 2.
struct LegT : detail::HippoBase<LegT> {
  static constexpr const char* name = "legt";
  static constexpr int rank = 2;

  template <Real T>
  static std::pair<Matrix<T>, Vector<T>> matrices(Index n) {
    detail::check_size(n, name);
    Matrix<T> a(n, n);
    Vector<T> b(n);
    for (Index i = 0; i < n; ++i) {
      const double ri = std::sqrt(2.0 * i + 1.0);
      b(i) = static_cast<T>(0.5 * ri);
      for (Index k = 0; k < n; ++k) {
        const double sign = (i >= k || (i - k) % 2 == 0) ? 1.0 : -1.0;
        a(i, k) = static_cast<T>(-0.5 * ri * std::sqrt(2.0 * k + 1.0) * sign);
      }
    }
    return {std::move(a), std::move(b)};
  }
  /// Columns: √((2n+1)/2) on odd rows, and on even rows (s4's rank-2 correction).
  static Matrix<double> low_rank(Index n) {
    Matrix<double> p = Matrix<double>::Zero(n, 2);
    for (Index i = 0; i < n; ++i) p(i, i % 2 == 1 ? 0 : 1) = std::sqrt((2.0 * i + 1.0) / 2.0);
    return p;
  }
};

/// HiPPO-LagT (Laguerre, exponentially decaying measure): A = ½ I − (lower-triangular ones), i.e.
/// A_nk = −1 for n > k, −½ on the diagonal, 0 above;  B_n = 1.  Low rank 1: P_n = √½.
struct LagT : detail::HippoBase<LagT> {
  static constexpr const char* name = "lagt";
  static constexpr int rank = 1;

  template <Real T>
  static std::pair<Matrix<T>, Vector<T>> matrices(Index n) {
    detail::check_size(n, name);
    Matrix<T> a(n, n);
    for (Index i = 0; i < n; ++i)
      for (Index k = 0; k < n; ++k) a(i, k) = i > k ? T(-1) : (i == k ? T(-0.5) : T(0));
    return {std::move(a), Vector<T>::Ones(n)};
  }
  static Matrix<double> low_rank(Index n) { return Matrix<double>::Constant(n, 1, std::sqrt(0.5)); }
};

/// HiPPO-LegS (scaled Legendre, the whole history): A_nk = −√(2n+1) √(2k+1) for n > k, −(n+1) on the
/// diagonal, 0 above;  B_n = √(2n+1).  Low rank 1: P_n = √(n + ½), and A + P Pᵀ = −½ I + skew.
struct LegS : detail::HippoBase<LegS> {
  static constexpr const char* name = "legs";
  static constexpr int rank = 1;

  template <Real T>
  static std::pair<Matrix<T>, Vector<T>> matrices(Index n) {
    detail::check_size(n, name);
    Matrix<T> a(n, n);
    Vector<T> b(n);
    for (Index i = 0; i < n; ++i) {
      b(i) = static_cast<T>(std::sqrt(2.0 * i + 1.0));
      for (Index k = 0; k < n; ++k)
        a(i, k) = i > k    ? static_cast<T>(-std::sqrt(2.0 * i + 1.0) * std::sqrt(2.0 * k + 1.0))
                  : i == k ? static_cast<T>(-(i + 1.0))
                           : T(0);
    }
    return {std::move(a), std::move(b)};
  }
  static Matrix<double> low_rank(Index n) {
    Matrix<double> p(n, 1);
    for (Index i = 0; i < n; ++i) p(i, 0) = std::sqrt(i + 0.5);
    return p;
  }
};

/// HiPPO-FouT (truncated Fourier, as s4's 'fout'): 2×2 rotation blocks of frequency πk on rows (2k, 2k+1),
/// A_{2k,2k+1} = −πk, A_{2k+1,2k} = πk, minus B Bᵀ with B = (1, 0, √2, 0, √2, 0, …). Low rank 1: P = B.
/// N must be even. Row 1 is zero, so A has an eigenvalue 0 (the constant sine term never moves).
struct FouT : detail::HippoBase<FouT> {
  static constexpr const char* name = "fout";
  static constexpr int rank = 1;

  template <Real T>
  static std::pair<Matrix<T>, Vector<T>> matrices(Index n) {
    detail::check_size(n, name);
    SSM_CHECK(n % 2 == 0, "HiPPO-FouT pairs cosines and sines, so N must be even, found ", n);
    const Vector<double> bd = fout_b(n);
    Matrix<double> a = -bd * bd.transpose();
    for (Index k = 0; 2 * k + 1 < n; ++k) {
      a(2 * k, 2 * k + 1) -= std::numbers::pi * static_cast<double>(k);
      a(2 * k + 1, 2 * k) += std::numbers::pi * static_cast<double>(k);
    }
    return {a.cast<T>(), bd.cast<T>()};
  }
  static Matrix<double> low_rank(Index n) { return fout_b(n); }

 private:
  static Vector<double> fout_b(Index n) {
    Vector<double> b = Vector<double>::Zero(n);
    for (Index i = 0; i < n; i += 2) b(i) = std::sqrt(2.0);
    b(0) = 1.0;
    return b;
  }
};

}  // namespace ssm::hippo

namespace ssm {

/// A HiPPO policy: an empty tag giving A, B for any N in float or double, its low-rank correction P
/// (N × rank, in double) and, through them, the NPLR and DPLR forms.
template <class H>
concept HippoMatrix = std::is_empty_v<H> && requires(Index n) {
  { H::name } -> std::convertible_to<const char*>;
  { H::rank } -> std::convertible_to<int>;
  { H::template matrices<float>(n) } -> std::same_as<std::pair<hippo::Matrix<float>, hippo::Vector<float>>>;
  { H::template matrices<double>(n) } -> std::same_as<std::pair<hippo::Matrix<double>, hippo::Vector<double>>>;
  { H::low_rank(n) } -> std::same_as<hippo::Matrix<double>>;
  { H::nplr(n) } -> std::same_as<hippo::Nplr>;
  { H::dplr(n) } -> std::same_as<hippo::Dplr>;
};

static_assert(HippoMatrix<hippo::LegT> && HippoMatrix<hippo::LagT> && HippoMatrix<hippo::LegS> &&
              HippoMatrix<hippo::FouT>);

}  // namespace ssm
